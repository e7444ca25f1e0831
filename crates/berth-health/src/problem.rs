//! Pod states that will not fix themselves, found from the pod's conditions and container
//! states so that a wait can stop at once with a reason instead of running into its timeout;
//! and, for a pod that is only on its way, the latest reason it is not ready yet
//! ([`pod_reason`]), which the live view of `up` shows while it waits.

use serde::Serialize;
use serde_json::Value;

use crate::fields::{condition, int, str};

/// Waiting reasons that mean the kubelet cannot get the image.
const IMAGE_PULL_REASONS: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
];

/// Why a pod cannot become ready without a change to the stack or the cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
pub enum PodProblem {
    /// The kubelet cannot pull the container's image (`ErrImagePull`, `ImagePullBackOff`,
    /// `InvalidImageName`, `ErrImageNeverPull`); `message` is the kubelet's.
    ImagePull {
        /// The container (init containers included).
        container: String,
        /// The image reference as the pod spec writes it.
        image: String,
        /// The kubelet's waiting reason.
        reason: String,
        /// The kubelet's waiting message (often empty for `ImagePullBackOff`).
        message: String,
    },
    /// The container keeps exiting and the kubelet backs off restarting it. `exit_code` and
    /// `last_reason` come from its last termination (`Error`, `Completed`, ...).
    CrashLoop {
        /// The container (init containers included).
        container: String,
        /// Exit code of the last run, when the kubelet reported it.
        exit_code: Option<i64>,
        /// Reason of the last termination (`Error`, `Completed`), or empty.
        last_reason: String,
        /// How many times the kubelet restarted it.
        restarts: i64,
    },
    /// The container was killed for exceeding its memory limit (now or at its last exit).
    OomKilled {
        /// The container (init containers included).
        container: String,
        /// How many times the kubelet restarted it.
        restarts: i64,
    },
    /// The container cannot be created from its spec, usually because a Secret, ConfigMap or
    /// key it references does not exist (`CreateContainerConfigError`); `message` names it.
    ContainerConfig {
        /// The container (init containers included).
        container: String,
        /// The kubelet's message (`secret "db" not found`).
        message: String,
    },
    /// The scheduler finds no node for the pod; `message` is the scheduler's
    /// (`0/3 nodes are available: 3 Insufficient cpu.`).
    Unschedulable {
        /// The scheduler's message from the `PodScheduled` condition.
        message: String,
    },
}

impl PodProblem {
    /// A stable id, used as the diagnosis id and in JSON: `image-pull`, `crash-loop`,
    /// `oom-killed`, `container-config`, `unschedulable`.
    pub fn id(&self) -> &'static str {
        match self {
            PodProblem::ImagePull { .. } => "image-pull",
            PodProblem::CrashLoop { .. } => "crash-loop",
            PodProblem::OomKilled { .. } => "oom-killed",
            PodProblem::ContainerConfig { .. } => "container-config",
            PodProblem::Unschedulable { .. } => "unschedulable",
        }
    }

    /// The container the problem is about (none for an unschedulable pod).
    pub fn container(&self) -> Option<&str> {
        match self {
            PodProblem::ImagePull { container, .. }
            | PodProblem::CrashLoop { container, .. }
            | PodProblem::OomKilled { container, .. }
            | PodProblem::ContainerConfig { container, .. } => Some(container),
            PodProblem::Unschedulable { .. } => None,
        }
    }

    /// What is wrong, in one sentence.
    pub fn cause(&self) -> String {
        match self {
            PodProblem::ImagePull {
                container,
                image,
                reason,
                message,
            } => {
                let detail = if message.is_empty() {
                    String::new()
                } else {
                    format!(": {message}")
                };
                format!("container `{container}` cannot pull image `{image}` ({reason}){detail}")
            }
            PodProblem::CrashLoop {
                container,
                exit_code,
                last_reason,
                restarts,
            } => {
                let how = match (exit_code, last_reason.is_empty()) {
                    (Some(code), false) => format!("exited with code {code} ({last_reason})"),
                    (Some(code), true) => format!("exited with code {code}"),
                    (None, _) => "exited".to_string(),
                };
                format!(
                    "container `{container}` keeps crashing: it {how} and was restarted {restarts} {}",
                    times(*restarts)
                )
            }
            PodProblem::OomKilled {
                container,
                restarts,
            } => format!(
                "container `{container}` was killed for using more memory than its limit (OOMKilled), restarted {restarts} {}",
                times(*restarts)
            ),
            PodProblem::ContainerConfig { container, message } => {
                format!("container `{container}` cannot be created: {message}")
            }
            PodProblem::Unschedulable { message } => {
                format!("no node can run the pod: {message}")
            }
        }
    }
}

impl std::fmt::Display for PodProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.cause())
    }
}

fn times(n: i64) -> &'static str {
    if n == 1 { "time" } else { "times" }
}

/// The first fail-fast problem of `pod` (a Pod object as read from the API), or `None` when
/// it is healthy or only on its way (creating containers, pulling for the first time,
/// starting). Unschedulable comes first (nothing else happens before scheduling), then init
/// containers in order, then containers.
pub fn pod_problem(pod: &Value) -> Option<PodProblem> {
    if let Some(c) =
        condition(pod, "PodScheduled").filter(|c| c.is_false() && c.reason == "Unschedulable")
    {
        return Some(PodProblem::Unschedulable {
            message: c.message.to_string(),
        });
    }
    ["/status/initContainerStatuses", "/status/containerStatuses"]
        .into_iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .find_map(|cs| container_problem(pod, cs))
}

fn container_problem(pod: &Value, cs: &Value) -> Option<PodProblem> {
    let container = str(cs, "/name").to_string();
    let restarts = int(cs, "/restartCount", 0);
    let waiting = str(cs, "/state/waiting/reason");
    let message = str(cs, "/state/waiting/message").to_string();
    if IMAGE_PULL_REASONS.contains(&waiting) {
        let image = image_of(pod, cs, &container);
        return Some(PodProblem::ImagePull {
            container,
            image,
            reason: waiting.to_string(),
            message,
        });
    }
    if waiting == "CreateContainerConfigError" {
        return Some(PodProblem::ContainerConfig { container, message });
    }
    if str(cs, "/state/terminated/reason") == "OOMKilled" {
        return Some(PodProblem::OomKilled {
            container,
            restarts,
        });
    }
    if waiting == "CrashLoopBackOff" {
        if str(cs, "/lastState/terminated/reason") == "OOMKilled" {
            return Some(PodProblem::OomKilled {
                container,
                restarts,
            });
        }
        return Some(PodProblem::CrashLoop {
            container,
            exit_code: cs
                .pointer("/lastState/terminated/exitCode")
                .and_then(Value::as_i64),
            last_reason: str(cs, "/lastState/terminated/reason").to_string(),
            restarts,
        });
    }
    None
}

/// The image the spec asks for (what the user wrote), falling back to the status's.
fn image_of(pod: &Value, cs: &Value, container: &str) -> String {
    let from_spec = ["/spec/initContainers", "/spec/containers"]
        .into_iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .find(|c| str(c, "/name") == container)
        .map(|c| str(c, "/image"))
        .filter(|i| !i.is_empty());
    from_spec.unwrap_or_else(|| str(cs, "/image")).to_string()
}

/// Why `pod` is not ready yet, in one line, or `None` when it is ready: its problem
/// ([`pod_problem`]) if it has one, else the newest Warning event about it (`events`, oldest
/// first, as the wait receives them), else the waiting reason of its first container that
/// waits (`ContainerCreating`, `PodInitializing`), else a running container that is not ready
/// (its readiness probe), else the reason of the pod's Ready condition; a pod without a Ready
/// condition yet is `Pending` (or its phase).
pub fn pod_reason(pod: &Value, events: &[Value]) -> Option<String> {
    if condition(pod, "Ready").is_some_and(|c| c.is_true()) {
        return None;
    }
    let name = str(pod, "/metadata/name");
    if let Some(problem) = pod_problem(pod) {
        return Some(format!("pod {name}: {problem}"));
    }
    if let Some(e) = events.iter().rev().find(|e| str(e, "/type") == "Warning") {
        let message = str(e, "/message").trim();
        return Some(format!("pod {name}: {}: {message}", str(e, "/reason")));
    }
    ["/status/initContainerStatuses", "/status/containerStatuses"]
        .into_iter()
        .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
        .flatten()
        .find_map(|c| {
            let reason = str(c, "/state/waiting/reason");
            (!reason.is_empty()).then(|| format!("pod {name}: {}: {reason}", str(c, "/name")))
        })
        .or_else(|| {
            pod.pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|c| {
                    c.pointer("/state/running").is_some()
                        && c.get("ready").and_then(Value::as_bool) == Some(false)
                })
                .map(|c| {
                    format!(
                        "pod {name}: {}: running, not ready (its readiness probe fails)",
                        str(c, "/name")
                    )
                })
        })
        .or_else(|| {
            let ready = condition(pod, "Ready")?;
            let why = match (ready.reason, ready.message.trim()) {
                ("", "") => return None,
                (r, "") => r.to_string(),
                ("", m) => m.to_string(),
                (r, m) => format!("{r}: {m}"),
            };
            Some(format!("pod {name}: not ready: {why}"))
        })
        .or_else(|| {
            // No Ready condition at all: not scheduled or not started yet.
            condition(pod, "Ready").is_none().then(|| {
                let phase = str(pod, "/status/phase");
                format!(
                    "pod {name}: {}",
                    if phase.is_empty() { "Pending" } else { phase }
                )
            })
        })
}

#[cfg(test)]
mod reason_tests {
    use super::*;
    use serde_json::json;

    fn pod(ready: bool, statuses: Value) -> Value {
        json!({
            "metadata": {"name": "web-1"},
            "status": {
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                "containerStatuses": statuses,
            }
        })
    }

    fn warning(reason: &str, message: &str) -> Value {
        json!({"type": "Warning", "reason": reason, "message": message})
    }

    #[test]
    fn a_pod_that_says_only_its_ready_condition_is_explained_by_it() {
        let p = json!({
            "metadata": {"name": "db-0"},
            "status": {"phase": "Running", "conditions": [
                {"type": "Ready", "status": "False", "reason": "ContainersNotReady",
                 "message": "containers with unready status: [db]"}]}
        });
        assert_eq!(
            pod_reason(&p, &[]).as_deref(),
            Some("pod db-0: not ready: ContainersNotReady: containers with unready status: [db]")
        );
        let running = pod(
            false,
            json!([{"name": "db", "ready": false, "state": {"running": {}}}]),
        );
        assert_eq!(
            pod_reason(&running, &[]).as_deref(),
            Some("pod web-1: db: running, not ready (its readiness probe fails)")
        );
        let new = json!({"metadata": {"name": "web-2"}});
        assert_eq!(pod_reason(&new, &[]).as_deref(), Some("pod web-2: Pending"));
    }

    #[test]
    fn a_ready_pod_has_no_reason_whatever_its_events() {
        let p = pod(true, json!([]));
        assert_eq!(
            pod_reason(&p, &[warning("Unhealthy", "probe failed")]),
            None
        );
    }

    #[test]
    fn the_newest_warning_event_says_why() {
        let p = pod(false, json!([{"name": "web", "state": {"running": {}}}]));
        let events = [
            warning("Unhealthy", "Readiness probe failed: 503"),
            json!({"type": "Normal", "reason": "Pulled", "message": "pulled"}),
            warning("Unhealthy", "Readiness probe failed: connection refused "),
        ];
        assert_eq!(
            pod_reason(&p, &events).as_deref(),
            Some("pod web-1: Unhealthy: Readiness probe failed: connection refused")
        );
    }

    #[test]
    fn without_events_the_waiting_reason_of_a_container() {
        let p = pod(
            false,
            json!([{"name": "web", "state": {"waiting": {"reason": "ContainerCreating"}}}]),
        );
        assert_eq!(
            pod_reason(&p, &[]).as_deref(),
            Some("pod web-1: web: ContainerCreating")
        );
        // Normal events are no reason; nothing at all is `None`.
        let running = pod(false, json!([{"name": "web", "state": {"running": {}}}]));
        let normal = [json!({"type": "Normal", "reason": "Started", "message": "started"})];
        assert_eq!(pod_reason(&running, &normal), None);
    }

    #[test]
    fn a_problem_comes_before_events() {
        let p = pod(
            false,
            json!([{"name": "web", "image": "x:1", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "back-off"}}}]),
        );
        let reason = pod_reason(&p, &[warning("Failed", "something else")]).unwrap();
        assert!(reason.starts_with("pod web-1: "), "{reason}");
        assert!(
            reason.contains("ImagePullBackOff") || reason.contains("image"),
            "{reason}"
        );
        assert!(!reason.contains("something else"), "{reason}");
    }
}
