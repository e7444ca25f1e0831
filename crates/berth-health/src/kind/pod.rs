//! Pod: Succeeded and Ready are Current; phase `Failed` is Failed (berth; kstatus calls it
//! Current); a crash-looping container is Failed (kstatus). Everything else is in progress,
//! with the waiting reason or the scheduler's message so a status line says what is going on.
//! The fail-fast decisions for pending pods (image pulls, unschedulable) are
//! [`crate::pod_problem`]'s: they can clear up, a Failed state cannot.

use serde_json::Value;

use crate::Health;
use crate::fields::{condition, reason_message, str};

pub(super) fn status(obj: &Value) -> Health {
    let phase = str(obj, "/status/phase");
    match phase {
        "Succeeded" => return Health::current("Pod has completed successfully"),
        "Failed" => {
            let detail = reason_message(str(obj, "/status/reason"), str(obj, "/status/message"));
            return Health::failed(if detail.is_empty() {
                "Pod has failed".to_string()
            } else {
                format!("Pod has failed: {detail}")
            });
        }
        _ => {}
    }
    if condition(obj, "Ready").is_some_and(|c| c.is_true()) {
        return Health::current("Pod is Ready");
    }
    let containers = ["/status/initContainerStatuses", "/status/containerStatuses"]
        .into_iter()
        .filter_map(|p| obj.pointer(p).and_then(Value::as_array))
        .flatten();
    let mut waiting = None;
    for c in containers {
        let reason = str(c, "/state/waiting/reason");
        if reason == "CrashLoopBackOff" {
            return Health::failed(format!(
                "Container {} is in CrashLoopBackOff",
                str(c, "/name")
            ));
        }
        if !reason.is_empty() && reason != "ContainerCreating" && reason != "PodInitializing" {
            waiting.get_or_insert_with(|| {
                format!("Container {} is waiting: {reason}", str(c, "/name"))
            });
        }
    }
    if let Some(w) = waiting {
        return Health::in_progress(w);
    }
    if let Some(c) = condition(obj, "PodScheduled").filter(|c| c.is_false()) {
        return Health::in_progress(format!(
            "Pod is not scheduled: {}",
            reason_message(c.reason, c.message)
        ));
    }
    match phase {
        "Running" => Health::in_progress("Pod is running but not Ready"),
        "" => Health::in_progress("Pod has no status yet"),
        _ => Health::in_progress(format!("Pod is {phase}")),
    }
}
