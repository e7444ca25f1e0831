//! End-to-end: the API server dies in the middle of an `up` of 300 objects. A blip (it comes
//! back on the same address 10 s later) is ridden out and `up` ends healthy; a lasting outage
//! ends `up` with the cluster named (exit 3) within the outage grace plus a few seconds, not
//! at `--timeout` with the objects blamed; once the server is back, `up` converges and a
//! further `up` changes nothing.
//!
//! A test binary of its own with a cluster of its own: it kills that cluster's kube-apiserver,
//! which would cut off every test beside it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use berth_apply::up::{self, object_from_value};
use berth_apply::{Cluster, ConnectOptions, Error, ErrorClass, Event, Target, UpOptions};
use berth_model::{Object, Profile};
use serde_json::json;

/// Stops this test's cluster when dropped, also when the test fails.
struct ClusterGuard(String);
impl Drop for ClusterGuard {
    fn drop(&mut self) {
        let name = self.0.clone();
        let _ = berth_local::down(&name, Duration::from_secs(5), true);
    }
}

fn options(name: &str) -> berth_local::Options {
    berth_local::Options {
        name: name.into(),
        ..berth_local::Options::default()
    }
}

/// SIGKILLs the cluster's kube-apiserver.
fn kill_apiserver(status: &berth_local::Status) {
    let (proc, _) = status
        .processes
        .iter()
        .find(|(p, _)| p.name == "kube-apiserver")
        .expect("a kube-apiserver process");
    let ok = std::process::Command::new("kill")
        .args(["-KILL", &proc.pid.to_string()])
        .status()
        .expect("kill");
    assert!(ok.success(), "could not kill kube-apiserver");
}

/// 300 ConfigMaps and a Deployment whose pod crashes once and then runs (so `up` is still
/// waiting when the server dies), in `ns`.
fn stack(ns: &str, revision: &str) -> Vec<Object> {
    let mut all = vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})];
    for i in 0..300 {
        all.push(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("cm-{i}"), "namespace": ns}, "data": {"revision": revision}}));
    }
    all.push(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "app", "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "app"}},
            "template": {"metadata": {"labels": {"app": "app"}, "annotations": {
                    "berth.dev/test-state": "crash-once", "berth.dev/test-restarts": "1", "revision": revision}},
                "spec": {"containers": [{"name": "app", "image": "registry.example.com/app:1.0.0",
                    "envFrom": [{"configMapRef": {"name": "cm-0"}}]}]}}}}));
    all.into_iter()
        .map(|v| object_from_value(v, "app"))
        .collect()
}

async fn run_up(
    cluster: &Cluster,
    ns: &str,
    objects: &[Object],
) -> Result<berth_apply::UpReport, Error> {
    let values = BTreeMap::new();
    let sink = |_e: Event| {};
    let target = Target {
        stack: "outage",
        namespace: ns,
        objects,
        components: &[],
        values: &values,
        profile: Profile::Local,
    };
    let opts = UpOptions {
        timeout: Duration::from_secs(240),
        apply: berth_apply::apply::ApplyOptions {
            concurrency: 4,
            ..Default::default()
        },
        ..UpOptions::default()
    };
    up::up(
        cluster,
        target,
        &opts,
        &berth_apply::BerthHealth::default(),
        &sink,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn up_rides_out_a_blip_and_names_the_cluster_when_it_stays_away() {
    berth_apply::install_crypto_provider();
    let name = format!("outage-{}", std::process::id());
    let opts = options(&name);
    let status = berth_local::up(&opts)
        .await
        .expect("start the test's own cluster");
    let _guard = ClusterGuard(name.clone());
    let mut cluster = Cluster::connect(&ConnectOptions {
        kubeconfig: Some(status.kubeconfig.clone()),
        context: None,
    })
    .await
    .expect("connect");
    // Settable; short here so the test does not wait 30 s for the lasting outage.
    cluster.outage_grace = Duration::from_secs(20);

    // 1. A blip: killed mid-run, back on the same address 10 s later. (The run and the
    // fault go side by side in this task: `up`'s future is not `Send` for tokio::spawn.)
    let ns = "outage";
    let first = stack(ns, "1");
    let (blip, repaired) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(180), run_up(&cluster, ns, &first)),
        async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            kill_apiserver(&status);
            tokio::time::sleep(Duration::from_secs(10)).await;
            berth_local::up(&opts).await.expect("repair the cluster")
        }
    );

    // 2. A lasting outage: killed while the objects are being applied, and left down.
    let second = stack(ns, "2");
    let (lasting, killed) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(120), run_up(&cluster, ns, &second)),
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            kill_apiserver(&repaired);
            Instant::now()
        }
    );
    let gave_up_after = killed.elapsed();

    // 3. Back again: up converges, and a further up changes nothing.
    berth_local::up(&opts)
        .await
        .expect("repair the cluster again");
    let converged = run_up(&cluster, ns, &second).await;
    let again = run_up(&cluster, ns, &second).await;

    assert_eq!(
        repaired.server, status.server,
        "the repaired cluster moved to another address"
    );
    blip.expect("up hung after the blip")
        .expect("up must ride out a 10 s outage");
    let err = lasting
        .expect("up hung in the outage")
        .expect_err("a lasting outage fails");
    assert_eq!(err.class(), ErrorClass::Cluster, "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&status.server)
            && text.contains("lost the connection")
            && text.contains("objects applied"),
        "{text}"
    );
    // Not a timing assertion on berth's speed: it must end on the outage grace (20 s), long
    // before its 240 s timeout.
    assert!(
        gave_up_after < Duration::from_secs(45),
        "gave up only after {gave_up_after:?}"
    );
    converged.expect("up after the outage");
    let again = again.expect("a further up");
    assert_eq!((again.created, again.configured), (0, 0), "{again:?}");
}
