//! berth with the credentials a platform team hands a deployer: a ServiceAccount whose Role
//! allows everything in one namespace and nothing elsewhere. `up`, `status`, `plan`, `doctor`
//! and `down` of a stack that lives in that namespace work; a write outside it exits 3 naming
//! the verb, resource and namespace refused and the rule that would allow it. Without any
//! kubeconfig, berth says where it looked. Runs the real binary against the local test cluster.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};
use serde_json::json;

fn berth(kubeconfig: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
    c.env("KUBECONFIG", kubeconfig);
    c
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A kubeconfig for ServiceAccount `sa` of `ns` on the local test cluster (a bound token).
async fn kubeconfig_for(client: &kube::Client, ns: &str, sa: &str, dir: &Path) -> PathBuf {
    let admin = kube::config::Kubeconfig::read_from(berth_local::testing::kubeconfig())
        .expect("read the test kubeconfig");
    let cluster = admin.clusters[0].cluster.clone().expect("cluster entry");
    let request: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 3600}}))
            .unwrap();
    let token: TokenRequest = Api::<ServiceAccount>::namespaced(client.clone(), ns)
        .create_subresource("token", sa, &PostParams::default(), &request)
        .await
        .expect("a token for the ServiceAccount");
    let token = token.status.expect("token status").token;
    let config = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": cluster.server,
            "certificate-authority-data": cluster.certificate_authority_data}}],
        "users": [{"name": sa, "user": {"token": token}}],
        "contexts": [{"name": "deployer", "context": {"cluster": "local", "user": sa, "namespace": ns}}],
        "current-context": "deployer",
    });
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_json::to_string(&config).unwrap()).unwrap();
    path
}

fn write_stack(dir: &Path, ns: &str, extra: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("berth.yaml"),
        format!("stack: team\nnamespace: {ns}\nprofile: local\ncomponents:\n  app: {{manifests: app.yaml}}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("app.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata: {{mode: fast}}\n---\n\
apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n        - name: web\n          image: registry.example.com/shop/web:1.4.2\n          envFrom: [{{configMapRef: {{name: settings}}}}]\n          resources: {{requests: {{cpu: 100m, memory: 64Mi}}, limits: {{memory: 64Mi}}}}\n          readinessProbe: {{httpGet: {{path: /, port: 8080}}}}\n---\n\
apiVersion: v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  selector: {{app: web}}\n  ports: [{{port: 80, targetPort: 8080}}]\n{extra}"
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespaced_service_account_runs_the_stack_and_a_forbidden_write_exits_3() {
    let client = berth_local::testing::client().await;
    let ns = berth_local::testing::namespace(&client, "rbac").await;
    let other = berth_local::testing::namespace(&client, "rbac-other").await;
    // Everything in its namespace; in the other one it may read, not write.
    let rbac = [
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "deployer", "namespace": ns}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "deployer", "namespace": ns},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "deployer", "namespace": ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": ns}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "reader", "namespace": other},
            "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "reader", "namespace": other},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": ns}]}),
    ];
    berth_local::testing::apply(&client, &rbac).await;
    let dir = std::env::temp_dir().join(format!("berth-{ns}"));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = kubeconfig_for(&client, &ns, "deployer", &dir).await;
    let stack = dir.join("stack");
    write_stack(&stack, &ns, "");

    let run = |args: &[&str]| {
        berth(&kubeconfig)
            .args(args)
            .arg(&stack)
            .output()
            .expect("run berth")
    };
    let up = run(&["up", "--yes", "--timeout", "2m"]);
    let status = run(&["status"]);
    let plan = run(&["plan"]);
    let doctor = run(&["doctor"]);

    // A ConfigMap in the other namespace: reading is allowed, writing is not.
    let outside = dir.join("outside");
    write_stack(
        &outside,
        &ns,
        &format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: shared, namespace: {other}}}\ndata: {{a: b}}\n"
        ),
    );
    let forbidden = berth(&kubeconfig)
        .args(["up", "--yes", "--timeout", "1m"])
        .arg(&outside)
        .output()
        .unwrap();

    let down = run(&["down", "--yes"]);
    berth_local::testing::delete_namespace(&client, &ns).await;
    berth_local::testing::delete_namespace(&client, &other).await;
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(up.status.code(), Some(0), "up: {}", text(&up));
    assert_eq!(status.status.code(), Some(0), "status: {}", text(&status));
    assert_eq!(plan.status.code(), Some(0), "plan: {}", text(&plan));
    assert_eq!(doctor.status.code(), Some(0), "doctor: {}", text(&doctor));
    assert_eq!(
        forbidden.status.code(),
        Some(3),
        "forbidden write: {}",
        text(&forbidden)
    );
    let err = String::from_utf8_lossy(&forbidden.stderr);
    assert!(
        err.contains(&format!("may not patch configmaps in namespace `{other}`"))
            && err.contains(&format!("bind a Role in `{other}`"))
            && err.contains(r#"verbs: ["patch"]"#),
        "{err}"
    );
    assert_eq!(down.status.code(), Some(0), "down: {}", text(&down));
}

#[test]
fn without_any_kubeconfig_berth_says_where_it_looked() {
    let home = std::env::temp_dir().join(format!("berth-no-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let stack = home.join("stack");
    write_stack(&stack, "team", "");
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .env_remove("KUBECONFIG")
        .env("HOME", &home)
        .args(["status"])
        .arg(&stack)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&home);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let looked = home.join(".kube").join("config");
    assert!(
        err.contains(&format!("{} does not exist", looked.display())) && err.contains("--local"),
        "{err}"
    );
}
