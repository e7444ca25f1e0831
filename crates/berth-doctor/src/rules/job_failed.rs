//! `job-failed`: a Job of the stack failed (`BackoffLimitExceeded`, `DeadlineExceeded`, a pod
//! failure policy). The diagnosis quotes the Job's condition, the failing pod's exit code and
//! its last log lines, which is where the reason is.

use berth_model::Severity;
use serde_json::Value;

use super::pods::log_evidence;
use crate::diagnosis::{Diagnosis, EvidenceKind};
use crate::snapshot::{Ctx, arr, display, s};
use crate::template::container_pointer;

pub(crate) const ID: &str = "job-failed";

/// The first container of `pod` that ended with a non-zero exit code: name, code and reason.
fn failed_container(pod: &Value) -> Option<(&str, i64, &str)> {
    ["/status/initContainerStatuses", "/status/containerStatuses"]
        .iter()
        .flat_map(|p| arr(pod, p))
        .find_map(|c| {
            ["/state/terminated", "/lastState/terminated"]
                .iter()
                .find_map(|t| {
                    let t = c.pointer(t)?;
                    let code = t.get("exitCode").and_then(Value::as_i64)?;
                    (code != 0).then(|| (s(c, "/name"), code, s(t, "/reason")))
                })
        })
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Diagnosis>) {
    for o in ctx.stack.iter().filter(|o| o.kind() == "Job") {
        let Some(job) = ctx.live(o) else { continue };
        let true_condition = |t: &str| {
            arr(job, "/status/conditions")
                .iter()
                .find(|c| s(c, "/type") == t && s(c, "/status") == "True")
        };
        let Some(cond) = true_condition("Failed").or_else(|| true_condition("FailureTarget"))
        else {
            continue;
        };
        let reason = s(cond, "/reason");
        let uid = s(job, "/metadata/uid");
        let mut pods: Vec<&Value> = ctx
            .list_in("", "Pod", s(job, "/metadata/namespace"))
            .filter(|p| {
                arr(p, "/metadata/ownerReferences")
                    .iter()
                    .any(|r| s(r, "/uid") == uid)
            })
            .collect();
        pods.sort_by_key(|p| s(p, "/metadata/creationTimestamp").to_string());
        let failing = pods
            .iter()
            .rev()
            .find_map(|p| failed_container(p).map(|c| (*p, c)));
        let (cause, pointer) = match failing {
            Some((_, (container, code, why))) => (
                format!(
                    "Job `{}` failed ({reason}): container `{container}` exited with code {code}{}",
                    o.name(),
                    if why.is_empty() {
                        String::new()
                    } else {
                        format!(" ({why})")
                    }
                ),
                container_pointer(o, container).unwrap_or_default(),
            ),
            None => (
                format!(
                    "Job `{}` failed ({reason}): {}",
                    o.name(),
                    s(cond, "/message")
                ),
                "/spec/backoffLimit".to_string(),
            ),
        };
        let fix = match reason {
            "DeadlineExceeded" => "the Job ran past `activeDeadlineSeconds`: make it faster or raise the deadline".to_string(),
            _ => "read the failing pod's log lines; a failed Job is not retried: fix the cause and run `berth up` again (the Job is replaced)".to_string(),
        };
        let mut d = Diagnosis::at(ID, Severity::Error, o, &pointer, cause, fix).with(
            EvidenceKind::Condition,
            display(job),
            format!(
                "{}=True {reason}: {}",
                s(cond, "/type"),
                s(cond, "/message")
            ),
        );
        if let Some((pod, (container, _, _))) = failing {
            d = log_evidence(ctx, d, pod, container);
        }
        out.push(d);
    }
}
