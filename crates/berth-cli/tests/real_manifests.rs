//! `berth up` on what people already have, on the local test cluster, with the real binary:
//! a kustomize overlay over a base (namespace, namePrefix, images, patches, generators) whose
//! namespace nobody creates; a plain manifest whose container script uses `${VAR}`; a local
//! Helm chart with a `file://` dependency and a CRD. Each must come up healthy, and no secret
//! value of the overlay's `secretGenerator` may appear in any output.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::Api;

fn berth() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
    c.env("KUBECONFIG", berth_local::testing::kubeconfig());
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

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../berth-stack/tests/fixtures")
}

fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{:x}", (n ^ std::process::id()) % 0xfffff)
}

#[test]
fn a_kustomize_overlay_comes_up_healthy_and_keeps_its_secret() {
    let overlay = fixtures().join("kustomize/overlays/prod");
    let creds_env_value = "s3cr3t-hunter-42"; // the test value in the base's creds.env
    let check = berth().arg("check").arg(&overlay).output().unwrap();
    let render = berth().arg("render").arg(&overlay).output().unwrap();
    let up = berth()
        .args(["up", "--yes", "--timeout", "2m"])
        .arg(&overlay)
        .output()
        .unwrap();
    let status = berth().arg("status").arg(&overlay).output().unwrap();
    let down = berth()
        .args(["down", "--yes", "--purge"])
        .arg(&overlay)
        .output()
        .unwrap();
    for (what, o) in [
        ("check", &check),
        ("render", &render),
        ("up", &up),
        ("status", &status),
        ("down", &down),
    ] {
        assert!(
            !text(o).contains(creds_env_value),
            "{what} printed the secret value:\n{}",
            text(o)
        );
    }
    // Warnings (the base's `:latest` image) are not errors.
    assert_eq!(check.status.code(), Some(0), "check: {}", text(&check));
    let checked = String::from_utf8_lossy(&check.stdout).to_string()
        + &String::from_utf8_lossy(&check.stderr);
    assert!(
        checked.contains("base/deployment.yaml:21"),
        "the planted finding does not point at the base: {checked}"
    );
    let rendered = String::from_utf8_lossy(&render.stdout);
    assert!(
        rendered.contains("name: prod-web") && rendered.contains("example/web:2.0.0"),
        "{rendered}"
    );
    assert_eq!(up.status.code(), Some(0), "up: {}", text(&up));
    assert_eq!(status.status.code(), Some(0), "status: {}", text(&status));
    assert_eq!(down.status.code(), Some(0), "down: {}", text(&down));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_script_with_dollar_braces_is_applied_as_written() {
    let ns = unique("loadgen");
    let dir = std::env::temp_dir().join(&ns);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("loadgenerator.yaml");
    let script = "set -e\nwhile true; do\n  curl -s -o /dev/null \"http://${FRONTEND_ADDR}/\"\n  sleep \"${PAUSE:-1}\"\ndone\n";
    let indented: String = script
        .lines()
        .map(|l| format!("              {l}\n"))
        .collect();
    std::fs::write(
        &file,
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: loadgenerator, namespace: {ns}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: loadgenerator}}}}\n  template:\n    metadata: {{labels: {{app: loadgenerator}}}}\n    spec:\n      containers:\n        - name: main\n          image: busybox:1.36.1\n          env: [{{name: FRONTEND_ADDR, value: \"frontend:80\"}}]\n          command: [/bin/sh, -c]\n          args:\n            - |\n{indented}"
        ),
    )
    .unwrap();
    let up = berth()
        .args(["up", "--yes", "--timeout", "2m"])
        .arg(&file)
        .output()
        .unwrap();
    let client = berth_local::testing::client().await;
    let live = Api::<Deployment>::namespaced(client.clone(), &ns)
        .get("loadgenerator")
        .await;
    let down = berth()
        .args(["down", "--yes", "--purge"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    berth_local::testing::delete_namespace(&client, &ns).await;

    assert_eq!(up.status.code(), Some(0), "up: {}", text(&up));
    let live = live.expect("the Deployment exists");
    let args = live
        .spec
        .and_then(|s| s.template.spec)
        .map(|s| s.containers[0].args.clone().unwrap_or_default())
        .unwrap_or_default();
    assert_eq!(args, [script], "the script was changed on the way");
    assert_eq!(down.status.code(), Some(0), "down: {}", text(&down));
}

/// A manifest saved from `kubectl get -o yaml` (uid, resourceVersion, managedFields, status of
/// the live object it was copied from) comes up, with a warning that names those fields; a
/// second `up` changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_saved_from_kubectl_get_comes_up() {
    let ns = unique("exported");
    let dir = std::env::temp_dir().join(&ns);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("settings.yaml");
    std::fs::write(
        &file,
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {ns}\n  \
             uid: 5f0c2f0e-8d7b-4a36-9f5e-0d6f8c1c2b11\n  resourceVersion: \"123456\"\n  \
             creationTimestamp: \"2026-01-02T03:04:05Z\"\n  managedFields:\n    - manager: kubectl-client-side-apply\n      \
             operation: Update\n      apiVersion: v1\n      time: \"2026-01-02T03:04:05Z\"\n      fieldsType: FieldsV1\n      \
             fieldsV1: {{f:data: {{.: {{}}, f:a: {{}}}}}}\ndata:\n  a: b\n"
        ),
    )
    .unwrap();
    let up = berth()
        .args(["up", "--yes", "--timeout", "1m"])
        .arg(&file)
        .output()
        .unwrap();
    let again = berth()
        .args(["up", "--yes", "--timeout", "1m"])
        .arg(&file)
        .output()
        .unwrap();
    let check = berth().arg("check").arg(&file).output().unwrap();
    let client = berth_local::testing::client().await;
    let live = Api::<k8s_openapi::api::core::v1::ConfigMap>::namespaced(client.clone(), &ns)
        .get("settings")
        .await;
    let down = berth()
        .args(["down", "--yes", "--purge"])
        .arg(&file)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    berth_local::testing::delete_namespace(&client, &ns).await;

    assert_eq!(up.status.code(), Some(0), "up: {}", text(&up));
    let live = live.expect("the ConfigMap exists");
    assert_eq!(
        live.data.unwrap_or_default().get("a").map(String::as_str),
        Some("b")
    );
    assert_ne!(
        live.metadata.uid.as_deref(),
        Some("5f0c2f0e-8d7b-4a36-9f5e-0d6f8c1c2b11"),
        "the server gave it its own uid"
    );
    assert_eq!(again.status.code(), Some(0), "second up: {}", text(&again));
    assert!(
        text(&again).contains("0 created, 0 configured, 2 unchanged"),
        "the second up changes nothing (namespace and ConfigMap): {}",
        text(&again)
    );
    let check = text(&check);
    assert!(check.contains("server-fields"), "{check}");
    assert!(check.contains("`metadata.managedFields`"), "{check}");
    assert_eq!(down.status.code(), Some(0), "down: {}", text(&down));
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

#[test]
fn a_local_chart_with_a_dependency_and_a_crd_comes_up_healthy() {
    let ns = unique("chart");
    let dir = std::env::temp_dir().join(&ns);
    copy_dir(&fixtures().join("charts"), &dir.join("charts"));
    std::fs::write(
        dir.join("berth.yaml"),
        format!("stack: chart\nnamespace: {ns}\nprofile: local\ncomponents:\n  web:\n    chart: {{path: charts/web}}\n    values: {{replicas: 2, greeting: hi}}\n"),
    )
    .unwrap();
    let up = berth()
        .args(["up", "--yes", "--timeout", "2m"])
        .arg(&dir)
        .output()
        .unwrap();
    let untouched =
        !dir.join("charts/web/charts").exists() && !dir.join("charts/web/Chart.lock").exists();
    let down = berth().args(["down", "--yes"]).arg(&dir).output().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(up.status.code(), Some(0), "up: {}", text(&up));
    assert!(untouched, "berth wrote into the chart folder");
    assert_eq!(down.status.code(), Some(0), "down: {}", text(&down));
}

/// helm (berth-stack's lookup: `$BERTH_HELM`, PATH, berth's local cache), for the test's own
/// packaging steps; its state in `home`.
fn helm(home: &Path, args: &[&str]) {
    let bin = berth_stack::helm::find_helm().unwrap_or_else(|| {
        panic!("this test packages a chart with a real helm and none was found (`berth local build --peers` builds it)")
    });
    let out = Command::new(bin)
        .args(args)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("run helm");
    assert!(out.status.success(), "helm {args:?}: {}", text(&out));
}

/// `python3 -m http.server` serving `dir` on 127.0.0.1, stopped when dropped.
struct Served(std::process::Child, u16);
impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(dir: &Path) -> Served {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("python3")
        .args([
            "-m",
            "http.server",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--directory",
        ])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("this test serves a chart repository with python3 -m http.server: install python3");
    let started = std::time::Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "the chart repository did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Served(child, port)
}

#[test]
fn a_chart_from_a_repository_with_a_dependency_and_a_crd_comes_up_healthy() {
    let ns = unique("repo-chart");
    let dir = std::env::temp_dir().join(&ns);
    let (repo, src, home) = (dir.join("repo"), dir.join("src/site"), dir.join("helm"));
    std::fs::create_dir_all(&repo).unwrap();
    let server = serve(&repo);
    let url = format!("http://127.0.0.1:{}", server.1);
    // The repository: the library chart, and a chart that depends on it from the repository.
    helm(
        &home,
        &[
            "package",
            fixtures().join("charts/common").to_str().unwrap(),
            "-d",
            repo.to_str().unwrap(),
        ],
    );
    std::fs::create_dir_all(src.join("templates")).unwrap();
    std::fs::create_dir_all(src.join("crds")).unwrap();
    std::fs::write(
        src.join("Chart.yaml"),
        format!("apiVersion: v2\nname: site\nversion: 0.2.0\ndependencies:\n  - {{name: common, version: 0.1.0, repository: \"{url}\"}}\n"),
    )
    .unwrap();
    std::fs::write(src.join("values.yaml"), "replicas: 1\n").unwrap();
    std::fs::write(
        src.join("crds/gizmos.yaml"),
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: gizmos.site.berth.test}\nspec:\n  group: site.berth.test\n  names: {kind: Gizmo, plural: gizmos, singular: gizmo}\n  scope: Namespaced\n  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}]\n",
    )
    .unwrap();
    std::fs::write(
        src.join("templates/deployment.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n  labels:\n    {{- include \"common.labels\" . | nindent 4 }}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector: {matchLabels: {app: site}}\n  template:\n    metadata: {labels: {app: site}}\n    spec:\n      containers: [{name: web, image: \"example/site:1.0.0\"}]\n",
    )
    .unwrap();
    helm(
        &home,
        &["repo", "index", repo.to_str().unwrap(), "--url", &url],
    );
    helm(&home, &["dependency", "build", src.to_str().unwrap()]);
    helm(
        &home,
        &[
            "package",
            src.to_str().unwrap(),
            "-d",
            repo.to_str().unwrap(),
        ],
    );
    helm(
        &home,
        &["repo", "index", repo.to_str().unwrap(), "--url", &url],
    );

    let stack = dir.join("stack");
    std::fs::create_dir_all(&stack).unwrap();
    std::fs::write(
        stack.join("berth.yaml"),
        format!("stack: site\nnamespace: {ns}\nprofile: local\ncomponents:\n  site:\n    chart: {{repo: \"{url}\", name: site, version: 0.2.0}}\n    values: {{replicas: 2}}\n"),
    )
    .unwrap();
    let up = berth()
        .args(["up", "--yes", "--timeout", "2m", "--format", "json"])
        .arg(&stack)
        .output()
        .unwrap();
    let down = berth()
        .args(["down", "--yes"])
        .arg(&stack)
        .output()
        .unwrap();
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(up.status.code(), Some(0), "up: {}", text(&up));
    let out = String::from_utf8_lossy(&up.stdout);
    assert!(
        out.contains("\"kind\":\"CustomResourceDefinition\"")
            && out.contains("\"kind\":\"Deployment\""),
        "the chart's CRD and Deployment were not applied: {out}"
    );
    assert_eq!(down.status.code(), Some(0), "down: {}", text(&down));
}
