//! What berth owns in a cluster, and the revisions it applied: an ApplySet (KEP-3659).
//!
//! The parent is the Secret `berth.<stack>` in the stack namespace, labelled with the set id
//! and annotated with the group-kinds and namespaces of its members
//! (`applyset.kubernetes.io/contains-group-kinds`, `additional-namespaces`) and the tooling
//! (`berth/<version>`). Members carry `applyset.kubernetes.io/part-of=<id>`. Before a run
//! applies anything the parent is widened to the union of old and new group-kinds, so a run
//! killed half-way still lists every object it may have created, and the next run prunes by
//! listing those kinds with the label, as `kubectl apply --applyset` does. Of the members that
//! left the stack, [`leaving`] says which are pruned and which kept (PVCs, PVs, Namespaces and
//! CRDs unless `--prune-data`); [`ParentState::after_run`] what the parent lists afterwards.
//!
//! Revisions are Secrets `berth.<stack>.v<N>` (gzip-compressed JSON: the objects with Secret
//! values removed, the stack digest, values, time and outcome); the last [`HISTORY_MAX`] are
//! kept.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::io::{Read, Write};

use base64::Engine;
use berth_model::ObjectKey;
use futures::StreamExt;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::cluster::{Cluster, Resolved};
use crate::error::{self, Error, Result};
use crate::prepare::{self, PART_OF};

/// How many revisions are kept in the cluster.
pub const HISTORY_MAX: u64 = 10;
/// Field manager of every write berth makes.
pub const FIELD_MANAGER: &str = "berth";

const ID_LABEL: &str = "applyset.kubernetes.io/id";
const TOOLING: &str = "applyset.kubernetes.io/tooling";
const GROUP_KINDS: &str = "applyset.kubernetes.io/contains-group-kinds";
const NAMESPACES: &str = "applyset.kubernetes.io/additional-namespaces";
const STACK_LABEL: &str = "berth.dev/stack";
const REVISION_LABEL: &str = "berth.dev/revision";
const CURRENT_REVISION: &str = "berth.dev/revision";

/// Where a stack's inventory lives.
#[derive(Clone, Debug)]
pub struct Inventory {
    pub stack: String,
    pub namespace: String,
    pub parent: String,
    pub id: String,
}

/// What the parent says: member kinds and namespaces, and the latest revision number.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParentState {
    pub group_kinds: BTreeSet<String>,
    pub namespaces: BTreeSet<String>,
    pub revision: u64,
}

/// An object that is in the set now, as listed from the cluster.
#[derive(Clone, Debug)]
pub struct Member {
    pub key: ObjectKey,
    pub value: Value,
}

/// One object of a revision.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredObject {
    pub component: String,
    /// The object as applied, Secrets without values.
    pub value: Value,
}

/// One `up` or `rollback`, as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Revision {
    pub revision: u64,
    pub stack: String,
    /// sha256 over the applied objects (Secret values by checksum).
    pub digest: String,
    /// RFC 3339.
    pub time: String,
    /// `succeeded`, `failed: <reason>`.
    pub outcome: String,
    pub values: BTreeMap<String, Value>,
    /// Components in stack order with their `after:`, to re-plan a rollback.
    #[serde(default)]
    pub components: Vec<berth_model::Component>,
    pub objects: Vec<StoredObject>,
    /// Set on a rollback: the revision it went back to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<u64>,
}

/// A line of `berth history`.
#[derive(Clone, Debug, Serialize)]
pub struct RevisionSummary {
    pub revision: u64,
    pub time: String,
    pub outcome: String,
    pub objects: usize,
    pub digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_of: Option<u64>,
}

/// `Kind.group` (or `Kind` for the core group), as ApplySet annotations write group-kinds.
pub fn group_kind(key: &ObjectKey) -> String {
    if key.group.is_empty() {
        key.kind.clone()
    } else {
        format!("{}.{}", key.kind, key.group)
    }
}

impl Inventory {
    /// The inventory of `stack`, kept in `namespace`.
    pub fn new(stack: &str, namespace: &str) -> Inventory {
        let parent = format!("berth.{stack}");
        let id = prepare::applyset_id(&parent, namespace);
        Inventory {
            stack: stack.into(),
            namespace: namespace.into(),
            parent,
            id,
        }
    }

    fn secrets(&self, cluster: &Cluster) -> kube::Api<k8s_openapi::api::core::v1::Secret> {
        kube::Api::namespaced(cluster.client.clone(), &self.namespace)
    }

    /// Reads the parent; `None` when the stack was never applied (or was taken down).
    pub async fn parent_state(
        &self,
        cluster: &Cluster,
        deadline: Instant,
    ) -> Result<Option<ParentState>> {
        let api = self.secrets(cluster);
        let got = cluster
            .retry(deadline, || api.get_opt(&self.parent))
            .await
            .map_err(|e| Error::kube("reading the inventory", e))?;
        let Some(secret) = got else { return Ok(None) };
        self.parse_parent(&secret.metadata.annotations.unwrap_or_default())
            .map(Some)
            .map_err(Error::Inventory)
    }

    /// The state a parent's annotations give; refuses (with the reason) an ApplySet of another
    /// tool.
    fn parse_parent(
        &self,
        ann: &BTreeMap<String, String>,
    ) -> std::result::Result<ParentState, String> {
        let tooling = ann.get(TOOLING).map(String::as_str).unwrap_or("");
        if !tooling.starts_with("berth/") {
            return Err(format!(
                "Secret {}/{} is an ApplySet of `{tooling}`, not of berth; refusing to change it",
                self.namespace, self.parent
            ));
        }
        let split = |k: &str| -> BTreeSet<String> {
            ann.get(k)
                .map(|s| {
                    s.split(',')
                        .filter(|p| !p.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(ParentState {
            group_kinds: split(GROUP_KINDS),
            namespaces: split(NAMESPACES),
            revision: ann
                .get(CURRENT_REVISION)
                .and_then(|r| r.parse().ok())
                .unwrap_or(0),
        })
    }

    /// Creates or updates the parent (server-side apply).
    pub async fn write_parent(
        &self,
        cluster: &Cluster,
        state: &ParentState,
        deadline: Instant,
    ) -> Result<()> {
        let body = self.parent_body(state);
        let api = self.secrets(cluster);
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        let patch = Patch::Apply(&body);
        cluster
            .retry(deadline, || api.patch(&self.parent, &pp, &patch))
            .await
            .map_err(|e| Error::kube("writing the inventory", e))?;
        Ok(())
    }

    /// The parent Secret for `state`. Its own namespace is implied, not listed as additional.
    fn parent_body(&self, state: &ParentState) -> Value {
        let mut namespaces = state.namespaces.clone();
        namespaces.remove(&self.namespace);
        json!({
            "apiVersion": "v1", "kind": "Secret", "type": "berth.dev/applyset",
            "metadata": {
                "name": self.parent, "namespace": self.namespace,
                "labels": {ID_LABEL: self.id, STACK_LABEL: self.stack},
                "annotations": {
                    TOOLING: format!("berth/{}", env!("CARGO_PKG_VERSION")),
                    GROUP_KINDS: state.group_kinds.iter().cloned().collect::<Vec<_>>().join(","),
                    NAMESPACES: namespaces.into_iter().collect::<Vec<_>>().join(","),
                    CURRENT_REVISION: state.revision.to_string(),
                }
            }
        })
    }

    /// Lists every object labelled as a member, over the parent's group-kinds and namespaces.
    /// Kinds the cluster no longer serves are skipped (their objects are gone with their CRD).
    pub async fn members(
        &self,
        cluster: &Cluster,
        state: &ParentState,
        deadline: Instant,
    ) -> Result<Vec<Member>> {
        let mut namespaces = state.namespaces.clone();
        namespaces.insert(self.namespace.clone());
        let selector = format!("{PART_OF}={}", self.id);
        let mut jobs = Vec::new();
        for gk in &state.group_kinds {
            let (kind, group) = gk.split_once('.').unwrap_or((gk.as_str(), ""));
            let Some(resolved) = resolve_group_kind(cluster, group, kind).await else {
                continue;
            };
            if resolved.namespaced {
                for ns in &namespaces {
                    jobs.push((resolved.clone(), Some(ns.clone())));
                }
            } else {
                jobs.push((resolved, None));
            }
        }
        let lists = futures::stream::iter(jobs)
            .map(|(resolved, ns)| {
                let api = cluster.api(&resolved, ns.as_deref());
                let lp = ListParams::default().labels(&selector);
                async move { (cluster.retry(deadline, || api.list(&lp)).await, resolved) }
            })
            .buffer_unordered(8)
            .collect::<Vec<_>>()
            .await;
        let mut out = Vec::new();
        for (list, resolved) in lists {
            let list = match list {
                Ok(l) => l,
                Err(e) if error::is_not_found(&e) => continue,
                Err(e) => return Err(Error::kube("listing the stack's objects", e)),
            };
            for item in list.items {
                // List items carry no apiVersion/kind: take them from the list's resource.
                let value = with_type(
                    serde_json::to_value(&item).unwrap_or(Value::Null),
                    &resolved,
                );
                let key = ObjectKey {
                    group: resolved.resource.group.clone(),
                    kind: resolved.resource.kind.clone(),
                    namespace: item.metadata.namespace.clone(),
                    name: item.metadata.name.clone().unwrap_or_default(),
                };
                out.push(Member { key, value });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    /// Stores `rev` as the next revision and drops revisions beyond [`HISTORY_MAX`].
    pub async fn record(&self, cluster: &Cluster, rev: &Revision, deadline: Instant) -> Result<()> {
        let packed = pack(rev).map_err(Error::Inventory)?;
        let name = format!("{}.v{}", self.parent, rev.revision);
        let body = json!({
            "apiVersion": "v1", "kind": "Secret", "type": "berth.dev/revision",
            "metadata": {"name": name, "namespace": self.namespace,
                "labels": {STACK_LABEL: self.stack, REVISION_LABEL: rev.revision.to_string(), "owner": "berth"}},
            "data": {"revision": base64::engine::general_purpose::STANDARD.encode(packed)}
        });
        let api = self.secrets(cluster);
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        {
            let patch = Patch::Apply(&body);
            cluster
                .retry(deadline, || api.patch(&name, &pp, &patch))
                .await
        }
        .map_err(|e| Error::kube("storing the revision", e))?;
        let stored = self.revision_numbers(cluster, deadline).await?;
        for old in beyond_history(&stored, rev.revision) {
            let n = format!("{}.v{old}", self.parent);
            let dp = DeleteParams::default();
            let _ = cluster.retry(deadline, || api.delete(&n, &dp)).await;
        }
        Ok(())
    }

    async fn revision_numbers(&self, cluster: &Cluster, deadline: Instant) -> Result<Vec<u64>> {
        let api = self.secrets(cluster);
        let lp =
            ListParams::default().labels(&format!("{STACK_LABEL}={},{REVISION_LABEL}", self.stack));
        let list = cluster
            .retry(deadline, || api.list_metadata(&lp))
            .await
            .map_err(|e| Error::kube("listing revisions", e))?;
        let mut out: Vec<u64> = list
            .items
            .iter()
            .filter_map(|s| {
                s.metadata
                    .labels
                    .as_ref()?
                    .get(REVISION_LABEL)?
                    .parse()
                    .ok()
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Reads revision `n`.
    pub async fn revision(&self, cluster: &Cluster, n: u64, deadline: Instant) -> Result<Revision> {
        let api = self.secrets(cluster);
        let name = format!("{}.v{n}", self.parent);
        let secret = cluster
            .retry(deadline, || api.get_opt(&name))
            .await
            .map_err(|e| Error::kube("reading a revision", e))?
            .ok_or_else(|| {
                Error::Inventory(format!(
                    "stack `{}` has no revision {n} (see `berth history`)",
                    self.stack
                ))
            })?;
        let packed = secret
            .data
            .as_ref()
            .and_then(|d| d.get("revision"))
            .ok_or_else(|| {
                Error::Inventory(format!(
                    "Secret {}/{name} holds no revision",
                    self.namespace
                ))
            })?;
        unpack(&packed.0, n).map_err(Error::Inventory)
    }

    /// Every stored revision, oldest first.
    pub async fn history(
        &self,
        cluster: &Cluster,
        deadline: Instant,
    ) -> Result<Vec<RevisionSummary>> {
        let mut out = Vec::new();
        for n in self.revision_numbers(cluster, deadline).await? {
            let r = self.revision(cluster, n, deadline).await?;
            out.push(RevisionSummary {
                revision: r.revision,
                time: r.time,
                outcome: r.outcome,
                objects: r.objects.len(),
                digest: r.digest,
                rollback_of: r.rollback_of,
            });
        }
        Ok(out)
    }

    /// Deletes the revisions and, unless `keep_parent`, the parent.
    pub async fn forget(
        &self,
        cluster: &Cluster,
        keep_parent: bool,
        deadline: Instant,
    ) -> Result<()> {
        let api = self.secrets(cluster);
        for n in self.revision_numbers(cluster, deadline).await? {
            let name = format!("{}.v{n}", self.parent);
            let dp = DeleteParams::default();
            let _ = cluster.retry(deadline, || api.delete(&name, &dp)).await;
        }
        if !keep_parent {
            let dp = DeleteParams::default();
            match cluster
                .retry(deadline, || api.delete(&self.parent, &dp))
                .await
            {
                Ok(_) => {}
                Err(e) if error::is_not_found(&e) => {}
                Err(e) => return Err(Error::kube("deleting the inventory", e)),
            }
        }
        Ok(())
    }
}

/// A revision as stored: gzip-compressed JSON (the error says why not).
fn pack(rev: &Revision) -> std::result::Result<Vec<u8>, String> {
    let json = serde_json::to_vec(rev).map_err(|e| e.to_string())?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&json).map_err(|e| e.to_string())?;
    gz.finish().map_err(|e| e.to_string())
}

/// Revision `n` from its stored form (the error says why not).
fn unpack(packed: &[u8], n: u64) -> std::result::Result<Revision, String> {
    let mut json = Vec::new();
    flate2::read::GzDecoder::new(packed)
        .read_to_end(&mut json)
        .map_err(|e| format!("revision {n} is not readable: {e}"))?;
    serde_json::from_slice(&json).map_err(|e| format!("revision {n} is not readable: {e}"))
}

/// Of the `stored` revision numbers, those to delete once `latest` is stored: all but the
/// last [`HISTORY_MAX`].
fn beyond_history(stored: &[u64], latest: u64) -> Vec<u64> {
    stored
        .iter()
        .copied()
        .filter(|&old| old + HISTORY_MAX <= latest)
        .collect()
}

impl ParentState {
    /// Adds the group-kind and (if namespaced) the namespace of each key.
    pub fn include<'a>(&mut self, keys: impl IntoIterator<Item = &'a ObjectKey>) {
        for k in keys {
            self.group_kinds.insert(group_kind(k));
            if let Some(ns) = &k.namespace {
                self.namespaces.insert(ns.clone());
            }
        }
    }

    /// The parent after a run from `self`: the next revision, listing what was `applied` and
    /// what was `kept` (members that left the stack but were not pruned). After a failure it
    /// also keeps everything `widened` listed, since objects of the failed run may exist
    /// anywhere it said.
    pub fn after_run(
        &self,
        widened: &ParentState,
        applied: &[ObjectKey],
        kept: &BTreeSet<ObjectKey>,
        failed: bool,
    ) -> ParentState {
        let mut next = ParentState {
            revision: self.revision + 1,
            ..Default::default()
        };
        next.include(applied.iter().chain(kept.iter()));
        if failed {
            next.group_kinds.extend(widened.group_kinds.iter().cloned());
            next.namespaces.extend(widened.namespaces.iter().cloned());
        }
        next
    }
}

/// What `up` does with a member that left the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    Prune,
    /// Data-bearing or shared kinds ([`berth_plan::kinds::is_kept_by_default`]: PVC, PV,
    /// Namespace, CRD) stay unless `--prune-data`.
    Keep,
}

/// The `members` whose keys are not in `applied`, in teardown order, each with its [`Fate`].
pub fn leaving<'a>(
    members: &'a [Member],
    applied: &HashSet<&ObjectKey>,
    prune_data: bool,
) -> Vec<(&'a Member, Fate)> {
    let gone: Vec<&Member> = members
        .iter()
        .filter(|m| !applied.contains(&m.key))
        .collect();
    let order = crate::up::teardown_order(gone.iter().map(|m| (&m.key, &m.value)));
    order
        .into_iter()
        .filter_map(|key| gone.iter().find(|m| &m.key == key).copied())
        .map(|m| {
            let fate = if berth_plan::kinds::is_kept_by_default(&m.key.kind) && !prune_data {
                Fate::Keep
            } else {
                Fate::Prune
            };
            (m, fate)
        })
        .collect()
}

/// `value` with `apiVersion` and `kind` of `resolved` (list and watch items lack them).
pub fn with_type(mut value: Value, resolved: &Resolved) -> Value {
    if let Some(m) = value.as_object_mut() {
        m.insert("apiVersion".into(), json!(resolved.resource.api_version));
        m.insert("kind".into(), json!(resolved.resource.kind));
    }
    value
}

/// Resolves `Kind.group` to the group's preferred version.
pub async fn resolve_group_kind(cluster: &Cluster, group: &str, kind: &str) -> Option<Resolved> {
    for attempt in 0..2 {
        if attempt == 1 {
            cluster.refresh().await;
        }
        if let Some(r) = cluster.resolve_recommended(group, kind).await {
            return Some(r);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(group: &str, kind: &str, namespace: Option<&str>, name: &str) -> ObjectKey {
        ObjectKey {
            group: group.into(),
            kind: kind.into(),
            namespace: namespace.map(str::to_string),
            name: name.into(),
        }
    }

    fn member(group: &str, kind: &str, namespace: Option<&str>, name: &str) -> Member {
        let api_version = match group {
            "" => "v1".to_string(),
            g => format!("{g}/v1"),
        };
        let mut metadata = json!({"name": name});
        if let Some(ns) = namespace {
            metadata["namespace"] = json!(ns);
        }
        Member {
            key: key(group, kind, namespace, name),
            value: json!({"apiVersion": api_version, "kind": kind, "metadata": metadata}),
        }
    }

    /// One member of every kind that matters to pruning, all in namespace `app`.
    fn members() -> Vec<Member> {
        vec![
            member("apps", "Deployment", Some("app"), "web"),
            member("", "ConfigMap", Some("app"), "old-config"),
            member("apps", "StatefulSet", Some("app"), "old-db"),
            member("", "PersistentVolumeClaim", Some("app"), "data"),
            member("", "PersistentVolume", None, "pv-1"),
            member("", "Namespace", None, "app"),
            member(
                "apiextensions.k8s.io",
                "CustomResourceDefinition",
                None,
                "things.example.com",
            ),
        ]
    }

    fn fates(list: &[(&Member, Fate)]) -> Vec<(String, Fate)> {
        let mut out: Vec<(String, Fate)> = list
            .iter()
            .map(|(m, f)| (format!("{}/{}", m.key.kind, m.key.name), *f))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    #[test]
    fn members_that_left_are_pruned_except_data_and_shared_kinds() {
        let members = members();
        let web = key("apps", "Deployment", Some("app"), "web");
        let applied: HashSet<&ObjectKey> = [&web].into_iter().collect();
        let out = leaving(&members, &applied, false);
        assert_eq!(
            fates(&out),
            [
                ("ConfigMap/old-config".to_string(), Fate::Prune),
                (
                    "CustomResourceDefinition/things.example.com".to_string(),
                    Fate::Keep
                ),
                ("Namespace/app".to_string(), Fate::Keep),
                ("PersistentVolume/pv-1".to_string(), Fate::Keep),
                ("PersistentVolumeClaim/data".to_string(), Fate::Keep),
                ("StatefulSet/old-db".to_string(), Fate::Prune),
            ],
            "the Deployment is still applied and not listed at all"
        );
    }

    #[test]
    fn prune_data_prunes_data_and_shared_kinds_too() {
        let members = members();
        let out = leaving(&members, &HashSet::new(), true);
        assert_eq!(out.len(), members.len());
        assert!(out.iter().all(|(_, f)| *f == Fate::Prune));
    }

    #[test]
    fn nothing_leaves_when_everything_is_still_applied() {
        let members = members();
        let applied: HashSet<&ObjectKey> = members.iter().map(|m| &m.key).collect();
        assert!(leaving(&members, &applied, true).is_empty());
    }

    #[test]
    fn leaving_members_come_in_teardown_order() {
        let members = members();
        let out = leaving(&members, &HashSet::new(), true);
        let pos = |kind: &str| out.iter().position(|(m, _)| m.key.kind == kind).unwrap();
        // The namespace holds the others: it goes last.
        assert!(pos("Namespace") > pos("ConfigMap"));
        assert!(pos("Namespace") > pos("StatefulSet"));
        assert!(pos("Namespace") > pos("PersistentVolumeClaim"));
    }

    #[test]
    fn the_parent_lists_kinds_and_namespaces_of_what_was_applied_and_kept() {
        let prior = ParentState {
            group_kinds: ["ConfigMap".to_string(), "Job.batch".to_string()].into(),
            namespaces: ["app".to_string(), "old".to_string()].into(),
            revision: 4,
        };
        let applied = [
            key("apps", "Deployment", Some("app"), "web"),
            key("", "Namespace", None, "app"),
        ];
        let mut widened = prior.clone();
        widened.include(&applied);
        assert_eq!(
            widened.group_kinds,
            ["ConfigMap", "Deployment.apps", "Job.batch", "Namespace"]
                .map(String::from)
                .into(),
            "widened before applying: the union"
        );
        let kept: BTreeSet<ObjectKey> =
            [key("", "PersistentVolumeClaim", Some("data"), "pgdata")].into();

        let ok = prior.after_run(&widened, &applied, &kept, false);
        assert_eq!(ok.revision, 5);
        assert_eq!(
            ok.group_kinds,
            ["Deployment.apps", "Namespace", "PersistentVolumeClaim"]
                .map(String::from)
                .into(),
            "pruned kinds are no longer listed"
        );
        assert_eq!(ok.namespaces, ["app", "data"].map(String::from).into());

        let failed = prior.after_run(&widened, &applied, &BTreeSet::new(), true);
        assert!(
            failed.group_kinds.is_superset(&widened.group_kinds),
            "a failed run keeps listing everything it may have created"
        );
        assert!(failed.namespaces.contains("old"));
    }

    #[test]
    fn the_parent_round_trips_through_its_annotations() {
        let inv = Inventory::new("shop", "shop-system");
        let state = ParentState {
            group_kinds: ["Deployment.apps", "Secret"].map(String::from).into(),
            namespaces: ["shop-system", "shop-data"].map(String::from).into(),
            revision: 7,
        };
        let body = inv.parent_body(&state);
        let ann: BTreeMap<String, String> =
            serde_json::from_value(body["metadata"]["annotations"].clone()).unwrap();
        assert_eq!(
            ann[NAMESPACES], "shop-data",
            "its own namespace is implied, not additional"
        );
        let back = inv.parse_parent(&ann).unwrap();
        assert_eq!(back.group_kinds, state.group_kinds);
        assert_eq!(back.revision, 7);
        assert_eq!(back.namespaces, ["shop-data"].map(String::from).into());
        assert_eq!(body["metadata"]["labels"][ID_LABEL], inv.id.as_str());
    }

    #[test]
    fn an_applyset_of_another_tool_is_refused() {
        let inv = Inventory::new("shop", "shop-system");
        let ann: BTreeMap<String, String> =
            [(TOOLING.to_string(), "kubectl/v1.34".to_string())].into();
        let err = inv.parse_parent(&ann).unwrap_err();
        assert!(err.contains("ApplySet of `kubectl/v1.34`"), "{err}");
        assert!(inv.parse_parent(&BTreeMap::new()).is_err(), "no tooling");
        let bare: BTreeMap<String, String> = [(TOOLING.to_string(), "berth/0.1.0".into())].into();
        assert_eq!(inv.parse_parent(&bare).unwrap(), ParentState::default());
    }

    #[test]
    fn only_the_last_revisions_are_kept() {
        let stored: Vec<u64> = (1..=12).collect();
        assert_eq!(beyond_history(&stored, 12), [1, 2]);
        assert!(beyond_history(&stored[..9], 10).is_empty());
        assert_eq!(beyond_history(&stored[..10], 10), Vec::<u64>::new());
        assert_eq!(beyond_history(&stored[..10], 11), [1]);
    }

    #[test]
    fn revisions_round_trip_and_a_damaged_one_says_so() {
        let rev = Revision {
            revision: 3,
            stack: "shop".into(),
            digest: "abc".into(),
            time: "2026-01-01T00:00:00Z".into(),
            outcome: "succeeded".into(),
            values: BTreeMap::new(),
            components: Vec::new(),
            objects: vec![StoredObject {
                component: "web".into(),
                value: json!({"kind": "ConfigMap"}),
            }],
            rollback_of: None,
        };
        let back = unpack(&pack(&rev).unwrap(), 3).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&rev).unwrap()
        );
        let err = unpack(b"not gzip", 3).unwrap_err();
        assert!(err.contains("revision 3 is not readable"), "{err}");
    }
}
