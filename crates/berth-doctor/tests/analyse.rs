//! The diagnoses over recorded situations (tests/fixtures/*.json: the stack's objects and a
//! snapshot of the cluster, shaped like the API's answers), without a cluster.
//!
//! Stack objects get synthetic positions: line N of their "file" is the JSON pointer of the
//! N-th node, so the snapshots show which field each diagnosis points at.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use berth_doctor::{Diagnosis, Snapshot, analyse};
use berth_model::{Object, Origin, Pos, SourceFile};
use serde_json::Value;

fn walk(v: &Value, pointer: String, out: &mut Vec<String>) {
    out.push(pointer.clone());
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                walk(
                    c,
                    format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                )
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                walk(c, format!("{pointer}/{i}"), out)
            }
        }
        _ => {}
    }
}

fn object(value: Value, i: usize) -> Object {
    let mut pointers = Vec::new();
    walk(&value, String::new(), &mut pointers);
    let positions: BTreeMap<String, Pos> = pointers
        .iter()
        .enumerate()
        .map(|(n, p)| {
            (
                p.clone(),
                Pos {
                    line: n as u32 + 1,
                    column: 1,
                    offset: 0,
                },
            )
        })
        .collect();
    let text = pointers
        .iter()
        .map(|p| if p.is_empty() { "(document)" } else { p })
        .collect::<Vec<_>>()
        .join("\n");
    Object {
        value,
        file: Arc::new(SourceFile::new(format!("manifests/{i}.yaml"), text)),
        doc: 0,
        component: "app".into(),
        origin: Origin::Manifest,
        positions: Arc::new(positions.into()),
    }
}

fn case(name: &str) -> (Vec<Object>, Snapshot) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let stack = v["stack"]
        .as_array()
        .unwrap()
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, o)| object(o, i))
        .collect();
    let snapshot: Snapshot = serde_json::from_value(v["snapshot"].clone()).unwrap();
    (stack, snapshot)
}

/// The human rendering, with the pointer each location names.
fn render(stack: &[Object], ds: &[Diagnosis]) -> String {
    let mut out = String::new();
    for d in ds {
        out.push_str(&d.render());
        if let (Some(file), Some(line)) = (&d.file, d.line) {
            let o = stack.iter().find(|o| o.file.path == *file).unwrap();
            let pointer = o
                .file
                .kept_text()
                .lines()
                .nth(line as usize - 1)
                .unwrap_or("?");
            out.push_str(&format!("  (points at {pointer})\n"));
        }
    }
    out
}

fn run(name: &str) -> Vec<Diagnosis> {
    let (stack, snapshot) = case(name);
    let ds = analyse(&snapshot, &stack);
    insta::assert_snapshot!(name, render(&stack, &ds));
    ds
}

fn ids(ds: &[Diagnosis]) -> Vec<&str> {
    ds.iter().map(|d| d.id).collect()
}

#[test]
fn healthy_stack_has_no_diagnosis() {
    assert_eq!(ids(&run("healthy")), Vec::<&str>::new());
}

#[test]
fn image_pull() {
    let ds = run("image-pull");
    assert_eq!(ids(&ds), ["image-pull"]);
    assert!(
        ds[0].fix.contains("does not exist in the registry"),
        "{}",
        ds[0].fix
    );
}

#[test]
fn crash_loop_quotes_exit_code_restarts_and_logs() {
    let ds = run("crash-loop");
    assert_eq!(ids(&ds), ["crash-loop"]);
    assert!(
        ds[0].cause.contains("code 1") && ds[0].cause.contains("6 times"),
        "{}",
        ds[0].cause
    );
    assert!(
        ds[0]
            .evidence
            .iter()
            .any(|e| e.text.contains("connection refused"))
    );
}

#[test]
fn crash_loop_without_logs_says_so() {
    let ds = run("crash-loop-no-logs");
    assert!(ds[0].evidence.iter().any(|e| e.text == "no logs available"));
}

#[test]
fn postgres_lost_found_points_at_the_volume_mount() {
    let ds = run("postgres-lost-found");
    assert_eq!(ids(&ds), ["postgres-lost-found"]);
    assert!(ds[0].fix.contains("subPath"));
}

#[test]
fn missing_bucket_behind_a_crash_loop() {
    let ds = run("missing-bucket");
    assert_eq!(ids(&ds), ["missing-bucket"]);
    assert!(ds[0].cause.contains("`models`"));
}

#[test]
fn oom_killed_jvm_gets_the_headroom_rule() {
    let ds = run("oom-jvm");
    assert_eq!(ids(&ds), ["oom-killed"]);
    assert!(
        ds[0].cause.contains("-Xmx2048m") && ds[0].cause.contains("2Gi"),
        "{}",
        ds[0].cause
    );
    // 1.2 × 2048Mi = 2458Mi (rounded up), 1.25 × that = 3072Mi.
    assert!(
        ds[0].fix.contains("2458Mi") && ds[0].fix.contains("3072Mi"),
        "{}",
        ds[0].fix
    );
}

#[test]
fn secret_in_another_namespace_is_named() {
    let ds = run("secret-other-namespace");
    assert_eq!(ids(&ds), ["missing-reference"]);
    assert!(
        ds[0].cause.contains("exists in namespace `default`"),
        "{}",
        ds[0].cause
    );
    // The pod's symptom is folded into the same diagnosis.
    assert!(
        ds[0]
            .evidence
            .iter()
            .any(|e| e.text.contains("CreateContainerConfigError"))
    );
}

#[test]
fn secret_missing_key() {
    let ds = run("secret-missing-key");
    assert_eq!(ids(&ds), ["missing-reference"]);
    assert!(ds[0].cause.contains("no key `url`"));
    assert!(
        ds[0]
            .evidence
            .iter()
            .any(|e| e.text == "keys: username, password")
    );
}

#[test]
fn unschedulable_compares_request_with_the_largest_node() {
    let ds = run("unschedulable-cpu");
    assert_eq!(ids(&ds), ["unschedulable"]);
    assert!(
        ds[0].cause.contains("requests 8 cpu") && ds[0].cause.contains("largest allocatable: 4"),
        "{}",
        ds[0].cause
    );
}

#[test]
fn unschedulable_with_a_scale_up_under_way_is_a_wait_not_a_failure() {
    let ds = run("unschedulable-scale-up");
    assert_eq!(ids(&ds), ["unschedulable"]);
    assert_eq!(ds[0].severity, berth_model::Severity::Warning);
    assert!(
        ds[0].cause.contains(
            "a node is coming: cluster-autoscaler scale-up of eks-workers-b 2->3 (max: 10)"
        ),
        "{}",
        ds[0].cause
    );
}

#[test]
fn unschedulable_names_the_autoscalers_refusal() {
    let ds = run("unschedulable-no-scale-up");
    assert_eq!(ds[0].severity, berth_model::Severity::Error);
    assert!(
        ds[0].cause.contains(
            "cluster-autoscaler will not add one: pod didn't trigger scale-up: 3 max node group size reached"
        ),
        "{}",
        ds[0].cause
    );
    // Without an answer nothing about autoscalers is claimed.
    let plain = run("unschedulable-cpu");
    assert!(!plain[0].cause.contains("autoscaler"), "{}", plain[0].cause);
}

#[test]
fn unschedulable_selector_shows_node_labels() {
    let ds = run("unschedulable-selector");
    assert!(
        ds[0]
            .evidence
            .iter()
            .any(|e| e.text.contains("zone-a, zone-b, zone-c")),
        "{:?}",
        ds[0].evidence
    );
}

#[test]
fn unschedulable_taint() {
    let ds = run("unschedulable-taint");
    assert!(
        ds[0].cause.contains("dedicated=infra:NoSchedule"),
        "{}",
        ds[0].cause
    );
}

#[test]
fn pvc_pending_no_class() {
    let ds = run("pvc-no-class");
    assert_eq!(ids(&ds), ["pvc-pending"]);
    assert!(
        ds[0].cause.contains("`manual`, which does not exist"),
        "{}",
        ds[0].cause
    );
}

#[test]
fn pvc_pending_rwx_on_block() {
    let ds = run("pvc-rwx-block");
    assert!(ds[0].cause.contains("ReadWriteMany"), "{}", ds[0].cause);
}

/// The same claim on a local-path class: node-local, single-node storage in
/// `berth_model::storage`, so the doctor names ReadWriteMany as the reason, exactly as
/// `berth check`'s `shared-on-block` refuses it (its `fires_on_rwx_local_path`).
#[test]
fn pvc_pending_rwx_on_local_path() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pvc-rwx-block.json");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("ebs.csi.aws.com", "rancher.io/local-path");
    let v: Value = serde_json::from_str(&text).unwrap();
    let stack: Vec<Object> = v["stack"]
        .as_array()
        .unwrap()
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, o)| object(o, i))
        .collect();
    let snapshot: Snapshot = serde_json::from_value(v["snapshot"].clone()).unwrap();
    let ds = analyse(&snapshot, &stack);
    assert_eq!(ids(&ds), ["pvc-pending"]);
    assert!(
        ds[0].cause.contains("asks for ReadWriteMany")
            && ds[0].cause.contains("(rancher.io/local-path) cannot give"),
        "{}",
        ds[0].cause
    );
}

#[test]
fn service_selector_matches_no_pod() {
    let ds = run("service-selector");
    assert_eq!(ids(&ds), ["service-no-endpoints"]);
    assert!(
        ds[0]
            .evidence
            .iter()
            .any(|e| e.text == "pods have: app=web"),
        "{:?}",
        ds[0].evidence
    );
}

#[test]
fn service_port_name_mismatch() {
    let ds = run("service-port-name");
    assert!(ids(&ds).contains(&"service-port"), "{:?}", ids(&ds));
}

#[test]
fn probe_failure() {
    let ds = run("probe-failure");
    assert_eq!(ids(&ds)[0], "probe-failure");
}

#[test]
fn hpa_without_metrics_api() {
    let ds = run("hpa-no-metrics");
    assert_eq!(ids(&ds), ["hpa-cannot-scale"]);
    assert!(ds[0].cause.contains("metrics API"));
}

#[test]
fn hpa_target_without_requests() {
    let ds = run("hpa-no-requests");
    assert!(ds[0].cause.contains("no cpu request"), "{}", ds[0].cause);
}

#[test]
fn hpa_target_missing() {
    let ds = run("hpa-target-missing");
    assert!(ds[0].cause.contains("does not exist"), "{}", ds[0].cause);
}

#[test]
fn failed_job_with_log_lines() {
    let ds = run("job-failed");
    assert_eq!(ids(&ds), ["job-failed"]);
    assert!(
        ds[0]
            .evidence
            .iter()
            .any(|e| e.kind == berth_doctor::EvidenceKind::Log
                && e.text.contains("Unable to make bucket"))
    );
}

#[test]
fn webhook_without_endpoints() {
    let ds = run("webhook-no-endpoints");
    assert_eq!(ids(&ds), ["webhook-no-endpoints"]);
}

#[test]
fn crd_missing() {
    let ds = run("crd-missing");
    assert_eq!(ids(&ds), ["crd-missing"]);
}

#[test]
fn nothing_applied_is_one_diagnosis() {
    assert_eq!(ids(&run("not-applied")), ["not-found"]);
}

#[test]
fn load_balancer_and_ingress_without_address() {
    let ds = run("no-address");
    let ids = ids(&ds);
    assert!(
        ids.contains(&"load-balancer-pending")
            && ids.contains(&"ingress-backend")
            && ids.contains(&"ingress-no-address"),
        "{ids:?}"
    );
}

#[test]
fn json_has_the_stable_fields() {
    let (stack, snapshot) = case("image-pull");
    let ds = analyse(&snapshot, &stack);
    let v = serde_json::to_value(&ds[0]).unwrap();
    for f in [
        "id", "severity", "object", "file", "line", "column", "cause", "evidence", "fix",
    ] {
        assert!(v.get(f).is_some(), "missing {f} in {v}");
    }
    assert_eq!(v["severity"], "error");
}

#[test]
fn every_fixture_has_a_test() {
    let src = include_str!("analyse.rs");
    for e in
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")).unwrap()
    {
        let name = e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".json")
            .to_string();
        assert!(
            src.contains(&format!("\"{name}\"")),
            "fixture {name} has no test"
        );
    }
}

#[test]
fn volume_node_affinity_conflict_names_the_volume_zone() {
    let ds = run("volume-node-affinity");
    assert_eq!(ids(&ds), ["unschedulable"]);
    assert!(
        ds[0]
            .evidence
            .iter()
            .any(|e| e.text.contains("topology.kubernetes.io/zone zone-a")),
        "{:?}",
        ds[0].evidence
    );
    assert!(ds[0].fix.contains("WaitForFirstConsumer"));
}

#[test]
fn pvc_pending_without_a_running_provisioner() {
    let ds = run("pvc-no-provisioner");
    assert!(
        ds[0]
            .cause
            .contains("no provisioner `efs.csi.aws.com` is running"),
        "{}",
        ds[0].cause
    );
}

#[test]
fn pvc_pending_without_a_default_class() {
    let ds = run("pvc-no-default-class");
    assert!(ds[0].cause.contains("no default one"), "{}", ds[0].cause);
}

#[test]
fn crd_not_established() {
    let ds = run("crd-not-established");
    assert_eq!(ids(&ds), ["crd-not-established"]);
    assert!(ds[0].cause.contains("PluralConflict"), "{}", ds[0].cause);
}

#[test]
fn removed_api_version_is_not_a_missing_crd() {
    let ds = run("api-removed");
    assert_eq!(ids(&ds), ["api-not-served"]);
    assert!(
        ds[0].cause.contains("autoscaling/v2beta2"),
        "{}",
        ds[0].cause
    );
}

/// On a profile without a load-balancer controller (berth's local cluster) a LoadBalancer
/// Service without an address is expected, not a problem.
#[test]
fn pending_load_balancer_is_no_problem_without_a_controller() {
    let (objects, snapshot) = case("no-address");
    let with = berth_doctor::analyse(&snapshot, &objects);
    assert!(
        with.iter().any(|d| d.id == "load-balancer-pending"),
        "{with:#?}"
    );
    let without = berth_doctor::analyse_with(
        &snapshot,
        &objects,
        &berth_doctor::Options {
            load_balancer_controller: false,
        },
    );
    assert!(
        !without.iter().any(|d| d.id == "load-balancer-pending"),
        "{without:#?}"
    );
}
