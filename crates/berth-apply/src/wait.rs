//! Waits until a wave is healthy, driven by watches (no polling loop).
//!
//! One watch per (resource, namespace) of the wave, filtered by the ApplySet label; and per
//! namespace with workloads, watches of its pods, ReplicaSets (for Deployments),
//! ControllerRevisions (for DaemonSets) and the Events about pods. Every event recomputes the
//! health of the one object it is about; the wait returns as soon as the last object becomes
//! Current and fails at once when one becomes Failed. Pods are judged by
//! [`berth_health::rollout`]: only the current revision's pods count, what cannot heal stops
//! the wait, crash loops and pull failures count against a budget, and an unschedulable pod
//! waits for the node autoscaler's answer. At `deadline` it fails naming what was pending.
//!
//! Pods are tied to their workload by owner uid (pod → ReplicaSet → Deployment), through
//! indexes, so one pod event costs one lookup whatever the namespace holds.

use std::collections::{BTreeMap, HashMap, HashSet};
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
}

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
}

/// Kinds whose health does not gate a wave. A PVC of a `WaitForFirstConsumer` class stays
/// Pending until a pod uses it, and the pods come in a later wave: it is waited for through
/// the workload that mounts it.
pub fn gates_wave(key: &ObjectKey) -> bool {
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

/// Waits until every item is Current (see the module docs).
pub async fn wait_healthy(
    cluster: &Cluster,
    applyset: &str,
    items: &[WaitItem],
    rules: &dyn HealthRules,
    options: &WaitOptions,
    deadline: Instant,
    on_event: &(dyn Fn(WaitEvent) + Sync),
) -> Result<()> {
    let items: Vec<&WaitItem> = items.iter().filter(|i| gates_wave(&i.key)).collect();
    if items.is_empty() {
        return Ok(());
    }
    // Pods created more than a minute before the wait (clock skew allowed) existed before
    // this run: their earlier restarts are not its failures.
    let started = k8s_openapi::jiff::Timestamp::now()
        .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(60))
        .unwrap_or_else(|_| k8s_openapi::jiff::Timestamp::now());
    let mut seen = Seen {
        health: items
            .iter()
            .map(|i| {
                (
                    i.key.clone(),
                    Health {
                        state: State::NotFound,
                        message: "not seen yet".into(),
                    },
                )
            })
            .collect(),
        live: HashMap::new(),
        pending: items.iter().map(|i| i.key.clone()).collect(),
        workloads: HashMap::new(),
        pods: Owned::default(),
        replica_sets: Owned::default(),
        revisions: Owned::default(),
        events: HashMap::new(),
        notes: HashMap::new(),
        tracker: Tracker::new(started.to_string()),
        autoscaler: None,
    };

    let mut events = futures::stream::select_all(streams(cluster, applyset, &items));
    let mut told_unreachable = Instant::now();
    loop {
        // Wake for the autoscaler's grace period, and every few seconds while the API server
        // cannot be reached (to say so, and to give up after the outage grace).
        let outage = cluster.reach.outage();
        let wake = [
            seen.tracker
                .next_deadline(options.autoscaler_grace)
                .map(Instant::from_std),
            outage.as_ref().map(|o| {
                (o.since + cluster.outage_grace).min(Instant::now() + Duration::from_secs(5))
            }),
        ]
        .into_iter()
        .flatten()
        .filter(|t| *t < deadline)
        .min()
        .unwrap_or(deadline);
        let next = tokio::time::timeout_at(wake, events.next()).await;
        // During an outage, every few seconds and when the grace is over: ask the API server
        // itself (a watch in back-off lags behind a server that is already back).
        if let Some(o) = cluster.reach.outage()
            && (o.since.elapsed() >= cluster.outage_grace
                || told_unreachable.elapsed() >= Duration::from_secs(5))
        {
            if probe(cluster).await {
                cluster.reach.ok();
            } else if let Some(e) = cluster.outage_error() {
                return Err(e);
            } else {
                told_unreachable = Instant::now();
                on_event(WaitEvent::Unreachable {
                    seconds: o.since.elapsed().as_secs(),
                    error: o.last_error,
                });
            }
        }
        let (source, event) = match next {
            Err(_) if wake < deadline => {
                // A grace period ran out: judge every pending workload again.
                let pending: Vec<ObjectKey> = seen.pending.iter().cloned().collect();
                for key in pending {
                    judge(cluster, &mut seen, &key, options, on_event).await?;
                }
                continue;
            }
            Err(_) => {
                let mut still: Vec<(ObjectKey, String)> = seen
                    .pending
                    .iter()
                    .map(|k| {
                        let health = seen.health.get(k).map(|h| h.message.clone());
                        let msg = match (health, seen.notes.get(k)) {
                            (Some(h), Some(n)) => format!("{h}; {n}"),
                            (h, n) => h.or(n.cloned()).unwrap_or_default(),
                        };
                        (k.clone(), msg)
                    })
                    .collect();
                still.sort();
                return Err(Error::Timeout {
                    after: "the --timeout".into(),
                    pending: still,
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
                continue;
            }
        };
        let (obj, deleted) = match event {
            Event::Apply(o) | Event::InitApply(o) => (o, false),
            Event::Delete(o) => (o, true),
            Event::Init | Event::InitDone => continue,
        };
        let value = serde_json::to_value(&obj).unwrap_or(Value::Null);
        let affected = match source {
            Source::Item(resolved) => {
                let value = crate::inventory::with_type(value, &resolved);
                let key = ObjectKey {
                    group: resolved.resource.group.clone(),
                    kind: resolved.resource.kind.clone(),
                    namespace: obj.metadata.namespace.clone(),
                    name: obj.metadata.name.clone().unwrap_or_default(),
                };
                if !seen.health.contains_key(&key) {
                    continue;
                }
                let mut h = rules.status(if deleted { &Value::Null } else { &value });
                if let Some(min) = options.min_ready.get(&key)
                    && h.state == State::Current
                {
                    let ready = value
                        .pointer("/status/readyReplicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(0);
                    if ready < *min {
                        h = Health::in_progress(format!(
                            "Ready: {ready}/{min} (the HPA's minReplicas)"
                        ));
                    }
                }
                if deleted {
                    seen.live.remove(&key);
                } else {
                    seen.workloads.insert(uid(&value).to_string(), key.clone());
                    seen.live.insert(key.clone(), value);
                }
                if seen.health.get(&key) != Some(&h) {
                    on_event(WaitEvent::Changed {
                        key: key.clone(),
                        health: h.clone(),
                    });
                }
                match h.state {
                    State::Current => {
                        seen.pending.remove(&key);
                    }
                    State::Failed => {
                        return Err(Error::Unhealthy {
                            object: key,
                            message: h.message,
                        });
                    }
                    State::InProgress | State::NotFound => {
                        seen.pending.insert(key.clone());
                    }
                }
                seen.health.insert(key.clone(), h);
                if seen.pending.is_empty() {
                    return Ok(());
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
        if let Some(key) = affected.filter(|k| seen.pending.contains(k)) {
            judge(cluster, &mut seen, &key, options, on_event).await?;
        }
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
pub async fn find_autoscaler(cluster: &Cluster) -> Autoscaler {
    if cluster
        .resolve("karpenter.sh/v1", "NodePool")
        .await
        .is_some()
    {
        return Autoscaler::Present("Karpenter".into());
    }
    let api: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(cluster.client.clone(), "kube-system");
    match api.list_metadata(&ListParams::default()).await {
        Ok(list) => {
            if list.items.iter().any(|d| {
                d.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.contains("cluster-autoscaler"))
            }) {
                Autoscaler::Present("cluster-autoscaler".into())
            } else {
                Autoscaler::Absent
            }
        }
        Err(e) => {
            tracing::debug!("cannot tell whether a node autoscaler runs: {e}");
            Autoscaler::Unknown
        }
    }
}

/// One watch per resource and namespace of the items (by the ApplySet label), and per
/// namespace with workloads, its pods, ReplicaSets, ControllerRevisions and pod Events.
fn streams(cluster: &Cluster, applyset: &str, items: &[&WaitItem]) -> Vec<Tagged> {
    let mut groups: BTreeMap<(String, Option<String>), &Resolved> = BTreeMap::new();
    // Per namespace with workloads: (has Deployments, has DaemonSets).
    let mut workload_namespaces: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for i in items {
        let r = &i.resolved.resource;
        groups.insert(
            (
                format!("{}/{}/{}", r.group, r.version, r.plural),
                i.key.namespace.clone(),
            ),
            &i.resolved,
        );
        if berth_model::pod_spec::spec_pointer(&i.key.kind).is_some()
            && let Some(ns) = &i.key.namespace
        {
            let e = workload_namespaces.entry(ns.clone()).or_default();
            e.0 |= i.key.kind == "Deployment";
            e.1 |= i.key.kind == "DaemonSet";
        }
    }
    let label = format!("{PART_OF}={applyset}");
    let mut streams: Vec<Tagged> = Vec::new();
    for ((_, ns), resolved) in &groups {
        let api = cluster.api(resolved, ns.as_deref());
        let tag = Source::Item((*resolved).clone());
        streams.push(watch(api, watcher::Config::default().labels(&label), tag));
    }
    let pod = ApiResource::erase::<k8s_openapi::api::core::v1::Pod>(&());
    let rs = ApiResource::erase::<k8s_openapi::api::apps::v1::ReplicaSet>(&());
    let cr = ApiResource::erase::<k8s_openapi::api::apps::v1::ControllerRevision>(&());
    let ev = ApiResource::erase::<k8s_openapi::api::core::v1::Event>(&());
    let api = |ns: &str, r: &ApiResource| -> Api<DynamicObject> {
        Api::namespaced_with(cluster.client.clone(), ns, r)
    };
    for (ns, (deployments, daemonsets)) in &workload_namespaces {
        streams.push(watch(
            api(ns, &pod),
            watcher::Config::default(),
            Source::Pod,
        ));
        streams.push(watch(
            api(ns, &ev),
            watcher::Config::default().fields("involvedObject.kind=Pod"),
            Source::PodEvent,
        ));
        if *deployments {
            streams.push(watch(
                api(ns, &rs),
                watcher::Config::default(),
                Source::ReplicaSet,
            ));
        }
        if *daemonsets {
            streams.push(watch(
                api(ns, &cr),
                watcher::Config::default(),
                Source::Revision,
            ));
        }
    }
    streams
}

fn watch(api: Api<DynamicObject>, config: watcher::Config, tag: Source) -> Tagged {
    Box::pin(
        watcher::watcher(api, config)
            .default_backoff()
            .map(move |e| (tag.clone(), e)),
    )
}
