//! `oom-killed`: a container was killed for using more memory than its limit. The diagnosis
//! quotes the limit and, for a JVM, the `-Xmx` heap found in its env, args or command: the JVM
//! needs memory beyond the heap (metaspace, threads, buffers), so berth's headroom rule is a
//! memory request of at least 1.2 × heap, and a limit of at least 1.25 × the request.

use berth_health::PodProblem;
use berth_model::Severity;
use berth_model::quantity::whole_value;
use serde_json::Value;

use super::pods::{pod_container, pod_evidence, problems};
use crate::diagnosis::{Diagnosis, EvidenceKind};
use crate::quantity::format_bytes;
use crate::snapshot::{Ctx, arr, display, s};
use crate::template::container_pointer;

pub(crate) const ID: &str = "oom-killed";

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Diagnosis>) {
    for g in problems(ctx, ID) {
        let PodProblem::OomKilled { container, .. } = &g.problem else {
            continue;
        };
        let pod = g.pod();
        let base = container_pointer(g.owner, container).unwrap_or_default();
        let live = pod_container(pod, container);
        let limit_text = live.map(|c| s(c, "/resources/limits/memory")).unwrap_or("");
        let request_text = live
            .map(|c| s(c, "/resources/requests/memory"))
            .unwrap_or("");
        let heap = live
            .and_then(berth_model::jvm::container_max_heap)
            .map(|h| (h.bytes as i64, h.flag));
        let mut cause = g.problem.cause();
        let fix;
        match (&heap, whole_value(limit_text)) {
            (Some((heap, flag)), _) => {
                let want_request = heap * 6 / 5;
                let want_limit = want_request * 5 / 4;
                cause = format!(
                    "{cause}; its memory limit is {} and the JVM heap alone is {flag}",
                    if limit_text.is_empty() {
                        "unset"
                    } else {
                        limit_text
                    }
                );
                fix = format!(
                    "give the JVM headroom beyond its heap: memory request at least 1.2 × heap = {}, limit at least 1.25 × request = {} (or lower {flag})",
                    format_bytes(want_request),
                    format_bytes(want_limit)
                );
            }
            (None, Some(_)) => {
                cause = format!("{cause}; its memory limit is {limit_text}");
                fix = "raise `resources.limits.memory` (and the request with it) above what the process really uses, or make it use less".into();
            }
            (None, None) => {
                fix = "the container hit a memory limit (its own or a LimitRange default): set `resources.limits.memory` above what the process uses".into();
            }
        }
        let pointer = format!("{base}/resources/limits/memory");
        let mut d = Diagnosis::at(ID, Severity::Error, g.owner, &pointer, cause, fix);
        let last = if pod_container(pod, container).is_some() {
            last_termination(pod, container)
        } else {
            None
        };
        if let Some(t) = last {
            d = d.with(EvidenceKind::Condition, display(pod), t);
        }
        if !request_text.is_empty() {
            d = d.with(
                EvidenceKind::State,
                format!("{}/{container}", display(pod)),
                format!(
                    "memory request {request_text}, limit {}",
                    if limit_text.is_empty() {
                        "unset"
                    } else {
                        limit_text
                    }
                ),
            );
        }
        out.push(pod_evidence(ctx, d, &g, &["BackOff", "OOMKilling"]));
    }
}

/// `terminated: OOMKilled (exit code 137)` from the container's current or last state.
fn last_termination(pod: &Value, container: &str) -> Option<String> {
    let cs = ["/status/initContainerStatuses", "/status/containerStatuses"]
        .iter()
        .flat_map(|p| arr(pod, p))
        .find(|c| s(c, "/name") == container)?;
    for state in ["/state/terminated", "/lastState/terminated"] {
        if let Some(t) = cs.pointer(state) {
            let code = t
                .get("exitCode")
                .and_then(Value::as_i64)
                .map(|c| format!(" (exit code {c})"))
                .unwrap_or_default();
            return Some(format!("terminated: {}{code}", s(t, "/reason")));
        }
    }
    None
}
