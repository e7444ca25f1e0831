//! Saved plans on the local test cluster: `berth plan --out FILE` then `berth up --plan FILE`
//! applies exactly what was reviewed; a stack that renders other objects is refused (exit 2),
//! and so is a cluster where someone changed the plan's objects since (exit 1, named); a
//! controller writing status is no change. The plan file holds no secret value.

use std::path::Path;
use std::process::{Command, Output};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};

const TOKEN: &str = "saved-plan-token-6120";

fn write_stack(dir: &Path, ns: &str, mode: &str) {
    std::fs::write(
        dir.join("berth.yaml"),
        format!(
            "stack: saved\nnamespace: {ns}\nprofile: local\ncomponents:\n  app: {{manifests: app.yaml}}\nsecrets:\n  api:\n    data:\n      token: {{ env: BERTH_SAVED_PLAN_TOKEN }}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("app.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata: {{mode: {mode}}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n        - name: web\n          image: registry.example.com/web:1.0.0\n          envFrom: [{{configMapRef: {{name: settings}}}}, {{secretRef: {{name: api}}}}]\n          resources: {{requests: {{cpu: 10m, memory: 16Mi}}, limits: {{memory: 16Mi}}}}\n"
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

#[tokio::test]
async fn a_saved_plan_applies_only_while_stack_and_cluster_are_as_planned() {
    let dir = tempfile::tempdir().unwrap();
    let ns = format!("saved-{}", std::process::id());
    write_stack(dir.path(), &ns, "fast");
    let berth = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .arg(dir.path())
            .env("KUBECONFIG", berth_local::testing::kubeconfig())
            .env("BERTH_SAVED_PLAN_TOKEN", TOKEN)
            .output()
            .unwrap()
    };
    let plan_file = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    let client = berth_local::testing::client().await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let deployments: Api<Deployment> = Api::namespaced(client, &ns);

    // Plan, then apply that plan.
    let first = plan_file("first.json");
    let out = berth(&["plan", "--out", &first]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let saved = std::fs::read_to_string(&first).unwrap();
    assert!(saved.contains("\"stack\": \"saved\""), "{saved}");
    assert!(
        !saved.contains(TOKEN),
        "the plan file holds the secret value"
    );
    let out = berth(&["up", "--yes", "--timeout", "2m", "--plan", &first]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Applied, the plan is spent: its objects were created since it was made.
    let out = berth(&["up", "--yes", "--plan", &first]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("ConfigMap/"), "{}", text(&out));
    assert!(text(&out).contains("created since"), "{}", text(&out));

    // A controller writing status is no change: the plan still applies.
    let second = plan_file("second.json");
    let out = berth(&["plan", "--out", &second]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Playing the Deployment controller's part: a status write.
    deployments
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"status": {"observedGeneration": 1, "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "written by the test"}]}})),
        )
        .await
        .unwrap();
    let out = berth(&["up", "--yes", "--timeout", "2m", "--plan", &second]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Someone edits the ConfigMap behind berth's back: refused, the object named.
    let third = plan_file("third.json");
    let out = berth(&["plan", "--out", &third]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    config_maps
        .patch(
            "settings",
            &PatchParams::apply("someone-else").force(),
            &Patch::Apply(serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"mode": "slow"}})),
        )
        .await
        .unwrap();
    let out = berth(&["up", "--yes", "--plan", &third]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("ConfigMap/{ns}/settings (changed since)")),
        "{}",
        text(&out)
    );
    assert_eq!(
        config_maps.get("settings").await.unwrap().data.unwrap()["mode"],
        "slow",
        "a refused plan applied something"
    );

    // The stack changes after the plan: refused as bad input.
    let fourth = plan_file("fourth.json");
    let out = berth(&["plan", "--out", &fourth]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    write_stack(dir.path(), &ns, "faster");
    let out = berth(&["up", "--yes", "--plan", &fourth]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("no longer renders"), "{}", text(&out));

    let out = berth(&["down", "--yes", "--purge"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
