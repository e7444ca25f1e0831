//! End-to-end tests of how `up` waits for rollouts, on berth's local cluster: the wait follows
//! the current revision (a fix is accepted while the old pods still terminate), workloads
//! selected by `matchExpressions` fail fast, the failure budget rides out one crash and stops a
//! crash loop or a pull that keeps failing, and an HPA target starts at the HPA's minimum.
//!
//! kwok plays the kubelet: pods annotated `berth.dev/test-state` move through failure states
//! (see berth-local's stages); the ReplicaSet, Deployment and HPA controllers are the real ones.

mod common;

use common::{cluster, rules, unique};

use std::collections::BTreeMap;
use std::time::Duration;

use berth_apply::up::{self, object_from_value};
use berth_apply::{Cluster, Error, Event, Target, UpOptions};
use berth_model::{Object, Profile};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, Patch, PatchParams};
use serde_json::{Value, json};

fn opts(timeout: u64) -> UpOptions {
    UpOptions {
        timeout: Duration::from_secs(timeout),
        ..UpOptions::default()
    }
}

/// A Deployment `app` in `ns` whose pods carry `pod_annotations` (kwok test states) and
/// `finalizers`, selected by `selector`.
fn deployment(
    ns: &str,
    replicas: i64,
    selector: Value,
    pod_meta: Value,
    annotations: Value,
) -> Value {
    let mut meta = json!({"labels": {"app": "app", "tier": "web"}});
    if let (Some(m), Some(extra)) = (meta.as_object_mut(), pod_meta.as_object()) {
        for (k, v) in extra {
            m.insert(k.clone(), v.clone());
        }
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "app", "namespace": ns, "annotations": annotations},
        "spec": {"replicas": replicas, "selector": selector,
            "template": {"metadata": meta,
                "spec": {"containers": [{"name": "app", "image": "registry.example.com/shop/app:1.0.0"}]}}}})
}

fn stack(ns: &str, objects: Vec<Value>) -> Vec<Object> {
    let mut all = vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})];
    all.extend(objects);
    all.into_iter()
        .map(|v| object_from_value(v, "app"))
        .collect()
}

async fn run_up(
    cluster: &Cluster,
    name: &str,
    ns: &str,
    objects: &[Object],
    timeout: u64,
) -> Result<berth_apply::UpReport, Error> {
    let values = BTreeMap::new();
    let sink = |e: Event| {
        if let Event::Applied { object, action } = &e
            && *action != berth_apply::Action::Unchanged
        {
            eprintln!("{name}: {object} {action:?}");
        }
    };
    let target = Target {
        stack: name,
        namespace: ns,
        objects,
        components: &[],
        values: &values,
        profile: Profile::Local,
    };
    up::up(cluster, target, &opts(timeout), rules(), &sink).await
}

fn match_labels() -> Value {
    json!({"matchLabels": {"app": "app"}})
}

/// Removes the test finalizer from every pod of `ns`, so the namespace can go.
async fn release_pods(cluster: &Cluster, ns: &str) {
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), ns);
    if let Ok(list) = pods.list(&ListParams::default()).await {
        for p in list.items {
            let name = p.metadata.name.unwrap_or_default();
            let patch = json!({"metadata": {"finalizers": null}});
            let _ = pods
                .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await;
        }
    }
    berth_local::testing::delete_namespace(&cluster.client, ns).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fix_is_accepted_while_the_old_crash_looping_pods_still_terminate() {
    let cluster = cluster().await;
    let ns = unique("fix");
    // The pods keep a finalizer, so the old ReplicaSet's pods linger after the fix the way
    // pods on a real cluster linger through their grace period.
    let linger = json!({"finalizers": ["berth.test/linger"]});
    let mut crashing_meta = linger.clone();
    crashing_meta["annotations"] = json!({"berth.dev/test-state": "crash-loop"});
    let broken = stack(
        &ns,
        vec![deployment(&ns, 2, match_labels(), crashing_meta, json!({}))],
    );
    let err = run_up(&cluster, "fix", &ns, &broken, 120)
        .await
        .expect_err("a crash loop fails");
    assert!(
        matches!(&err, Error::Unhealthy { message, .. } if message.contains("keeps crashing")),
        "{err}"
    );

    let fixed = stack(
        &ns,
        vec![deployment(&ns, 2, match_labels(), linger, json!({}))],
    );
    let result = run_up(&cluster, "fix", &ns, &fixed, 120).await;

    // Evidence that the old pods were still there when the fix was judged healthy.
    let pods: Api<Pod> = Api::namespaced(cluster.client.clone(), &ns);
    let lingering = pods
        .list(&ListParams::default())
        .await
        .expect("list pods")
        .items
        .into_iter()
        .filter(|p| {
            p.metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key("berth.dev/test-state"))
        })
        .count();
    release_pods(&cluster, &ns).await;
    let report = result.expect("the fixed stack must be healthy although old pods crash-loop");
    assert_eq!(report.revision, 2);
    assert!(
        lingering >= 1,
        "no pod of the old revision lingered: the test proved nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workload_selected_by_match_expressions_fails_fast_on_a_crash_loop() {
    let cluster = cluster().await;
    let ns = unique("exprs");
    let selector = json!({"matchExpressions": [
        {"key": "app", "operator": "In", "values": ["app"]},
        {"key": "tier", "operator": "Exists"}]});
    let pod_meta = json!({"annotations": {"berth.dev/test-state": "crash-loop"}});
    let objects = stack(&ns, vec![deployment(&ns, 1, selector, pod_meta, json!({}))]);
    let started = std::time::Instant::now();
    let err = run_up(&cluster, "exprs", &ns, &objects, 240)
        .await
        .expect_err("must fail");
    berth_local::testing::delete_namespace(&cluster.client, &ns).await;
    assert!(
        matches!(&err, Error::Unhealthy { message, .. } if message.contains("keeps crashing")),
        "{err}"
    );
    // Not a timing assertion: the run ended on the crash loop, not at its timeout.
    assert!(
        started.elapsed() < Duration::from_secs(200),
        "failed only at the timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_crash_is_within_the_budget_and_a_crash_loop_beyond_it_is_not() {
    let cluster = cluster().await;
    let ns = unique("budget");
    // One replica crashes once (1 failure, 1 allowed) and then runs: healthy.
    let once = json!({"annotations": {"berth.dev/test-state": "crash-once", "berth.dev/test-restarts": "1"}});
    let objects = stack(
        &ns,
        vec![deployment(&ns, 1, match_labels(), once.clone(), json!({}))],
    );
    let report = run_up(&cluster, "budget", &ns, &objects, 120).await;
    // The same crash with a budget of zero fails.
    let ns0 = unique("budget0");
    let strict = stack(
        &ns0,
        vec![deployment(
            &ns0,
            1,
            match_labels(),
            once,
            json!({"berth.dev/failures-allowed": "0"}),
        )],
    );
    let zero = run_up(&cluster, "budget0", &ns0, &strict, 120).await;
    // Crashing five times is beyond the budget of one.
    let ns5 = unique("budget5");
    let five = json!({"annotations": {"berth.dev/test-state": "crash-loop", "berth.dev/test-restarts": "5"}});
    let looping = stack(
        &ns5,
        vec![deployment(&ns5, 1, match_labels(), five, json!({}))],
    );
    let beyond = run_up(&cluster, "budget5", &ns5, &looping, 120).await;
    for n in [&ns, &ns0, &ns5] {
        berth_local::testing::delete_namespace(&cluster.client, n).await;
    }
    report.expect("one crash within the budget must not fail up");
    let zero = zero.expect_err("budget 0: one crash fails");
    assert!(
        zero.to_string().contains("berth.dev/failures-allowed: 0"),
        "{zero}"
    );
    let beyond = beyond.expect_err("five crashes are beyond the budget");
    assert!(beyond.to_string().contains("5 failures"), "{beyond}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_that_keeps_failing_stops_up_after_its_retries() {
    let cluster = cluster().await;
    let ns = unique("pull");
    let meta = json!({"annotations": {"berth.dev/test-state": "pull-failing"}});
    let objects = stack(
        &ns,
        vec![deployment(&ns, 1, match_labels(), meta, json!({}))],
    );
    let err = run_up(&cluster, "pull", &ns, &objects, 240)
        .await
        .expect_err("must fail");
    berth_local::testing::delete_namespace(&cluster.client, &ns).await;
    let text = err.to_string();
    assert!(
        text.contains("cannot pull image") && text.contains("failures"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hpa_target_is_healthy_only_at_the_hpas_minimum_and_keeps_it() {
    let cluster = cluster().await;
    let ns = unique("hpa");
    let mut d = deployment(&ns, 1, match_labels(), json!({}), json!({}));
    // The manifest's replicas are the HPA's to set: berth drops them.
    d["spec"]["template"]["spec"]["containers"][0]["resources"] =
        json!({"requests": {"cpu": "50m"}});
    let hpa = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "app", "namespace": ns},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
            "minReplicas": 3, "maxReplicas": 6,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]}});
    let objects = stack(&ns, vec![d, hpa]);
    let first = run_up(&cluster, "hpa", &ns, &objects, 120).await;
    let deployments: Api<Deployment> = Api::namespaced(cluster.client.clone(), &ns);
    let after_first = deployments.get("app").await.expect("read the Deployment");
    let second = run_up(&cluster, "hpa", &ns, &objects, 120).await;
    let after_second = deployments.get("app").await.expect("read the Deployment");

    berth_local::testing::delete_namespace(&cluster.client, &ns).await;
    first.expect("first up");
    let ready = |d: &Deployment| {
        d.status
            .as_ref()
            .and_then(|s| s.ready_replicas)
            .unwrap_or(0)
    };
    assert_eq!(
        ready(&after_first),
        3,
        "up returned before the HPA's minimum was ready"
    );
    let second = second.expect("second up");
    assert_eq!((second.created, second.configured), (0, 0), "{second:?}");
    // The later apply left the field alone: still 3, not reset to 1.
    assert_eq!(after_second.spec.as_ref().and_then(|s| s.replicas), Some(3));
}
