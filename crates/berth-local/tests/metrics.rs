//! Metrics on the local cluster, end to end: kwok's emulated kubelet metrics, metrics-server
//! behind the API server's aggregator, `kubectl top`, the real HPA controller of the
//! controller-manager, and the load driver (`berth_local::load`). Shared test cluster, one
//! namespace per test.
//!
//! Pods' usage is set the two ways the local cluster offers: the pod annotations
//! `kwok.x-k8s.io/usage-cpu`/`-memory` (read by the cluster's default usage) and
//! `ResourceUsage` objects written by the load driver.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::Api;
use serde_json::{Value, json};

/// A Deployment `web` (1 replica, 100m CPU requested, each pod using `cpu_use` by its
/// annotation) and an HPA on it: 50% CPU, 1 to 4 replicas.
async fn deployment_with_hpa(client: &kube::Client, ns: &str, cpu_use: Option<&str>) {
    let annotations = match cpu_use {
        Some(c) => json!({berth_local::load::CPU_ANNOTATION: c,
            berth_local::load::MEMORY_ANNOTATION: "40Mi"}),
        None => json!({}),
    };
    let deploy = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": annotations},
                "spec": {"containers": [{"name": "web", "image": "registry.example.com/web:1",
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]},
            },
        },
    });
    let hpa = json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": ns},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1, "maxReplicas": 4,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 50}}}],
        },
    });
    berth_local::testing::apply(client, [&deploy, &hpa]).await;
}

async fn get_json(client: &kube::Client, path: &str) -> Option<Value> {
    let req = http::Request::get(path).body(Vec::new()).ok()?;
    client.request::<Value>(req).await.ok()
}

/// Polls `probe` every second until it returns `Some`, or fails the test with `what`.
async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            start.elapsed() < timeout,
            "{what} did not happen within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// CPU of a metrics.k8s.io usage object in millicores (`"251234n"`, `"250m"`, `"1"`).
fn millicores(q: &Value) -> f64 {
    let s = q.as_str().unwrap_or("0");
    if let Some(n) = s.strip_suffix('n') {
        n.parse::<f64>().unwrap_or(0.0) / 1e6
    } else if let Some(u) = s.strip_suffix('u') {
        u.parse::<f64>().unwrap_or(0.0) / 1e3
    } else if let Some(m) = s.strip_suffix('m') {
        m.parse::<f64>().unwrap_or(0.0)
    } else {
        s.parse::<f64>().unwrap_or(0.0) * 1000.0
    }
}

fn kubectl() -> std::path::PathBuf {
    berth_local::binaries::find()
        .expect("the local cluster's binaries (kubectl among them) are built by `berth local up`")
        .kubectl
}

#[tokio::test]
async fn the_metrics_api_and_kubectl_top_report_node_and_pod_usage() {
    let client = berth_local::testing::client().await;
    let ns = berth_local::testing::namespace(&client, "top").await;
    deployment_with_hpa(&client, &ns, Some("250m")).await;

    // Every node of the cluster reports usage.
    let nodes = eventually(Duration::from_secs(60), "node metrics", || async {
        let list = get_json(&client, "/apis/metrics.k8s.io/v1beta1/nodes").await?;
        let items = list["items"].as_array()?.clone();
        (items.len() >= 3).then_some(items)
    })
    .await;
    for n in &nodes {
        assert!(
            n["usage"]["cpu"].is_string() && n["usage"]["memory"].is_string(),
            "{n}"
        );
    }

    // The pod uses what its annotation says: 250m CPU (a rate over two scrapes, so allow
    // for the timing of kwok's counter), 40Mi memory.
    let path = format!("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods");
    let pod = eventually(Duration::from_secs(90), "pod metrics near 250m", || async {
        let list = get_json(&client, &path).await?;
        let pod = list["items"].as_array()?.first()?.clone();
        let cpu = millicores(&pod["containers"][0]["usage"]["cpu"]);
        (200.0..=300.0).contains(&cpu).then_some(pod)
    })
    .await;
    assert_eq!(pod["containers"][0]["usage"]["memory"], "40Mi", "{pod}");

    // `kubectl top` reads the same API.
    let kubeconfig = berth_local::testing::kubeconfig();
    let out = std::process::Command::new(kubectl())
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["top", "pods", "-n", &ns, "--no-headers"])
        .output()
        .expect("run kubectl top pods");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("web-") && text.contains("40Mi"),
        "kubectl top pods: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = std::process::Command::new(kubectl())
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args(["top", "nodes", "--no-headers"])
        .output()
        .expect("run kubectl top nodes");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.lines().count() >= 3,
        "kubectl top nodes: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    berth_local::testing::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn an_hpa_scales_up_when_pods_use_three_times_their_request() {
    let client = berth_local::testing::client().await;
    let ns = berth_local::testing::namespace(&client, "hpa-up").await;
    // 300m used of 100m requested: 300% against a 50% target.
    deployment_with_hpa(&client, &ns, Some("300m")).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let start = Instant::now();
    let replicas = eventually(Duration::from_secs(180), "a scale-up", || async {
        let d = deploys.get("web").await.ok()?;
        let r = d.spec?.replicas?;
        (r > 1).then_some(r)
    })
    .await;
    eprintln!(
        "hpa scaled web to {replicas} replicas {:.0?} after it was created",
        start.elapsed()
    );
    // Every new pod uses 300m as well, so it goes on to the maximum.
    eventually(Duration::from_secs(120), "the maximum of 4", || async {
        let d = deploys.get("web").await.ok()?;
        (d.spec?.replicas? == 4).then_some(())
    })
    .await;
    berth_local::testing::delete_namespace(&client, &ns).await;
}

#[tokio::test]
async fn an_hpa_does_not_scale_when_pods_use_well_below_target() {
    let client = berth_local::testing::client().await;
    let ns = berth_local::testing::namespace(&client, "hpa-idle").await;
    // 10m used of 100m requested: 10% against a 50% target.
    deployment_with_hpa(&client, &ns, Some("10m")).await;
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(client.clone(), &ns);
    // Not vacuous: the HPA has read the pods' usage...
    let utilization = eventually(
        Duration::from_secs(120),
        "the HPA reading usage",
        || async {
            let h = hpas.get("web").await.ok()?;
            let current = h.status?.current_metrics?;
            current
                .first()?
                .resource
                .as_ref()?
                .current
                .average_utilization
        },
    )
    .await;
    assert!(utilization < 50, "{utilization}% is not below the target");
    // ...and over several of its syncs it keeps one replica.
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let watch_for = berth_local::HPA_SYNC_PERIOD * 4;
    let start = Instant::now();
    while start.elapsed() < watch_for {
        let d = deploys.get("web").await.expect("read the Deployment");
        assert_eq!(
            d.spec.and_then(|s| s.replicas),
            Some(1),
            "scaled at {utilization}%"
        );
        let h = hpas.get("web").await.expect("read the HPA");
        assert_eq!(h.status.map(|s| s.desired_replicas), Some(1));
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    berth_local::testing::delete_namespace(&client, &ns).await;
}

/// The load driver plays 600m over the Deployment (1 pod of 100m: 600%) for 40 seconds: the
/// HPA scales up while it runs, and afterwards no usage object is left.
#[tokio::test]
async fn the_load_driver_makes_the_hpa_scale_and_leaves_nothing_behind() {
    let client = berth_local::testing::client().await;
    let ns = berth_local::testing::namespace(&client, "load").await;
    deployment_with_hpa(&client, &ns, None).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    eventually(Duration::from_secs(60), "the pod Ready", || async {
        let d = deploys.get("web").await.ok()?;
        (d.status?.ready_replicas? == 1).then_some(())
    })
    .await;

    let workloads = vec![berth_local::load::Workload {
        label: "web".into(),
        kind: "Deployment".into(),
        namespace: ns.clone(),
        name: "web".into(),
        demand: Box::new(|_| berth_local::load::Usage {
            cpu_m: 600.0,
            memory_mib: Some(100.0),
        }),
    }];
    let opts = berth_local::load::Options {
        tick: Duration::from_secs(1),
        duration: Some(Duration::from_secs(40)),
    };
    let (_tx, stop) = tokio::sync::watch::channel(false);
    let mut samples = Vec::new();
    let ended = berth_local::load::drive(&client, &workloads, &opts, stop, |s| {
        samples.push(s.clone());
    })
    .await
    .expect("the load runs");
    assert_eq!(ended, berth_local::load::Ended::Finished);
    let most_ready = samples
        .iter()
        .map(|s| s.workloads[0].ready_pods)
        .max()
        .unwrap_or(0);
    assert!(
        most_ready >= 2,
        "the HPA never scaled up within the load: {samples:?}"
    );
    // Spread: with more Ready pods each got a smaller share.
    let last = samples.last().expect("a sample").workloads[0].clone();
    let per_pod = last.per_pod.expect("Ready pods at the end");
    assert!((per_pod.cpu_m * last.ready_pods as f64 - 600.0).abs() < 1e-6);
    assert_eq!(
        berth_local::load::remaining(&client, &ns, "web")
            .await
            .unwrap(),
        Vec::<String>::new()
    );
    berth_local::testing::delete_namespace(&client, &ns).await;
}

/// Stopped early (as Ctrl-C does through the CLI), the driver still removes every object.
#[tokio::test]
async fn the_load_driver_stopped_early_leaves_nothing_behind() {
    let client = berth_local::testing::client().await;
    let ns = berth_local::testing::namespace(&client, "load-stop").await;
    deployment_with_hpa(&client, &ns, None).await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    eventually(Duration::from_secs(60), "the pod Ready", || async {
        let d = deploys.get("web").await.ok()?;
        (d.status?.ready_replicas? == 1).then_some(())
    })
    .await;
    let workloads = vec![berth_local::load::Workload {
        label: "web".into(),
        kind: "Deployment".into(),
        namespace: ns.clone(),
        name: "web".into(),
        demand: Box::new(|_| berth_local::load::Usage {
            cpu_m: 20.0,
            memory_mib: None,
        }),
    }];
    let opts = berth_local::load::Options {
        tick: Duration::from_millis(500),
        duration: None,
    };
    let (tx, stop) = tokio::sync::watch::channel(false);
    let client2 = client.clone();
    let ns2 = ns.clone();
    // Stop once the driver has written the pod's usage.
    let stopper = tokio::spawn(async move {
        eventually(Duration::from_secs(30), "a usage object", || async {
            let left = berth_local::load::remaining(&client2, &ns2, "web")
                .await
                .ok()?;
            (!left.is_empty()).then_some(())
        })
        .await;
        let _ = tx.send(true);
    });
    let ended = berth_local::load::drive(&client, &workloads, &opts, stop, |_| {})
        .await
        .expect("the load runs");
    stopper.await.expect("the stopper");
    assert_eq!(ended, berth_local::load::Ended::Interrupted);
    assert_eq!(
        berth_local::load::remaining(&client, &ns, "web")
            .await
            .unwrap(),
        Vec::<String>::new()
    );
    berth_local::testing::delete_namespace(&client, &ns).await;
}
