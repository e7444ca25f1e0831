//! `berth check` and `berth explain` as a user runs them: exit codes and output formats.

use std::path::Path;
use std::process::{Command, Output};

fn berth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .output()
        .expect("berth runs")
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).expect("fixture written");
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("berth-cli-check-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

const CLEAN: &str = "
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {mode: production}
";

#[test]
fn exit_codes_follow_the_findings() {
    let dir = tempdir("codes");
    write(&dir, "ok.yaml", CLEAN);
    let out = berth(&["check", dir.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    write(
        &dir,
        "hpa.yaml",
        "
apiVersion: autoscaling/v2beta2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 3
",
    );
    let out = berth(&["check", dir.to_str().unwrap(), "--format", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json output");
    let rules: Vec<&str> = doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"api-removed"), "{rules:?}");
    for key in [
        "rule", "severity", "file", "line", "column", "message", "fix",
    ] {
        assert!(doc["findings"][0].get(key).is_some(), "missing {key}");
    }

    write(
        &dir,
        "broken.yaml",
        "kind: Secret\nstringData:\n  password: ******\n",
    );
    let out = berth(&["check", dir.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("yaml-syntax"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sarif_and_rule_selection() {
    let dir = tempdir("sarif");
    write(
        &dir,
        "pod.yaml",
        "
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: a, image: nginx}]
",
    );
    let out = berth(&[
        "check",
        dir.to_str().unwrap(),
        "--format",
        "sarif",
        "--rule",
        "mutable-image",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("sarif output");
    assert_eq!(doc["version"], "2.1.0");
    let results = doc["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), 1);
    assert_eq!(results[0]["ruleId"], "mutable-image");
    assert_eq!(
        results[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
        6
    );
    assert_eq!(
        berth(&["check", dir.to_str().unwrap(), "--rule", "nope"])
            .status
            .code(),
        Some(2)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn explain_lists_and_explains() {
    let out = berth(&["explain"]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("pgdata-mount") && text.contains("host-access"));
    let out = berth(&["explain", "zonal-volume"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("## Why is this bad?"));
    assert_eq!(berth(&["explain", "no-such-rule"]).status.code(), Some(2));
}
