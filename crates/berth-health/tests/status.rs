//! `status` over realistic objects (tests/fixtures/status/*.json, shaped like `kubectl get -o
//! json` output): the expected state of each is asserted here, and the messages are a snapshot.

use std::fmt::Write;
use std::path::Path;

use berth_health::{Options, State, status, status_with};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/status")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every fixture with the state berth must give it (default options).
const EXPECTED: &[(&str, State)] = &[
    ("deployment-available", State::Current),
    ("deployment-rolling", State::InProgress),
    ("deployment-progress-deadline", State::Failed),
    ("deployment-new", State::InProgress),
    ("deployment-stale-generation", State::InProgress),
    ("deployment-not-ready", State::InProgress),
    ("statefulset-ready", State::Current),
    ("statefulset-starting", State::InProgress),
    ("statefulset-revision-mismatch", State::InProgress),
    ("statefulset-partition-done", State::Current),
    ("statefulset-partition-rolling", State::InProgress),
    ("statefulset-ondelete", State::Current),
    ("daemonset-ready", State::Current),
    ("daemonset-not-ready", State::InProgress),
    ("replicaset-ready", State::Current),
    ("replicaset-quota", State::InProgress),
    ("pod-healthy", State::Current),
    ("pod-crash-loop", State::Failed),
    ("pod-init-crash-loop", State::Failed),
    ("pod-unschedulable", State::InProgress),
    ("pod-image-pull-backoff", State::InProgress),
    ("pod-succeeded", State::Current),
    ("pod-failed-evicted", State::Failed),
    ("pvc-bound", State::Current),
    ("pvc-pending", State::InProgress),
    ("pvc-lost", State::Failed),
    ("service-cluster-ip", State::Current),
    ("service-headless", State::Current),
    ("service-lb-pending", State::Current),
    ("service-lb-ready", State::Current),
    ("service-external-name", State::Current),
    ("job-complete", State::Current),
    ("job-running", State::InProgress),
    ("job-failed", State::Failed),
    ("job-failure-target", State::Failed),
    ("job-suspended", State::InProgress),
    ("job-new", State::InProgress),
    ("cronjob", State::Current),
    ("pdb-met", State::Current),
    ("pdb-not-met", State::InProgress),
    ("crd-established", State::Current),
    ("crd-installing", State::InProgress),
    ("crd-names-conflict", State::Failed),
    ("namespace-active", State::Current),
    ("namespace-terminating", State::InProgress),
    ("configmap", State::Current),
    ("cr-no-status", State::Current),
    ("cr-ready", State::Current),
    ("cr-not-ready", State::InProgress),
    ("cr-reconciling", State::InProgress),
    ("cr-stalled", State::Failed),
    // Custom resources with a rule in src/custom/rules.json: ready, in progress (including a
    // status written for an older generation), failed, and states that must not fail.
    ("certificate-ready", State::Current),
    ("certificate-issuing", State::InProgress),
    ("certificate-new", State::InProgress),
    ("certificate-stale", State::InProgress),
    ("certificate-request-failed", State::Failed),
    ("certificate-request-denied", State::Failed),
    ("issuer-ca-ready", State::Current),
    ("issuer-ca-secret-missing", State::InProgress),
    ("clusterissuer-acme-ready", State::Current),
    ("clusterissuer-acme-invalid-url", State::Failed),
    ("externalsecret-synced", State::Current),
    ("externalsecret-new", State::InProgress),
    ("externalsecret-stale", State::InProgress),
    ("externalsecret-sync-error", State::Failed),
    ("rollout-healthy", State::Current),
    ("rollout-stale", State::InProgress),
    ("rollout-progressing", State::InProgress),
    ("rollout-paused", State::InProgress),
    ("rollout-aborted", State::Failed),
    ("nodepool-ready", State::Current),
    ("nodepool-nodeclass-not-ready", State::InProgress),
    ("nodepool-invalid", State::Failed),
    ("nodeclaim-ready", State::Current),
    ("nodeclaim-registering", State::InProgress),
    ("nodeclaim-launch-failed", State::InProgress),
    ("kafka-ready", State::Current),
    ("kafka-creating", State::InProgress),
    ("kafka-pods-timeout", State::InProgress),
    ("kafka-invalid", State::Failed),
    ("cnpg-cluster-healthy", State::Current),
    ("cnpg-cluster-setting-up", State::InProgress),
    ("cnpg-cluster-unrecoverable", State::Failed),
    ("helmrelease-ready", State::Current),
    ("helmrelease-installing", State::InProgress),
    ("helmrelease-chart-not-ready", State::InProgress),
    ("helmrelease-install-failed", State::Failed),
    ("kustomization-ready", State::Current),
    ("kustomization-health-check-failed", State::Failed),
    ("kustomization-dependency-not-ready", State::InProgress),
    ("kustomization-artifact-failed", State::InProgress),
    ("scaledobject-ready", State::Current),
    ("scaledobject-new", State::InProgress),
    ("scaledobject-target-missing", State::InProgress),
    ("crossplane-claim-ready", State::Current),
    ("crossplane-claim-waiting", State::InProgress),
    ("crossplane-xr-compose-failed", State::Failed),
    ("crossplane-mr-providerconfig-missing", State::InProgress),
    // Custom resources without a rule: only conditions for the current generation count, and
    // nothing is Failed (only kstatus Stalled, above).
    ("cr-generic-ready-false", State::InProgress),
    ("cr-generic-ready-stale", State::InProgress),
    ("cr-generic-status-generation-stale", State::InProgress),
    ("cr-generic-other-conditions", State::Current),
    // berth.dev/wait on any object.
    ("wait-created-certificate", State::Current),
    ("wait-created-deployment", State::Current),
    ("wait-none-failed-certificate", State::Current),
    ("wait-unknown-value", State::InProgress),
    ("deleting", State::InProgress),
];

#[test]
fn every_fixture_has_its_expected_state() {
    let mut table = String::new();
    let mut wrong = Vec::new();
    for (name, want) in EXPECTED {
        let h = status(&fixture(name));
        if h.state != *want {
            wrong.push(format!(
                "{name}: got {} ({}), want {want}",
                h.state, h.message
            ));
        }
        writeln!(table, "{name:32} {:10} {}", h.state, h.message).unwrap();
    }
    assert!(wrong.is_empty(), "wrong states:\n{}", wrong.join("\n"));
    insta::assert_snapshot!(table);
}

#[test]
fn every_fixture_file_is_in_the_table() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/status");
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry
            .unwrap()
            .file_name()
            .to_string_lossy()
            .trim_end_matches(".json")
            .to_string();
        if !EXPECTED.iter().any(|(n, _)| *n == name) {
            missing.push(name);
        }
    }
    assert!(
        missing.is_empty(),
        "fixtures without an expected state: {missing:?}"
    );
}

#[test]
fn load_balancer_waits_for_its_address_only_with_a_controller() {
    let lb = Options {
        load_balancer_controller: true,
    };
    let pending = status_with(&fixture("service-lb-pending"), &lb);
    assert_eq!(pending.state, State::InProgress);
    assert_eq!(pending.message, "Waiting for the load balancer address");
    let ready = status_with(&fixture("service-lb-ready"), &lb);
    assert_eq!(ready.state, State::Current);
    assert!(
        ready.message.contains("elb.us-east-1.amazonaws.com"),
        "{}",
        ready.message
    );
    // A ClusterIP Service does not care about the option.
    assert_eq!(
        status_with(&fixture("service-cluster-ip"), &lb).state,
        State::Current
    );
}

#[test]
fn missing_object_is_not_found() {
    assert_eq!(status(&Value::Null).state, State::NotFound);
}

#[test]
fn progress_deadline_fails_even_before_the_generation_is_observed() {
    let mut d = fixture("deployment-progress-deadline");
    d["metadata"]["generation"] = 3.into();
    let h = status(&d);
    // The generation lag is checked first, as kstatus does; a later observation fails it.
    assert_eq!(h.state, State::InProgress);
    d["status"]["observedGeneration"] = 3.into();
    assert_eq!(status(&d).state, State::Failed);
}

#[test]
fn odd_objects_do_not_panic() {
    for v in [
        serde_json::json!({}),
        serde_json::json!({"kind": "Deployment", "apiVersion": "apps/v1", "status": "weird"}),
        serde_json::json!({"kind": "Pod", "apiVersion": "v1", "status": {"conditions": "x", "containerStatuses": [1, "a", null]}}),
        serde_json::json!({"kind": "Job", "apiVersion": "batch/v1", "status": {"conditions": [{"type": 1}]}}),
        serde_json::json!([1, 2]),
        serde_json::json!("text"),
    ] {
        let _ = status(&v);
        let _ = berth_health::pod_problem(&v);
    }
}

#[test]
fn kind_rules_apply_only_to_their_group() {
    // A custom resource that happens to be called Deployment follows the generic rules.
    let v = serde_json::json!({"apiVersion": "example.com/v1", "kind": "Deployment", "metadata": {"name": "x"}});
    assert_eq!(status(&v).state, State::Current);
}
