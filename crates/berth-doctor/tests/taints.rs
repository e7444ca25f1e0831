//! End-to-end: a node group reserved by a taint, and a workload that selects it without the
//! toleration (the Molecule-on-its-own-node-group case), diagnosed on the real scheduler.
//!
//! A test binary of its own: it adds a fourth node, which would change the scheduler's
//! "0/3 nodes are available" in the messages of tests running beside it (test binaries run one
//! after another).

mod common;

use common::*;

const NODE: &str = "berth-test-dedicated";

#[tokio::test]
async fn node_group_reserved_by_a_taint() {
    let (client, ns) = setup("doctor-taint").await;
    let guard = berth_local::testing::add_node(
        &client,
        NODE,
        "local-a",
        "8",
        serde_json::json!({"berth.dev/pool": "molecule"}),
        serde_json::json!([{"key": "dedicated", "value": "molecule", "effect": "NoSchedule"}]),
    )
    .await;
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
