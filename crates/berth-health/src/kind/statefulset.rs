//! StatefulSet: replica counters, partitioned rollouts and revisions (kstatus). The controller
//! sets no conditions, so a failing StatefulSet shows only through its pods.

use serde_json::Value;

use crate::Health;
use crate::fields::{int, str};

pub(super) fn status(obj: &Value) -> Health {
    if let Some(h) = super::not_observed(obj) {
        return h;
    }
    let spec = int(obj, "/spec/replicas", 1);
    let replicas = int(obj, "/status/replicas", 0);
    let ready = int(obj, "/status/readyReplicas", 0);
    let current = int(obj, "/status/currentReplicas", 0);
    let updated = int(obj, "/status/updatedReplicas", 0);
    if spec > replicas {
        return Health::in_progress(format!("Replicas: {replicas}/{spec}"));
    }
    if replicas > spec {
        return Health::in_progress(format!("Pending termination: {}", replicas - spec));
    }
    if spec > ready {
        return Health::in_progress(format!("Ready: {ready}/{spec}"));
    }
    // OnDelete: the user replaces pods; once all are ready there is nothing to wait for.
    if str(obj, "/spec/updateStrategy/type") == "OnDelete" {
        return Health::current(format!(
            "StatefulSet uses the OnDelete strategy. Ready: {ready}"
        ));
    }
    if let Some(partition) = obj
        .pointer("/spec/updateStrategy/rollingUpdate/partition")
        .and_then(Value::as_i64)
        && partition > 0
    {
        let want = (spec - partition).max(0);
        if updated < want {
            return Health::in_progress(format!("Partitioned rollout. Updated: {updated}/{want}"));
        }
        return Health::current(format!("Partitioned rollout complete. Updated: {updated}"));
    }
    if spec > current {
        return Health::in_progress(format!("Current: {current}/{spec}"));
    }
    if str(obj, "/status/currentRevision") != str(obj, "/status/updateRevision") {
        return Health::in_progress("Waiting for the updated revision to become current");
    }
    Health::current(format!(
        "All replicas scheduled as expected. Replicas: {replicas}"
    ))
}
