//! The rules file's shape, and the matching engine's edge cases. Per-kind behaviour on
//! realistic objects is in `tests/status.rs` (fixtures under `tests/fixtures/status/`).

use serde_json::json;

use super::*;
use crate::{State, status};

#[test]
fn rules_file_is_valid() {
    let rules = &*RULES;
    assert!(rules.len() >= 12, "{} rules", rules.len());
    let mut seen = std::collections::BTreeSet::new();
    for r in rules {
        let by_kind = !r.group.is_empty() && !r.kinds.is_empty();
        let by_conditions = !r.has_conditions.is_empty();
        assert!(
            by_kind != by_conditions,
            "{r:?}: group+kinds or hasConditions"
        );
        for k in &r.kinds {
            assert!(
                seen.insert((r.group.clone(), k.clone())),
                "{}/{k} twice",
                r.group
            );
        }
        assert!(r.observed_generation.starts_with('/'), "{r:?}");
        assert!(
            r.message.as_deref().is_none_or(|m| m.starts_with('/')),
            "{r:?}"
        );
        assert!(!r.ready.is_empty(), "{r:?}: no ready matcher");
        for m in r.ready.iter().chain(&r.progressing).chain(&r.failed) {
            match (&m.condition, &m.field) {
                (Some(_), None) => {
                    let status = m.status.as_deref();
                    assert!(
                        matches!(status, Some("True" | "False" | "Unknown")),
                        "{m:?}: status must be True, False or Unknown"
                    );
                    assert!(m.values.is_empty(), "{m:?}: values on a condition");
                }
                (None, Some(field)) => {
                    assert!(field.starts_with('/'), "{m:?}: field is a JSON pointer");
                    assert!(!m.values.is_empty(), "{m:?}: field without values");
                    assert!(
                        m.status.is_none() && m.reasons.is_empty() && m.unless_message.is_empty(),
                        "{m:?}"
                    );
                }
                _ => panic!("{m:?}: exactly one of condition and field"),
            }
        }
    }
}

#[test]
fn generations_are_read_as_controllers_write_them() {
    assert_eq!(generation(&json!(3)), Some(3));
    assert_eq!(generation(&json!("7")), Some(7)); // Argo Rollouts
    assert_eq!(generation(&json!("4-5f2b9c")), Some(4)); // External Secrets
    assert_eq!(generation(&json!("7d9f8b6c5")), None); // an old Rollouts hash
    assert_eq!(generation(&json!("")), None);
    assert_eq!(generation(&json!(null)), None);
}

fn cr(group: &str, kind: &str, generation: i64, status: serde_json::Value) -> serde_json::Value {
    json!({"apiVersion": format!("{group}/v1"), "kind": kind,
        "metadata": {"name": "x", "namespace": "ns", "generation": generation}, "status": status})
}

#[test]
fn a_failure_written_for_an_older_spec_does_not_fail() {
    // Karpenter writes observedGeneration on each condition.
    let failed = json!({"conditions": [
        {"type": "ValidationSucceeded", "status": "False", "reason": "NodeClassRefInvalid", "observedGeneration": 1},
        {"type": "Ready", "status": "False", "reason": "UnhealthyDependents", "observedGeneration": 1}]});
    assert_eq!(
        status(&cr("karpenter.sh", "NodePool", 1, failed.clone())).state,
        State::Failed
    );
    assert_eq!(
        status(&cr("karpenter.sh", "NodePool", 2, failed)).state,
        State::InProgress
    );
    // External Secrets' last good sync was for generation 1; the failure may be about it.
    let es = json!({"syncedResourceVersion": "1-9f8e7d", "conditions": [
        {"type": "Ready", "status": "False", "reason": "SecretSyncedError", "message": "could not get secret data from provider"}]});
    let h = status(&cr("external-secrets.io", "ExternalSecret", 2, es.clone()));
    assert_eq!(h.state, State::InProgress, "{}", h.message);
    assert_eq!(
        status(&cr("external-secrets.io", "ExternalSecret", 1, es)).state,
        State::Failed
    );
}

#[test]
fn a_ready_condition_for_an_older_generation_is_not_ready() {
    let ready = json!({"conditions": [{"type": "Ready", "status": "True", "reason": "Ready", "observedGeneration": 2}]});
    let h = status(&cr("example.com", "Widget", 3, ready.clone()));
    assert_eq!(h.state, State::InProgress);
    assert_eq!(
        h.message,
        "Ready=True: Ready (for generation 2; waiting for generation 3)"
    );
    assert_eq!(
        status(&cr("example.com", "Widget", 2, ready)).state,
        State::Current
    );
}

#[test]
fn unless_message_keeps_a_missing_reference_waiting() {
    let synced_error = |message: &str| {
        json!({"conditions": [
            {"type": "Synced", "status": "False", "reason": "ReconcileError", "message": message},
            {"type": "Ready", "status": "False", "reason": "Creating"}]})
    };
    let missing = synced_error(
        "cannot resolve references: mg.Spec.ForProvider.VPCID: referenced field was empty (referenced resource may not yet be ready)",
    );
    assert_eq!(
        status(&cr("ec2.aws.upbound.io", "Subnet", 1, missing)).state,
        State::InProgress
    );
    let refused =
        synced_error("create failed: InvalidParameterValue: invalid CIDR block 10.0.0.0/33");
    assert_eq!(
        status(&cr("ec2.aws.upbound.io", "Subnet", 1, refused)).state,
        State::Failed
    );
}

#[test]
fn generic_rule_reads_ready_then_available_then_succeeded_and_never_fails() {
    let with = |conditions: serde_json::Value| {
        status(&cr(
            "example.com",
            "Widget",
            1,
            json!({"conditions": conditions}),
        ))
    };
    assert_eq!(
        with(json!([{"type": "Available", "status": "True"}])).state,
        State::Current
    );
    assert_eq!(
        with(json!([{"type": "Available", "status": "False"}])).state,
        State::InProgress
    );
    // Ready decides before Available.
    let both =
        json!([{"type": "Available", "status": "True"}, {"type": "Ready", "status": "Unknown"}]);
    assert_eq!(with(both).state, State::InProgress);
    // Tekton's Succeeded=False is final for Tekton, but only a rule may say so.
    let h = with(json!([{"type": "Succeeded", "status": "False", "reason": "Failed"}]));
    assert_eq!(h.state, State::InProgress);
    // Conditions of other types: nothing to wait for.
    assert_eq!(
        with(json!([{"type": "Healthy", "status": "False"}])).state,
        State::Current
    );
    assert_eq!(with(json!([])).state, State::Current);
}

#[test]
fn crossplane_objects_wait_for_their_conditions_before_the_controller_writes_any() {
    // A claim's CRD defaults spec.compositeDeletePolicy; a managed resource has forProvider.
    let claim = json!({"apiVersion": "platform.example.org/v1alpha1", "kind": "Database",
        "metadata": {"name": "db", "namespace": "shop", "generation": 1},
        "spec": {"parameters": {"size": "small"}, "compositeDeletePolicy": "Background"}});
    let h = status(&claim);
    assert_eq!(
        (h.state, h.message.as_str()),
        (State::InProgress, "Waiting for condition Synced")
    );
    let mr = json!({"apiVersion": "s3.aws.upbound.io/v1beta1", "kind": "Bucket",
        "metadata": {"name": "b", "generation": 1},
        "spec": {"forProvider": {"region": "eu-west-1"}, "providerConfigRef": {"name": "default"}}});
    assert_eq!(status(&mr).state, State::InProgress);
    // Any other custom resource without status is Current once created.
    let other = json!({"apiVersion": "platform.example.org/v1alpha1", "kind": "Database",
        "metadata": {"name": "db", "namespace": "shop", "generation": 1}, "spec": {"size": "small"}});
    assert_eq!(status(&other).state, State::Current);
}

#[test]
fn a_renewal_in_progress_does_not_hold_a_ready_certificate_back() {
    let renewing = json!({"conditions": [
        {"type": "Ready", "status": "True", "reason": "Ready", "message": "Certificate is up to date and has not expired", "observedGeneration": 1},
        {"type": "Issuing", "status": "True", "reason": "Renewing", "message": "Renewing certificate as renewal was scheduled at 2027-01-20 08:34:09 +0000 UTC", "observedGeneration": 1}]});
    assert_eq!(
        status(&cr("cert-manager.io", "Certificate", 1, renewing)).state,
        State::Current
    );
}

#[test]
fn a_degraded_rollout_of_an_older_generation_waits_for_the_new_one() {
    // Argo Rollouts writes observedGeneration as a string.
    let degraded = json!({"observedGeneration": "3", "phase": "Degraded", "message": "ProgressDeadlineExceeded: ReplicaSet \"web-6d4f8b7c9\" has timed out progressing."});
    let h = status(&cr("argoproj.io", "Rollout", 4, degraded.clone()));
    assert_eq!(
        (h.state, h.message.as_str()),
        (
            State::InProgress,
            "Generation 4 not observed yet (observed 3)"
        )
    );
    let h = status(&cr("argoproj.io", "Rollout", 3, degraded));
    assert_eq!(h.state, State::Failed);
    assert!(
        h.message
            .starts_with("status.phase is Degraded: ProgressDeadlineExceeded"),
        "{}",
        h.message
    );
}
