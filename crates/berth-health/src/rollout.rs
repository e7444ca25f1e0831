//! Whether a workload's rollout should stop a wait: which pods are the current revision's, how
//! many failures they may have, and what a node autoscaler said about unschedulable ones.
//!
//! A wait that stops at the first sight of a bad pod fails healthy deploys: the pods of the
//! previous revision linger for their grace period after a fix, a registry answers one pull
//! with 429, a pod is unschedulable for the minute a node autoscaler needs to add a node. So:
//!
//! - **Only the current revision counts.** A Deployment's pods are those of its current
//!   ReplicaSet (the one carrying the Deployment's `deployment.kubernetes.io/revision`), a
//!   StatefulSet's those with its `updateRevision` as `controller-revision-hash`, a DaemonSet's
//!   those with the hash of its newest ControllerRevision, a Job's and a ReplicaSet's those it
//!   controls; always by owner uid, never by label selector, and only once the controller has
//!   observed the workload's generation. Terminating pods never count.
//! - **What cannot heal fails at once:** `InvalidImageName`, `ErrImageNeverPull`, and a
//!   container config error naming a Secret or ConfigMap that nothing in the stack creates.
//! - **Crash loops and image pull failures count against a budget**, like kubedog's
//!   `failures-allowed-per-replica`: one failure per replica for Deployments, StatefulSets
//!   and DaemonSets, none for Jobs (and pods that never restart), or the workload's
//!   `berth.dev/failures-allowed: N`. A failure is a container restart, or a failed image
//!   pull (`ErrImagePull`, then each failed retry after `ImagePullBackOff`).
//! - **Unschedulable waits for the node autoscaler's answer.** cluster-autoscaler's
//!   `TriggeredScaleUp` or Karpenter's `Nominated` event means a node is coming: keep waiting.
//!   `NotTriggerScaleUp` (or Karpenter's own `FailedScheduling`) fails at once with the
//!   autoscaler's reason. With no autoscaler in the cluster, or one that can add no node
//!   (Karpenter without a NodePool), the pod fails at once; with one
//!   that has not answered within the grace period it fails then.
//!
//! Pure: the waiter passes the objects it watched and the time; [`Tracker`] keeps what must be
//! remembered between observations (restart baselines, pull attempts, since when a pod is
//! unschedulable).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::fields::{condition, int, str};
use crate::problem::{PodProblem, pod_problem};

/// Annotation on a workload: how many failures (restarts, failed pulls) its current pods may
/// have in total before a wait stops.
pub const FAILURES_ALLOWED: &str = "berth.dev/failures-allowed";

/// What `berth explain failure-budget` prints: how `up` decides that a rollout failed.
pub const EXPLAIN: &str = "\
failure-budget: when `berth up` stops waiting for a workload

## What it does
While `up` waits for a Deployment, StatefulSet, DaemonSet, Job or Pod, it watches the pods of
the workload's current revision only: a Deployment's current ReplicaSet, the StatefulSet's
update revision, the DaemonSet's newest ControllerRevision, the Job's own pods. Pods of the
previous revision (still terminating after you fixed a crash loop) never fail the wait.

It stops at once on what cannot heal: an invalid image name (InvalidImageName),
ErrImageNeverPull, a container that needs a Secret or ConfigMap (or key) that does not exist and
that nothing in the stack creates, a Job past its backoff limit, a Deployment past its progress
deadline.

Crash loops and failed image pulls count against a failure budget: every container restart and
every failed pull (ErrImagePull, and each failed retry after ImagePullBackOff) of the current
pods is one failure. The wait stops when the failures exceed the budget: one per replica for
Deployments, StatefulSets and DaemonSets, none for Jobs and pods that never restart.

An unschedulable pod waits for the node autoscaler: cluster-autoscaler's TriggeredScaleUp or a
Karpenter nomination means a node is coming, and `up` keeps waiting (it says so); their refusal
(NotTriggerScaleUp, Karpenter's FailedScheduling) stops it with the autoscaler's reason. With no
autoscaler in the cluster, or Karpenter without a NodePool, it stops at once; with one that does
not answer within
`--autoscaler-grace` (30s) it stops then.

## Why is this bad?
Stopping at the first sight of a bad pod fails healthy deploys: a registry that answers one
pull with 429, a pod that crashes once while its database starts, the minute a node autoscaler
needs to add a node. Waiting for the timeout instead makes every real failure cost minutes.

## Example
    metadata:
      annotations:
        berth.dev/failures-allowed: \"5\"   # this workload's pods may fail 5 times in all

## Fix
Set `berth.dev/failures-allowed: N` on a workload whose pods are known to restart while their
dependencies start; `0` makes any crash stop `up` at once. Raise `--autoscaler-grace` when the
autoscaler answers slowly. `berth doctor` explains the pod that failed.
";

/// The long explanation of `id` (`failure-budget`), for `berth explain`.
pub fn explain(id: &str) -> Option<&'static str> {
    (id == "failure-budget").then_some(EXPLAIN)
}

/// Whether the cluster runs a node autoscaler that may answer an unschedulable pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Autoscaler {
    /// None: no cluster-autoscaler Deployment and no Karpenter API.
    Absent,
    /// One is installed (its name, for messages: `cluster-autoscaler`, `Karpenter`).
    Present(String),
    /// One is installed and can add no node at all (why, for messages: `Karpenter runs but
    /// has no NodePool`): Karpenter then says nothing about pods, so waiting for its answer
    /// would only spend the grace period.
    Idle(String),
    /// berth could not tell (it may not read kube-system): treated as present.
    Unknown,
}

/// What the wait knows beyond the pods themselves.
#[derive(Clone, Debug)]
pub struct Context<'a> {
    /// Now, for the autoscaler grace period.
    pub now: Instant,
    /// The node autoscaler, when one was looked for.
    pub autoscaler: &'a Autoscaler,
    /// How long an unschedulable pod waits for the autoscaler's answer.
    pub grace: Duration,
    /// Secrets and ConfigMaps (`(namespace, kind, name)`, kind `Secret` or `ConfigMap`) that
    /// something in the stack will create later (a cert-manager Certificate, an
    /// ExternalSecret): a pod waiting for one of them is not failing.
    pub expected: &'a HashSet<(String, String, String)>,
}

/// The verdict on a rollout at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Assessment {
    /// Stop the wait: why, naming the pod.
    pub failure: Option<String>,
    /// Keep waiting, and say this (`waiting for a new node: ...`).
    pub note: Option<String>,
}

/// The pods of `workload`'s current revision among `pods` (all pods of its namespace), given
/// the ReplicaSets and ControllerRevisions of that namespace. Empty while the controller has
/// not observed the workload's latest generation (the current revision is not known yet).
pub fn current_pods<'p>(
    workload: &Value,
    replica_sets: &[&Value],
    revisions: &[&Value],
    pods: &[&'p Value],
) -> Vec<&'p Value> {
    let kind = str(workload, "/kind");
    let uid = str(workload, "/metadata/uid");
    if uid.is_empty() {
        return Vec::new();
    }
    let observed = || {
        let generation = int(workload, "/metadata/generation", 0);
        workload
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64)
            .is_some_and(|o| o >= generation)
    };
    let live = |p: &&&Value| {
        p.pointer("/metadata/deletionTimestamp")
            .is_none_or(Value::is_null)
    };
    let owned_by = |owner: &str| {
        let owner = owner.to_string();
        move |p: &&&'p Value| controller_uid(p) == Some(owner.as_str())
    };
    match kind {
        "Pod" => vec![],
        "Deployment" => {
            if !observed() {
                return Vec::new();
            }
            let revision = str(
                workload,
                "/metadata/annotations/deployment.kubernetes.io~1revision",
            );
            let Some(rs) = replica_sets.iter().find(|rs| {
                controller_uid(rs) == Some(uid)
                    && !revision.is_empty()
                    && str(
                        rs,
                        "/metadata/annotations/deployment.kubernetes.io~1revision",
                    ) == revision
            }) else {
                return Vec::new();
            };
            let rs_uid = str(rs, "/metadata/uid");
            pods.iter()
                .filter(live)
                .filter(owned_by(rs_uid))
                .copied()
                .collect()
        }
        "StatefulSet" | "DaemonSet" => {
            if !observed() {
                return Vec::new();
            }
            let hash = if kind == "StatefulSet" {
                str(workload, "/status/updateRevision").to_string()
            } else {
                newest_revision_hash(workload, revisions)
            };
            if hash.is_empty() {
                return Vec::new();
            }
            pods.iter()
                .filter(live)
                .filter(owned_by(uid))
                .filter(|p| str(p, "/metadata/labels/controller-revision-hash") == hash)
                .copied()
                .collect()
        }
        "Job" | "ReplicaSet" => pods
            .iter()
            .filter(live)
            .filter(owned_by(uid))
            .copied()
            .collect(),
        _ => Vec::new(),
    }
}

/// The uid of `obj`'s controlling owner.
fn controller_uid(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .and_then(|r| r.get("uid"))
        .and_then(Value::as_str)
}

/// The `controller-revision-hash` of the newest ControllerRevision a DaemonSet controls (the
/// hash its updated pods carry); empty when there is none yet.
fn newest_revision_hash(workload: &Value, revisions: &[&Value]) -> String {
    let uid = str(workload, "/metadata/uid");
    let name = str(workload, "/metadata/name");
    revisions
        .iter()
        .filter(|r| controller_uid(r) == Some(uid))
        .max_by_key(|r| int(r, "/revision", 0))
        .map(|r| {
            let label = str(r, "/metadata/labels/controller-revision-hash");
            if label.is_empty() {
                str(r, "/metadata/name")
                    .strip_prefix(&format!("{name}-"))
                    .unwrap_or_default()
                    .to_string()
            } else {
                label.to_string()
            }
        })
        .unwrap_or_default()
}

/// How many failures `workload`'s current pods may have: [`FAILURES_ALLOWED`], or one per
/// replica for Deployments, StatefulSets and DaemonSets, none for Jobs, and for a bare Pod one
/// unless it never restarts.
pub fn failures_allowed(workload: &Value) -> i64 {
    if let Some(n) = workload
        .pointer("/metadata/annotations/berth.dev~1failures-allowed")
        .and_then(Value::as_str)
        .and_then(|s| s.trim().parse::<i64>().ok())
    {
        return n.max(0);
    }
    match str(workload, "/kind") {
        "Deployment" | "StatefulSet" | "ReplicaSet" => int(workload, "/spec/replicas", 1).max(1),
        "DaemonSet" => int(workload, "/status/desiredNumberScheduled", 1).max(1),
        "Pod" if str(workload, "/spec/restartPolicy") != "Never" => 1,
        _ => 0,
    }
}

/// What is remembered of one container between observations.
#[derive(Clone, Debug, Default)]
struct ContainerTrack {
    /// Restarts it had when first seen, when it existed before the wait began.
    baseline: i64,
    /// Restarts now.
    restarts: i64,
    /// Failed image pulls seen (each `ErrImagePull`, and an `ImagePullBackOff` not preceded
    /// by a seen `ErrImagePull`).
    pulls_failed: i64,
    /// The waiting reason last seen.
    last_waiting: String,
}

impl ContainerTrack {
    fn failures(&self) -> i64 {
        (self.restarts - self.baseline).max(0) + self.pulls_failed
    }
}

/// What a wait remembers about pods between observations; see the module docs.
#[derive(Debug)]
pub struct Tracker {
    /// Pods created before this instant (RFC 3339 text compares in order) existed before the
    /// wait: their earlier restarts are not this rollout's failures.
    started: String,
    containers: HashMap<(String, String), ContainerTrack>,
    unschedulable_since: HashMap<String, Instant>,
}

impl Tracker {
    /// A tracker for a wait that starts at `started` (the cluster time as RFC 3339,
    /// `2026-11-29T18:00:00Z`; pods created before it are treated as pre-existing).
    pub fn new(started: impl Into<String>) -> Tracker {
        Tracker {
            started: started.into(),
            containers: HashMap::new(),
            unschedulable_since: HashMap::new(),
        }
    }

    /// Takes in one observation of `pod` (call it on every watch event of a pod).
    pub fn observe(&mut self, pod: &Value, now: Instant) {
        let uid = str(pod, "/metadata/uid").to_string();
        let preexisting = {
            let created = str(pod, "/metadata/creationTimestamp");
            !created.is_empty() && created < self.started.as_str()
        };
        for cs in ["/status/initContainerStatuses", "/status/containerStatuses"]
            .into_iter()
            .filter_map(|p| pod.pointer(p).and_then(Value::as_array))
            .flatten()
        {
            let name = str(cs, "/name").to_string();
            let restarts = int(cs, "/restartCount", 0);
            let waiting = str(cs, "/state/waiting/reason");
            let track = self
                .containers
                .entry((uid.clone(), name))
                .or_insert_with(|| ContainerTrack {
                    baseline: if preexisting { restarts } else { 0 },
                    ..ContainerTrack::default()
                });
            track.restarts = restarts;
            let fresh_pull_failure = match waiting {
                "ErrImagePull" => track.last_waiting != "ErrImagePull",
                "ImagePullBackOff" => !matches!(
                    track.last_waiting.as_str(),
                    "ErrImagePull" | "ImagePullBackOff"
                ),
                _ => false,
            };
            if fresh_pull_failure {
                track.pulls_failed += 1;
            }
            track.last_waiting = waiting.to_string();
        }
        let unschedulable = condition(pod, "PodScheduled")
            .is_some_and(|c| c.is_false() && c.reason == "Unschedulable");
        if unschedulable {
            self.unschedulable_since.entry(uid).or_insert(now);
        } else {
            self.unschedulable_since.remove(&uid);
        }
    }

    /// Forgets a deleted pod.
    pub fn forget(&mut self, pod: &Value) {
        let uid = str(pod, "/metadata/uid");
        self.containers.retain(|(u, _), _| u != uid);
        self.unschedulable_since.remove(uid);
    }

    /// Failures of `pod` so far (restarts and failed pulls of its containers).
    fn failures(&self, pod: &Value) -> i64 {
        let uid = str(pod, "/metadata/uid");
        self.containers
            .iter()
            .filter(|((u, _), _)| u == uid)
            .map(|(_, t)| t.failures())
            .sum()
    }

    /// When the grace period of an unschedulable pod runs out (the waiter wakes up then).
    pub fn next_deadline(&self, grace: Duration) -> Option<Instant> {
        self.unschedulable_since.values().map(|t| *t + grace).min()
    }

    /// The verdict on `workload` given its current pods (see [`current_pods`]) and, per pod,
    /// the Events about it (`events_of`).
    pub fn assess(
        &self,
        workload: &Value,
        pods: &[&Value],
        events_of: &dyn Fn(&Value) -> Vec<Value>,
        ctx: &Context<'_>,
    ) -> Assessment {
        let mut out = Assessment::default();
        let allowed = failures_allowed(workload);
        let mut failures = 0;
        let mut worst: Option<(String, PodProblem)> = None;
        for pod in pods {
            let name = str(pod, "/metadata/name").to_string();
            failures += self.failures(pod);
            let Some(problem) = pod_problem(pod) else {
                continue;
            };
            match &problem {
                PodProblem::Unschedulable { message } => {
                    match self.unschedulable(pod, message, events_of, ctx) {
                        Err(why) => {
                            out.failure = Some(format!("pod {name}: {why}"));
                            return out;
                        }
                        Ok(note) => out.note = out.note.or(Some(note)),
                    }
                }
                PodProblem::ImagePull { reason, .. }
                    if matches!(reason.as_str(), "InvalidImageName" | "ErrImageNeverPull") =>
                {
                    out.failure = Some(format!("pod {name}: {problem}"));
                    return out;
                }
                PodProblem::ContainerConfig { message, .. } => {
                    let ns = str(pod, "/metadata/namespace");
                    match missing_config(message) {
                        Some((kind, missing))
                            if ctx.expected.contains(&(
                                ns.to_string(),
                                kind.to_string(),
                                missing.to_string(),
                            )) =>
                        {
                            out.note = out.note.or(Some(format!(
                                "pod {name} waits for {kind} `{missing}`, which the stack creates"
                            )));
                        }
                        _ => {
                            out.failure = Some(format!("pod {name}: {problem}"));
                            return out;
                        }
                    }
                }
                _ => {
                    worst.get_or_insert((name, problem));
                }
            }
        }
        if failures > allowed {
            let (name, problem) = match worst {
                Some((n, p)) => (n, p.cause()),
                None => (
                    pods.iter()
                        .find(|p| self.failures(p) > 0)
                        .map(|p| str(p, "/metadata/name").to_string())
                        .unwrap_or_default(),
                    "containers restarted or failed to pull".to_string(),
                ),
            };
            let per = if workload
                .pointer("/metadata/annotations/berth.dev~1failures-allowed")
                .is_some()
            {
                format!("{FAILURES_ALLOWED}: {allowed}")
            } else {
                format!("{allowed} allowed")
            };
            out.failure = Some(format!(
                "pod {name}: {problem} ({failures} {} of its pods, {per}; see `berth explain failure-budget`)",
                if failures == 1 { "failure" } else { "failures" }
            ));
        }
        out
    }

    /// An unschedulable pod: `Ok(note)` to keep waiting, `Err(why)` to stop.
    fn unschedulable(
        &self,
        pod: &Value,
        message: &str,
        events_of: &dyn Fn(&Value) -> Vec<Value>,
        ctx: &Context<'_>,
    ) -> Result<String, String> {
        // The scheduler waits for the pod's volume claim, not for a node: a StatefulSet
        // creates its claims moments before the pods (the scheduler may look first), and a
        // claim of an `Immediate` class is bound a little later. Both heal by themselves;
        // a claim nothing creates is `check`'s `ref-missing`, and otherwise the timeout's.
        if let Some(claim) = missing_claim(message) {
            return Ok(format!(
                "pod {} waits for PersistentVolumeClaim `{claim}`",
                str(pod, "/metadata/name")
            ));
        }
        if message.contains("unbound immediate PersistentVolumeClaims") {
            return Ok(format!(
                "pod {} waits for its PersistentVolumeClaims to be bound",
                str(pod, "/metadata/name")
            ));
        }
        if let Some(answer) = autoscaler_answer(&events_of(pod)) {
            return if answer.node_coming {
                Ok(format!("waiting for a new node: {}", answer.summary()))
            } else {
                Err(format!("no node can run the pod and {}", answer.summary()))
            };
        }
        let cause = format!("no node can run the pod: {message}");
        match ctx.autoscaler {
            Autoscaler::Absent => Err(cause),
            Autoscaler::Idle(why) => Err(format!("{cause} ({why})")),
            present => {
                let since = self
                    .unschedulable_since
                    .get(str(pod, "/metadata/uid"))
                    .copied()
                    .unwrap_or(ctx.now);
                let who = match present {
                    Autoscaler::Present(name) => name.clone(),
                    _ => "a node autoscaler".to_string(),
                };
                if ctx.now.saturating_duration_since(since) >= ctx.grace {
                    Err(format!(
                        "{cause} ({who} did not answer within {}s)",
                        ctx.grace.as_secs()
                    ))
                } else {
                    Ok(format!(
                        "pod {} is unschedulable; waiting up to {}s for {who} to add a node",
                        str(pod, "/metadata/name"),
                        ctx.grace.as_secs()
                    ))
                }
            }
        }
    }
}

/// The claim a scheduler message says is missing: `persistentvolumeclaim "data-db-0" not
/// found`.
fn missing_claim(message: &str) -> Option<&str> {
    let rest = message.split("persistentvolumeclaim \"").nth(1)?;
    let (name, after) = rest.split_once('"')?;
    after.trim_start().starts_with("not found").then_some(name)
}

/// What a node autoscaler last said about an unschedulable pod, from its Events.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AutoscalerAnswer {
    /// A node is coming (`TriggeredScaleUp`, Karpenter's `Nominated`); false for a refusal
    /// (`NotTriggerScaleUp`, Karpenter's `FailedScheduling`).
    pub node_coming: bool,
    /// `cluster-autoscaler` or `Karpenter`.
    pub autoscaler: &'static str,
    /// The Event's reason.
    pub reason: String,
    /// The Event's message.
    pub message: String,
}

impl AutoscalerAnswer {
    /// One phrase for messages: `cluster-autoscaler scale-up of eks-a 1->2 (max: 10)`,
    /// `Karpenter is launching nodeclaim/default-x`, `cluster-autoscaler will not add one: ...`.
    pub fn summary(&self) -> String {
        if !self.node_coming {
            return format!("{} will not add one: {}", self.autoscaler, self.message);
        }
        let m = &self.message;
        if let Some(rest) = m.split_once("scale-up:").map(|(_, r)| r.trim()) {
            let groups = rest
                .trim_start_matches('[')
                .trim_end_matches(']')
                .replace(['{', '}'], "");
            return format!("{} scale-up of {groups}", self.autoscaler);
        }
        match m.split_once("schedule on:") {
            Some((_, on)) => format!("{} is launching {}", self.autoscaler, on.trim()),
            None => format!("{}: {m}", self.autoscaler),
        }
    }
}

/// The latest answer of a node autoscaler among a pod's `events` (core/v1 or events.k8s.io
/// Events about it), if any.
pub fn autoscaler_answer(events: &[Value]) -> Option<AutoscalerAnswer> {
    events
        .iter()
        .filter_map(|e| answer_of(e).map(|a| (event_time(e), a)))
        .max_by(|a, b| a.0.cmp(b.0))
        .map(|(_, a)| a)
}

fn answer_of(event: &Value) -> Option<AutoscalerAnswer> {
    let source = [
        "/source/component",
        "/reportingComponent",
        "/reportingController",
        "/deprecatedSource/component",
    ]
    .iter()
    .map(|p| str(event, p))
    .find(|s| !s.is_empty())
    .unwrap_or("");
    let reason = str(event, "/reason");
    let (node_coming, autoscaler) = match reason {
        "TriggeredScaleUp" => (true, "cluster-autoscaler"),
        "NotTriggerScaleUp" => (false, "cluster-autoscaler"),
        "Nominated" => (true, "Karpenter"),
        "FailedScheduling" if source.to_ascii_lowercase().contains("karpenter") => {
            (false, "Karpenter")
        }
        _ => return None,
    };
    let message = [str(event, "/message"), str(event, "/note")]
        .into_iter()
        .find(|m| !m.is_empty())
        .unwrap_or("")
        .to_string();
    Some(AutoscalerAnswer {
        node_coming,
        autoscaler,
        reason: reason.to_string(),
        message,
    })
}

/// When an Event last happened (RFC 3339 text orders correctly).
fn event_time(event: &Value) -> &str {
    [
        "/lastTimestamp",
        "/eventTime",
        "/series/lastObservedTime",
        "/deprecatedLastTimestamp",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .map(|p| str(event, p))
    .filter(|t| !t.is_empty())
    .max()
    .unwrap_or("")
}

/// The Secret or ConfigMap a kubelet config error names: `secret "db" not found`,
/// `couldn't find key password in Secret shop/db`, `configmap "x" not found`.
fn missing_config(message: &str) -> Option<(&'static str, &str)> {
    for (needle, kind) in [("secret \"", "Secret"), ("configmap \"", "ConfigMap")] {
        if let Some(rest) = message
            .to_ascii_lowercase()
            .find(needle)
            .map(|i| &message[i + needle.len()..])
        {
            return rest.split('"').next().map(|n| (kind, n));
        }
    }
    for (needle, kind) in [(" in Secret ", "Secret"), (" in ConfigMap ", "ConfigMap")] {
        if let Some((_, rest)) = message.split_once(needle) {
            let full = rest.split_whitespace().next().unwrap_or("");
            return Some((kind, full.rsplit('/').next().unwrap_or(full)));
        }
    }
    None
}

#[cfg(test)]
mod tests;
