//! The operation graph on the local test cluster: `up` applies each object as soon as what it
//! depends on is healthy, not when a whole earlier wave is.
//!
//! Component `a` is a Deployment with `minReadySeconds: 20` (Available only 20 s after its pod
//! is ready, by the real Deployment controller), and `a2` (`after: [a]`) a ConfigMap.
//! Component `b` is a ConfigMap and `b2` a Deployment that mounts it, independent of `a`. In
//! waves, `b2` would share a wave with `a2` and start only after `a`; in the graph it starts
//! once `b`'s ConfigMap is there. Read from the `--format json` events as they arrive; the
//! assertions are about order, the times are printed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

fn deployment(name: &str, extra_spec: &str, pod_extra: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: 1\n{extra_spec}  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n        - name: c\n          image: registry.example.com/{name}:1.0.0\n          resources: {{requests: {{cpu: 10m, memory: 16Mi}}, limits: {{memory: 16Mi}}}}\n{pod_extra}"
    )
}

#[test]
fn an_independent_component_does_not_wait_for_a_slow_one() {
    let dir = tempfile::tempdir().unwrap();
    let ns = format!("graph-{}", std::process::id());
    std::fs::write(
        dir.path().join("berth.yaml"),
        format!(
            "stack: graph\nnamespace: {ns}\nprofile: local\ncomponents:\n  a: {{manifests: a.yaml}}\n  a2: {{manifests: a2.yaml, after: [a]}}\n  b: {{manifests: b.yaml}}\n  b2: {{manifests: b2.yaml}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a.yaml"),
        deployment("slow", "  minReadySeconds: 20\n", ""),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("a2.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: after-slow}\ndata: {k: v}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {k: v}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b2.yaml"),
        deployment(
            "fast",
            "",
            "          envFrom: [{configMapRef: {name: settings}}]\n",
        ),
    )
    .unwrap();

    // `plan` still shows the order as levels: b2 after the ConfigMap, a2 after the slow one.
    let render = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["render"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(render.status.success(), "{render:?}");

    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["up", "--yes", "--format", "json", "--timeout", "3m"])
        .arg(dir.path())
        .env("KUBECONFIG", berth_local::testing::kubeconfig())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // (seconds since start, event, object name) of every applied and Current event.
    let mut seen: Vec<(f64, String, String)> = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let e: serde_json::Value = serde_json::from_str(&line).unwrap();
        let name = e["object"]["name"].as_str().unwrap_or("").to_string();
        let what = match e["event"].as_str() {
            Some("applied") => "applied".to_string(),
            Some("health") if e["state"] == "Current" => "healthy".to_string(),
            Some("component-healthy") => format!("component {}", e["component"]),
            _ => continue,
        };
        seen.push((start.elapsed().as_secs_f64(), what, name));
    }
    let out = child.wait_with_output().unwrap();
    let total = start.elapsed().as_secs_f64();
    assert!(
        out.status.success(),
        "up failed: {}\n{seen:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    let at = |what: &str, name: &str| {
        seen.iter()
            .find(|(_, w, n)| w == what && n == name)
            .map(|(t, _, _)| *t)
            .unwrap_or_else(|| panic!("no `{what}` event for {name}: {seen:?}"))
    };
    eprintln!(
        "fast applied at {:.1}s, fast healthy at {:.1}s, slow healthy at {:.1}s, after-slow applied at {:.1}s, total {total:.1}s",
        at("applied", "fast"),
        at("healthy", "fast"),
        at("healthy", "slow"),
        at("applied", "after-slow")
    );
    // Acts: b2 is applied and healthy while the slow Deployment still waits out its 20 s.
    assert!(
        at("applied", "fast") < at("healthy", "slow"),
        "b2 waited for a: {seen:?}"
    );
    assert!(
        at("healthy", "fast") < at("healthy", "slow"),
        "b2 was not healthy before a: {seen:?}"
    );
    // Must not: a2 (`after: [a]`) is never applied before a is healthy.
    assert!(
        at("applied", "after-slow") > at("healthy", "slow"),
        "a2 started before a was healthy: {seen:?}"
    );
    // A finished component is reported once, with its objects.
    assert_eq!(
        seen.iter()
            .filter(|(_, w, _)| w == "component \"b2\"")
            .count(),
        1,
        "{seen:?}"
    );
}
