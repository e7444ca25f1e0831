//! `plan`: what `up` would change, from a server-side dry run of every object.
//!
//! Each object is applied with `dryRun=All` (validated, defaulted and admitted like the real
//! thing, not stored) and compared with the live object after both lose what the server
//! manages on its own (managedFields, resourceVersion, uid, timestamps, generation, status).
//! Secret values are masked before anything is compared or printed.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use berth_model::ObjectKey;
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};
use similar::TextDiff;
use tokio::time::Instant;

use crate::apply::{self, ApplyOptions};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::inventory::Inventory;
use crate::prepare;
use crate::up::Target;

/// What `up` would do to one object.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum Change {
    Create {
        object: ObjectKey,
        wave: usize,
        note: Option<String>,
    },
    /// `diff` is a unified diff, live → after `up`, Secret values masked. `owned_by_others`:
    /// fields of the stack's object that another field manager owns now (drift, `berth
    /// status`); server-side apply refuses to take them back without `--force-conflicts`.
    Update {
        object: ObjectKey,
        wave: usize,
        diff: String,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        owned_by_others: Vec<crate::drift::Drift>,
    },
    Unchanged {
        object: ObjectKey,
        wave: usize,
    },
    /// `kept`: the object leaves the stack but is data and stays (without `--prune-data`).
    Prune {
        object: ObjectKey,
        kept: bool,
    },
}

/// The plan of a stack, wave by wave, then the prunes.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PlanReport {
    pub waves: Vec<Vec<Change>>,
    pub prune: Vec<Change>,
    /// What each object was on the cluster when planned ([`fingerprint`]), in plan order:
    /// what a saved plan compares before it is applied.
    #[serde(skip)]
    pub seen: Vec<(ObjectKey, Option<String>)>,
}

impl PlanReport {
    /// True when `up` would change nothing ("no changes").
    pub fn is_empty(&self) -> bool {
        self.waves
            .iter()
            .flatten()
            .all(|c| matches!(c, Change::Unchanged { .. }))
            && self
                .prune
                .iter()
                .all(|c| matches!(c, Change::Prune { kept: true, .. }))
    }
}

/// Plans `target` against the cluster (see the module docs).
pub async fn plan(
    cluster: &Cluster,
    target: Target<'_>,
    prune_data: bool,
    concurrency: usize,
    timeout: Duration,
) -> Result<PlanReport> {
    plan_planned(cluster, target, None, prune_data, concurrency, timeout).await
}

/// [`plan`] with the target's order already made (by `berth_plan::plan` on the same objects
/// and components), so the objects are not planned again.
pub async fn plan_planned(
    cluster: &Cluster,
    target: Target<'_>,
    order: Option<berth_plan::Plan>,
    prune_data: bool,
    concurrency: usize,
    timeout: Duration,
) -> Result<PlanReport> {
    let deadline = Instant::now() + timeout;
    let (objects, waves) = crate::namespaces::complete(cluster, &target, order, deadline).await?;
    let target = Target {
        objects: &objects,
        ..target
    };
    let inv = Inventory::new(target.stack, target.namespace);
    let parent = inv
        .parent_state(cluster, deadline)
        .await?
        .unwrap_or_default();
    let members = inv.members(cluster, &parent, deadline).await?;
    let prepared = prepare::prepare(target.objects, &inv.id);
    let keys: Vec<ObjectKey> = target
        .objects
        .iter()
        .map(berth_model::Object::key)
        .collect();
    let opts = ApplyOptions {
        dry_run: true,
        force_conflicts: true,
        concurrency,
    };
    let wave_of: HashMap<usize, usize> = waves
        .waves
        .iter()
        .enumerate()
        .flat_map(|(w, is)| is.iter().map(move |&i| (i, w + 1)))
        .collect();
    let creating_crds: HashSet<(String, String)> = target
        .objects
        .iter()
        .filter(|o| o.kind() == "CustomResourceDefinition")
        .filter_map(|o| {
            Some((
                o.value.pointer("/spec/group")?.as_str()?.to_string(),
                o.value.pointer("/spec/names/kind")?.as_str()?.to_string(),
            ))
        })
        .collect();

    // Namespaces the stack creates (its own, which `up` creates first, or those berth adds):
    // what goes into one that does not exist yet cannot be dry-run.
    let creating_namespaces: HashSet<&str> = target
        .objects
        .iter()
        .filter(|o| o.kind() == "Namespace" && o.group().is_empty())
        .map(berth_model::Object::name)
        .chain([target.namespace])
        .collect();
    let seen = std::sync::Mutex::new(HashMap::<usize, Option<String>>::new());
    let changes: Vec<(usize, Result<Change>)> = futures::stream::iter(waves.order())
        .map(|i| {
            let key = &keys[i];
            let value = &prepared[i];
            let wave = wave_of.get(&i).copied().unwrap_or(0);
            let creating_crds = &creating_crds;
            let creating_namespaces = &creating_namespaces;
            let seen = &seen;
            async move {
                let change = async {
                    let live = match cluster.api_for(key, value).await {
                        Ok((api, _)) => cluster
                            .retry(deadline, || api.get_opt(&key.name))
                            .await
                            .map_err(|e| Error::kube(format!("reading {key}"), e))?
                            .map(|o| serde_json::to_value(o).unwrap_or(Value::Null)),
                        Err(Error::UnknownKind { .. })
                            if creating_crds.contains(&(key.group.clone(), key.kind.clone())) =>
                        {
                            return Ok(Change::Create {
                                object: key.clone(),
                                wave,
                                note: Some(
                                    "not validated: its CRD is created by this stack".into(),
                                ),
                            });
                        }
                        Err(e) => return Err(e),
                    };
                    if let Ok(mut seen) = seen.lock() {
                        seen.insert(i, fingerprint(live.as_ref()));
                    }
                    let after = match apply::apply_one(cluster, key, value, opts, deadline).await {
                        Ok(a) => a.live,
                        Err(Error::Rejected { message, .. })
                            if live.is_none()
                                && key.namespace.as_deref().is_some_and(|ns| {
                                    creating_namespaces.contains(ns)
                                        && message
                                            .contains(&format!("namespaces \"{ns}\" not found"))
                                }) =>
                        {
                            return Ok(Change::Create {
                                object: key.clone(),
                                wave,
                                note: Some(
                                    "not validated: its namespace is created by this stack".into(),
                                ),
                            });
                        }
                        Err(e) => return Err(e),
                    };
                    Ok(match live {
                        None => Change::Create {
                            object: key.clone(),
                            wave,
                            note: None,
                        },
                        Some(live) => {
                            let (old, new) = (normalise(&live), normalise(&after));
                            if old == new {
                                Change::Unchanged {
                                    object: key.clone(),
                                    wave,
                                }
                            } else {
                                Change::Update {
                                    object: key.clone(),
                                    wave,
                                    diff: unified(&key.to_string(), &old, &new),
                                    owned_by_others: crate::drift::drift(value, &live),
                                }
                            }
                        }
                    })
                }
                .await;
                (i, change)
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;

    let seen = seen.into_inner().unwrap_or_default();
    let mut report = PlanReport {
        waves: vec![Vec::new(); waves.waves.len()],
        prune: Vec::new(),
        seen: waves
            .order()
            .map(|i| (keys[i].clone(), seen.get(&i).cloned().flatten()))
            .collect(),
    };
    for (i, change) in changes {
        let w = wave_of.get(&i).copied().unwrap_or(1);
        report.waves[w - 1].push(change?);
    }
    let new_set: HashSet<&ObjectKey> = keys.iter().collect();
    for m in members.iter().filter(|m| !new_set.contains(&m.key)) {
        let kept = !prune_data && berth_plan::kinds::is_kept_by_default(&m.key.kind);
        report.prune.push(Change::Prune {
            object: m.key.clone(),
            kept,
        });
    }
    Ok(report)
}

/// What an object is on the cluster, as a digest that changes when someone changes it (its
/// [`normalise`]d form: no status, no server-managed metadata) and not when a controller only
/// writes status; `None` for an absent object. A Secret's values are left out entirely, so a
/// saved plan holds nothing derived from them (a changed Secret value is not seen as drift).
pub fn fingerprint(live: Option<&Value>) -> Option<String> {
    let mut v = normalise(live?);
    if v.get("kind").and_then(Value::as_str) == Some("Secret")
        && let Some(m) = v.as_object_mut()
    {
        m.remove("data");
        m.remove("stringData");
    }
    Some(prepare::data_checksum(&v))
}

/// The [`fingerprint`] of each of `keys` (with the objects' values, for their API) on the
/// cluster now, in order.
pub async fn fingerprints(
    cluster: &Cluster,
    objects: &[(ObjectKey, Value)],
    concurrency: usize,
    timeout: Duration,
) -> Result<Vec<(ObjectKey, Option<String>)>> {
    let deadline = Instant::now() + timeout;
    futures::stream::iter(objects)
        .map(|(key, value)| async move {
            let live = match cluster.api_for(key, value).await {
                Ok((api, _)) => cluster
                    .retry(deadline, || api.get_opt(&key.name))
                    .await
                    .map_err(|e| Error::kube(format!("reading {key}"), e))?
                    .map(|o| serde_json::to_value(o).unwrap_or(Value::Null)),
                // A kind the cluster does not serve yet (its CRD comes with the stack): absent.
                Err(Error::UnknownKind { .. }) => None,
                Err(e) => return Err(e),
            };
            Ok((key.clone(), fingerprint(live.as_ref())))
        })
        .buffered(concurrency.max(1))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// A tag for a Secret value: equal values get equal tags within one run of berth, changed
/// values different ones, and nothing about the value can be learnt from it: the hash is keyed
/// with a random key made for this process (std's SipHash `RandomState`), so unlike a plain
/// sha256 of the value, a printed tag cannot be checked against guesses.
fn mask(value: &Value) -> String {
    use std::hash::{BuildHasher, Hasher};
    static KEY: std::sync::OnceLock<std::collections::hash_map::RandomState> =
        std::sync::OnceLock::new();
    let mut h = KEY
        .get_or_init(std::collections::hash_map::RandomState::new)
        .build_hasher();
    h.write(value.to_string().as_bytes());
    format!("{:08x}", h.finish() as u32)
}

/// The object without what the server manages, Secret values masked: what a diff compares.
pub fn normalise(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("status");
    }
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        for k in berth_model::SERVER_METADATA {
            meta.remove(*k);
        }
        if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            ann.remove("deployment.kubernetes.io/revision");
            ann.remove("kubectl.kubernetes.io/last-applied-configuration");
            if ann.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    if v.get("kind").and_then(Value::as_str) == Some("Secret")
        && v.get("apiVersion").and_then(Value::as_str) == Some("v1")
    {
        for field in ["data", "stringData"] {
            if let Some(data) = v.get_mut(field).and_then(Value::as_object_mut) {
                for (_, val) in data.iter_mut() {
                    *val = json!(format!("*** ({})", mask(val)));
                }
            }
        }
    }
    v
}

fn unified(name: &str, old: &Value, new: &Value) -> String {
    let a = serde_json::to_string_pretty(old).unwrap_or_default() + "\n";
    let b = serde_json::to_string_pretty(new).unwrap_or_default() + "\n";
    TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{name} (live)"), &format!("{name} (after up)"))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_managed_fields_do_not_make_a_change() {
        let live = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "resourceVersion": "5", "uid": "u", "managedFields": [{}], "creationTimestamp": "t"},
            "data": {"a": "1"}});
        let after = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "resourceVersion": "6", "uid": "u", "managedFields": [{}, {}]},
            "data": {"a": "1"}});
        assert_eq!(normalise(&live), normalise(&after));
    }

    #[test]
    fn secret_values_are_masked_but_changes_show() {
        let old = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"p": "aHVudGVyMg=="}});
        let new = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"p": "c2VjcmV0"}});
        let diff = unified("Secret/s", &normalise(&old), &normalise(&new));
        assert!(
            !diff.contains("aHVudGVyMg") && !diff.contains("c2VjcmV0"),
            "{diff}"
        );
        assert!(diff.contains("-    \"p\": \"***"), "{diff}");
        assert!(diff.contains("+    \"p\": \"***"), "{diff}");
        // Equal values mask equally (no diff); no plain digest of the value is printed.
        assert_eq!(normalise(&old), normalise(&old.clone()));
        let plain = prepare::data_checksum(&json!({"data": {"v": "aHVudGVyMg=="}}));
        assert!(!diff.contains(&plain[..8]), "{diff}");
    }
}
