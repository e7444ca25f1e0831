//! `berth local load` end to end: the real binary plays a load on a stack deployed with
//! `berth up` to the shared local test cluster; the real HPA scales the Deployment to the
//! replica count `berth simulate` predicts for the same load; at the end of the curve, and
//! after Ctrl-C (SIGINT) or SIGTERM, no usage object is left.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;

fn berth() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
    c.env("KUBECONFIG", berth_local::testing::kubeconfig());
    c
}

/// A stack with one Deployment `web` (1 replica, 100m CPU requested) and an HPA on it: 50%
/// CPU, 1 to 10 replicas.
/// `berth.yaml` also names node groups, which `berth simulate` needs.
fn write_stack(dir: &Path, ns: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("berth.yaml"),
        format!("stack: loaded\nnamespace: {ns}\nprofile: local\ncomponents:\n  app: {{manifests: app.yaml}}\ncluster:\n  name: loaded\n  region: local\n  zones: [local-a, local-b, local-c]\n  nodeGroups:\n    - {{ name: workers, instanceType: m5.large, min: 3, max: 3, perZone: true }}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("app.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n        - name: web\n          image: registry.example.com/shop/web:1.4.2\n          resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 64Mi}}\n---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 1\n  maxReplicas: 10\n  metrics:\n    - type: Resource\n      resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}\n",
    )
    .unwrap();
}

fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        % 0xfffff;
    format!("{prefix}-{n:x}")
}

fn deploy(dir: &Path) {
    let out = berth()
        .args(["up", "--yes", "--timeout", "2m"])
        .arg(dir)
        .output()
        .expect("run berth up");
    assert!(
        out.status.success(),
        "berth up: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn teardown(dir: &Path) {
    let _ = berth().args(["down", "--yes", "--purge"]).arg(dir).output();
    let _ = std::fs::remove_dir_all(dir);
}

async fn usage_objects(ns: &str) -> Vec<String> {
    let client = berth_local::testing::client().await;
    berth_local::load::remaining(&client, ns, "web")
        .await
        .expect("list ResourceUsage objects")
}

#[tokio::test]
async fn a_load_above_target_makes_the_hpa_scale_and_ends_clean() {
    let ns = unique("load-cli");
    let dir = std::env::temp_dir().join(&ns);
    write_stack(&dir, &ns);
    deploy(&dir);

    // 600m over one pod of 100m is 600% of the request against a 50% target.
    let start = Instant::now();
    let out = berth()
        .args([
            "local",
            "load",
            "--name",
            &berth_local::testing::cluster_name(),
        ])
        .arg(&dir)
        .args([
            "--load",
            "const:web:600",
            "--duration",
            "40s",
            "--tick",
            "1s",
        ])
        .output()
        .expect("run berth local load");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "berth local load: {stderr}");
    assert!(stderr.contains("the load ended"), "{stderr}");
    assert!(
        start.elapsed() >= Duration::from_secs(40),
        "stopped early: {stderr}"
    );

    let client = berth_local::testing::client().await;
    let replicas = Api::<Deployment>::namespaced(client, &ns)
        .get("web")
        .await
        .expect("read web")
        .spec
        .and_then(|s| s.replicas);
    assert!(
        replicas.is_some_and(|r| r > 1),
        "the HPA did not scale up during the load ({replicas:?}): {stderr}"
    );
    assert_eq!(usage_objects(&ns).await, Vec::<String>::new());
    teardown(&dir);
}

async fn interrupted_by(signal: &str) {
    let ns = unique(&format!("load-{}", signal.to_lowercase()));
    let dir = std::env::temp_dir().join(&ns);
    write_stack(&dir, &ns);
    deploy(&dir);

    // A constant load has no end: it runs until it is stopped.
    let mut child = berth()
        .args([
            "local",
            "load",
            "--name",
            &berth_local::testing::cluster_name(),
        ])
        .arg(&dir)
        .args(["--load", "const:web:30", "--tick", "1s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start berth local load");
    let start = Instant::now();
    while usage_objects(&ns).await.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the load wrote no usage object"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let kill = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let out = tokio::task::spawn_blocking(move || {
        let _ = child.stdin.take();
        child.wait_with_output()
    })
    .await
    .expect("join")
    .expect("wait for berth");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("load stopped; usage objects removed"),
        "{stderr}"
    );
    assert_eq!(usage_objects(&ns).await, Vec::<String>::new());
    teardown(&dir);
}

#[tokio::test]
async fn ctrl_c_stops_the_load_and_leaves_no_usage_object() {
    interrupted_by("INT").await;
}

#[tokio::test]
async fn sigterm_stops_the_load_and_leaves_no_usage_object() {
    interrupted_by("TERM").await;
}

/// The acceptance test: a step load through the load driver, and the real HPA ends
/// within one replica of what `berth simulate` predicts for the same load. 350m over pods of
/// 100m at a 50% target is 7 pods (each then at 50m, on target).
#[tokio::test]
async fn the_real_hpa_reaches_the_replica_count_simulate_predicts() {
    let ns = unique("load-sim");
    let dir = std::env::temp_dir().join(&ns);
    write_stack(&dir, &ns);
    deploy(&dir);
    let shape = "step:web:20:350:10s";

    let sim = berth()
        .arg("simulate")
        .arg(&dir)
        .args(["--load", shape, "--duration", "10m", "--format", "json"])
        .output()
        .expect("run berth simulate");
    let report: serde_json::Value = serde_json::from_slice(&sim.stdout).unwrap_or_else(|e| {
        panic!(
            "simulate's JSON: {e}: {}",
            String::from_utf8_lossy(&sim.stderr)
        )
    });
    let predicted = report["workloads"][0]["peak_replicas"]
        .as_i64()
        .expect("simulate predicts web's peak replicas");

    let out = berth()
        .args([
            "local",
            "load",
            "--name",
            &berth_local::testing::cluster_name(),
        ])
        .arg(&dir)
        .args(["--load", shape, "--duration", "90s", "--tick", "1s"])
        .output()
        .expect("run berth local load");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "berth local load: {stderr}");

    let client = berth_local::testing::client().await;
    let real = Api::<Deployment>::namespaced(client, &ns)
        .get("web")
        .await
        .expect("read web")
        .spec
        .and_then(|s| s.replicas)
        .map_or(0, i64::from);
    eprintln!("simulate predicts {predicted} replicas; the real HPA reached {real}");
    assert!(
        (real - predicted).abs() <= 1,
        "simulate predicts {predicted}, the real HPA reached {real}: {stderr}"
    );
    assert_eq!(usage_objects(&ns).await, Vec::<String>::new());
    teardown(&dir);
}
