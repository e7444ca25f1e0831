//! Deployment: replica counters and the `Progressing`/`Available` conditions (kstatus), with an
//! exceeded progress deadline failing at once.

use serde_json::Value;

use crate::Health;
use crate::fields::{condition, int};

pub(super) fn status(obj: &Value) -> Health {
    let progressing = condition(obj, "Progressing");
    if let Some(c) = progressing.filter(|c| c.reason == "ProgressDeadlineExceeded") {
        let detail = if c.message.is_empty() {
            String::new()
        } else {
            format!(": {}", c.message)
        };
        return Health::failed(format!("Progress deadline exceeded{detail}"));
    }
    if let Some(h) = super::not_observed(obj) {
        return h;
    }
    if obj.pointer("/spec/paused").and_then(Value::as_bool) == Some(true) {
        return Health::current("Deployment is paused");
    }
    let spec = int(obj, "/spec/replicas", 1);
    let replicas = int(obj, "/status/replicas", 0);
    let updated = int(obj, "/status/updatedReplicas", 0);
    let ready = int(obj, "/status/readyReplicas", 0);
    let available = int(obj, "/status/availableReplicas", 0);
    if spec > replicas {
        return Health::in_progress(format!("Replicas: {replicas}/{spec}"));
    }
    if spec > updated {
        return Health::in_progress(format!("Updated: {updated}/{spec}"));
    }
    if replicas > updated {
        return Health::in_progress(format!("Pending termination: {}", replicas - updated));
    }
    if updated > available {
        return Health::in_progress(format!("Available: {available}/{updated}"));
    }
    if spec > ready {
        return Health::in_progress(format!("Ready: {ready}/{spec}"));
    }
    if !progressing.is_some_and(|c| c.is_true() && c.reason == "NewReplicaSetAvailable") {
        return Health::in_progress("ReplicaSet not Available");
    }
    if !condition(obj, "Available").is_some_and(|c| c.is_true()) {
        return Health::in_progress("Deployment not Available");
    }
    Health::current(format!("Deployment is available. Replicas: {replicas}"))
}
