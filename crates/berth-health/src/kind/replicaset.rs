//! ReplicaSet: the `ReplicaFailure` condition and replica counters (kstatus).

use serde_json::Value;

use crate::Health;
use crate::fields::{condition, int, reason_message};

pub(super) fn status(obj: &Value) -> Health {
    if let Some(h) = super::not_observed(obj) {
        return h;
    }
    if let Some(c) = condition(obj, "ReplicaFailure").filter(|c| c.is_true()) {
        // Usually quota or admission refusing pods: the controller keeps retrying.
        return Health::in_progress(format!(
            "Replica failure: {}",
            reason_message(c.reason, c.message)
        ));
    }
    let spec = int(obj, "/spec/replicas", 1);
    let replicas = int(obj, "/status/replicas", 0);
    let labeled = int(obj, "/status/fullyLabeledReplicas", 0);
    let available = int(obj, "/status/availableReplicas", 0);
    let ready = int(obj, "/status/readyReplicas", 0);
    if spec > labeled {
        return Health::in_progress(format!("Labelled: {labeled}/{spec}"));
    }
    if spec > available {
        return Health::in_progress(format!("Available: {available}/{spec}"));
    }
    if spec > ready {
        return Health::in_progress(format!("Ready: {ready}/{spec}"));
    }
    if replicas > spec {
        return Health::in_progress(format!("Pending termination: {}", replicas - spec));
    }
    Health::current(format!("ReplicaSet is available. Replicas: {replicas}"))
}
