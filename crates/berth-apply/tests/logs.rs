//! `Cluster::pod_log_tail` on the local test cluster: the last lines of a pod's log come back
//! through the API server with the stack's secret values redacted; a pod with no log to show
//! gives no lines and no error.

mod common;

use base64::Engine;
use berth_apply::Redactor;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde_json::json;
use std::time::Duration;

const PASSWORD: &str = "pw-logs-test-5521";

#[tokio::test]
async fn the_tail_of_an_unready_pods_log_comes_back_redacted() {
    let cluster = common::cluster().await;
    let client = berth_local::testing::client().await;
    let ns = berth_local::testing::namespace(&client, "logtail").await;
    // Playing the container: the lines it printed, one with the stack's secret value.
    berth_local::testing::serve_logs(
        &client,
        &ns,
        "api",
        "app",
        &[
            "starting",
            &format!("connecting to postgres://app:{PASSWORD}@db:5432/app"),
            "database not reachable yet, retrying",
        ],
    )
    .await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    for (name, state) in [("api", "not-ready"), ("quiet", "not-ready")] {
        let pod: Pod = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": {"berth.dev/test-state": state}},
            "spec": {"containers": [
                {"name": "app", "image": "registry.example.com/api:1.0.0"}]}
        }))
        .unwrap();
        pods.create(&PostParams::default(), &pod).await.unwrap();
    }
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
        "data": {"password": base64::engine::general_purpose::STANDARD.encode(PASSWORD)}});
    let redactor = Redactor::from_objects([&secret]);

    // kwok picks up the pod and the Logs object within moments.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let lines = loop {
        let lines = cluster
            .pod_log_tail(&ns, "api", None, 2, &redactor)
            .await
            .expect("log tail");
        if !lines.is_empty() {
            break lines;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the log of pod api never came back"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(
        lines,
        [
            "connecting to postgres://app:<redacted>@db:5432/app",
            "database not reachable yet, retrying"
        ]
    );
    // The container named explicitly gives the same.
    let named = cluster
        .pod_log_tail(&ns, "api", Some("app"), 5, &redactor)
        .await
        .unwrap();
    assert_eq!(named.len(), 3, "{named:?}");
    assert!(named.iter().all(|l| !l.contains(PASSWORD)), "{named:?}");

    // Must not fail: a pod whose node serves no log, and a pod that does not exist.
    let quiet = cluster.pod_log_tail(&ns, "quiet", None, 5, &redactor).await;
    assert_eq!(quiet.ok(), Some(Vec::new()));
    let gone = cluster.pod_log_tail(&ns, "gone", None, 5, &redactor).await;
    assert_eq!(gone.ok(), Some(Vec::new()));

    berth_local::testing::delete_namespace(&client, &ns).await;
}
