//! End-to-end: `berth up` waits for custom resources by their readiness rules
//! (`berth-health`'s `src/custom/rules.json`) on the local cluster, and stops at once on a
//! failure a rule names.
//!
//! The controllers of these CRDs (cert-manager, External Secrets, Argo Rollouts, Karpenter,
//! Strimzi, CloudNativePG, Flux, KEDA, Crossplane) cannot run on the local cluster, so each
//! test installs a minimal CRD of the real group and kind (any spec, a status subresource) and
//! plays the controller: while `up` waits, it writes the status the real controller writes,
//! through the status subresource as a controller would.

mod common;

use common::{cluster as connect, rules};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use berth_apply::up::{self, object_from_value};
use berth_apply::{Cluster, Error, Event, Target, UpOptions};
use berth_health::State;
use berth_model::{Object, Profile};
use kube::Api;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde_json::{Value, json};

/// Label on the fixture CRDs: a CRD of the same name without it belongs to something real
/// (a test cluster with the actual controller), and its kind is skipped rather than replaced.
const FIXTURE_LABEL: &str = "berth.dev/test-fixture";

/// One kind under test: its CRD, an object of it, and the statuses its controller writes.
struct Case {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    spec: Value,
    /// The status once the controller is done.
    ready: Value,
    /// A status the rule fails at once, with words the error must carry; `None` when the
    /// kind's rule has no failure (its controller retries everything; see rules.json).
    failed: Option<(Value, &'static str)>,
}

fn cond(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": status, "reason": reason, "message": message,
        "lastTransitionTime": "2026-11-29T19:00:00Z", "observedGeneration": 1})
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            group: "cert-manager.io",
            version: "v1",
            kind: "Certificate",
            plural: "certificates",
            namespaced: true,
            spec: json!({"secretName": "web-tls", "dnsNames": ["shop.example.com"], "issuerRef": {"name": "ca", "kind": "Issuer"}}),
            ready: json!({"conditions": [cond("Ready", "True", "Ready", "Certificate is up to date and has not expired")], "revision": 1}),
            failed: Some((
                json!({"conditions": [
                    cond("Ready", "False", "DoesNotExist", "Issuing certificate as Secret does not exist"),
                    cond("Issuing", "False", "Failed", "The certificate request has failed to complete and will be retried: order is in \"invalid\" state")],
                    "failedIssuanceAttempts": 1}),
                "order is in \"invalid\" state",
            )),
        },
        Case {
            group: "cert-manager.io",
            version: "v1",
            kind: "Issuer",
            plural: "issuers",
            namespaced: true,
            spec: json!({"ca": {"secretName": "root-ca"}}),
            ready: json!({"conditions": [cond("Ready", "True", "KeyPairVerified", "Signing CA verified")]}),
            failed: Some((
                json!({"conditions": [cond("Ready", "False", "InvalidConfig", "the ACME issuer config is invalid")]}),
                "InvalidConfig",
            )),
        },
        Case {
            group: "cert-manager.io",
            version: "v1",
            kind: "ClusterIssuer",
            plural: "clusterissuers",
            namespaced: false,
            spec: json!({"acme": {"server": "https://acme.example.com/directory", "privateKeySecretRef": {"name": "acme"}}}),
            ready: json!({"conditions": [cond("Ready", "True", "ACMEAccountRegistered", "The ACME account was registered with the ACME server")]}),
            failed: Some((
                json!({"conditions": [cond("Ready", "False", "InvalidURL", "unsupported protocol scheme \"htps\"")]}),
                "InvalidURL",
            )),
        },
        Case {
            group: "external-secrets.io",
            version: "v1",
            kind: "ExternalSecret",
            plural: "externalsecrets",
            namespaced: true,
            spec: json!({"secretStoreRef": {"name": "aws", "kind": "ClusterSecretStore"}, "target": {"name": "db"}}),
            ready: json!({"syncedResourceVersion": "1-4f2a9c", "refreshTime": "2026-11-29T19:00:00Z",
                "conditions": [{"type": "Ready", "status": "True", "reason": "SecretSynced", "message": "secret synced"}]}),
            failed: Some((
                json!({"conditions": [{"type": "Ready", "status": "False", "reason": "SecretSyncedError", "message": "could not get secret data from provider"}]}),
                "SecretSyncedError",
            )),
        },
        Case {
            group: "argoproj.io",
            version: "v1alpha1",
            kind: "Rollout",
            plural: "rollouts",
            namespaced: true,
            spec: json!({"replicas": 1, "selector": {"matchLabels": {"app": "web"}}}),
            ready: json!({"observedGeneration": "1", "phase": "Healthy", "replicas": 1, "availableReplicas": 1}),
            failed: Some((
                json!({"observedGeneration": "1", "phase": "Degraded", "abort": true,
                    "message": "RolloutAborted: Rollout aborted update to revision 2"}),
                "RolloutAborted",
            )),
        },
        Case {
            group: "karpenter.sh",
            version: "v1",
            kind: "NodePool",
            plural: "nodepools",
            namespaced: false,
            spec: json!({"template": {"spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}}}}),
            ready: json!({"conditions": [
                cond("ValidationSucceeded", "True", "ValidationSucceeded", ""),
                cond("NodeClassReady", "True", "NodeClassReady", ""),
                cond("Ready", "True", "Ready", "")]}),
            failed: Some((
                json!({"conditions": [
                    cond("ValidationSucceeded", "False", "NodePoolValidationFailed", "restricted label \"kubernetes.io/hostname\""),
                    cond("Ready", "False", "UnhealthyDependents", "ValidationSucceeded=False")]}),
                "NodePoolValidationFailed",
            )),
        },
        Case {
            group: "karpenter.sh",
            version: "v1",
            kind: "NodeClaim",
            plural: "nodeclaims",
            namespaced: false,
            spec: json!({"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}}),
            ready: json!({"conditions": [
                cond("Launched", "True", "Launched", ""), cond("Registered", "True", "Registered", ""),
                cond("Initialized", "True", "Initialized", ""), cond("Ready", "True", "Ready", "")]}),
            // Karpenter replaces a NodeClaim that cannot launch or register: nothing is final.
            failed: None,
        },
        Case {
            group: "kafka.strimzi.io",
            version: "v1beta2",
            kind: "Kafka",
            plural: "kafkas",
            namespaced: true,
            spec: json!({"kafka": {"version": "3.9.0"}}),
            ready: json!({"observedGeneration": 1, "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-29T19:00:00Z"}]}),
            failed: Some((
                json!({"observedGeneration": 1, "conditions": [{"type": "NotReady", "status": "True",
                    "reason": "InvalidResourceException", "message": "The Kafka cluster events is invalid"}]}),
                "InvalidResourceException",
            )),
        },
        Case {
            group: "postgresql.cnpg.io",
            version: "v1",
            kind: "Cluster",
            plural: "clusters",
            namespaced: true,
            spec: json!({"instances": 1, "storage": {"size": "1Gi"}}),
            ready: json!({"phase": "Cluster in healthy state", "instances": 1, "readyInstances": 1,
                "conditions": [cond("Ready", "True", "ClusterIsReady", "Cluster is Ready")]}),
            failed: Some((
                json!({"phase": "Cluster is unrecoverable and needs manual intervention", "phaseReason": "Missing primary PVC"}),
                "needs manual intervention",
            )),
        },
        Case {
            group: "helm.toolkit.fluxcd.io",
            version: "v2",
            kind: "HelmRelease",
            plural: "helmreleases",
            namespaced: true,
            spec: json!({"interval": "10m", "chart": {"spec": {"chart": "podinfo", "sourceRef": {"kind": "HelmRepository", "name": "podinfo"}}}}),
            ready: json!({"observedGeneration": 1, "conditions": [
                cond("Ready", "True", "InstallSucceeded", "Helm install succeeded for release podinfo.v1")]}),
            failed: Some((
                json!({"observedGeneration": 1, "conditions": [
                    cond("Ready", "False", "InstallFailed", "Helm install failed for release podinfo: context deadline exceeded")]}),
                "InstallFailed",
            )),
        },
        Case {
            group: "kustomize.toolkit.fluxcd.io",
            version: "v1",
            kind: "Kustomization",
            plural: "kustomizations",
            namespaced: true,
            spec: json!({"interval": "10m", "path": "./apps", "prune": true, "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}),
            ready: json!({"observedGeneration": 1, "conditions": [
                cond("Ready", "True", "ReconciliationSucceeded", "Applied revision: main@sha1:6b7c3f1")]}),
            // Flux keeps Reconciling=True while it retries; the failure still stops `up`.
            failed: Some((
                json!({"observedGeneration": 1, "conditions": [
                    cond("Reconciling", "True", "ProgressingWithRetry", "retrying"),
                    cond("Ready", "False", "BuildFailed", "kustomization path not found")]}),
                "BuildFailed",
            )),
        },
        Case {
            group: "keda.sh",
            version: "v1alpha1",
            kind: "ScaledObject",
            plural: "scaledobjects",
            namespaced: true,
            spec: json!({"scaleTargetRef": {"name": "worker"}, "triggers": [{"type": "cpu", "metadata": {"value": "70"}}]}),
            // Active=False only means no load.
            ready: json!({"conditions": [
                {"type": "Ready", "status": "True", "reason": "ScaledObjectReady", "message": "ScaledObject is defined correctly and is ready for scaling"},
                {"type": "Active", "status": "False", "reason": "ScalerNotActive", "message": "Scaling is not performed because triggers are not active"}]}),
            // KEDA retries ScaledObjectCheckFailed, which often means the target is not created yet.
            failed: None,
        },
        Case {
            // A Crossplane claim: any group; its CRD defaults spec.compositeDeletePolicy.
            group: "platform.example.org",
            version: "v1alpha1",
            kind: "Database",
            plural: "databases",
            namespaced: true,
            spec: json!({"parameters": {"size": "small"}, "compositeDeletePolicy": "Background"}),
            ready: json!({"conditions": [
                {"type": "Synced", "status": "True", "reason": "ReconcileSuccess", "lastTransitionTime": "2026-11-29T19:00:00Z"},
                {"type": "Ready", "status": "True", "reason": "Available", "lastTransitionTime": "2026-11-29T19:00:00Z"}]}),
            failed: Some((
                json!({"conditions": [
                    {"type": "Synced", "status": "False", "reason": "ReconcileError", "lastTransitionTime": "2026-11-29T19:00:00Z",
                        "message": "cannot compose resources: cannot apply patch: expected string, got number"},
                    {"type": "Ready", "status": "False", "reason": "Creating", "lastTransitionTime": "2026-11-29T19:00:00Z"}]}),
                "cannot compose resources",
            )),
        },
    ]
}

fn crd(c: &Case) -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{}.{}", c.plural, c.group), "labels": {FIXTURE_LABEL: "custom-resources"}},
        "spec": {"group": c.group, "scope": if c.namespaced { "Namespaced" } else { "Cluster" },
            "names": {"plural": c.plural, "kind": c.kind, "singular": c.kind.to_lowercase()},
            "versions": [{"name": c.version, "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}]}})
}

fn crd_api(client: &kube::Client) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition");
    Api::all_with(
        client.clone(),
        &ApiResource::from_gvk_with_plural(&gvk, "customresourcedefinitions"),
    )
}

/// Installs the fixture CRDs and waits until they are established; returns the cases whose
/// CRD is ours (a real CRD of the same name is left alone and its kind skipped).
async fn install(client: &kube::Client) -> Vec<Case> {
    let api = crd_api(client);
    let mut usable = Vec::new();
    for c in cases() {
        let name = format!("{}.{}", c.plural, c.group);
        if let Ok(existing) = api.get(&name).await {
            let ours = existing
                .metadata
                .labels
                .as_ref()
                .is_some_and(|l| l.contains_key(FIXTURE_LABEL));
            if !ours {
                eprintln!("skipping {}: the cluster has a real CRD {name}", c.kind);
                continue;
            }
        }
        berth_local::testing::apply(client, [&crd(&c)]).await;
        usable.push(c);
    }
    for c in &usable {
        let name = format!("{}.{}", c.plural, c.group);
        let mut established = false;
        for _ in 0..100 {
            if let Ok(live) = api.get(&name).await {
                let live = serde_json::to_value(&live).unwrap_or(Value::Null);
                if berth_health::status(&live).state == State::Current {
                    established = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(established, "CRD {name} was not established");
    }
    usable
}

/// What the test writes as the controller.
#[derive(Clone, Copy)]
enum Outcome {
    Ready,
    Failed,
}

/// Runs `up` with one object of `case` while playing its controller: once the object exists
/// (and is waited for: it has no status yet), writes the ready or failed status. Returns what
/// `up` returned.
async fn run(
    cluster: &Cluster,
    client: &kube::Client,
    case: &Case,
    outcome: Outcome,
) -> Result<up::UpReport, Error> {
    let prefix = format!("cr-{}", case.plural.trim_end_matches('s'));
    let ns = berth_local::testing::namespace(client, &prefix).await;
    let name = if case.namespaced {
        case.plural.trim_end_matches('s').to_string()
    } else {
        ns.clone()
    };
    let mut metadata = json!({"name": name});
    if case.namespaced {
        metadata["namespace"] = json!(ns);
    }
    let object = json!({"apiVersion": format!("{}/{}", case.group, case.version), "kind": case.kind,
        "metadata": metadata, "spec": case.spec});
    let objects: Vec<Object> = vec![object_from_value(object, "app")];
    let values = BTreeMap::new();
    let target = Target {
        stack: &ns,
        namespace: &ns,
        objects: &objects,
        components: &[],
        values: &values,
        profile: Profile::Local,
    };
    // Longer than the guard below: a failure must stop `up` itself, not its timeout.
    let opts = UpOptions {
        timeout: Duration::from_secs(300),
        ..UpOptions::default()
    };
    let sink = |_: Event| {};
    let done = AtomicBool::new(false);
    let gvk = GroupVersionKind::gvk(case.group, case.version, case.kind);
    let resource = ApiResource::from_gvk_with_plural(&gvk, case.plural);
    let api: Api<DynamicObject> = if case.namespaced {
        Api::namespaced_with(client.clone(), &ns, &resource)
    } else {
        Api::all_with(client.clone(), &resource)
    };

    let up = async {
        let r = up::up(cluster, target, &opts, rules(), &sink).await;
        done.store(true, Ordering::SeqCst);
        r
    };
    let controller = async {
        let mut live = None;
        for _ in 0..300 {
            if let Ok(o) = api.get(&name).await {
                live = Some(o);
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let live = live.unwrap_or_else(|| panic!("{} {name} was never created", case.kind));
        let before = berth_health::status(&serde_json::to_value(&live).unwrap_or(Value::Null));
        assert_eq!(
            before.state,
            State::InProgress,
            "{} without a status must be waited for: {}",
            case.kind,
            before.message
        );
        assert!(
            !done.load(Ordering::SeqCst),
            "up returned before {} had a status",
            case.kind
        );
        let status = match (outcome, &case.failed) {
            (Outcome::Ready, _) => case.ready.clone(),
            (Outcome::Failed, Some((status, _))) => status.clone(),
            (Outcome::Failed, None) => unreachable!("only cases with a failure are run to fail"),
        };
        api.patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
        .unwrap_or_else(|e| panic!("write the status of {} {name}: {e}", case.kind));
    };
    let (result, ()) = tokio::join!(
        tokio::time::timeout(Duration::from_secs(200), up),
        controller
    );
    let what = match outcome {
        Outcome::Ready => "ready",
        Outcome::Failed => "failed",
    };
    let Ok(result) = result else {
        panic!(
            "up did not return within 200s after the {what} status of {} was written",
            case.kind
        );
    };
    if !case.namespaced {
        let _ = api.delete(&name, &Default::default()).await;
    }
    berth_local::testing::delete_namespace(client, &ns).await;
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn up_returns_once_the_controller_writes_ready() {
    let client = berth_local::testing::client().await;
    let cases = install(&client).await;
    let cluster = connect().await;
    let results = futures::future::join_all(
        cases
            .iter()
            .map(|c| run(&cluster, &client, c, Outcome::Ready)),
    )
    .await;
    let wrong: Vec<String> = cases
        .iter()
        .zip(results)
        .filter_map(|(c, r)| r.err().map(|e| format!("{}: {e}", c.kind)))
        .collect();
    assert!(wrong.is_empty(), "up failed:\n{}", wrong.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn up_fails_at_once_on_the_failure_the_controller_writes() {
    let client = berth_local::testing::client().await;
    let cases: Vec<Case> = install(&client)
        .await
        .into_iter()
        .filter(|c| c.failed.is_some())
        .collect();
    let cluster = connect().await;
    let results = futures::future::join_all(
        cases
            .iter()
            .map(|c| run(&cluster, &client, c, Outcome::Failed)),
    )
    .await;
    let mut wrong = Vec::new();
    for (c, r) in cases.iter().zip(results) {
        let words = c.failed.as_ref().map_or("", |(_, w)| *w);
        match r {
            Ok(report) => wrong.push(format!("{}: up succeeded: {report:?}", c.kind)),
            Err(e @ Error::Timeout { .. }) => {
                wrong.push(format!("{}: timed out instead of failing: {e}", c.kind))
            }
            Err(e) if !e.to_string().contains(words) => {
                wrong.push(format!("{}: the error does not say {words:?}: {e}", c.kind))
            }
            Err(_) => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
