//! `probe-failure`: a pod of the stack is not ready and the kubelet reports its probes failing
//! (`Unhealthy` events: "Readiness probe failed: HTTP probe failed with statuscode: 503"). The
//! container runs, but the probe's path, port or timing does not fit the application, or the
//! application is not healthy yet.

use berth_model::Severity;
use serde_json::Value;

use crate::diagnosis::{Diagnosis, EvidenceKind};
use crate::snapshot::{Ctx, display, event_text, s};
use crate::template::container_pointer;

pub(crate) const ID: &str = "probe-failure";

/// `web` from an event's `fieldPath` `spec.containers{web}`.
fn container_of(e: &Value) -> Option<&str> {
    let f = s(e, "/involvedObject/fieldPath");
    let start = f.find('{')? + 1;
    let end = f.find('}')?;
    f.get(start..end)
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Diagnosis>) {
    let mut seen: Vec<(String, String)> = Vec::new();
    for (pod, owner) in ctx.stack_pods() {
        if berth_health::status(pod).is_current() || berth_health::pod_problem(pod).is_some() {
            continue;
        }
        let events = ctx.events(
            "Pod",
            s(pod, "/metadata/namespace"),
            s(pod, "/metadata/name"),
        );
        let Some(e) = events.iter().rev().find(|e| s(e, "/reason") == "Unhealthy") else {
            continue;
        };
        // Kubelets name the container in the event's fieldPath; without one, the container
        // that is not ready is the one whose probe fails.
        let container = container_of(e)
            .map(str::to_string)
            .or_else(|| {
                crate::snapshot::arr(pod, "/status/containerStatuses")
                    .iter()
                    .find(|c| c.get("ready") == Some(&Value::Bool(false)))
                    .map(|c| s(c, "/name").to_string())
            })
            .or_else(|| match crate::snapshot::arr(pod, "/spec/containers") {
                [only] => Some(s(only, "/name").to_string()),
                _ => None,
            })
            .unwrap_or_default();
        let key = (owner.display_name(), container.clone());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let message = s(e, "/message");
        let probe = if message.starts_with("Liveness") {
            "livenessProbe"
        } else if message.starts_with("Startup") {
            "startupProbe"
        } else {
            "readinessProbe"
        };
        let pointer = container_pointer(owner, &container)
            .map(|p| format!("{p}/{probe}"))
            .unwrap_or_default();
        let cause = format!(
            "the {probe} of container `{container}` fails: {}",
            message.trim()
        );
        let fix = format!(
            "make the {probe} match the application (path, port, scheme), give it time to start (`initialDelaySeconds`, a startupProbe), or fix what makes the application unhealthy"
        );
        out.push(
            Diagnosis::at(ID, Severity::Error, owner, &pointer, cause, fix).with(
                EvidenceKind::Event,
                display(pod),
                event_text(e),
            ),
        );
    }
}
