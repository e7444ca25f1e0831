//! `berth up` interrupted with SIGINT (Ctrl-C) or SIGTERM while it waits: it stops, releases the
//! stack lock and exits 1; a second `up` started at once is not refused for the lock and
//! finishes the stack. Runs the real binary against the shared local test cluster.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn berth() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
    c.env("KUBECONFIG", berth_local::testing::kubeconfig());
    c
}

fn write_stack(dir: &Path, ns: &str, pod_annotations: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("berth.yaml"),
        format!("stack: interrupted\nnamespace: {ns}\nprofile: local\ncomponents:\n  app: {{manifests: app.yaml}}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("app.yaml"),
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}, annotations: {pod_annotations}}}\n    spec:\n      containers:\n        - name: web\n          image: registry.example.com/shop/web:1.4.2\n          resources: {{requests: {{cpu: 100m, memory: 64Mi}}, limits: {{memory: 64Mi}}}}\n          readinessProbe: {{httpGet: {{path: /, port: 8080}}}}\n"
        ),
    )
    .unwrap();
}

fn interrupt_then_rerun(signal: &str) {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        % 0xfffff;
    let ns = format!("intr-{}-{n:x}", signal.to_lowercase());
    let dir = std::env::temp_dir().join(&ns);
    // Pods that never become ready keep `up` in its wait.
    write_stack(&dir, &ns, "{berth.dev/test-state: not-ready}");
    let mut child = berth()
        .args(["up", "--yes", "--format", "json", "--timeout", "5m"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start berth up");
    let stdout = child.stdout.take().unwrap();
    let mut waiting = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if event["event"] == "health" && event["object"]["kind"] == "Deployment" {
            waiting = true;
            break;
        }
    }
    assert!(waiting, "up ended before it waited for the Deployment");
    let sent = Instant::now();
    let kill = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let out = child.wait_with_output().expect("wait for berth");
    let stopped_after = sent.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();

    // At once: the fixed stack, while nothing else holds the lock.
    write_stack(&dir, &ns, "{}");
    let again = berth()
        .args(["up", "--yes", "--timeout", "2m"])
        .arg(&dir)
        .output()
        .expect("re-run");
    let again_err = String::from_utf8_lossy(&again.stderr).to_string();
    let _ = berth()
        .args(["down", "--yes", "--purge"])
        .arg(&dir)
        .output();
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(out.status.code(), Some(1), "interrupted up: {stderr}");
    assert!(stderr.contains("released the stack lock"), "{stderr}");
    // It says how far it got: the one object of this stack was applied before the wait.
    assert!(stderr.contains("1 of 1 objects were applied"), "{stderr}");
    assert!(
        stopped_after < Duration::from_secs(20),
        "took {stopped_after:?} to stop"
    );
    assert!(
        !again_err.contains("locked"),
        "the second up was refused for the lock: {again_err}"
    );
    assert_eq!(again.status.code(), Some(0), "second up: {again_err}");
}

#[test]
fn sigint_during_the_wait_releases_the_lock_for_the_next_run() {
    interrupt_then_rerun("INT");
}

#[test]
fn sigterm_during_the_wait_releases_the_lock_for_the_next_run() {
    interrupt_then_rerun("TERM");
}
