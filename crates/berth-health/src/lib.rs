//! Is this Kubernetes object healthy yet? Computed from its JSON alone.
//!
//! [`status`] follows kstatus (`sigs.k8s.io/cli-utils/pkg/kstatus`), the rules Flux and Helm 4
//! wait with: a controller that has not observed the latest generation is still in progress,
//! `Reconciling`/`Stalled` conditions speak for any kind, and built-in kinds have their own
//! rules (one module per kind under `kind/`). berth tightens a few of them where kstatus is too
//! lenient for "wait until the stack really works":
//!
//! - a Job is Current only when `Complete` (kstatus calls a started Job Current);
//! - a Pod in phase `Failed` is Failed (kstatus calls it Current, "completed");
//! - a Deployment whose `Progressing` reason is `ProgressDeadlineExceeded` is Failed at once;
//! - a LoadBalancer Service waits for its address only when [`Options::load_balancer_controller`]
//!   says the profile has a controller that will give it one;
//! - a built-in workload whose controller has not written `observedGeneration` yet is in
//!   progress (kstatus only compares it when present, so a just-created object could pass).
//!
//! Custom resources (`custom/`):
//!
//! - widely used CRDs have a readiness rule in the embedded data file `custom/rules.json`:
//!   cert-manager Certificate, Issuer and ClusterIssuer; External Secrets ExternalSecret; Argo
//!   Rollout; Karpenter NodePool and NodeClaim; Strimzi Kafka; CloudNativePG Cluster; Flux
//!   HelmRelease and Kustomization; KEDA ScaledObject and ScaledJob; and any Crossplane claim,
//!   composite or managed resource (recognised by its `Synced` and `Ready` conditions, or
//!   before it has any by the spec fields Crossplane's CRDs default or require). A rule
//!   names the conditions or status fields that mean ready and the few that mean failed
//!   (a state the controller will not leave without a change), and where the controller writes
//!   the generation it has acted on. A rule's failures are checked before kstatus'
//!   `Reconciling`, because Flux keeps reconciling while it retries a failed release;
//! - any other custom resource follows the generic rule: its first `Ready`, `Available` or
//!   `Succeeded` condition decides (True is Current, False or Unknown in progress, never
//!   Failed: only a rule or kstatus `Stalled` may fail a custom resource); one that has none of
//!   them, or no status at all, is Current once created;
//! - a condition or status written for an older generation than `metadata.generation` (its
//!   own `observedGeneration`, or the status's) says nothing about the current spec: in
//!   progress, and a failure it reports does not fail the object.
//!
//! Any object may carry the annotation `berth.dev/wait`: `ready` (the default) waits as above,
//! `created` is Current as soon as the object exists, `none` is Current whatever its status.
//! Another value is waited for as `ready`, and the message says it was not understood (the
//! stack checker is where such a value should be rejected).
//!
//! [`pod_problem`] finds the pod states that will not fix themselves (image pull errors, crash
//! loops, OOM kills, missing config, unschedulable), so a wait can stop at once instead of at
//! its timeout. Nothing here talks to a cluster: callers pass the objects they read or watched.

#![warn(missing_docs)]

mod custom;
mod fields;
mod kind;
mod problem;
pub mod rollout;
pub mod wait_mode;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use problem::{PodProblem, pod_problem, pod_reason};

use fields::condition;

/// The health of one object, as `berth status` prints it and `berth up` waits on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum State {
    /// The object is what its spec asks for: applied, observed and (for workloads) available.
    Current,
    /// Not there yet: a rollout, a binding, a controller that has not caught up, or a deletion.
    InProgress,
    /// It will not get there without a change: a failed Job, a stalled controller, an exceeded
    /// progress deadline.
    Failed,
    /// The object does not exist.
    NotFound,
}

impl State {
    /// The name printed in tables and JSON (`Current`, `InProgress`, `Failed`, `NotFound`).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Current => "Current",
            State::InProgress => "InProgress",
            State::Failed => "Failed",
            State::NotFound => "NotFound",
        }
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

/// A [`State`] with a short message saying why (`Ready: 1/3`, `PVC is not Bound. phase: Pending`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    /// Where the object stands.
    pub state: State,
    /// Why, in a few words, with the numbers that matter (`Ready: 1/3`).
    pub message: String,
}

impl Health {
    /// A Current health with `message`.
    pub fn current(message: impl Into<String>) -> Health {
        Health {
            state: State::Current,
            message: message.into(),
        }
    }
    /// An InProgress health with `message`.
    pub fn in_progress(message: impl Into<String>) -> Health {
        Health {
            state: State::InProgress,
            message: message.into(),
        }
    }
    /// A Failed health with `message`.
    pub fn failed(message: impl Into<String>) -> Health {
        Health {
            state: State::Failed,
            message: message.into(),
        }
    }
    /// True when the object is Current.
    pub fn is_current(&self) -> bool {
        self.state == State::Current
    }
}

/// What the cluster can do, where that changes what "healthy" means.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// The cluster has a load-balancer controller (EKS, AKS, GKE; not the local cluster), so a
    /// `type: LoadBalancer` Service is Current only once it has an address. Without one the
    /// address never comes and waiting for it would only time out.
    pub load_balancer_controller: bool,
}

/// The health of `obj` (a full object as read from the API) with default [`Options`] (no
/// load-balancer controller). Pass `Value::Null` for an object that does not exist: that is
/// [`State::NotFound`].
pub fn status(obj: &Value) -> Health {
    status_with(obj, &Options::default())
}

/// The health of `obj` under `options`; see the crate docs for the rules.
pub fn status_with(obj: &Value, options: &Options) -> Health {
    if obj.is_null() {
        return Health {
            state: State::NotFound,
            message: "Object not found".into(),
        };
    }
    let mode = wait_mode::wait_mode(obj);
    if let Some(h) = mode.health() {
        return h;
    }
    mode.annotate(readiness(obj, options))
}

/// The health of an existing object by its kind's rules: deletion first, then a custom
/// resource rule's failures, kstatus' generation and abnormal conditions, the built-in kind's
/// own rule, the custom resource rule's readiness, and the generic rule.
fn readiness(obj: &Value, options: &Options) -> Health {
    if obj
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|v| !v.is_null())
    {
        return Health::in_progress("Resource is being deleted");
    }
    let api_version = fields::str(obj, "/apiVersion");
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let kind = fields::str(obj, "/kind");
    let rule = custom::rule_for(group, kind, obj);
    if let Some(h) = rule.and_then(|r| r.failed(obj)) {
        return h;
    }
    if let Some(h) = generic(obj) {
        return h;
    }
    if let Some(h) = kind::status(group, kind, obj, options) {
        return h;
    }
    match rule {
        Some(rule) => rule.status(obj),
        None => custom::generic(obj),
    }
}

/// The rules every kind shares, in kstatus order: observed generation, and the abnormal-true
/// `Reconciling` and `Stalled` conditions.
fn generic(obj: &Value) -> Option<Health> {
    if let Some(observed) = obj
        .pointer("/status/observedGeneration")
        .and_then(fields::generation)
    {
        let generation = fields::int(obj, "/metadata/generation", observed);
        if observed != generation {
            return Some(Health::in_progress(format!(
                "Generation {generation} not observed yet (observed {observed})"
            )));
        }
    }
    if let Some(c) = condition(obj, "Reconciling").filter(|c| c.is_true()) {
        return Some(Health::in_progress(ready_message(
            "Resource is reconciling",
            c,
        )));
    }
    if let Some(c) = condition(obj, "Stalled").filter(|c| c.is_true()) {
        return Some(Health::failed(ready_message("Resource is stalled", c)));
    }
    None
}

/// `fallback` followed by the condition's reason and message, when it has them.
fn ready_message(fallback: &str, c: fields::Condition<'_>) -> String {
    let detail = fields::reason_message(c.reason, c.message);
    if detail.is_empty() {
        fallback.to_string()
    } else {
        format!("{fallback}: {detail}")
    }
}
