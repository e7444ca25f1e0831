//! End-to-end: a node group reserved by a taint, and a workload that selects it without the
//! toleration (the Molecule-on-its-own-node-group case), diagnosed on the real scheduler.
//!
//! A test binary of its own: it adds a fourth node, which would change the scheduler's
//! "0/3 nodes are available" in the messages of tests running beside it (test binaries run one
//! after another).

mod common;

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};

use common::*;

const NODE: &str = "berth-test-dedicated";

/// Deletes the extra node when dropped, also when the test fails.
struct NodeGuard;

impl Drop for NodeGuard {
    fn drop(&mut self) {
        let _ = std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let client = berth_local::testing::client().await;
                let _ = Api::<Node>::all(client)
                    .delete(NODE, &Default::default())
                    .await;
            });
        })
        .join();
    }
}

async fn dedicated_node(client: &kube::Client) -> NodeGuard {
    let nodes: Api<Node> = Api::all(client.clone());
    let node = serde_json::json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": NODE,
            "labels": {
                "type": "kwok",
                "kubernetes.io/hostname": NODE,
                "kubernetes.io/os": "linux",
                "topology.kubernetes.io/zone": "local-a",
                "berth.dev/pool": "molecule",
            },
            "annotations": {"kwok.x-k8s.io/node": "fake"},
        },
        "spec": {"taints": [{"key": "dedicated", "value": "molecule", "effect": "NoSchedule"}]},
    });
    let params = PatchParams::apply("berth-test").force();
    nodes
        .patch(NODE, &params, &Patch::Apply(&node))
        .await
        .expect("create the node");
    let guard = NodeGuard;
    let resources = serde_json::json!({"cpu": "8", "memory": "32Gi", "pods": "110"});
    nodes
        .patch_status(
            NODE,
            &params,
            &Patch::Apply(serde_json::json!({
                "apiVersion": "v1", "kind": "Node",
                "status": {"allocatable": resources, "capacity": resources},
            })),
        )
        .await
        .expect("set the node's capacity");
    // kwok makes it Ready, as it does every node.
    let start = Instant::now();
    loop {
        let ready = nodes
            .get(NODE)
            .await
            .ok()
            .and_then(|n| n.status)
            .and_then(|s| s.conditions)
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        if ready {
            return guard;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{NODE} never became Ready"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn node_group_reserved_by_a_taint() {
    let (client, ns) = setup("doctor-taint").await;
    let guard = dedicated_node(&client).await;
    let yaml = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: molecule, namespace: NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: molecule}}
  template:
    metadata: {labels: {app: molecule}}
    spec:
      nodeSelector: {berth.dev/pool: molecule}
      containers:
        - name: atom
          image: boomi/molecule:5.0.1
          resources: {requests: {cpu: 500m, memory: 1Gi}}
"#;
    let objects = stack(yaml, &ns);
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| {
        ds.iter()
            .any(|d| d.id == "unschedulable" && d.cause.contains("carry taints"))
    })
    .await;
    // The node goes before any assertion can fail.
    drop(guard);
    assert_eq!(ids(&ds), ["unschedulable"]);
    assert!(
        ds[0]
            .cause
            .contains("the nodes its node selector picks (berth-test-dedicated) carry taints it does not tolerate (dedicated=molecule:NoSchedule)"),
        "{}",
        ds[0].cause
    );
    let text = render(&ds);
    settings(&ns).bind(|| insta::assert_snapshot!("taint", text));
    cleanup(&client, &[&ns]).await;
}
