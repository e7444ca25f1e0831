//! `down`: removes a stack in reverse order, load balancers first, and keeps its data.
//!
//! PVCs (including those a StatefulSet created from its `volumeClaimTemplates`, which no
//! inventory lists), PVs, Namespaces and CRDs are kept unless `purge`; what was kept is
//! reported. Each wave is deleted, then waited for until its objects are really gone
//! (finalizers included) before the next.

use std::collections::BTreeSet;
use std::time::Duration;

use berth_model::ObjectKey;
use futures::StreamExt;
use kube::api::ListParams;
use kube::runtime::wait::{await_condition, conditions};
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::event::{Event, Sink};
use crate::inventory::{self, Inventory, Member, ParentState};
use crate::lock::StackLock;

/// How `down` behaves.
#[derive(Clone, Debug)]
pub struct DownOptions {
    /// Delete PVCs, PVs, Namespaces and CRDs too.
    pub purge: bool,
    pub timeout: Duration,
    pub concurrency: usize,
}

/// What `down` would do or did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DownReport {
    /// In deletion order.
    pub delete: Vec<ObjectKey>,
    pub keep: Vec<ObjectKey>,
}

/// What `down` would delete and keep, without changing anything (shown before asking).
pub async fn preview(
    cluster: &Cluster,
    inv: &Inventory,
    purge: bool,
    timeout: Duration,
) -> Result<DownReport> {
    let deadline = Instant::now() + timeout;
    let Some(parent) = inv.parent_state(cluster, deadline).await? else {
        return Ok(DownReport::default());
    };
    let (members, claims) = gather(cluster, inv, &parent, deadline).await?;
    Ok(split(&members, &claims, purge).0)
}

async fn gather(
    cluster: &Cluster,
    inv: &Inventory,
    parent: &ParentState,
    deadline: Instant,
) -> Result<(Vec<Member>, Vec<Member>)> {
    let members = inv.members(cluster, parent, deadline).await?;
    let claims = template_claims(cluster, &members, deadline).await?;
    Ok((members, claims))
}

fn split<'a>(
    members: &'a [Member],
    claims: &'a [Member],
    purge: bool,
) -> (DownReport, Vec<&'a Member>) {
    let order = crate::up::teardown_order(members.iter().map(|m| (&m.key, &m.value)));
    let mut report = DownReport::default();
    let mut delete = Vec::new();
    let all: Vec<&Member> = order
        .into_iter()
        .filter_map(|k| members.iter().find(|m| &m.key == k))
        .chain(claims.iter())
        .collect();
    for m in all {
        let generated_secret = m.key.kind == "Secret"
            && m.value
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(berth_model::GENERATED_KEYS_ANNOTATION))
                .is_some();
        if !purge && (berth_plan::kinds::is_kept_by_default(&m.key.kind) || generated_secret) {
            report.keep.push(m.key.clone());
        } else {
            report.delete.push(m.key.clone());
            delete.push(m);
        }
    }
    (report, delete)
}

/// PVCs that StatefulSets of the set created from their templates: `<template>-<sts>-<n>`.
async fn template_claims(
    cluster: &Cluster,
    members: &[Member],
    deadline: Instant,
) -> Result<Vec<Member>> {
    let mut out = Vec::new();
    let listed: BTreeSet<&ObjectKey> = members.iter().map(|m| &m.key).collect();
    for sts in members
        .iter()
        .filter(|m| m.key.kind == "StatefulSet" && m.key.group == "apps")
    {
        let Some(ns) = &sts.key.namespace else {
            continue;
        };
        let templates: Vec<String> = sts
            .value
            .pointer("/spec/volumeClaimTemplates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|t| {
                t.pointer("/metadata/name")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect();
        if templates.is_empty() {
            continue;
        }
        let api: kube::Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
            kube::Api::namespaced(cluster.client.clone(), ns);
        let lp = ListParams::default();
        let list = cluster
            .retry(deadline, || api.list_metadata(&lp))
            .await
            .map_err(|e| Error::kube("listing PersistentVolumeClaims", e))?;
        for pvc in list.items {
            let name = pvc.metadata.name.clone().unwrap_or_default();
            let from_template = templates.iter().any(|t| {
                name.strip_prefix(&format!("{t}-{}-", sts.key.name))
                    .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            });
            let key = ObjectKey {
                group: String::new(),
                kind: "PersistentVolumeClaim".into(),
                namespace: Some(ns.clone()),
                name,
            };
            if from_template && !listed.contains(&key) {
                let value = serde_json::json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                    "metadata": {"name": key.name, "namespace": ns}});
                out.push(Member { key, value });
            }
        }
    }
    Ok(out)
}

/// Removes the stack (see the module docs). The inventory goes too, except the parent when
/// data was kept (so a later `down --purge` still finds it).
pub async fn down(
    cluster: &Cluster,
    inv: &Inventory,
    opts: &DownOptions,
    sink: Sink<'_>,
) -> Result<DownReport> {
    let deadline = Instant::now() + opts.timeout;
    let Some(parent) = inv.parent_state(cluster, deadline).await? else {
        return Ok(DownReport::default());
    };
    let lock = StackLock::acquire(
        cluster,
        &inv.stack,
        &inv.namespace,
        Instant::now(),
        deadline,
        &|holder: &str| {
            sink(Event::WaitingForLock {
                holder: holder.to_string(),
            })
        },
    )
    .await?;
    let result = async {
        let (members, claims) = gather(cluster, inv, &parent, deadline).await?;
        let (report, delete) = split(&members, &claims, opts.purge);
        for k in &report.keep {
            sink(Event::Kept {
                object: k.clone(),
                reason: "data is kept unless --purge".into(),
            });
        }
        // Delete in teardown waves: LB first, then reverse apply waves.
        let objects: Vec<berth_model::Object> = delete
            .iter()
            .map(|m| crate::up::object_from_value(m.value.clone(), ""))
            .collect();
        let waves = match berth_plan::plan(&objects, &[]) {
            Ok(plan) => plan.teardown(&objects),
            Err(_) => vec![(0..objects.len()).collect()],
        };
        for wave in waves {
            let results: Vec<Result<()>> = futures::stream::iter(wave)
                .map(|i| remove(cluster, &delete[i].key, &delete[i].value, deadline, sink))
                .buffer_unordered(opts.concurrency.max(1))
                .collect()
                .await;
            if let Some(e) = results.into_iter().find_map(|r| r.err()) {
                return Err(e);
            }
        }
        let mut kept_state = ParentState {
            revision: parent.revision,
            ..Default::default()
        };
        for k in &report.keep {
            if members.iter().any(|m| &m.key == k) {
                kept_state.group_kinds.insert(inventory::group_kind(k));
                if let Some(ns) = &k.namespace {
                    kept_state.namespaces.insert(ns.clone());
                }
            }
        }
        let namespace_gone = report
            .delete
            .iter()
            .any(|k| k.kind == "Namespace" && k.name == inv.namespace);
        if !namespace_gone {
            inv.forget(cluster, !kept_state.group_kinds.is_empty(), deadline)
                .await?;
            if !kept_state.group_kinds.is_empty() {
                inv.write_parent(cluster, &kept_state, deadline).await?;
            }
        }
        Ok(report)
    }
    .await;
    lock.release(cluster.reach.outage().is_some()).await;
    result
}

/// Deletes one object and waits until it is gone.
async fn remove(
    cluster: &Cluster,
    key: &ObjectKey,
    value: &Value,
    deadline: Instant,
    sink: Sink<'_>,
) -> Result<()> {
    let (api, _) = match cluster.api_for(key, value).await {
        Ok(found) => found,
        Err(Error::UnknownKind { .. }) => return Ok(()),
        Err(e) => return Err(e),
    };
    let got = cluster
        .retry(deadline, || api.get_opt(&key.name))
        .await
        .map_err(|e| Error::kube(format!("reading {key}"), e))?;
    let Some(obj) = got else {
        sink(Event::Deleted {
            object: key.clone(),
        });
        return Ok(());
    };
    crate::up::delete(cluster, key, value, deadline).await?;
    let uid = obj.metadata.uid.clone().unwrap_or_default();
    if obj
        .metadata
        .finalizers
        .as_ref()
        .is_some_and(|f| !f.is_empty())
        || key.kind == "Namespace"
    {
        sink(Event::Deleting {
            object: key.clone(),
        });
    }
    let gone = tokio::time::timeout_at(
        deadline,
        await_condition(api, &key.name, conditions::is_deleted(&uid)),
    )
    .await;
    match gone {
        Ok(Ok(_)) => {
            sink(Event::Deleted {
                object: key.clone(),
            });
            Ok(())
        }
        Ok(Err(e)) => Err(Error::Inventory(format!(
            "waiting for {key} to be deleted: {e}"
        ))),
        Err(_) => Err(Error::Timeout {
            after: "the --timeout".into(),
            pending: vec![(key.clone(), "still being deleted (finalizers)".into())],
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn member(kind: &str, name: &str, value: Value) -> Member {
        Member {
            key: ObjectKey {
                group: String::new(),
                kind: kind.into(),
                namespace: Some("app".into()),
                name: name.into(),
            },
            value,
        }
    }

    /// A Secret with generated values is kept with the data it protects: a database password
    /// generated once must still match the kept volume after `down` and a later `up`.
    #[test]
    fn generated_secrets_are_kept_with_the_data_unless_purge() {
        let generated = json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "annotations": {berth_model::GENERATED_KEYS_ANNOTATION: "password"}}});
        let from_env = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token"}});
        let claim = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data"}});
        let members = vec![
            member("Secret", "db", generated),
            member("Secret", "token", from_env),
            member("PersistentVolumeClaim", "data", claim),
        ];
        let names =
            |keys: &[ObjectKey]| keys.iter().map(|k| k.name.clone()).collect::<BTreeSet<_>>();

        let (report, _) = split(&members, &[], false);
        assert_eq!(
            names(&report.keep),
            BTreeSet::from(["db".to_string(), "data".to_string()])
        );
        assert_eq!(names(&report.delete), BTreeSet::from(["token".to_string()]));

        let (report, _) = split(&members, &[], true);
        assert!(report.keep.is_empty());
        assert_eq!(report.delete.len(), 3);
    }
}
