//! `berth doctor` as a user runs it: a stack folder, the local cluster's kubeconfig, exit codes
//! and the JSON lines.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const APP: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations: ANNOTATIONS
    spec:
      containers:
        - name: web
          image: registry.example.com/shop/web:1.4.2
          resources: {requests: {cpu: 100m, memory: 64Mi}}
"#;

/// A stack folder for namespace `ns` whose pods carry `annotations`.
fn stack_dir(ns: &str, annotations: &str) -> PathBuf {
    write_stack("doctor-cli", ns, &APP.replace("ANNOTATIONS", annotations))
}

/// A stack folder `berth-<stack>-<ns>` with one component `app` whose manifest is `app.yaml`.
fn write_stack(stack: &str, ns: &str, manifest: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("berth-{stack}-{ns}"));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join("berth.yaml"),
        format!("stack: {stack}\nnamespace: {ns}\nprofile: local\ncomponents:\n  app:\n    manifests: app.yaml\n"),
    )
    .expect("write berth.yaml");
    std::fs::write(dir.join("app.yaml"), manifest).expect("write app.yaml");
    dir
}

/// Applies the stack's objects the way a test can without `berth up`.
async fn apply(client: &kube::Client, dir: &Path) {
    let loaded = berth_stack::load(dir, &berth_stack::LoadOptions::default());
    let stack = loaded.stack.expect("stack loads");
    berth_local::testing::apply(client, stack.objects.iter().map(|o| &o.value)).await;
}

fn doctor(dir: &Path, kubeconfig: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("doctor")
        .arg(dir)
        .args(["--format", "json", "--kubeconfig"])
        .arg(kubeconfig)
        .output()
        .expect("run berth")
}

/// Runs `berth doctor` until `done(exit code, stdout)` holds, or fails after 90 s.
fn doctor_until(dir: &Path, kubeconfig: &Path, done: impl Fn(i32, &str) -> bool) -> (i32, String) {
    let start = Instant::now();
    loop {
        let out = doctor(dir, kubeconfig);
        let code = out.status.code().unwrap_or(-1);
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        if done(code, &stdout) {
            return (code, stdout);
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "never settled: exit {code}\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[tokio::test]
async fn broken_stack_exits_1_with_json_lines_and_healthy_exits_0() {
    let kubeconfig = berth_local::testing::kubeconfig();
    let client = berth_local::testing::client().await;
    let ns = berth_local::testing::namespace(&client, "doctor-cli").await;

    let dir = stack_dir(&ns, "{berth.dev/test-state: image-pull-backoff}");
    apply(&client, &dir).await;
    let (code, stdout) = doctor_until(&dir, &kubeconfig, |code, out| {
        code == 1 && out.contains("image-pull")
    });
    assert_eq!(code, 1);
    let first: serde_json::Value =
        serde_json::from_str(stdout.lines().next().expect("a line")).expect("JSON line");
    assert_eq!(first["id"], "image-pull");
    assert_eq!(first["severity"], "error");
    assert_eq!(first["file"], "app.yaml");
    assert_eq!(first["line"], 16);

    // The same stack fixed: nothing to report, exit 0.
    let dir = stack_dir(&ns, "{}");
    apply(&client, &dir).await;
    let (code, stdout) = doctor_until(&dir, &kubeconfig, |code, out| code == 0 && out.is_empty());
    assert_eq!((code, stdout.as_str()), (0, ""));
    let _ = std::fs::remove_dir_all(&dir);
    berth_local::testing::delete_namespace(&client, &ns).await;
}

#[test]
fn unreadable_stack_exits_2() {
    let dir = std::env::temp_dir().join(format!("berth-doctor-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("berth.yaml"),
        "stack: bad\ncomponents:\n  app:\n    manifests: app.yaml\n",
    )
    .unwrap();
    std::fs::write(dir.join("app.yaml"), "kind: [unclosed\n").unwrap();
    let out = doctor(&dir, Path::new("/nonexistent"));
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unreachable_cluster_exits_3() {
    let dir = stack_dir("unreachable", "{}");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n\
         users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n",
    )
    .unwrap();
    let out = doctor(&dir, &kubeconfig);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `berth up` stops at the first crash loop and prints the doctor's diagnosis, here read from
/// the container's log (served through kwok as a kubelet would), not "timed out".
#[tokio::test]
async fn up_stops_at_once_with_the_diagnosis_from_the_log() {
    let kubeconfig = berth_local::testing::kubeconfig();
    let client = berth_local::testing::client().await;
    let ns = berth_local::testing::namespace(&client, "up-doctor").await;
    let dir = write_stack(
        "up-doctor",
        &ns,
        r#"apiVersion: apps/v1
kind: StatefulSet
metadata: {name: sensor}
spec:
  serviceName: sensor
  replicas: 1
  selector: {matchLabels: {app: sensor}}
  template:
    metadata:
      labels: {app: sensor}
      annotations: {berth.dev/test-state: crash-loop}
    spec:
      containers:
        - name: sensor
          image: quay.io/argoproj/argo-events:v1.9.6
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {memory: 128Mi}
          readinessProbe: {httpGet: {path: /ready, port: 8080}}
          livenessProbe: {httpGet: {path: /healthz, port: 8080}}
"#,
    );
    berth_local::testing::serve_logs(
        &client,
        &ns,
        "sensor-0",
        "sensor",
        &[r#"{"level":"fatal","msg":"failed to listen to bucket notifications","error":"NoSuchBucket: The specified bucket does not exist, bucket: models"}"#],
    )
    .await;
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["up", "--yes", "--timeout", "5m", "--kubeconfig"])
        .arg(&kubeconfig)
        .arg(&dir)
        .output()
        .expect("run berth up");
    let elapsed = start.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("missing-bucket"), "{text}");
    assert!(text.contains("bucket `models` does not exist"), "{text}");
    assert!(text.contains("app.yaml:"), "{text}");
    // Fail fast: far below the 5 minute wait timeout.
    assert!(
        elapsed < Duration::from_secs(60),
        "took {elapsed:?}: {text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    berth_local::testing::delete_namespace(&client, &ns).await;
}
