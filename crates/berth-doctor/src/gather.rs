//! Reading a [`Snapshot`] from the cluster: the only module of the doctor that does I/O.
//!
//! One discovery resolves the stack's kinds; each stack object is read with a GET; pods,
//! ReplicaSets, claims, EndpointSlices, Events and the other namespaced context are LISTed
//! once per namespace of the stack; cluster-scoped context once. Lists the credentials may
//! not read (403) or the server does not serve (404) are skipped: the diagnoses that need them
//! then find nothing rather than failing the whole run. Secret values are dropped the moment
//! they arrive.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use berth_model::Object;
use futures::future::{BoxFuture, FutureExt, join_all};
use futures::stream::{self, StreamExt};
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Node, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Service,
    ServiceAccount,
};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use k8s_openapi::api::storage::v1::{CSIDriver, StorageClass};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::kube_aggregator::pkg::apis::apiregistration::v1::APIService;
use kube::api::{Api, DynamicObject, ListParams, LogParams};
use kube::core::GroupVersionKind;
use kube::core::NamespaceResourceScope;
use kube::discovery::{Discovery, Scope};
use kube::{Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::snapshot::{Ctx, Snapshot, s};

/// Why a snapshot could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cluster did not answer, or refused a request berth cannot do without.
    #[error("cannot read the cluster: {0}")]
    Kube(#[from] kube::Error),
}

/// How many requests run at once.
const CONCURRENCY: usize = 16;
/// How many log lines of a failing container are kept.
const LOG_LINES: i64 = 20;

/// True for errors that mean "you may not" or "there is no such thing": skipped, not fatal.
fn tolerable(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if matches!(s.code, 403..=405))
}

type Listing = BoxFuture<'static, Result<Vec<Value>, kube::Error>>;

/// A LIST of the namespaced kind `K` in `ns`, as JSON values.
fn list_in<K>(client: &Client, ns: &str) -> Listing
where
    K: Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + Serialize
        + Debug
        + Send
        + 'static,
{
    run_list(Api::<K>::namespaced(client.clone(), ns))
}

/// A LIST of `K` across the cluster (cluster-scoped kinds), as JSON values.
fn list_all<K>(client: &Client) -> Listing
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug + Send + 'static,
{
    run_list(Api::<K>::all(client.clone()))
}

fn run_list<K>(api: Api<K>) -> Listing
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug + Send + 'static,
{
    async move {
        match api.list(&ListParams::default()).await {
            Ok(list) => Ok(list
                .items
                .into_iter()
                .filter_map(|o| to_value(&o))
                .collect()),
            Err(e) if tolerable(&e) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }
    .boxed()
}

/// An object as JSON with the fields no diagnosis reads removed.
fn to_value<K: Serialize + Resource<DynamicType = ()>>(o: &K) -> Option<Value> {
    let mut v = serde_json::to_value(o).ok()?;
    // Lists return items without apiVersion/kind; set them from the type.
    v["apiVersion"] = K::api_version(&()).into();
    v["kind"] = K::kind(&()).into();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
    }
    Some(v)
}

/// Keeps a Secret's or ConfigMap's keys and drops every value, including the copy kubectl
/// keeps in the last-applied annotation.
fn keys_only(mut v: Value) -> Value {
    for field in ["data", "binaryData", "stringData"] {
        if let Some(m) = v.get_mut(field).and_then(Value::as_object_mut) {
            for val in m.values_mut() {
                *val = Value::String(String::new());
            }
        }
    }
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("annotations");
    }
    v
}

/// Reads everything [`crate::analyse`] needs about `stack` from the cluster.
pub async fn gather(client: &Client, stack: &[Object]) -> Result<Snapshot, Error> {
    let mut snapshot = Snapshot::default();
    let discovery = Discovery::new(client.clone()).run_aggregated().await?;

    // The stack's own objects, each by GET.
    let mut unserved = BTreeSet::new();
    let mut gets = Vec::new();
    for o in stack {
        let (group, version) = match o.api_version().rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", o.api_version()),
        };
        let gvk = GroupVersionKind::gvk(group, version, o.kind());
        match discovery.resolve_gvk(&gvk) {
            Some((ar, caps)) => {
                let api: Api<DynamicObject> = match (caps.scope, o.namespace()) {
                    (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &ar),
                    (Scope::Namespaced, None) => Api::default_namespaced_with(client.clone(), &ar),
                    (Scope::Cluster, _) => Api::all_with(client.clone(), &ar),
                };
                let name = o.name().to_string();
                gets.push(async move { api.get_opt(&name).await });
            }
            None => {
                unserved.insert(format!("{group}/{}", o.kind()));
            }
        }
    }
    let results: Vec<_> = stream::iter(gets)
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for r in results {
        if let Some(obj) = r? {
            let mut v = serde_json::to_value(&obj).unwrap_or(Value::Null);
            if s(&v, "/kind") == "Secret" {
                v = keys_only(v);
            }
            if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("managedFields");
            }
            snapshot.objects.push(v);
        }
    }
    snapshot.unserved = unserved.into_iter().collect();

    // What the stack's objects made, and the namespaced context, per namespace.
    let namespaces: BTreeSet<&str> = stack.iter().filter_map(Object::namespace).collect();
    let mut lists: Vec<Listing> = Vec::new();
    for ns in &namespaces {
        lists.extend([
            list_in::<Pod>(client, ns),
            list_in::<ReplicaSet>(client, ns),
            list_in::<Deployment>(client, ns),
            list_in::<StatefulSet>(client, ns),
            list_in::<DaemonSet>(client, ns),
            list_in::<Job>(client, ns),
            list_in::<CronJob>(client, ns),
            list_in::<PersistentVolumeClaim>(client, ns),
            list_in::<Service>(client, ns),
            list_in::<EndpointSlice>(client, ns),
            list_in::<Event>(client, ns),
            list_in::<ServiceAccount>(client, ns),
            list_in::<Ingress>(client, ns),
            list_in::<HorizontalPodAutoscaler>(client, ns),
            list_in::<Secret>(client, ns),
            list_in::<ConfigMap>(client, ns),
        ]);
    }
    lists.extend([
        list_all::<Node>(client),
        list_all::<StorageClass>(client),
        list_all::<PersistentVolume>(client),
        list_all::<CSIDriver>(client),
        list_all::<IngressClass>(client),
        list_all::<CustomResourceDefinition>(client),
        list_all::<ValidatingWebhookConfiguration>(client),
        list_all::<MutatingWebhookConfiguration>(client),
        list_all::<APIService>(client),
    ]);
    let mut seen_uids: BTreeSet<String> = snapshot
        .objects
        .iter()
        .map(|v| s(v, "/metadata/uid").to_string())
        .collect();
    for result in join_all(lists).await {
        for v in result? {
            let v = if matches!(s(&v, "/kind"), "Secret" | "ConfigMap") {
                keys_only(v)
            } else {
                v
            };
            let uid = s(&v, "/metadata/uid").to_string();
            if uid.is_empty() || seen_uids.insert(uid) {
                snapshot.objects.push(v);
            }
        }
    }

    // Secrets and ConfigMaps of every other namespace, by name only, to say where one is.
    for (api_version, kind) in [("v1", "Secret"), ("v1", "ConfigMap")] {
        let found = match kind {
            "Secret" => names::<Secret>(client).await,
            _ => names::<ConfigMap>(client).await,
        };
        for (ns, name) in found {
            if namespaces.contains(ns.as_str()) {
                continue;
            }
            snapshot.objects.push(serde_json::json!({
                "apiVersion": api_version, "kind": kind, "metadata": {"namespace": ns, "name": name}
            }));
        }
    }

    snapshot.logs = logs(client, &snapshot, stack).await;
    Ok(snapshot)
}

/// `(namespace, name)` of every object of `K` the credentials may list (none if forbidden).
async fn names<K>(client: &Client) -> Vec<(String, String)>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
{
    let api: Api<K> = Api::all(client.clone());
    match api.list_metadata(&ListParams::default()).await {
        Ok(list) => list
            .items
            .into_iter()
            .map(|m| {
                (
                    m.metadata.namespace.unwrap_or_default(),
                    m.metadata.name.unwrap_or_default(),
                )
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// The last log lines of the stack's failing containers: crash loops and OOM kills (their
/// previous run), and the failed pods of Jobs. A container with no logs (kwok serves none, a
/// container that never started has none) is left out.
async fn logs(
    client: &Client,
    snapshot: &Snapshot,
    stack: &[Object],
) -> BTreeMap<String, Vec<String>> {
    let ctx = Ctx::new(snapshot, stack, crate::Options::default());
    let mut wanted: Vec<(String, String, String, bool)> = Vec::new();
    for (pod, owner) in ctx.stack_pods() {
        let ns = s(pod, "/metadata/namespace").to_string();
        let name = s(pod, "/metadata/name").to_string();
        match berth_health::pod_problem(pod) {
            Some(p) if matches!(p.id(), "crash-loop" | "oom-killed") => {
                if let Some(c) = p.container() {
                    wanted.push((ns, name, c.to_string(), true));
                }
            }
            _ if owner.kind() == "Job" && s(pod, "/status/phase") == "Failed" => {
                for c in berth_model::pod_spec::containers(pod.get("spec").unwrap_or(&Value::Null))
                {
                    wanted.push((ns.clone(), name.clone(), s(c.1, "/name").to_string(), false));
                }
            }
            _ => {}
        }
    }
    let fetches = wanted.into_iter().map(|(ns, pod, container, previous)| {
        let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
        async move {
            let params = LogParams {
                container: Some(container.clone()),
                previous,
                tail_lines: Some(LOG_LINES),
                ..Default::default()
            };
            let mut text = api.logs(&pod, &params).await;
            if previous && text.as_ref().is_err() {
                // No previous run (or the runtime keeps none): the current one may say why.
                text = api
                    .logs(
                        &pod,
                        &LogParams {
                            previous: false,
                            ..params
                        },
                    )
                    .await;
            }
            let lines: Vec<String> = text
                .map(|t| t.lines().map(str::to_string).collect())
                .unwrap_or_default();
            (format!("{ns}/{pod}/{container}"), lines)
        }
    });
    stream::iter(fetches)
        .buffer_unordered(CONCURRENCY)
        .filter(|(_, lines)| futures::future::ready(!lines.is_empty()))
        .collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::keys_only;

    #[test]
    fn secret_values_never_stay() {
        let secret = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "db", "namespace": "shop", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration": "{\"data\":{\"password\":\"aHVudGVyMg==\"}}"}},
            "data": {"password": "aHVudGVyMg==", "user": "YWRtaW4="},
            "stringData": {"token": "s3cr3t"}
        });
        let kept = keys_only(secret).to_string();
        for value in ["aHVudGVyMg==", "YWRtaW4=", "s3cr3t", "last-applied"] {
            assert!(!kept.contains(value), "{value} survived: {kept}");
        }
        assert!(
            kept.contains("\"password\":\"\"") && kept.contains("\"user\":\"\""),
            "{kept}"
        );
    }
}
