//! Job: Current only when `Complete` (berth, like Flux and Helm 4; kstatus calls a started Job
//! Current), Failed on `Failed` or `FailureTarget` (the controller has decided it fails and is
//! only cleaning up).

use serde_json::Value;

use crate::Health;
use crate::fields::{condition, int, reason_message};

pub(super) fn status(obj: &Value) -> Health {
    let parallelism = int(obj, "/spec/parallelism", 1);
    let completions = int(obj, "/spec/completions", parallelism);
    let succeeded = int(obj, "/status/succeeded", 0);
    let failed = int(obj, "/status/failed", 0);
    let active = int(obj, "/status/active", 0);
    if condition(obj, "Complete").is_some_and(|c| c.is_true()) {
        return Health::current(format!(
            "Job completed. Succeeded: {succeeded}/{completions}"
        ));
    }
    for kind in ["Failed", "FailureTarget"] {
        if let Some(c) = condition(obj, kind).filter(|c| c.is_true()) {
            return Health::failed(format!(
                "Job failed ({}). Failed pods: {failed}",
                reason_message(c.reason, c.message)
            ));
        }
    }
    if obj.pointer("/spec/suspend").and_then(Value::as_bool) == Some(true) {
        return Health::in_progress("Job is suspended; it completes only once resumed");
    }
    if obj.pointer("/status/startTime").is_none() {
        return Health::in_progress("Job not started");
    }
    Health::in_progress(format!(
        "Job running. Succeeded: {succeeded}/{completions}, active: {active}, failed: {failed}"
    ))
}
