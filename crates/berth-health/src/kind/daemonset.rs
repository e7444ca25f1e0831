//! DaemonSet: scheduled, updated, available and ready counters against the desired number
//! (kstatus). With `OnDelete` pods are replaced by hand, so out-of-date pods do not count.

use serde_json::Value;

use crate::Health;
use crate::fields::{int, str};

pub(super) fn status(obj: &Value) -> Health {
    if let Some(h) = super::not_observed(obj) {
        return h;
    }
    let Some(desired) = obj
        .pointer("/status/desiredNumberScheduled")
        .and_then(Value::as_i64)
    else {
        return Health::in_progress("Missing .status.desiredNumberScheduled");
    };
    let current = int(obj, "/status/currentNumberScheduled", 0);
    let updated = int(obj, "/status/updatedNumberScheduled", 0);
    let available = int(obj, "/status/numberAvailable", 0);
    let ready = int(obj, "/status/numberReady", 0);
    if desired > current {
        return Health::in_progress(format!("Current: {current}/{desired}"));
    }
    if desired > updated && str(obj, "/spec/updateStrategy/type") != "OnDelete" {
        return Health::in_progress(format!("Updated: {updated}/{desired}"));
    }
    if desired > available {
        return Health::in_progress(format!("Available: {available}/{desired}"));
    }
    if desired > ready {
        return Health::in_progress(format!("Ready: {ready}/{desired}"));
    }
    Health::current(format!(
        "All replicas scheduled as expected. Replicas: {desired}"
    ))
}
