//! End-to-end: `up` and a node autoscaler, on berth's local cluster. The real cluster-autoscaler
//! cannot run here (its module is not available and there is no cloud), so the test plays its
//! part: a `cluster-autoscaler` Deployment in kube-system (what berth looks for), the Events it
//! writes on pods (`TriggeredScaleUp`, `NotTriggerScaleUp`), and the node it adds.
//!
//! A test binary of its own, and one test: the autoscaler's Deployment changes how every `up`
//! beside it treats unschedulable pods, and the added node changes the scheduler's messages.

mod common;

use common::unique;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use berth_apply::up::{self, object_from_value};
use berth_apply::{Cluster, Error, Event, Target, UpOptions};
use berth_model::{Object, Profile};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event as CoreEvent, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

/// A Deployment whose one pod asks for 12 CPUs: more than any of the local cluster's 8-CPU
/// nodes has, so it stays unschedulable until a bigger node comes.
fn big(ns: &str) -> Vec<Object> {
    [
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "big", "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "big"}},
                "template": {"metadata": {"labels": {"app": "big"}},
                    "spec": {"containers": [{"name": "c", "image": "registry.example.com/big:1.0.0",
                        "resources": {"requests": {"cpu": "12"}}}]}}}}),
    ]
    .into_iter()
    .map(|v| object_from_value(v, "app"))
    .collect()
}

async fn run_up(cluster: &Cluster, ns: &str, grace: u64) -> Result<berth_apply::UpReport, Error> {
    let objects = big(ns);
    let values = BTreeMap::new();
    let sink = |_e: Event| {};
    let target = Target {
        stack: "big",
        namespace: ns,
        objects: &objects,
        components: &[],
        values: &values,
        profile: Profile::Local,
    };
    let opts = UpOptions {
        timeout: Duration::from_secs(180),
        autoscaler_grace: Duration::from_secs(grace),
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

/// The unschedulable pod of `ns`, once the scheduler said so.
async fn unschedulable_pod(client: &kube::Client, ns: &str) -> Pod {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
    loop {
        let found = pods.list(&ListParams::default()).await.ok().and_then(|l| {
            l.items.into_iter().find(|p| {
                p.status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|c| {
                        c.iter().any(|c| {
                            c.type_ == "PodScheduled"
                                && c.reason.as_deref() == Some("Unschedulable")
                        })
                    })
            })
        });
        if let Some(p) = found {
            return p;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no pod became unschedulable in {ns}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Writes the Event cluster-autoscaler writes on a pod.
async fn autoscaler_event(client: &kube::Client, pod: &Pod, reason: &str, message: &str) {
    let ns = pod.metadata.namespace.clone().unwrap_or_default();
    let now =
        k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::now());
    let event: CoreEvent = serde_json::from_value(json!({
        "metadata": {"name": unique("ca-event"), "namespace": ns},
        "involvedObject": {"kind": "Pod", "apiVersion": "v1", "namespace": ns,
            "name": pod.metadata.name, "uid": pod.metadata.uid},
        "reason": reason, "message": message, "type": "Normal", "count": 1,
        "source": {"component": "cluster-autoscaler"},
        "firstTimestamp": now, "lastTimestamp": now,
    }))
    .expect("event");
    Api::<CoreEvent>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &event)
        .await
        .expect("write the autoscaler's event");
}

/// Deletes the stand-in autoscaler when dropped, also when the test fails.
struct AutoscalerGuard;
impl Drop for AutoscalerGuard {
    fn drop(&mut self) {
        let _ = std::thread::spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let client = berth_local::testing::client().await;
                let _ = Api::<Deployment>::namespaced(client, "kube-system")
                    .delete("cluster-autoscaler", &Default::default())
                    .await;
            });
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn up_waits_for_a_scale_up_and_stops_on_a_refusal_or_silence() {
    let cluster = common::cluster().await;
    let client = berth_local::testing::client().await;
    // The autoscaler's install, as its Helm chart would name it (no pods needed).
    let ca = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "cluster-autoscaler", "namespace": "kube-system"},
        "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "cluster-autoscaler"}},
            "template": {"metadata": {"labels": {"app": "cluster-autoscaler"}},
                "spec": {"containers": [{"name": "ca", "image": "registry.k8s.io/autoscaling/cluster-autoscaler:v1.34.0"}]}}}});
    berth_local::testing::apply(&client, [&ca]).await;
    let _ca = AutoscalerGuard;

    // 1. A scale-up is answered: up keeps waiting, and exits 0 once the new node is there.
    // (The run and the autoscaler's part go side by side in this task.)
    let ns = unique("scale-up");
    let finished = std::sync::atomic::AtomicBool::new(false);
    let (scaled, (still_waiting, node)) = tokio::join!(
        async {
            let r = tokio::time::timeout(Duration::from_secs(150), run_up(&cluster, &ns, 5)).await;
            finished.store(true, std::sync::atomic::Ordering::SeqCst);
            r
        },
        async {
            let pod = unschedulable_pod(&client, &ns).await;
            autoscaler_event(
                &client,
                &pod,
                "TriggeredScaleUp",
                "pod triggered scale-up: [{berth-test-big 0->1 (max: 3)}]",
            )
            .await;
            // Well past the 5s grace period: the answer keeps it waiting.
            tokio::time::sleep(Duration::from_secs(8)).await;
            let still_waiting = !finished.load(std::sync::atomic::Ordering::SeqCst);
            let node = berth_local::testing::add_node(
                &client,
                "berth-test-big",
                "local-a",
                "16",
                json!({}),
                json!([]),
            )
            .await;
            (still_waiting, node)
        }
    );
    drop(node);
    berth_local::testing::delete_namespace(&client, &ns).await;

    // 2. The autoscaler refuses: up stops at once with its reason.
    let ns2 = unique("no-scale-up");
    let reason = "pod didn't trigger scale-up: 1 Insufficient cpu, 1 max node group size reached";
    let (refused, asked) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(120), run_up(&cluster, &ns2, 60)),
        async {
            let pod = unschedulable_pod(&client, &ns2).await;
            let asked = Instant::now();
            autoscaler_event(&client, &pod, "NotTriggerScaleUp", reason).await;
            asked
        }
    );
    let refused_after = asked.elapsed();
    berth_local::testing::delete_namespace(&client, &ns2).await;

    // 3. The autoscaler stays silent: up stops when the grace period is over.
    let ns3 = unique("silent");
    let silent = run_up(&cluster, &ns3, 3).await;
    berth_local::testing::delete_namespace(&client, &ns3).await;

    assert!(still_waiting, "up did not wait for the scale-up");
    scaled
        .expect("up did not finish after the node came")
        .expect("up must be healthy once the new node runs the pod");
    let err = refused
        .expect("up kept waiting after the refusal")
        .expect_err("a refused scale-up fails");
    let text = err.to_string();
    assert!(
        text.contains("cluster-autoscaler will not add one")
            && text.contains("max node group size reached"),
        "{text}"
    );
    // Not a timing assertion on berth's speed: it must end on the refusal, not the 60s grace.
    assert!(
        refused_after < Duration::from_secs(50),
        "failed only after {refused_after:?}"
    );
    let err = silent.expect_err("a silent autoscaler fails after the grace period");
    assert!(
        err.to_string().contains("did not answer within 3s"),
        "{err}"
    );
}
