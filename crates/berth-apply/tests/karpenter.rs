//! End-to-end: `up` and the real Karpenter (its kwok build) on berth's local cluster started
//! with `--autoscaler karpenter`, whose fixed nodes are small (1 CPU) so the test's pods need
//! nodes Karpenter launches. Nothing here plays Karpenter's part: its events, NodeClaims and
//! nodes are its own.
//!
//! A test binary of its own: it uses the Karpenter test cluster
//! (`<BERTH_TEST_CLUSTER>-karpenter`), never the shared one, where a node autoscaler would
//! change how every other test's unschedulable pods are treated.

mod common;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth_apply::up::{self, object_from_value};
use berth_apply::{Cluster, ConnectOptions, Error, Event, Target, UpOptions};
use berth_local::karpenter::{NODEPOOL_LABEL, adapt_node_pool, node_claims, node_pools};
use berth_model::{Object, Profile};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

/// Label of the test's own NodePool; its pods select it, so no other pool (the default one,
/// another test's) and no fixed node can take them.
const POOL_KEY: &str = "berth.dev/test-pool";

async fn connect() -> Cluster {
    berth_apply::install_crypto_provider();
    Cluster::connect(&ConnectOptions {
        kubeconfig: Some(berth_local::testing::karpenter_kubeconfig()),
        context: None,
    })
    .await
    .expect("connect to the local Karpenter test cluster")
}

/// A NodePool `name` for this test: nodes labelled `POOL_KEY=name`, in the cluster's zones,
/// consolidated after 5 seconds empty or underused (short, so the test sees it).
fn test_pool(name: &str) -> Value {
    let opts = berth_local::testing::karpenter_options();
    let mut pool = berth_local::karpenter::default_node_pool(&opts);
    pool["metadata"] = json!({"name": name});
    pool["spec"]["template"]["metadata"] = json!({"labels": {POOL_KEY: name}});
    pool["spec"]["disruption"]["consolidateAfter"] = json!("5s");
    pool["spec"]["limits"] = json!({"cpu": "32"});
    pool
}

async fn apply_pool(client: &kube::Client, pool: &Value) {
    let opts = berth_local::testing::karpenter_options();
    let (pool, _) = adapt_node_pool(pool, &opts.zones);
    let name = pool["metadata"]["name"].as_str().unwrap().to_string();
    node_pools(client)
        .patch(
            &name,
            &PatchParams::apply("berth-test").force(),
            &Patch::Apply(&pool),
        )
        .await
        .unwrap_or_else(|e| panic!("apply NodePool {name}: {e}"));
}

/// Deletes the test's NodePool when dropped (Karpenter then removes its nodes), also when the
/// test fails.
struct PoolGuard(String);
impl Drop for PoolGuard {
    fn drop(&mut self) {
        let name = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let client = berth_local::testing::karpenter_client().await;
                let _ = node_pools(&client)
                    .delete(&name, &DeleteParams::default())
                    .await;
            });
        })
        .join();
    }
}

/// A Deployment of `replicas` pods that each ask for 1.5 CPUs (more than a fixed node has)
/// and select `selector`.
fn workload(ns: &str, replicas: i32, selector: Value) -> Vec<Object> {
    [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "work", "namespace": ns},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "work"}},
                "template": {"metadata": {"labels": {"app": "work"}},
                    "spec": {"nodeSelector": selector,
                        "containers": [{"name": "c", "image": "registry.example.com/work:1.0.0",
                            "resources": {"requests": {"cpu": "1500m", "memory": "1Gi"}}}]}}}}),
    ]
    .into_iter()
    .map(|v| object_from_value(v, "app"))
    .collect()
}

/// `berth up` of `objects`, with the messages it reported while waiting.
async fn run_up(
    cluster: &Cluster,
    ns: &str,
    objects: &[Object],
    grace: Duration,
) -> (Result<berth_apply::UpReport, Error>, Vec<String>) {
    let values = BTreeMap::new();
    let waiting = Mutex::new(Vec::new());
    let sink = |e: Event| {
        if let Event::Waiting { message, .. } = e {
            waiting.lock().unwrap().push(message);
        }
    };
    let target = Target {
        stack: "karpenter",
        namespace: ns,
        objects,
        components: &[],
        values: &values,
        profile: Profile::Local,
    };
    let opts = UpOptions {
        timeout: Duration::from_secs(300),
        autoscaler_grace: grace,
        ..UpOptions::default()
    };
    let result = up::up(cluster, target, &opts, common::rules(), &sink).await;
    (result, waiting.into_inner().unwrap())
}

/// The nodes Karpenter launched for NodePool `pool`.
async fn pool_nodes(client: &kube::Client, pool: &str) -> Vec<Node> {
    Api::<Node>::all(client.clone())
        .list(&ListParams::default().labels(&format!("{NODEPOOL_LABEL}={pool}")))
        .await
        .expect("list nodes")
        .items
}

fn ready(node: &Node) -> bool {
    node.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

fn name(node: &Node) -> String {
    node.metadata.name.clone().unwrap_or_default()
}

/// Must act: pending pods make Karpenter launch a node; `up` waits for it (it reports
/// Karpenter's nomination) and ends healthy; when the pods go, the node is consolidated
/// away, and the fixed nodes (the system pool) stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_pods_get_a_karpenter_node_that_goes_when_they_go() {
    let cluster = connect().await;
    let client = berth_local::testing::karpenter_client().await;
    let ns = berth_local::testing::namespace(&client, "karpenter-up").await;
    let pool = ns.clone();
    apply_pool(&client, &test_pool(&pool)).await;
    let _pool = PoolGuard(pool.clone());
    let fixed_before: Vec<String> = Api::<Node>::all(client.clone())
        .list(&ListParams::default().labels(berth_local::objects::OWNED_LABEL))
        .await
        .expect("list the fixed nodes")
        .items
        .iter()
        .map(name)
        .collect();

    // A grace far longer than the test: only Karpenter's answer can end the wait early.
    let objects = workload(&ns, 2, json!({POOL_KEY: pool}));
    let (result, waiting) = run_up(&cluster, &ns, &objects, Duration::from_secs(600)).await;
    result.expect("up ends healthy once Karpenter's node runs the pods");
    assert!(
        waiting
            .iter()
            .any(|m| m.contains("waiting for a new node: Karpenter is launching nodeclaim/")),
        "up never reported Karpenter's nomination: {waiting:#?}"
    );

    // The pods run on a Ready node of the test's pool, of an instance type Karpenter chose.
    let nodes = pool_nodes(&client, &pool).await;
    assert!(!nodes.is_empty(), "no node of NodePool {pool}");
    assert!(nodes.iter().all(ready));
    let pods = Api::<Pod>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .expect("list pods");
    for p in &pods.items {
        let on = p.spec.as_ref().and_then(|s| s.node_name.clone());
        assert!(
            on.as_ref()
                .is_some_and(|on| nodes.iter().any(|n| name(n) == *on)),
            "pod {:?} runs on {on:?}, not on a node of {pool}",
            p.metadata.name
        );
    }
    let instance_type = nodes[0]
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("node.kubernetes.io/instance-type").cloned())
        .unwrap_or_default();
    assert!(instance_type.ends_with("-amd64-linux"), "{instance_type}");
    // It names the path of its resource metrics, as berth's own nodes do, so metrics-server
    // (and the HPA) see its pods' usage.
    for n in &nodes {
        let path = n
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(berth_local::objects::RESOURCE_METRICS_PATH).cloned());
        assert_eq!(
            path.as_deref(),
            Some(berth_local::objects::resource_metrics_path(&name(n)).as_str()),
            "node {} has no resource-metrics path",
            name(n)
        );
    }

    // The pods go (scaled to 0): Karpenter consolidates the node away.
    Api::<Deployment>::namespaced(client.clone(), &ns)
        .patch(
            "work",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 0}})),
        )
        .await
        .expect("scale to 0");
    let start = Instant::now();
    loop {
        let left = pool_nodes(&client, &pool).await;
        if left.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "Karpenter kept {:?} after the pods went",
            left.iter().map(name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let claims = node_claims(&client)
        .list(&ListParams::default().labels(&format!("{NODEPOOL_LABEL}={pool}")))
        .await
        .expect("list NodeClaims");
    assert!(
        claims
            .items
            .iter()
            .all(|c| c.metadata.deletion_timestamp.is_some()),
        "NodeClaims left: {:?}",
        claims
            .items
            .iter()
            .map(|c| &c.metadata.name)
            .collect::<Vec<_>>()
    );
    // Must not: the fixed nodes are no NodePool's, and consolidation leaves them alone.
    let fixed_after: Vec<String> = Api::<Node>::all(client.clone())
        .list(&ListParams::default().labels(berth_local::objects::OWNED_LABEL))
        .await
        .expect("list the fixed nodes")
        .items
        .iter()
        .map(name)
        .collect();
    assert_eq!(fixed_after, fixed_before);
    berth_local::testing::delete_namespace(&client, &ns).await;
}

/// Must not wait: a pod no NodePool can host (it asks for s390x nodes; every pool here offers
/// amd64 only) fails at once with Karpenter's own reason, long before the autoscaler grace
/// period ends, and Karpenter nominates no node for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pod_no_nodepool_can_host_fails_fast_with_karpenters_reason() {
    let cluster = connect().await;
    let client = berth_local::testing::karpenter_client().await;
    let ns = berth_local::testing::namespace(&client, "karpenter-refused").await;
    let objects = workload(&ns, 1, json!({"kubernetes.io/arch": "s390x"}));
    let started = Instant::now();
    let (result, _) = run_up(&cluster, &ns, &objects, Duration::from_secs(600)).await;
    let took = started.elapsed();
    let err = result.expect_err("a pod no NodePool can host fails");
    let text = err.to_string();
    assert!(
        text.contains("no node can run the pod")
            && text.contains("Karpenter will not add one")
            && text.contains("incompatible requirements")
            && text.contains("kubernetes.io/arch In [s390x]"),
        "{text}"
    );
    // Not a timing assertion on berth's speed: it must end on Karpenter's answer, not on the
    // 600s grace (nor the 300s timeout).
    assert!(
        took < Duration::from_secs(290),
        "failed only after {took:?}"
    );
    let events = Api::<k8s_openapi::api::core::v1::Event>::namespaced(client.clone(), &ns)
        .list(&ListParams::default())
        .await
        .expect("list events");
    assert!(
        !events
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("Nominated")),
        "Karpenter nominated a node for a pod it refused"
    );
    berth_local::testing::delete_namespace(&client, &ns).await;
}
