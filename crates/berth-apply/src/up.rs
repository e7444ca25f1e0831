//! `up` and `rollback`: the contract of PRODUCT.md, steps 2 to 6.
//!
//! lock → widen the inventory → run the operation graph (each object applied as soon as what
//! it depends on is healthy, a bounded number at once, then waited for) → prune what left the
//! stack → record the revision → unlock. The caller has already run the checks (step 1) and
//! connected.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use berth_model::{Component, Object, ObjectKey, Origin, Profile, SourceFile};
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use crate::apply::{self, ApplyOptions};
use crate::cluster::Cluster;
use crate::error::{self, Error, Result};
use crate::event::{Action, Event, Sink};
use crate::health::HealthRules;
use crate::inventory::{self, FIELD_MANAGER, Fate, Inventory, Revision, StoredObject};
use crate::lock::StackLock;
use crate::prepare;
use crate::wait::{self, WaitEvent, WaitItem, WaitOptions};

/// What to take onto the cluster: the rendered stack (or a stored revision).
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub stack: &'a str,
    /// The stack namespace: the inventory and the lock live here.
    pub namespace: &'a str,
    pub objects: &'a [Object],
    pub components: &'a [Component],
    pub values: &'a BTreeMap<String, Value>,
    pub profile: Profile,
}

/// How `up` behaves.
#[derive(Clone, Debug)]
pub struct UpOptions {
    pub apply: ApplyOptions,
    /// Bounds the whole run, each wave included.
    pub timeout: Duration,
    /// Also prune PVCs, PVs, Namespaces and CRDs that left the stack.
    pub prune_data: bool,
    /// How long to wait for another run's lock before refusing.
    pub lock_wait: Duration,
    /// Set by `rollback`: the revision being restored.
    pub rollback_of: Option<u64>,
    /// How long an unschedulable pod waits for a node autoscaler's answer (`--autoscaler-grace`).
    pub autoscaler_grace: Duration,
    /// Becomes `true` when the user interrupts (Ctrl-C, SIGTERM): the run stops applying,
    /// releases the lock and fails with [`Error::Interrupted`].
    pub interrupt: Option<tokio::sync::watch::Receiver<bool>>,
}

impl Default for UpOptions {
    fn default() -> Self {
        UpOptions {
            apply: ApplyOptions::default(),
            timeout: Duration::from_secs(300),
            prune_data: false,
            lock_wait: Duration::ZERO,
            rollback_of: None,
            autoscaler_grace: Duration::from_secs(30),
            interrupt: None,
        }
    }
}

/// What `up` did.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct UpReport {
    pub revision: u64,
    pub created: usize,
    pub configured: usize,
    pub unchanged: usize,
    pub pruned: Vec<ObjectKey>,
    pub kept: Vec<ObjectKey>,
    /// From the last wave becoming healthy to `up` returning (prune, record, unlock).
    pub millis_after_healthy: u128,
}

/// Objects of `objects` that `up` considers its set, by key.
fn keys(objects: &[Object]) -> Vec<ObjectKey> {
    objects.iter().map(Object::key).collect()
}

/// Takes `target` onto the cluster; see the module docs. Fails with the first unhealthy
/// object (and records a failed revision), or a timeout naming what was pending.
pub async fn up(
    cluster: &Cluster,
    target: Target<'_>,
    opts: &UpOptions,
    rules: &dyn HealthRules,
    sink: Sink<'_>,
) -> Result<UpReport> {
    up_with(cluster, target, None, opts, rules, sink).await
}

/// [`up`] with the target's plan already made (by `berth_plan::plan` on the same objects and
/// components), so the objects are not planned again.
pub async fn up_planned(
    cluster: &Cluster,
    target: Target<'_>,
    plan: berth_plan::Plan,
    opts: &UpOptions,
    rules: &dyn HealthRules,
    sink: Sink<'_>,
) -> Result<UpReport> {
    up_with(cluster, target, Some(plan), opts, rules, sink).await
}

async fn up_with(
    cluster: &Cluster,
    target: Target<'_>,
    plan: Option<berth_plan::Plan>,
    opts: &UpOptions,
    rules: &dyn HealthRules,
    sink: Sink<'_>,
) -> Result<UpReport> {
    let start = Instant::now();
    let deadline = start + opts.timeout;
    // Reads only: nothing is written before the plan is known to be sound (no cycle).
    let (objects, plan) = crate::namespaces::complete(cluster, &target, plan, deadline).await?;
    let target = Target {
        objects: &objects,
        ..target
    };
    ensure_namespace(cluster, target.namespace, deadline).await?;
    let lock = StackLock::acquire(
        cluster,
        target.stack,
        target.namespace,
        start + opts.lock_wait,
        deadline,
        &|holder: &str| {
            sink(Event::WaitingForLock {
                holder: holder.to_string(),
            })
        },
    )
    .await?;
    // Every way out releases the lock: success, failure, an interrupt, or losing the lock to
    // another run (then nothing more is applied).
    let mut lost = lock.lost();
    let applied = std::sync::atomic::AtomicUsize::new(0);
    let counting = |e: Event| {
        if matches!(e, Event::Applied { .. }) {
            applied.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        sink(e)
    };
    let result = tokio::select! {
        r = run(cluster, target, opts, rules, &counting, &plan, deadline) => r,
        () = interrupted(opts.interrupt.clone()) => Err(Error::Interrupted {
            applied: applied.load(std::sync::atomic::Ordering::Relaxed),
            total: target.objects.len(),
        }),
        holder = lost.wait() => Err(Error::LockLost { stack: target.stack.into(), holder }),
    };
    lock.release(cluster.reach.outage().is_some()).await;
    // A lasting outage ends the run with the cluster named, not with the objects blamed.
    let result = result.map_err(|e| match (e.class(), cluster.reach.outage()) {
        (crate::ErrorClass::Cluster, Some(o)) => Error::Unreachable {
            server: cluster.server.clone(),
            reason: format!(
                "lost the connection at {} ({}); {} of {} objects applied, the rest not yet: run `berth up` again when the cluster is back",
                o.at.strftime("%H:%M:%S UTC"),
                o.last_error,
                applied.load(std::sync::atomic::Ordering::Relaxed),
                target.objects.len()
            ),
        },
        (_, _) => e,
    });
    result.map(|(mut report, last_healthy)| {
        report.millis_after_healthy = last_healthy.elapsed().as_millis();
        report
    })
}

/// Resolves when `interrupt` becomes true; never without one.
pub(crate) async fn interrupted(interrupt: Option<tokio::sync::watch::Receiver<bool>>) {
    match interrupt {
        Some(mut rx) => {
            if rx.wait_for(|v| *v).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending().await,
    }
}

async fn run(
    cluster: &Cluster,
    target: Target<'_>,
    opts: &UpOptions,
    rules: &dyn HealthRules,
    sink: Sink<'_>,
    plan: &berth_plan::Plan,
    deadline: Instant,
) -> Result<(UpReport, Instant)> {
    let inv = Inventory::new(target.stack, target.namespace);
    let prior = inv
        .parent_state(cluster, deadline)
        .await?
        .unwrap_or_default();
    let members = inv.members(cluster, &prior, deadline).await?;
    if target.objects.is_empty() && !members.is_empty() {
        return Err(Error::EmptyRender);
    }
    let new_keys = keys(target.objects);
    let new_set: HashSet<&ObjectKey> = new_keys.iter().collect();
    let mut widened = prior.clone();
    widened.include(&new_keys);
    // Before any member is written: a crash from here on still leaves every member listable.
    inv.write_parent(cluster, &widened, deadline).await?;

    let prepared = prepare::prepare(target.objects, &inv.id);
    let mut wait_options = wait_options(&target, opts);
    wait_options.redactor = crate::Redactor::from_objects(prepared.iter());
    // An HPA target that does not exist yet starts at the HPA's minReplicas (the HPA owns the
    // field afterwards; see `initial_replicas`).
    let mut initial: HashMap<ObjectKey, i64> = HashMap::new();
    for (i, key) in new_keys.iter().enumerate() {
        let Some(min) = wait_options.min_ready.get(key) else {
            continue;
        };
        if !members.iter().any(|m| &m.key == key)
            && !exists(cluster, key, &prepared[i], deadline).await?
        {
            initial.insert(key.clone(), *min);
        }
    }
    let prior_values: HashMap<&ObjectKey, &Value> =
        members.iter().map(|m| (&m.key, &m.value)).collect();
    let action_of = |a: &apply::Applied| match prior_values.get(&a.key) {
        None => Action::Created,
        Some(prev) if unchanged(prev, &a.live) => Action::Unchanged,
        Some(_) => Action::Configured,
    };
    let mut report = UpReport::default();
    let run = GraphRun {
        cluster,
        target: &target,
        plan,
        keys: &new_keys,
        prepared: &prepared,
        applyset: &inv.id,
        opts,
        rules,
        wait_options: &wait_options,
        initial: &initial,
        action_of: &action_of,
        sink,
        deadline,
    };
    let (failure, last_healthy) = match run_graph(&run, &mut report).await {
        Ok(last_healthy) => (None, last_healthy),
        Err(e) => (Some(e), Instant::now()),
    };
    let mut failure = failure;

    // Prune only after everything is healthy.
    let mut kept_keys: BTreeSet<ObjectKey> = BTreeSet::new();
    if failure.is_none() {
        for (m, fate) in inventory::leaving(&members, &new_set, opts.prune_data) {
            if fate == Fate::Keep {
                sink(Event::Kept {
                    object: m.key.clone(),
                    reason: "data is kept unless --prune-data".into(),
                });
                report.kept.push(m.key.clone());
                kept_keys.insert(m.key.clone());
                continue;
            }
            if let Err(e) = delete(cluster, &m.key, &m.value, deadline).await {
                failure = Some(e);
                break;
            }
            sink(Event::Pruned {
                object: m.key.clone(),
            });
            report.pruned.push(m.key.clone());
        }
    }

    // Record the revision, successful or not; the parent keeps the kinds of kept members.
    let final_state = prior.after_run(&widened, &new_keys, &kept_keys, failure.is_some());
    let stored: Vec<StoredObject> = target
        .objects
        .iter()
        .zip(&prepared)
        .map(|(o, v)| StoredObject {
            component: o.component.clone(),
            value: prepare::without_secret_values(v),
        })
        .collect();
    let digest = {
        let mut h = Sha256::new();
        for s in &stored {
            h.update(serde_json::to_vec(&s.value).unwrap_or_default());
        }
        h.finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let outcome = match &failure {
        None => "succeeded".to_string(),
        Some(e) => format!("failed: {e}"),
    };
    let revision = Revision {
        revision: final_state.revision,
        stack: target.stack.into(),
        digest,
        time: k8s_openapi::jiff::Timestamp::now().to_string(),
        outcome: outcome.clone(),
        values: target.values.clone(),
        components: target.components.to_vec(),
        objects: stored,
        rollback_of: opts.rollback_of,
    };
    let recorded = async {
        if failure.is_some() && cluster.reach.outage().is_some() {
            // The API server is gone: nothing can be recorded; the widened parent already
            // lists everything this run may have written.
            return Ok(());
        }
        inv.record(cluster, &revision, deadline + Duration::from_secs(10))
            .await?;
        inv.write_parent(cluster, &final_state, deadline + Duration::from_secs(10))
            .await
    }
    .await;
    if let Some(e) = failure {
        return Err(e);
    }
    recorded?;
    sink(Event::Revision {
        revision: revision.revision,
        outcome,
    });
    report.revision = revision.revision;
    Ok((report, last_healthy))
}

/// What one run of the graph works from (see [`run_graph`]).
struct GraphRun<'a> {
    cluster: &'a Cluster,
    target: &'a Target<'a>,
    plan: &'a berth_plan::Plan,
    /// The objects' keys, in stack order.
    keys: &'a [ObjectKey],
    /// The objects as applied, in the same order.
    prepared: &'a [Value],
    /// The ApplySet id members are labelled with.
    applyset: &'a str,
    opts: &'a UpOptions,
    rules: &'a dyn HealthRules,
    wait_options: &'a WaitOptions,
    /// HPA targets created by this run, with the replicas they start at.
    initial: &'a HashMap<ObjectKey, i64>,
    /// Created, configured or unchanged, from the object before the run.
    action_of: &'a (dyn Fn(&apply::Applied) -> Action + Sync),
    sink: Sink<'a>,
    deadline: Instant,
}

/// Runs the plan's graph (see `berth_plan::Schedule`): applies each object once everything it
/// depends on is healthy, at most `--concurrency` requests at once, and waits for it with one
/// [`wait::Waiter`] for the whole run. A rejected apply stops new applies (those in flight
/// finish, so every rejected object of the moment is reported); an unhealthy object or the
/// deadline stops the run. Returns when the last object became healthy.
async fn run_graph(run: &GraphRun<'_>, report: &mut UpReport) -> Result<Instant> {
    use futures::StreamExt;
    use futures::stream::FuturesUnordered;

    let GraphRun {
        cluster,
        target,
        plan,
        keys,
        prepared,
        applyset,
        opts,
        rules,
        wait_options,
        initial,
        action_of,
        sink,
        deadline,
    } = *run;

    let index: HashMap<&ObjectKey, usize> = keys.iter().enumerate().map(|(i, k)| (k, i)).collect();
    // Per component: its objects, how many are healthy, when its first apply started.
    let mut components: HashMap<&str, (usize, usize, Option<Instant>)> = HashMap::new();
    for o in target.objects {
        components.entry(o.component.as_str()).or_default().0 += 1;
    }
    let (mut schedule, first) = berth_plan::Schedule::start(plan);
    let mut queue: std::collections::VecDeque<usize> = first.into();
    let mut waiter = wait::Waiter::new(cluster, applyset, rules, wait_options);
    let mut in_flight = FuturesUnordered::new();
    let mut rejected: Vec<Error> = Vec::new();
    let mut last_healthy = Instant::now();
    let on_wait = |e: WaitEvent| match e {
        WaitEvent::Changed { key, health } => sink(Event::Health {
            object: key,
            state: health.state.as_str(),
            message: health.message,
        }),
        WaitEvent::Note { key, note } => sink(Event::Waiting {
            object: key,
            message: note,
        }),
        WaitEvent::Unreachable { seconds, error } => sink(Event::Unreachable {
            server: cluster.server.clone(),
            seconds,
            error,
        }),
        WaitEvent::Logs { key, pod, lines } => sink(Event::Logs {
            object: key,
            pod,
            lines,
        }),
    };
    sink(Event::Started {
        objects: keys.len(),
        levels: plan.waves.len(),
    });
    let concurrency = opts.apply.concurrency.max(1);
    loop {
        while rejected.is_empty() && in_flight.len() < concurrency {
            let Some(i) = queue.pop_front() else { break };
            let c = components
                .entry(target.objects[i].component.as_str())
                .or_default();
            c.2.get_or_insert_with(Instant::now);
            let (key, value) = (&keys[i], &prepared[i]);
            in_flight.push(async move {
                (
                    i,
                    apply::apply_one(cluster, key, value, opts.apply, deadline).await,
                )
            });
        }
        if in_flight.is_empty() && (!rejected.is_empty() || schedule.finished()) {
            break;
        }
        let healthy: Vec<usize> = tokio::select! {
            Some((i, result)) = in_flight.next(), if !in_flight.is_empty() => {
                let a = match result {
                    Ok(a) => a,
                    Err(e) => {
                        rejected.push(e);
                        continue;
                    }
                };
                if let Some(&min) = initial.get(&a.key)
                    && let Err(e) = initial_replicas(cluster, &a, min, opts.apply, deadline).await
                {
                    rejected.push(e);
                    continue;
                }
                let action = action_of(&a);
                match action {
                    Action::Created => report.created += 1,
                    Action::Unchanged => report.unchanged += 1,
                    Action::Configured => report.configured += 1,
                }
                sink(Event::Applied {
                    object: a.key.clone(),
                    action,
                });
                if !rejected.is_empty() {
                    continue;
                }
                if !wait::gates(&a.key) {
                    vec![i]
                } else {
                    let item = WaitItem {
                        key: a.key.clone(),
                        resolved: a.resolved.clone(),
                    };
                    waiter.add(item, &a.live, &on_wait).await?;
                    continue;
                }
            }
            r = waiter.next(deadline, &on_wait), if rejected.is_empty() => match r {
                Ok(keys) => keys.iter().filter_map(|k| index.get(k).copied()).collect(),
                Err(Error::Timeout { pending, .. }) => {
                    return Err(Error::Timeout {
                        after: format!("{}s", opts.timeout.as_secs().max(1)),
                        pending: if pending.is_empty() {
                            // Nothing waits for health: the applies themselves took too long.
                            queue.iter().map(|&i| (keys[i].clone(), "not applied yet".into())).collect()
                        } else {
                            pending
                        },
                    });
                }
                Err(e) => return Err(e),
            },
        };
        for i in healthy {
            last_healthy = Instant::now();
            let component = target.objects[i].component.as_str();
            if let Some(c) = components.get_mut(component) {
                c.1 += 1;
                if c.1 == c.0 {
                    sink(Event::ComponentHealthy {
                        component: component.to_string(),
                        objects: c.0,
                        millis: c.2.map(|t| t.elapsed().as_millis()).unwrap_or(0),
                    });
                }
            }
            if keys[i].kind == "CustomResourceDefinition" {
                // Its custom resources may start now: discovery must know the kind.
                cluster.refresh().await;
            }
            queue.extend(schedule.done(i));
        }
    }
    match rejected.len() {
        0 => Ok(last_healthy),
        1 => Err(rejected.remove(0)),
        _ => Err(combine(rejected)),
    }
}

/// Field manager that sets an HPA target's first `replicas` (the HPA's minReplicas), right
/// after berth's own apply created the target without the field. berth's applies never own
/// `replicas` of an HPA target (so a later apply changes nothing and resets nothing); this
/// manager keeps it until the HPA scales.
pub const INITIAL_REPLICAS_MANAGER: &str = "berth-initial-replicas";

/// What the wait needs from the whole stack: the Secrets controllers of the stack create at
/// run time, and the HPAs' minimum replicas per target.
fn wait_options(target: &Target<'_>, opts: &UpOptions) -> WaitOptions {
    let ns_of = |o: &Object| o.namespace().unwrap_or(target.namespace).to_string();
    let expected = target
        .objects
        .iter()
        .flat_map(|o| {
            let ns = ns_of(o);
            berth_model::refs::runtime_secrets(o.kind(), &o.value)
                .into_iter()
                .map(move |n| (ns.clone(), "Secret".to_string(), n))
        })
        .collect();
    let mut min_ready = HashMap::new();
    for hpa in target
        .objects
        .iter()
        .filter(|o| o.kind() == "HorizontalPodAutoscaler")
    {
        let kind = hpa
            .value
            .pointer("/spec/scaleTargetRef/kind")
            .and_then(Value::as_str);
        let name = hpa
            .value
            .pointer("/spec/scaleTargetRef/name")
            .and_then(Value::as_str);
        let min = hpa
            .value
            .pointer("/spec/minReplicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        if let Some(t) = target
            .objects
            .iter()
            .find(|o| Some(o.kind()) == kind && Some(o.name()) == name && ns_of(o) == ns_of(hpa))
        {
            min_ready.insert(t.key(), min);
        }
    }
    WaitOptions {
        autoscaler_grace: opts.autoscaler_grace,
        expected,
        min_ready,
        redactor: crate::Redactor::default(),
    }
}

/// Whether `key` exists in the cluster.
async fn exists(
    cluster: &Cluster,
    key: &ObjectKey,
    value: &Value,
    deadline: Instant,
) -> Result<bool> {
    let Ok((api, _)) = cluster.api_for(key, value).await else {
        return Ok(false);
    };
    cluster
        .retry(deadline, || api.get_opt(&key.name))
        .await
        .map(|o| o.is_some())
        .map_err(|e| Error::kube(format!("reading {key}"), e))
}

/// Sets the first `replicas` of a just-created HPA target as [`INITIAL_REPLICAS_MANAGER`]
/// (see there).
async fn initial_replicas(
    cluster: &Cluster,
    applied: &apply::Applied,
    replicas: i64,
    opts: ApplyOptions,
    deadline: Instant,
) -> Result<()> {
    let live = &applied.live;
    let body = json!({
        "apiVersion": live.get("apiVersion"),
        "kind": live.get("kind"),
        "metadata": {"name": applied.key.name, "namespace": applied.key.namespace},
        "spec": {"replicas": replicas},
    });
    apply::apply_as(
        cluster,
        &applied.key,
        &body,
        INITIAL_REPLICAS_MANAGER,
        opts,
        deadline,
    )
    .await
    .map(|_| ())
}

/// Whether applying left `after` as it was in `before`: same resourceVersion, or berth's own
/// managedFields entry untouched (others, like a controller writing status, may have written
/// in between).
fn unchanged(before: &Value, after: &Value) -> bool {
    let rv = |v: &Value| v.pointer("/metadata/resourceVersion").cloned();
    if rv(before).is_some() && rv(before) == rv(after) {
        return true;
    }
    let entry = |v: &Value| {
        v.pointer("/metadata/managedFields")
            .and_then(Value::as_array)
            .and_then(|fields| {
                fields
                    .iter()
                    .find(|f| {
                        f.get("manager").and_then(Value::as_str) == Some(FIELD_MANAGER)
                            && f.get("operation").and_then(Value::as_str) == Some("Apply")
                            && f.get("subresource").is_none()
                    })
                    .cloned()
            })
    };
    entry(before).is_some() && entry(before) == entry(after)
}

fn combine(errors: Vec<Error>) -> Error {
    Error::Several(errors)
}

/// Creates the stack namespace when it does not exist (the lock and inventory live there).
/// An existing namespace is left alone; one the stack declares is applied with it as usual.
async fn ensure_namespace(cluster: &Cluster, namespace: &str, deadline: Instant) -> Result<()> {
    let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(cluster.client.clone());
    let found = match cluster.retry(deadline, || api.get_opt(namespace)).await {
        Ok(found) => found,
        // Credentials limited to the namespace (a ServiceAccount with a Role) may not read
        // namespaces; the namespace they are limited to exists.
        Err(e) if error::status_code(&e) == Some(403) => return Ok(()),
        Err(e) => return Err(Error::kube("reading the stack namespace", e)),
    };
    if found.is_some() {
        return Ok(());
    }
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}});
    let pp = PatchParams::apply(FIELD_MANAGER);
    let patch = Patch::Apply(&body);
    cluster
        .retry(deadline, || api.patch(namespace, &pp, &patch))
        .await
        .map_err(|e| Error::kube("creating the stack namespace", e))?;
    Ok(())
}

/// Teardown order (berth-plan) over objects known only by key and value.
pub(crate) fn teardown_order<'a>(
    items: impl Iterator<Item = (&'a ObjectKey, &'a Value)>,
) -> Vec<&'a ObjectKey> {
    let items: Vec<(&ObjectKey, &Value)> = items.collect();
    let objects: Vec<Object> = items
        .iter()
        .map(|(_, v)| object_from_value((*v).clone(), ""))
        .collect();
    match berth_plan::plan(&objects, &[]) {
        Ok(plan) => plan
            .teardown(&objects)
            .into_iter()
            .flatten()
            .map(|i| items[i].0)
            .collect(),
        Err(_) => items.iter().map(|(k, _)| *k).collect(),
    }
}

/// An [`Object`] for a value that did not come from a file (a stored revision, a live object).
pub fn object_from_value(value: Value, component: &str) -> Object {
    Object {
        value,
        file: Arc::new(SourceFile::new("<cluster>", "")),
        doc: 0,
        component: component.into(),
        origin: Origin::Manifest,
        positions: Default::default(),
    }
}

/// Deletes one object (background propagation); already gone is fine.
pub(crate) async fn delete(
    cluster: &Cluster,
    key: &ObjectKey,
    value: &Value,
    deadline: Instant,
) -> Result<()> {
    let (api, _) = match cluster.api_for(key, value).await {
        Ok(found) => found,
        // The kind is gone (its CRD was deleted): so are its objects.
        Err(Error::UnknownKind { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    let dp = DeleteParams::background();
    match cluster.retry(deadline, || api.delete(&key.name, &dp)).await {
        Ok(_) => Ok(()),
        Err(e) if error::is_not_found(&e) => Ok(()),
        Err(e) => Err(Error::kube(format!("deleting {key}"), e)),
    }
}

/// `rollback REV`: re-applies stored revision `n` of `inv`'s stack as a new revision. Secret values are not
/// stored, so each Secret of the revision is re-read from the cluster (it fails naming the
/// Secret when one no longer exists).
pub async fn rollback(
    cluster: &Cluster,
    inv: &Inventory,
    profile: Profile,
    n: u64,
    opts: &UpOptions,
    rules: &dyn HealthRules,
    sink: Sink<'_>,
) -> Result<UpReport> {
    let deadline = Instant::now() + opts.timeout;
    let (stack, namespace) = (inv.stack.as_str(), inv.namespace.as_str());
    let rev = inv.revision(cluster, n, deadline).await?;
    let mut objects = Vec::new();
    for stored in &rev.objects {
        let mut value = stored.value.clone();
        if value.get("kind").and_then(Value::as_str) == Some("Secret")
            && value.get("apiVersion").and_then(Value::as_str) == Some("v1")
        {
            let ns = value
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or(namespace)
                .to_string();
            let name = value
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let api: Api<k8s_openapi::api::core::v1::Secret> =
                Api::namespaced(cluster.client.clone(), &ns);
            let live = cluster
                .retry(deadline, || api.get_opt(&name))
                .await
                .map_err(|e| Error::kube("reading a Secret for rollback", e))?;
            let Some(live) = live else {
                return Err(Error::Inventory(format!(
                    "Secret {ns}/{name} of revision {n} no longer exists and its values are never stored; run `berth up` with the stack instead"
                )));
            };
            let data = serde_json::to_value(&live.data).unwrap_or(Value::Null);
            if let Some(m) = value.as_object_mut() {
                m.insert("data".into(), data);
                if let Some(ann) = m
                    .get_mut("metadata")
                    .and_then(|md| md.get_mut("annotations"))
                    .and_then(Value::as_object_mut)
                {
                    ann.remove(prepare::DATA_CHECKSUM);
                }
            }
        }
        objects.push(object_from_value(value, &stored.component));
    }
    let target = Target {
        stack,
        namespace,
        objects: &objects,
        components: &rev.components,
        values: &rev.values,
        profile,
    };
    let opts = UpOptions {
        rollback_of: Some(n),
        ..opts.clone()
    };
    up(cluster, target, &opts, rules, sink).await
}
