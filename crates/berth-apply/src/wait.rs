//! Waits until a wave is healthy, driven by watches (no polling loop).
//!
//! One watch per (resource, namespace) of the wave, filtered by the ApplySet label, plus one
//! pod watch per namespace that has workloads. Every event recomputes the health of the one
//! object it is about; the wait returns as soon as the last object becomes Current, fails at
//! once when one becomes Failed or a pod of a not-yet-healthy workload has a problem that
//! will not fix itself (image pull, crash loop, unschedulable), and fails at `deadline`
//! naming what was still pending.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::pin::Pin;

use berth_model::ObjectKey;
use futures::{Stream, StreamExt};
use kube::api::{Api, DynamicObject};
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
}

/// Kinds whose health does not gate a wave. A PVC of a `WaitForFirstConsumer` class stays
/// Pending until a pod uses it, and the pods come in a later wave: it is waited for through
/// the workload that mounts it.
pub fn gates_wave(key: &ObjectKey) -> bool {
    !(key.group.is_empty() && key.kind == "PersistentVolumeClaim")
}

type Tagged = Pin<
    Box<
        dyn Stream<
                Item = (
                    Option<Resolved>,
                    std::result::Result<Event<DynamicObject>, watcher::Error>,
                ),
            > + Send,
    >,
>;

/// Waits until every item is Current (see the module docs).
pub async fn wait_healthy(
    cluster: &Cluster,
    applyset: &str,
    items: &[WaitItem],
    rules: &dyn HealthRules,
    deadline: Instant,
    on_event: &(dyn Fn(WaitEvent) + Sync),
) -> Result<()> {
    let items: Vec<&WaitItem> = items.iter().filter(|i| gates_wave(&i.key)).collect();
    if items.is_empty() {
        return Ok(());
    }
    let mut health: HashMap<ObjectKey, Health> = items
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
        .collect();
    let mut live: HashMap<ObjectKey, Value> = HashMap::new();
    let mut pending: HashSet<ObjectKey> = health.keys().cloned().collect();

    // One watch per resource and namespace.
    let mut groups: BTreeMap<(String, Option<String>), &Resolved> = BTreeMap::new();
    let mut pod_namespaces: HashSet<String> = HashSet::new();
    for i in &items {
        let r = &i.resolved.resource;
        groups.insert(
            (
                format!("{}/{}/{}", r.group, r.version, r.plural),
                i.key.namespace.clone(),
            ),
            &i.resolved,
        );
        if berth_plan::refs::pod_spec_pointer(&i.key.kind).is_some()
            && i.key.kind != "Pod"
            && let Some(ns) = &i.key.namespace
        {
            pod_namespaces.insert(ns.clone());
        }
    }
    let label = format!("{PART_OF}={applyset}");
    let mut streams: Vec<Tagged> = Vec::new();
    for ((_, ns), resolved) in &groups {
        let api = cluster.api(resolved, ns.as_deref());
        let tag = (*resolved).clone();
        let s = watcher::watcher(api, watcher::Config::default().labels(&label))
            .default_backoff()
            .map(move |e| (Some(tag.clone()), e));
        streams.push(Box::pin(s));
    }
    let pod_resource = kube::discovery::ApiResource::erase::<k8s_openapi::api::core::v1::Pod>(&());
    for ns in &pod_namespaces {
        let api: Api<DynamicObject> =
            Api::namespaced_with(cluster.client.clone(), ns, &pod_resource);
        let s = watcher::watcher(api, watcher::Config::default())
            .default_backoff()
            .map(|e| (None, e));
        streams.push(Box::pin(s));
    }
    let mut events = futures::stream::select_all(streams);
    let mut pods: HashMap<(String, String), Value> = HashMap::new();

    loop {
        let next = tokio::time::timeout_at(deadline, events.next()).await;
        let (resource, event) = match next {
            Err(_) => {
                let mut still: Vec<(ObjectKey, String)> = pending
                    .iter()
                    .map(|k| {
                        (
                            k.clone(),
                            health.get(k).map(|h| h.message.clone()).unwrap_or_default(),
                        )
                    })
                    .collect();
                still.sort();
                return Err(Error::Timeout {
                    after: "the --timeout".into(),
                    pending: still,
                });
            }
            Ok(None) => return Err(Error::Inventory("the watch streams ended".into())),
            Ok(Some((tag, Ok(ev)))) => (tag, ev),
            Ok(Some((_, Err(e)))) => {
                // The watcher backs off and restarts by itself; transient by construction.
                tracing::debug!("watch error: {e}");
                continue;
            }
        };
        let (obj, deleted) = match event {
            Event::Apply(o) | Event::InitApply(o) => (o, false),
            Event::Delete(o) => (o, true),
            Event::Init | Event::InitDone => continue,
        };
        let value = serde_json::to_value(&obj).unwrap_or(Value::Null);
        let Some(resolved) = resource else {
            let mut value = value;
            value["apiVersion"] = serde_json::json!("v1");
            value["kind"] = serde_json::json!("Pod");
            let ns = obj.metadata.namespace.clone().unwrap_or_default();
            let name = obj.metadata.name.clone().unwrap_or_default();
            if deleted {
                pods.remove(&(ns, name));
                continue;
            }
            if let Some(problem) = rules.pod_problem(&value) {
                // Which pending workload does this pod belong to?
                for key in pending.iter() {
                    if key.namespace.as_deref() == Some(ns.as_str())
                        && let Some(w) = live.get(key)
                        && selects(w, &value)
                    {
                        return Err(Error::Unhealthy {
                            object: key.clone(),
                            message: format!("pod {name}: {problem}"),
                        });
                    }
                }
            }
            pods.insert((ns, name), value);
            continue;
        };
        let value = crate::inventory::with_type(value, &resolved);
        let key = ObjectKey {
            group: resolved.resource.group.clone(),
            kind: resolved.resource.kind.clone(),
            namespace: obj.metadata.namespace.clone(),
            name: obj.metadata.name.clone().unwrap_or_default(),
        };
        if !health.contains_key(&key) {
            continue;
        }
        let h = if deleted {
            rules.status(&Value::Null)
        } else {
            rules.status(&value)
        };
        if !deleted {
            live.insert(key.clone(), value);
        }
        if health.get(&key) != Some(&h) {
            on_event(WaitEvent::Changed {
                key: key.clone(),
                health: h.clone(),
            });
        }
        match h.state {
            State::Current => {
                pending.remove(&key);
            }
            State::Failed => {
                return Err(Error::Unhealthy {
                    object: key,
                    message: h.message,
                });
            }
            State::InProgress | State::NotFound => {
                pending.insert(key.clone());
                // A pod that already has a problem before its workload's next event.
                if let Some(w) = live.get(&key) {
                    for ((ns, name), pod) in &pods {
                        if key.namespace.as_deref() == Some(ns.as_str())
                            && selects(w, pod)
                            && let Some(problem) = rules.pod_problem(pod)
                        {
                            return Err(Error::Unhealthy {
                                object: key.clone(),
                                message: format!("pod {name}: {problem}"),
                            });
                        }
                    }
                }
            }
        }
        health.insert(key, h);
        if pending.is_empty() {
            return Ok(());
        }
    }
}

/// Whether workload `w`'s selector (`spec.selector.matchLabels`, or a Service-style plain map)
/// matches `pod`'s labels.
pub fn selects(w: &Value, pod: &Value) -> bool {
    let selector = w
        .pointer("/spec/selector/matchLabels")
        .or_else(|| {
            w.pointer("/spec/selector")
                .filter(|s| s.get("matchLabels").is_none() && s.get("matchExpressions").is_none())
        })
        .and_then(Value::as_object);
    let Some(selector) = selector.filter(|s| !s.is_empty()) else {
        return false;
    };
    let Some(labels) = pod.pointer("/metadata/labels").and_then(Value::as_object) else {
        return false;
    };
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_workload_selects_its_pods_by_match_labels() {
        let d = json!({"spec": {"selector": {"matchLabels": {"app": "web"}}}});
        assert!(selects(
            &d,
            &json!({"metadata": {"labels": {"app": "web", "pod-template-hash": "x"}}})
        ));
        assert!(!selects(
            &d,
            &json!({"metadata": {"labels": {"app": "db"}}})
        ));
        assert!(!selects(
            &json!({"spec": {}}),
            &json!({"metadata": {"labels": {"app": "web"}}})
        ));
    }
}
