//! One local cluster shared by every test of a run, for berth's end-to-end tests.
//!
//! The first test that asks starts (or reuses) the cluster named by `$BERTH_TEST_CLUSTER`
//! (default `test`); later tests and other test binaries reuse it — `up` is idempotent and
//! serialised by a lock file. The cluster keeps running after the tests, so the next run starts
//! in a second; `berth local down --name test` stops it. Each test takes its own namespace.
//!
//! Compiled only with the `testing` feature, which crates enable in their dev-dependencies:
//! these helpers panic by design and have no place in the release binary.
//!
//! ```no_run
//! # async fn t() {
//! let client = berth_local::testing::client().await;
//! let ns = berth_local::testing::namespace(&client, "my-test").await;
//! # }
//! ```

use std::path::PathBuf;
use std::sync::OnceLock;

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::PostParams;

use crate::{Options, up};

/// Name of the shared test cluster.
pub fn cluster_name() -> String {
    std::env::var("BERTH_TEST_CLUSTER").unwrap_or_else(|_| "test".into())
}

/// Starts the shared test cluster if needed and returns its kubeconfig path. Panics with the
/// reason when the cluster cannot be started: tests that need it cannot run without it.
pub fn kubeconfig() -> PathBuf {
    static KUBECONFIG: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    started(
        &KUBECONFIG,
        Options {
            name: cluster_name(),
            ..Options::default()
        },
    )
}

/// Name of the shared test cluster that runs Karpenter: `<cluster_name()>-karpenter`. A
/// cluster of its own, since a node autoscaler changes how `up` treats every unschedulable
/// pod of the tests beside it.
pub fn karpenter_cluster_name() -> String {
    format!("{}-karpenter", cluster_name())
}

/// The Karpenter test cluster's layout: Karpenter, and three small fixed nodes (1 CPU, 2 GiB)
/// as the system pool, so a test's pods that ask for more than that go to nodes Karpenter
/// launches.
pub fn karpenter_options() -> Options {
    Options {
        name: karpenter_cluster_name(),
        cpu: "1".into(),
        memory: "2Gi".into(),
        autoscaler: crate::karpenter::NodeAutoscaler::Karpenter,
        ..Options::default()
    }
}

/// Starts the Karpenter test cluster ([`karpenter_options`]) if needed and returns its
/// kubeconfig path; panics with the reason when it cannot (the first start builds Karpenter).
pub fn karpenter_kubeconfig() -> PathBuf {
    static KUBECONFIG: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    started(&KUBECONFIG, karpenter_options())
}

/// A client for the Karpenter test cluster (started if needed).
pub async fn karpenter_client() -> kube::Client {
    crate::client(&karpenter_kubeconfig())
        .await
        .expect("client for the local Karpenter test cluster")
}

fn started(cell: &OnceLock<Result<PathBuf, String>>, opts: Options) -> PathBuf {
    let result = cell.get_or_init(|| {
        // `up` is async; run it on a runtime of its own thread so this works from inside a
        // test's runtime as well as from plain tests.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(up(&opts))
                .map(|s| s.kubeconfig)
                .map_err(|e| e.to_string())
        })
        .join()
        .unwrap_or_else(|_| Err("starting the test cluster panicked".into()))
    });
    match result {
        Ok(p) => p.clone(),
        Err(e) => panic!("the local test cluster could not be started: {e}"),
    }
}

/// Label on every namespace [`namespace`] creates.
pub const TEST_NAMESPACE_LABEL: &str = "berth.dev/test-namespace";

/// Test namespaces older than this are left over from earlier runs (a failed test keeps its
/// namespace for inspection) and are deleted, so the shared cluster does not fill its nodes.
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// A client for the shared test cluster. The first call of a process also deletes stale test
/// namespaces.
pub async fn client() -> kube::Client {
    static SWEPT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let path = kubeconfig();
    let client = crate::client(&path)
        .await
        .expect("client for the local test cluster");
    SWEPT.get_or_init(|| sweep(client.clone())).await;
    client
}

async fn sweep(client: kube::Client) {
    let api = Api::<Namespace>::all(client);
    let Ok(list) = api
        .list(&kube::api::ListParams::default().labels(TEST_NAMESPACE_LABEL))
        .await
    else {
        return;
    };
    let now = std::time::SystemTime::now();
    for ns in list.items {
        let created = ns
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| std::time::SystemTime::from(t.0));
        let stale = created
            .and_then(|c| now.duration_since(c).ok())
            .is_some_and(|age| age > STALE_AFTER);
        if stale && ns.metadata.deletion_timestamp.is_none() {
            let name = ns.metadata.name.unwrap_or_default();
            let _ = api.delete(&name, &Default::default()).await;
        }
    }
}

/// Creates a fresh namespace `<prefix>-<random>` for one test and returns its name.
pub async fn namespace(client: &kube::Client, prefix: &str) -> String {
    let suffix: u32 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() ^ (std::process::id() << 8))
        .unwrap_or(0);
    let name = format!("{prefix}-{:x}", suffix % 0xffffff);
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": {TEST_NAMESPACE_LABEL: "true"}}
    }))
    .expect("namespace object");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .expect("create test namespace");
    name
}

/// Serves `lines` as the logs of container `container` of pod `ns/pod` (current and previous
/// run), the way a kubelet would: the lines go to a CRI-format log file in the cluster's
/// folder, and a kwok `Logs` object named after the pod points kwok at it. The pod need not
/// exist yet; kwok picks the object up from its watch within moments.
pub async fn serve_logs(
    client: &kube::Client,
    ns: &str,
    pod: &str,
    container: &str,
    lines: &[&str],
) {
    let dir = crate::Layout::of(&cluster_name())
        .dir
        .join("container-logs");
    std::fs::create_dir_all(&dir).expect("create the container log folder");
    let file = dir.join(format!("{ns}_{pod}_{container}.log"));
    let text: String = lines
        .iter()
        .map(|l| format!("2026-01-01T00:00:00.000000000Z stdout F {l}\n"))
        .collect();
    std::fs::write(&file, text).expect("write the container log file");
    let file = file.display().to_string();
    let object = serde_json::json!({
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Logs",
        "metadata": {"name": pod, "namespace": ns},
        "spec": {"logs": [{"containers": [container], "logsFile": file, "previousLogsFile": file}]},
    });
    apply(client, [&object]).await;
}

/// Applies `objects` (whole manifests as JSON, namespaced ones with their namespace set) with
/// server-side apply, field manager `berth-test`, the way a test sets up a situation without
/// `berth up`. Panics with the object's name when the API server refuses it.
pub async fn apply<'a>(
    client: &kube::Client,
    objects: impl IntoIterator<Item = &'a serde_json::Value>,
) {
    use kube::api::{DynamicObject, Patch, PatchParams};
    use kube::core::GroupVersionKind;
    use kube::discovery::{Scope, pinned_kind};
    for o in objects {
        let text = |p: &str| {
            o.pointer(p)
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
        };
        let (api_version, kind, name) =
            (text("/apiVersion"), text("/kind"), text("/metadata/name"));
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let (ar, caps) = pinned_kind(client, &GroupVersionKind::gvk(group, version, kind))
            .await
            .unwrap_or_else(|e| panic!("{api_version} {kind} is not served: {e}"));
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => {
                Api::namespaced_with(client.clone(), text("/metadata/namespace"), &ar)
            }
            Scope::Cluster => Api::all_with(client.clone(), &ar),
        };
        api.patch(
            name,
            &PatchParams::apply("berth-test").force(),
            &Patch::Apply(o),
        )
        .await
        .unwrap_or_else(|e| panic!("apply {kind}/{name}: {e}"));
    }
}

/// Deletes a test's namespace (best effort; the sweep in [`client`] catches what is left).
pub async fn delete_namespace(client: &kube::Client, name: &str) {
    let _ = Api::<Namespace>::all(client.clone())
        .delete(name, &Default::default())
        .await;
}

/// An extra kwok node added by a test (playing a node autoscaler, or a dedicated node
/// group); deleted when dropped, also when the test fails.
pub struct NodeGuard {
    name: String,
}

impl Drop for NodeGuard {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let client = client().await;
                let _ = Api::<k8s_openapi::api::core::v1::Node>::all(client)
                    .delete(&name, &Default::default())
                    .await;
            });
        })
        .join();
    }
}

/// Adds a kwok node `name` in `zone` with `cpu` CPUs, 32Gi of memory, the extra `labels`
/// and `taints` (as JSON), and waits until kwok made it Ready. Tests that add nodes change the
/// scheduler's "0/N nodes" messages of tests beside them: give them a test binary of their own.
pub async fn add_node(
    client: &kube::Client,
    name: &str,
    zone: &str,
    cpu: &str,
    labels: serde_json::Value,
    taints: serde_json::Value,
) -> NodeGuard {
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let mut all_labels = serde_json::json!({
        "type": "kwok",
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "topology.kubernetes.io/zone": zone,
    });
    if let (Some(all), Some(extra)) = (all_labels.as_object_mut(), labels.as_object()) {
        all.extend(extra.clone());
    }
    // Registered with its capacity in one request, as a kubelet registers its node: a node
    // that first appears empty and grows later can leave a waiting pod in the scheduler's
    // unschedulable queue until its periodic flush (minutes).
    let resources = serde_json::json!({"cpu": cpu, "memory": "32Gi", "pods": "110"});
    let node: k8s_openapi::api::core::v1::Node = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "labels": all_labels,
            "annotations": {
                "kwok.x-k8s.io/node": "fake",
                crate::objects::RESOURCE_METRICS_PATH: crate::objects::resource_metrics_path(name),
            }},
        "spec": {"taints": taints},
        "status": {"allocatable": resources, "capacity": resources},
    }))
    .expect("a Node object");
    // A node of that name left by a test that was killed goes first.
    if nodes.get_opt(name).await.ok().flatten().is_some() {
        let _ = nodes.delete(name, &Default::default()).await;
        let start = std::time::Instant::now();
        while nodes.get_opt(name).await.ok().flatten().is_some() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60),
                "an old node {name} does not go away"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    }
    nodes
        .create(&kube::api::PostParams::default(), &node)
        .await
        .unwrap_or_else(|e| panic!("create node {name}: {e}"));
    let guard = NodeGuard { name: name.into() };
    // kwok makes it Ready, as it does every node; then the node controller lifts its
    // `node.kubernetes.io/not-ready` taint (which the scheduler would otherwise quote).
    let start = std::time::Instant::now();
    loop {
        let node = nodes.get(name).await.ok();
        let ready = node
            .as_ref()
            .and_then(|n| n.status.as_ref())
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let untainted = node
            .as_ref()
            .and_then(|n| n.spec.as_ref())
            .and_then(|s| s.taints.as_ref())
            .is_none_or(|t| !t.iter().any(|t| t.key.starts_with("node.kubernetes.io/")));
        if ready && untainted {
            return guard;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "node {name} never became Ready and untainted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
