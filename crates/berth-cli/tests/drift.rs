//! Drift on the local test cluster: after `berth up`, `kubectl scale` of a Deployment and
//! `kubectl patch` of a ConfigMap key show in `berth status` with the field path and the
//! manager, and `berth plan` shows both as changes `up` would revert. Must not: a controller's
//! status write, and an HPA's `spec.replicas` on a target berth leaves `replicas` out of, are
//! no drift; after `up --force-conflicts` (which takes the fields back) there is none. A
//! plain `up` stops at the conflict server-side apply reports.

use std::path::Path;
use std::process::{Command, Output};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, Patch, PatchParams};
use serde_json::{Value, json};

fn write_stack(dir: &Path, ns: &str) {
    std::fs::write(
        dir.join("berth.yaml"),
        format!("stack: drift\nnamespace: {ns}\nprofile: local\ncomponents:\n  app: {{manifests: app.yaml}}\n"),
    )
    .unwrap();
    let deployment = |name: &str, replicas: &str| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n{replicas}  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      containers:\n        - name: {name}\n          image: registry.example.com/{name}:1.0.0\n          envFrom: [{{configMapRef: {{name: settings}}}}]\n          resources: {{requests: {{cpu: 10m, memory: 16Mi}}, limits: {{memory: 16Mi}}}}\n"
        )
    };
    std::fs::write(
        dir.join("app.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata: {{mode: fast, level: info}}\n---\n{}---\n{}---\n\
             apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: worker}}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: worker}}\n  minReplicas: 1\n  maxReplicas: 5\n  metrics: [{{type: Resource, resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 80}}}}}}]\n",
            deployment("web", "  replicas: 1\n"),
            deployment("worker", ""),
        ),
    )
    .unwrap();
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `berth status --format json` as (object, drift) pairs, the object as `Kind/ns/name`.
fn drift_of(out: &Output) -> Vec<(String, Vec<Value>)> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            let o = &v["object"];
            let key = format!(
                "{}/{}/{}",
                o["kind"].as_str().unwrap_or(""),
                o["namespace"].as_str().unwrap_or(""),
                o["name"].as_str().unwrap_or("")
            );
            (key, v["drift"].as_array().cloned().unwrap_or_default())
        })
        .collect()
}

#[tokio::test]
async fn status_names_fields_others_changed_and_plan_reverts_them() {
    let kubectl = berth_local::binaries::find()
        .expect("this test needs berth's kubectl: run `berth local build`")
        .kubectl;
    let dir = tempfile::tempdir().unwrap();
    let ns = format!("drift-{}", std::process::id());
    write_stack(dir.path(), &ns);
    let kubeconfig = berth_local::testing::kubeconfig();
    let berth = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .arg(dir.path())
            .env("KUBECONFIG", &kubeconfig)
            .output()
            .unwrap()
    };
    let kubectl = |args: &[&str]| {
        let out = Command::new(&kubectl)
            .args(["--kubeconfig", &kubeconfig.to_string_lossy(), "-n", &ns])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "kubectl {args:?}: {}", text(&out));
    };
    let client = berth_local::testing::client().await;
    let deployments: Api<Deployment> = Api::namespaced(client, &ns);

    let out = berth(&["up", "--yes", "--timeout", "2m"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = berth(&["status", "--fail-on-drift"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&out).contains("DRIFT"), "{}", text(&out));

    // Someone scales and edits behind berth's back.
    kubectl(&["scale", "deployment/web", "--replicas=3"]);
    kubectl(&[
        "patch",
        "configmap/settings",
        "-p",
        r#"{"data":{"mode":"slow"}}"#,
    ]);
    // Must not: playing the Deployment controller, a status write...
    deployments
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "written by the test"}]}})),
        )
        .await
        .unwrap();
    // ...and playing the HPA controller, a scale of the target berth leaves `replicas` out
    // of (the real HPA writes the scale subresource as kube-controller-manager; it has no
    // CPU metrics to act on here).
    deployments
        .patch_scale(
            "worker",
            &PatchParams {
                field_manager: Some("kube-controller-manager".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await
        .unwrap();

    let out = berth(&["status", "--format", "json"]);
    let drift = drift_of(&out);
    let of = |key: &str| -> Vec<Value> {
        drift
            .iter()
            .find(|(k, _)| k == key)
            .unwrap_or_else(|| panic!("{key} not in status: {}", text(&out)))
            .1
            .clone()
    };
    let web = of(&format!("Deployment/{ns}/web"));
    assert_eq!(web.len(), 1, "{}", text(&out));
    assert_eq!(web[0]["path"], "spec.replicas", "{}", text(&out));
    assert!(
        web[0]["manager"]
            .as_str()
            .is_some_and(|m| m.starts_with("kubectl")),
        "{}",
        text(&out)
    );
    let settings = of(&format!("ConfigMap/{ns}/settings"));
    assert_eq!(settings.len(), 1, "{}", text(&out));
    assert_eq!(settings[0]["path"], "data.mode", "{}", text(&out));
    assert_eq!(settings[0]["manager"], "kubectl-patch", "{}", text(&out));
    assert_eq!(
        of(&format!("Deployment/{ns}/worker")),
        Vec::<Value>::new(),
        "{}",
        text(&out)
    );
    assert_eq!(
        drift.iter().map(|(_, d)| d.len()).sum::<usize>(),
        2,
        "{}",
        text(&out)
    );

    // The human output names object, path and manager; drift fails only when asked to.
    let out = berth(&["status", "--fail-on-drift"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let human = text(&out);
    assert!(human.contains("DRIFT"), "{human}");
    assert!(
        human.contains(&format!(
            "Deployment/{ns}/web\n    spec.replicas  by kubectl"
        )),
        "{human}"
    );
    assert!(
        human.contains(&format!(
            "ConfigMap/{ns}/settings\n    data.mode  by kubectl-patch (Update"
        )),
        "{human}"
    );
    let start = std::time::Instant::now();
    loop {
        // The scaled Deployment settles (kwok readies its pods); drift alone is exit 0.
        let out = berth(&["status"]);
        if out.status.code() == Some(0) {
            assert!(text(&out).contains("DRIFT"), "{}", text(&out));
            break;
        }
        assert!(
            start.elapsed().as_secs() < 60,
            "status never became 0: {}",
            text(&out)
        );
        std::thread::sleep(std::time::Duration::from_secs(1));
    }

    // plan shows both as changes `up` reverts, and leaves the HPA's replicas alone.
    let out = berth(&["plan"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plan = text(&out);
    assert!(
        plan.contains(&format!("~ update Deployment/{ns}/web")),
        "{plan}"
    );
    // A diff line: `-` or `+`, then the field as the JSON diff shows it.
    let line = |sign: &str, field: &str| {
        plan.lines()
            .any(|l| l.trim_start().starts_with(sign) && l.contains(field))
    };
    assert!(
        line("-", r#""replicas": 3"#) && line("+", r#""replicas": 1"#),
        "{plan}"
    );
    assert!(
        plan.contains(&format!("~ update ConfigMap/{ns}/settings")),
        "{plan}"
    );
    assert!(
        line("-", r#""mode": "slow""#) && line("+", r#""mode": "fast""#),
        "{plan}"
    );
    assert!(
        !plan.contains(&format!("update Deployment/{ns}/worker")),
        "{plan}"
    );
    // plan says up needs --force-conflicts to take the fields back, naming them.
    assert!(
        plan.contains("someone else changed spec.replicas (by kubectl)")
            && plan.contains("data.mode")
            && plan.contains("`berth up --force-conflicts` takes"),
        "{plan}"
    );

    // A plain `up` does not override someone else's change silently: server-side apply
    // reports the conflict, and berth says how to take the fields over.
    let out = berth(&["up", "--yes", "--timeout", "2m"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("--force-conflicts"), "{}", text(&out));
    // `up --force-conflicts` takes the fields back: no drift left.
    let out = berth(&["up", "--yes", "--force-conflicts", "--timeout", "2m"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = berth(&["status", "--format", "json", "--fail-on-drift"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        drift_of(&out).iter().all(|(_, d)| d.is_empty()),
        "{}",
        text(&out)
    );
    let web = deployments.get("web").await.unwrap();
    assert_eq!(web.spec.and_then(|s| s.replicas), Some(1));

    berth_local::testing::delete_namespace(&berth_local::testing::client().await, &ns).await;
}
