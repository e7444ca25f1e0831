//! Waits until applied objects are healthy, driven by watches (no polling loop).
//!
//! One watch per (resource, namespace) of the objects, filtered by the ApplySet label; and per
//! namespace with workloads, watches of its pods, ReplicaSets (for Deployments),
//! ControllerRevisions (for DaemonSets) and the Events about pods. Every event recomputes the
//! health of the one object it is about; each object is reported as soon as it becomes
//! Current (what depends on it may start), and the wait fails at once when one becomes
//! Failed. Pods are judged by
//! [`berth_health::rollout`]: only the current revision's pods count, what cannot heal stops
//! the wait, crash loops and pull failures count against a budget, and an unschedulable pod
//! waits for the node autoscaler's answer. At `deadline` it fails naming what was pending.
//!
//! Pods are tied to their workload by owner uid (pod → ReplicaSet → Deployment), through
//! indexes, so one pod event costs one lookup whatever the namespace holds.

use std::collections::{HashMap, HashSet};
use std::pin::Pin;
use std::time::Duration;

use berth_health::rollout::{self, Autoscaler, Tracker};
use berth_model::ObjectKey;
use futures::{Stream, StreamExt};
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::ApiResource;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;
use tokio::time::Instant;

use crate::cluster::{Cluster, Resolved};
use crate::error::{Error, Result};
use crate::health::{Health, HealthRules, State};
use crate::prepare::PART_OF;

/// An object to wait for.
#[derive(Clone, Debug)]
pub struct WaitItem {
    pub key: ObjectKey,
    pub resolved: Resolved,
}

/// Progress reported while waiting.
#[derive(Clone, Debug)]
pub enum WaitEvent {
    /// The health of an object changed.
    Changed { key: ObjectKey, health: Health },
    /// Something the user should know while waiting for an object (a node being added, a
    /// Secret the stack creates later).
    Note { key: ObjectKey, note: String },
    /// The API server has not answered for `seconds`; the watches keep retrying.
    Unreachable { seconds: u64, error: String },
    /// The last lines of the log of a pod of a workload that has waited [`LOGS_AFTER`],
    /// secret values redacted.
    Logs {
        key: ObjectKey,
        pod: String,
        lines: Vec<String>,
    },
}

/// How long a workload waits before the last log lines of one of its unready pods are shown.
pub const LOGS_AFTER: Duration = Duration::from_secs(10);

/// How many log lines are shown.
const LOG_LINES: usize = 5;

/// What the wait needs beyond the objects.
#[derive(Clone, Debug, Default)]
pub struct WaitOptions {
    /// How long an unschedulable pod waits for a node autoscaler's answer.
    pub autoscaler_grace: Duration,
    /// Secrets and ConfigMaps (`(namespace, kind, name)`) a controller of the stack creates
    /// at run time (see [`berth_model::refs::runtime_secrets`]).
    pub expected: HashSet<(String, String, String)>,
    /// Workloads an HPA scales: Current only with at least this many ready replicas (the
    /// HPA's `minReplicas`).
    pub min_ready: HashMap<ObjectKey, i64>,
    /// The stack's secret values, kept out of the log lines the wait shows.
    pub redactor: crate::Redactor,
}

/// Kinds whose health does not hold back what depends on them. A PVC of a
/// `WaitForFirstConsumer` class stays Pending until a pod uses it, and the pods depend on it:
/// it is waited for through the workload that mounts it.
pub fn gates(key: &ObjectKey) -> bool {
    !(key.group.is_empty() && key.kind == "PersistentVolumeClaim")
}

/// What a watch stream is about.
#[derive(Clone)]
enum Source {
    Item(Resolved),
    Pod,
    ReplicaSet,
    Revision,
    PodEvent,
}

type Tagged = Pin<
    Box<
        dyn Stream<
                Item = (
                    Source,
                    std::result::Result<Event<DynamicObject>, watcher::Error>,
                ),
            > + Send,
    >,
>;

/// Objects of one kind by uid, and the uids of those each owner controls.
#[derive(Default)]
struct Owned {
    by_uid: HashMap<String, Value>,
    by_owner: HashMap<String, HashSet<String>>,
}

impl Owned {
    fn put(&mut self, v: Value) {
        let uid = uid(&v).to_string();
        if let Some(owner) = controller(&v) {
            self.by_owner
                .entry(owner.to_string())
                .or_default()
                .insert(uid.clone());
        }
        self.by_uid.insert(uid, v);
    }
    fn remove(&mut self, v: &Value) {
        let uid = uid(v);
        if let Some(owner) = controller(v)
            && let Some(set) = self.by_owner.get_mut(owner)
        {
            set.remove(uid);
        }
        self.by_uid.remove(uid);
    }
    fn of(&self, owner: &str) -> impl Iterator<Item = &Value> {
        self.by_owner
            .get(owner)
            .into_iter()
            .flatten()
            .filter_map(|u| self.by_uid.get(u))
    }
}

fn uid(v: &Value) -> &str {
    v.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn controller(v: &Value) -> Option<&str> {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))?
        .get("uid")?
        .as_str()
}

/// Everything the wait has seen.
struct Seen {
    health: HashMap<ObjectKey, Health>,
    live: HashMap<ObjectKey, Value>,
    pending: HashSet<ObjectKey>,
    /// Pending-or-not workloads of the wave by uid.
    workloads: HashMap<String, ObjectKey>,
    pods: Owned,
    replica_sets: Owned,
    revisions: Owned,
    /// Events about pods, by the pod's uid (the last few).
    events: HashMap<String, Vec<Value>>,
    notes: HashMap<ObjectKey, String>,
    tracker: Tracker,
    autoscaler: Option<Autoscaler>,
}

impl Seen {
    /// The workload a pod, ReplicaSet or ControllerRevision belongs to.
    fn workload_of(&self, owner: Option<&str>) -> Option<ObjectKey> {
        let owner = owner?;
        if let Some(k) = self.workloads.get(owner) {
            return Some(k.clone());
        }
        let rs = self.replica_sets.by_uid.get(owner)?;
        self.workloads.get(controller(rs)?).cloned()
    }

    /// The current revision's pods of workload `key` (a bare Pod is its own).
    fn current_pods(&self, key: &ObjectKey) -> Vec<&Value> {
        let Some(w) = self.live.get(key) else {
            return Vec::new();
        };
        if key.kind == "Pod" && key.group.is_empty() {
            return vec![w];
        }
        let uid = uid(w);
        let replica_sets: Vec<&Value> = self.replica_sets.of(uid).collect();
        let revisions: Vec<&Value> = self.revisions.of(uid).collect();
        let pods: Vec<&Value> = self
            .pods
            .of(uid)
            .chain(
                replica_sets
                    .iter()
                    .flat_map(|rs| self.pods.of(self::uid(rs))),
            )
            .collect();
        rollout::current_pods(w, &replica_sets, &revisions, &pods)
    }
}

/// Waits for objects as `up` applies them (see the module docs): [`Waiter::add`] each applied
/// object, [`Waiter::next`] for the ones that became Current.
///
/// The watches are shared by the whole run: a (resource, namespace) is watched from the first
/// object of it that is not healthy at once, the pods of a namespace from its first such
/// workload, and the watches stay until the run ends (no list again per object). Values the
/// watches deliver before their object is added are kept, so an object added later is judged
/// on the newest value seen.
pub struct Waiter<'a> {
    cluster: &'a Cluster,
    rules: &'a dyn HealthRules,
    options: &'a WaitOptions,
    label: String,
    seen: Seen,
    streams: futures::stream::SelectAll<Tagged>,
    /// (resource path, namespace) pairs with a watch.
    watched: HashSet<(String, Option<String>)>,
    /// Per namespace with workloads: which watches it has (pods and events, ReplicaSets,
    /// ControllerRevisions).
    workload_namespaces: HashMap<String, (bool, bool, bool)>,
    /// The newest value of every object of the stack a watch delivered, added or not.
    latest: HashMap<ObjectKey, Value>,
    /// Each added object's generation right after berth applied it: an older value seen
    /// later on a watch is stale (sent before the apply) and judged on nothing.
    applied_generation: HashMap<ObjectKey, i64>,
    /// Objects that became Current since the last [`Waiter::next`].
    healthy: Vec<ObjectKey>,
    told_unreachable: Instant,
    /// When each workload was added and has not shown its logs yet.
    logs_due: HashMap<ObjectKey, Instant>,
}

fn generation(v: &Value) -> i64 {
    v.pointer("/metadata/generation")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

impl<'a> Waiter<'a> {
    /// A waiter for one run; the objects of the stack carry `applyset`'s label.
    pub fn new(
        cluster: &'a Cluster,
        applyset: &str,
        rules: &'a dyn HealthRules,
        options: &'a WaitOptions,
    ) -> Waiter<'a> {
        // Pods created more than a minute before the run (clock skew allowed) existed before
        // it: their earlier restarts are not its failures.
        let started = k8s_openapi::jiff::Timestamp::now()
            .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(60))
            .unwrap_or_else(|_| k8s_openapi::jiff::Timestamp::now());
        Waiter {
            cluster,
            rules,
            options,
            label: format!("{PART_OF}={applyset}"),
            seen: Seen {
                health: HashMap::new(),
                live: HashMap::new(),
                pending: HashSet::new(),
                workloads: HashMap::new(),
                pods: Owned::default(),
                replica_sets: Owned::default(),
                revisions: Owned::default(),
                events: HashMap::new(),
                notes: HashMap::new(),
                tracker: Tracker::new(started.to_string()),
                autoscaler: None,
            },
            streams: futures::stream::SelectAll::new(),
            watched: HashSet::new(),
            workload_namespaces: HashMap::new(),
            latest: HashMap::new(),
            applied_generation: HashMap::new(),
            healthy: Vec::new(),
            told_unreachable: Instant::now(),
            logs_due: HashMap::new(),
        }
    }

    /// Starts waiting for `item`, which was `applied` (the API server's answer to the apply).
    /// An object that is Current already is returned by the next [`Waiter::next`] at once;
    /// one that is Failed already is the error.
    pub async fn add(
        &mut self,
        item: WaitItem,
        applied: &Value,
        on_event: &(dyn Fn(WaitEvent) + Sync),
    ) -> Result<()> {
        let key = item.key.clone();
        let applied = crate::inventory::with_type(applied.clone(), &item.resolved);
        let at_apply = generation(&applied);
        self.applied_generation.insert(key.clone(), at_apply);
        let value = match self.latest.get(&key) {
            Some(v) if generation(v) >= at_apply => v.clone(),
            _ => applied,
        };
        self.seen.health.insert(
            key.clone(),
            Health {
                state: State::NotFound,
                message: "not seen yet".into(),
            },
        );
        self.seen.pending.insert(key.clone());
        if let Some(message) = self.health_of(&key, value, false, on_event) {
            return Err(Error::Unhealthy {
                object: key,
                message,
            });
        }
        if self.seen.pending.contains(&key) {
            if berth_model::pod_spec::spec_pointer(&key.kind).is_some() {
                self.logs_due
                    .insert(key.clone(), Instant::now() + LOGS_AFTER);
            }
            self.watch(&item);
            // Pods seen before the workload was added are tied to it now.
            judge(self.cluster, &mut self.seen, &key, self.options, on_event).await?;
        }
        Ok(())
    }

    /// The objects added and not Current yet, with what they wait for.
    pub fn pending(&self) -> Vec<(ObjectKey, String)> {
        let mut still: Vec<(ObjectKey, String)> = self
            .seen
            .pending
            .iter()
            .map(|k| {
                let health = self.seen.health.get(k).map(|h| h.message.clone());
                let msg = match (health, self.seen.notes.get(k)) {
                    (Some(h), Some(n)) => format!("{h}; {n}"),
                    (h, n) => h.or(n.cloned()).unwrap_or_default(),
                };
                (k.clone(), msg)
            })
            .collect();
        still.sort();
        still
    }

    /// Waits until at least one added object is Current and returns those that are; fails at
    /// once when one becomes Failed, and at `deadline` naming what was pending. With nothing
    /// pending it waits for `deadline` (the caller has other work to wait for).
    pub async fn next(
        &mut self,
        deadline: Instant,
        on_event: &(dyn Fn(WaitEvent) + Sync),
    ) -> Result<Vec<ObjectKey>> {
        loop {
            if !self.healthy.is_empty() {
                return Ok(std::mem::take(&mut self.healthy));
            }
            self.step(deadline, on_event).await?;
        }
    }

    /// For each workload that has waited [`LOGS_AFTER`]: the last lines of the log of its first
    /// current pod that is not ready, once per run. A pod without a log to show (or credentials
    /// without `pods/log`) shows nothing; the wait goes on either way.
    async fn show_logs(&mut self, on_event: &(dyn Fn(WaitEvent) + Sync)) {
        let now = Instant::now();
        let due: Vec<ObjectKey> = self
            .logs_due
            .iter()
            .filter(|(k, t)| **t <= now && self.seen.pending.contains(*k))
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.logs_due.remove(&key);
            let Some((ns, pod)) = self
                .seen
                .current_pods(&key)
                .into_iter()
                .find(|p| berth_health::pod_reason(p, &[]).is_some())
                .map(|p| {
                    let text = |ptr: &str| {
                        p.pointer(ptr)
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string()
                    };
                    (text("/metadata/namespace"), text("/metadata/name"))
                })
            else {
                continue;
            };
            let lines = self
                .cluster
                .pod_log_tail(&ns, &pod, None, LOG_LINES, &self.options.redactor)
                .await
                .unwrap_or_default();
            if !lines.is_empty() {
                on_event(WaitEvent::Logs { key, pod, lines });
            }
        }
    }

    /// A watch for the item's resource and namespace, and for its pods when it is a workload.
    fn watch(&mut self, item: &WaitItem) {
        let r = &item.resolved.resource;
        let ns = item.key.namespace.clone();
        if self.watched.insert((
            format!("{}/{}/{}", r.group, r.version, r.plural),
            ns.clone(),
        )) {
            let api = self.cluster.api(&item.resolved, ns.as_deref());
            self.streams.push(watch(
                api,
                watcher::Config::default().labels(&self.label),
                Source::Item(item.resolved.clone()),
            ));
        }
        let Some(ns) = ns else { return };
        if berth_model::pod_spec::spec_pointer(&item.key.kind).is_none() {
            return;
        }
        let pod = ApiResource::erase::<k8s_openapi::api::core::v1::Pod>(&());
        let rs = ApiResource::erase::<k8s_openapi::api::apps::v1::ReplicaSet>(&());
        let cr = ApiResource::erase::<k8s_openapi::api::apps::v1::ControllerRevision>(&());
        let ev = ApiResource::erase::<k8s_openapi::api::core::v1::Event>(&());
        let client = self.cluster.client.clone();
        let api = |r: &ApiResource| -> Api<DynamicObject> {
            Api::namespaced_with(client.clone(), &ns, r)
        };
        let has = self.workload_namespaces.entry(ns.clone()).or_default();
        if !has.0 {
            has.0 = true;
            self.streams
                .push(watch(api(&pod), watcher::Config::default(), Source::Pod));
            self.streams.push(watch(
                api(&ev),
                watcher::Config::default().fields("involvedObject.kind=Pod"),
                Source::PodEvent,
            ));
        }
        if item.key.kind == "Deployment" && !has.1 {
            has.1 = true;
            self.streams.push(watch(
                api(&rs),
                watcher::Config::default(),
                Source::ReplicaSet,
            ));
        }
        if item.key.kind == "DaemonSet" && !has.2 {
            has.2 = true;
            self.streams.push(watch(
                api(&cr),
                watcher::Config::default(),
                Source::Revision,
            ));
        }
    }

    /// Judges an added object on `value` (its health by the rules, the HPA minimum) and
    /// records it as Current or pending; returns the message when it is Failed.
    fn health_of(
        &mut self,
        key: &ObjectKey,
        value: Value,
        deleted: bool,
        on_event: &(dyn Fn(WaitEvent) + Sync),
    ) -> Option<String> {
        let mut h = self
            .rules
            .status(if deleted { &Value::Null } else { &value });
        if let Some(min) = self.options.min_ready.get(key)
            && h.state == State::Current
        {
            let ready = value
                .pointer("/status/readyReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            if ready < *min {
                h = Health::in_progress(format!("Ready: {ready}/{min} (the HPA's minReplicas)"));
            }
        }
        if deleted {
            self.seen.live.remove(key);
        } else {
            self.seen
                .workloads
                .insert(uid(&value).to_string(), key.clone());
            self.seen.live.insert(key.clone(), value);
        }
        if self.seen.health.get(key) != Some(&h) {
            on_event(WaitEvent::Changed {
                key: key.clone(),
                health: h.clone(),
            });
        }
        let state = h.state;
        let message = h.message.clone();
        self.seen.health.insert(key.clone(), h);
        match state {
            State::Current => {
                // Once Current, an object is done for this run: what waits for it may start.
                if self.seen.pending.remove(key) {
                    self.healthy.push(key.clone());
                }
                None
            }
            State::Failed => Some(message),
            State::InProgress | State::NotFound => None,
        }
    }

    /// Takes one event of the watches (or a wake-up) in.
    async fn step(
        &mut self,
        deadline: Instant,
        on_event: &(dyn Fn(WaitEvent) + Sync),
    ) -> Result<()> {
        let cluster = self.cluster;
        // Wake for the autoscaler's grace period, and every few seconds while the API server
        // cannot be reached (to say so, and to give up after the outage grace).
        let outage = cluster.reach.outage();
        let wake = [
            self.seen
                .tracker
                .next_deadline(self.options.autoscaler_grace)
                .map(Instant::from_std),
            outage.as_ref().map(|o| {
                (o.since + cluster.outage_grace).min(Instant::now() + Duration::from_secs(5))
            }),
            self.logs_due
                .iter()
                .filter(|(k, _)| self.seen.pending.contains(*k))
                .map(|(_, t)| *t)
                .min(),
        ]
        .into_iter()
        .flatten()
        .filter(|t| *t < deadline)
        .min()
        .unwrap_or(deadline);
        let next = if self.streams.is_empty() {
            tokio::time::sleep_until(wake).await;
            Err(())
        } else {
            tokio::time::timeout_at(wake, self.streams.next())
                .await
                .map_err(|_| ())
        };
        // During an outage, every few seconds and when the grace is over: ask the API server
        // itself (a watch in back-off lags behind a server that is already back).
        if let Some(o) = cluster.reach.outage()
            && (o.since.elapsed() >= cluster.outage_grace
                || self.told_unreachable.elapsed() >= Duration::from_secs(5))
        {
            if probe(cluster).await {
                cluster.reach.ok();
            } else if let Some(e) = cluster.outage_error() {
                return Err(e);
            } else {
                self.told_unreachable = Instant::now();
                on_event(WaitEvent::Unreachable {
                    seconds: o.since.elapsed().as_secs(),
                    error: o.last_error,
                });
            }
        }
        let (source, event) = match next {
            Err(()) if wake < deadline => {
                // A grace period ran out: judge every pending workload again.
                let pending: Vec<ObjectKey> = self.seen.pending.iter().cloned().collect();
                for key in pending {
                    judge(cluster, &mut self.seen, &key, self.options, on_event).await?;
                }
                self.show_logs(on_event).await;
                return Ok(());
            }
            Err(()) => {
                return Err(Error::Timeout {
                    after: "the --timeout".into(),
                    pending: self.pending(),
                });
            }
            Ok(None) => return Err(Error::Inventory("the watch streams ended".into())),
            Ok(Some((source, Ok(ev)))) => {
                cluster.reach.ok();
                (source, ev)
            }
            Ok(Some((_, Err(e)))) => {
                // The watcher backs off and restarts by itself; an API server that does not
                // come back within the outage grace ends the wait above.
                tracing::debug!("watch error: {e}");
                if let watcher::Error::InitialListFailed(k)
                | watcher::Error::WatchStartFailed(k)
                | watcher::Error::WatchFailed(k) = &e
                    && crate::error::is_connection(k)
                {
                    cluster.reach.lost(&k.to_string());
                }
                return Ok(());
            }
        };
        let (obj, deleted) = match event {
            Event::Apply(o) | Event::InitApply(o) => (o, false),
            Event::Delete(o) => (o, true),
            Event::Init | Event::InitDone => return Ok(()),
        };
        let value = serde_json::to_value(&obj).unwrap_or(Value::Null);
        let seen = &mut self.seen;
        let affected = match source {
            Source::Item(resolved) => {
                let value = crate::inventory::with_type(value, &resolved);
                let key = ObjectKey {
                    group: resolved.resource.group.clone(),
                    kind: resolved.resource.kind.clone(),
                    namespace: obj.metadata.namespace.clone(),
                    name: obj.metadata.name.clone().unwrap_or_default(),
                };
                if deleted {
                    self.latest.remove(&key);
                } else {
                    self.latest.insert(key.clone(), value.clone());
                }
                let fresh = self
                    .applied_generation
                    .get(&key)
                    .is_some_and(|g| deleted || generation(&value) >= *g);
                if !fresh || !self.seen.pending.contains(&key) {
                    return Ok(());
                }
                if let Some(message) = self.health_of(&key, value, deleted, on_event) {
                    return Err(Error::Unhealthy {
                        object: key,
                        message,
                    });
                }
                Some(key)
            }
            Source::Pod => {
                let owner = controller(&value).map(str::to_string);
                if deleted {
                    seen.tracker.forget(&value);
                    seen.events.remove(uid(&value));
                    seen.pods.remove(&value);
                } else {
                    seen.tracker.observe(&value, std::time::Instant::now());
                    seen.pods.put(value);
                }
                seen.workload_of(owner.as_deref())
            }
            Source::ReplicaSet | Source::Revision => {
                let owner = controller(&value).map(str::to_string);
                let store = if matches!(source, Source::ReplicaSet) {
                    &mut seen.replica_sets
                } else {
                    &mut seen.revisions
                };
                if deleted {
                    store.remove(&value);
                } else {
                    store.put(value);
                }
                seen.workload_of(owner.as_deref())
            }
            Source::PodEvent => {
                let pod_uid = value
                    .pointer("/involvedObject/uid")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let owner = seen
                    .pods
                    .by_uid
                    .get(&pod_uid)
                    .and_then(controller)
                    .map(str::to_string);
                if !deleted {
                    let list = seen.events.entry(pod_uid).or_default();
                    list.push(value);
                    if list.len() > 20 {
                        list.remove(0);
                    }
                }
                seen.workload_of(owner.as_deref())
            }
        };
        if let Some(key) = affected.filter(|k| self.seen.pending.contains(k)) {
            judge(cluster, &mut self.seen, &key, self.options, on_event).await?;
        }
        Ok(())
    }
}

/// Judges the pods of pending workload `key`: an error stops the wait; a note is reported.
async fn judge(
    cluster: &Cluster,
    seen: &mut Seen,
    key: &ObjectKey,
    options: &WaitOptions,
    on_event: &(dyn Fn(WaitEvent) + Sync),
) -> Result<()> {
    // Looked for once per wait, and only when a pod needs it (the pods are scanned only
    // until then).
    if seen.autoscaler.is_none()
        && seen.current_pods(key).iter().any(|p| {
            berth_health::pod_problem(p)
                .is_some_and(|pp| matches!(pp, berth_health::PodProblem::Unschedulable { .. }))
        })
    {
        seen.autoscaler = Some(find_autoscaler(cluster).await);
    }
    let Some(workload) = seen.live.get(key) else {
        return Ok(());
    };
    let pods = seen.current_pods(key);
    let absent = Autoscaler::Absent;
    let ctx = rollout::Context {
        now: std::time::Instant::now(),
        autoscaler: seen.autoscaler.as_ref().unwrap_or(&absent),
        grace: options.autoscaler_grace,
        expected: &options.expected,
    };
    let events_of = |pod: &Value| seen.events.get(uid(pod)).cloned().unwrap_or_default();
    let verdict = seen.tracker.assess(workload, &pods, &events_of, &ctx);
    if let Some(message) = verdict.failure {
        return Err(Error::Unhealthy {
            object: key.clone(),
            message,
        });
    }
    // Besides the tracker's notes, why the workload is not ready yet: the latest reason of
    // its first pod that is not ready (shown by the live view while it waits).
    let note = verdict.note.or_else(|| {
        pods.iter()
            .find_map(|p| berth_health::pod_reason(p, &events_of(p)))
    });
    match note {
        Some(note) if seen.notes.get(key) != Some(&note) => {
            seen.notes.insert(key.clone(), note.clone());
            on_event(WaitEvent::Note {
                key: key.clone(),
                note,
            });
        }
        Some(_) => {}
        None => {
            seen.notes.remove(key);
        }
    }
    Ok(())
}

/// Whether the API server answers now (a watch in back-off may not know yet).
async fn probe(cluster: &Cluster) -> bool {
    let answer = tokio::time::timeout(Duration::from_secs(3), cluster.client.apiserver_version());
    matches!(answer.await, Ok(Ok(_)))
}

/// Whether a node autoscaler runs: the Karpenter API (Karpenter, EKS Auto Mode) is served, or
/// a cluster-autoscaler Deployment is in kube-system. Unknown when berth may not look.
/// Karpenter without a single NodePool is [`Autoscaler::Idle`] (it launches nothing and says
/// nothing about pods; it only logs that it found no NodePool), unless a cluster-autoscaler
/// runs beside it: the Karpenter API is also served where only its CRDs were installed.
pub async fn find_autoscaler(cluster: &Cluster) -> Autoscaler {
    let mut karpenter_idle = false;
    if let Some(pools) = cluster.resolve("karpenter.sh/v1", "NodePool").await {
        let api: Api<DynamicObject> = Api::all_with(cluster.client.clone(), &pools.resource);
        match api.list_metadata(&ListParams::default().limit(1)).await {
            Ok(list) if list.items.is_empty() => karpenter_idle = true,
            _ => return Autoscaler::Present("Karpenter".into()),
        }
    }
    let api: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(cluster.client.clone(), "kube-system");
    match api.list_metadata(&ListParams::default()).await {
        Ok(list)
            if list.items.iter().any(|d| {
                d.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.contains("cluster-autoscaler"))
            }) =>
        {
            Autoscaler::Present("cluster-autoscaler".into())
        }
        _ if karpenter_idle => Autoscaler::Idle("Karpenter runs but has no NodePool".into()),
        Ok(_) => Autoscaler::Absent,
        Err(e) => {
            tracing::debug!("cannot tell whether a node autoscaler runs: {e}");
            Autoscaler::Unknown
        }
    }
}

fn watch(api: Api<DynamicObject>, config: watcher::Config, tag: Source) -> Tagged {
    Box::pin(
        watcher::watcher(api, config)
            .default_backoff()
            .map(move |e| (tag.clone(), e)),
    )
}
