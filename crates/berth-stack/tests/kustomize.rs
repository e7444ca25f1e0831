//! Kustomizations in a stack, built by the real kustomize (`kustomize` or `kubectl kustomize`):
//! what is built, where the objects point, what stays secret, and the errors.
//!
//! The fixtures `kustomize/` (a base with a Deployment, a Service, a configMapGenerator and a
//! secretGenerator, and an overlay with namespace, namePrefix, images, a strategic-merge patch
//! and a JSON 6902 patch) and `kustomize-component/` (a `kustomize:` component in berth.yaml)
//! are written for these tests. Without any kustomize tool the tests that need one fail, naming what to install.

use std::path::{Path, PathBuf};
use std::process::Command;

use berth_model::{Object, Severity};
use berth_stack::kustomize::{self, Tool};
use berth_stack::{LoadOptions, Loaded, load};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// kustomize or kubectl on PATH, else berth's own kubectl in the local cluster's cache.
fn tool(test: &str) -> Option<Tool> {
    let cache = std::env::var_os("BERTH_LOCAL_CACHE")
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("XDG_CACHE_HOME").map(|c| PathBuf::from(c).join("berth/local"))
        })
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/berth/local")));
    let local = cache.and_then(|c| {
        let mut found: Vec<PathBuf> = std::fs::read_dir(c)
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("kubectl"))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        found.pop()
    });
    let found = kustomize::find(local.as_deref());
    assert!(
        found.is_some(),
        "{test} needs kustomize or kubectl (on PATH, or berth's own: `berth local build`)"
    );
    found
}

fn options(tool: Tool) -> LoadOptions {
    LoadOptions {
        kustomize: Some(tool),
        ..LoadOptions::default()
    }
}

fn findings(l: &Loaded) -> Vec<String> {
    l.findings
        .iter()
        .map(|f| {
            format!(
                "{}:{}:{} {:?} {}: {}",
                f.file.display(),
                f.line,
                f.column,
                f.severity,
                f.rule,
                f.message
            )
        })
        .collect()
}

fn objects(l: &Loaded) -> &[Object] {
    &l.stack.as_ref().expect("a stack").objects
}

fn find<'a>(l: &'a Loaded, kind: &str) -> &'a Object {
    objects(l)
        .iter()
        .find(|o| o.kind() == kind)
        .unwrap_or_else(|| panic!("no {kind}"))
}

/// Where an object points: `file:line` of a pointer.
fn at(o: &Object, pointer: &str) -> String {
    format!("{}:{}", o.file.path.display(), o.pos(pointer).line)
}

#[test]
fn a_folder_with_base_and_overlay_builds_the_overlay_once() {
    let Some(tool) = tool("a_folder_with_base_and_overlay_builds_the_overlay_once") else {
        return;
    };
    let l = load(&fixture("kustomize"), &options(tool));
    // The base is built through the overlay only; no patch file became an object.
    assert_eq!(
        findings(&l),
        [
            "base/kustomization.yaml:1:1 Info skipped: `base` is built as part of `overlays/prod`, not on its own"
        ]
    );
    assert!(!l.is_bad_input());
    let names: Vec<String> = objects(&l).iter().map(|o| o.display_name()).collect();
    assert_eq!(names.len(), 4, "{names:?}");
    for o in objects(&l) {
        assert_eq!(o.namespace(), Some("shop-prod"), "{}", o.display_name());
        assert!(o.name().starts_with("prod-web"), "{}", o.display_name());
        // berth's origin annotation is gone again.
        assert!(
            o.value.pointer("/metadata/annotations").is_none(),
            "{}",
            o.value
        );
        let file = o.file.path.to_string_lossy();
        assert!(file.starts_with("base/"), "{file}");
    }
    let cm = find(&l, "ConfigMap");
    let secret = find(&l, "Secret");
    assert!(cm.name().starts_with("prod-web-config-"), "{}", cm.name());
    assert!(secret.name().starts_with("prod-web-creds-"));
    assert_eq!(cm.value["data"]["THREADS"], serde_json::json!("4"));

    let web = find(&l, "Deployment");
    assert_eq!(web.name(), "prod-web");
    assert_eq!(web.value["spec"]["replicas"], serde_json::json!(3));
    let pod = &web.value["spec"]["template"]["spec"];
    assert_eq!(pod["containers"][0]["image"], "example/web:2.0.0");
    assert_eq!(pod["containers"][1]["image"], "example/metrics:latest");
    // The generated names are referenced with their hash.
    assert_eq!(
        pod["containers"][0]["envFrom"][0]["configMapRef"]["name"],
        serde_json::json!(cm.name())
    );
    assert_eq!(
        pod["containers"][0]["envFrom"][1]["secretRef"]["name"],
        serde_json::json!(secret.name())
    );
    let svc = find(&l, "Service");
    assert_eq!(svc.value["spec"]["ports"][0]["port"], 8443);

    // Every object points at the file and line that define it.
    assert_eq!(at(web, ""), "base/deployment.yaml:1");
    assert_eq!(at(web, "/metadata/name"), "base/deployment.yaml:4");
    assert_eq!(
        at(web, "/spec/template/spec/containers/1/image"),
        "base/deployment.yaml:21"
    );
    // A field the overlay's patch set points at its nearest node in the base.
    assert_eq!(at(web, "/spec/replicas"), "base/deployment.yaml:7");
    assert_eq!(at(svc, "/spec/ports/0/port"), "base/service.yaml:8");
    // Generated objects point at their generator entry.
    assert_eq!(at(cm, ""), "base/kustomization.yaml:7");
    assert_eq!(at(cm, "/data/MODE"), "base/kustomization.yaml:7");
    assert_eq!(at(secret, "/metadata/name"), "base/kustomization.yaml:12");
}

#[test]
fn check_findings_point_at_the_base_and_generated_objects_resolve() {
    let Some(tool) = tool("check_findings_point_at_the_base_and_generated_objects_resolve") else {
        return;
    };
    let l = load(&fixture("kustomize"), &options(tool));
    let stack = l.stack.as_ref().unwrap();
    let rules = berth_check::select(&["mutable-image", "ref-missing"]).unwrap();
    let found: Vec<String> = berth_check::check_rules(stack, &rules)
        .iter()
        .map(|f| format!("{}:{}:{} {}", f.file.display(), f.line, f.column, f.rule))
        .collect();
    // The `:latest` planted in the base, at its line; the generated ConfigMap and Secret
    // (renamed with prefix and hash) are found, so nothing is `ref-missing`.
    assert_eq!(found, ["base/deployment.yaml:21:11 mutable-image"]);
}

#[test]
fn secret_generator_values_are_never_shown() {
    let Some(tool) = tool("secret_generator_values_are_never_shown") else {
        return;
    };
    let l = load(&fixture("kustomize"), &options(tool));
    let text = berth_stack::output::render_yaml(objects(&l));
    assert!(text.contains("password: <redacted>"), "{text}");
    let stack = l.stack.as_ref().unwrap();
    let mut shown = text.clone();
    for f in berth_check::check(stack).iter().chain(&l.findings) {
        shown.push_str(&format!("{} {}\n", f.message, f.fix));
    }
    for o in objects(&l) {
        shown.push_str(o.file.kept_text());
    }
    // Neither the value nor its base64 appears in output, messages or the sources kept.
    for secret in ["s3cr3t-hunter-42", "czNjcjN0LWh1bnRlci00Mg"] {
        assert!(!shown.contains(secret), "{secret} shown");
    }
}

#[test]
fn a_kustomize_component_gets_values_and_its_namespace() {
    let Some(tool) = tool("a_kustomize_component_gets_values_and_its_namespace") else {
        return;
    };
    let l = load(&fixture("kustomize-component"), &options(tool));
    assert!(l.findings.is_empty(), "{:?}", findings(&l));
    let cm = find(&l, "ConfigMap");
    assert_eq!(cm.display_name(), "ConfigMap/app-ns/greeting-v1");
    assert_eq!(cm.component, "app");
    assert_eq!(cm.value["data"]["text"], "hello");
    assert_eq!(at(cm, "/data/text"), "app/cm.yaml:6");
}

#[test]
fn a_component_without_a_kustomization_is_a_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("app")).unwrap();
    std::fs::write(
        dir.path().join("berth.yaml"),
        "stack: s\ncomponents:\n  app:\n    kustomize: app\n",
    )
    .unwrap();
    let l = load(dir.path(), &LoadOptions::default());
    assert_eq!(
        findings(&l),
        ["berth.yaml:4:5 Error missing-file: component `app`: `app` holds no kustomization.yaml"]
    );
    assert!(l.is_bad_input());
}

/// Runs in a child process with an empty PATH (and no local kubectl): no tool at all.
#[test]
fn missing_tools_are_a_clear_error() {
    if std::env::var_os("BERTH_TEST_NO_TOOLS").is_none() {
        let status = Command::new(std::env::current_exe().unwrap())
            .args(["missing_tools_are_a_clear_error", "--exact", "--nocapture"])
            .env("BERTH_TEST_NO_TOOLS", "1")
            .env("PATH", "")
            .status()
            .unwrap();
        assert!(status.success());
        return;
    }
    let l = load(&fixture("kustomize"), &LoadOptions::default());
    let errors: Vec<String> = findings(&l)
        .into_iter()
        .filter(|f| f.contains("Error"))
        .collect();
    assert_eq!(
        errors,
        [
            "overlays/prod/kustomization.yaml:1:1 Error kustomize: `overlays/prod` is a kustomization, and neither kustomize nor kubectl is installed"
        ]
    );
    assert!(
        l.findings
            .iter()
            .any(|f| f.fix.contains("install kustomize"))
    );
    assert!(l.is_bad_input());
    assert!(objects(&l).is_empty());
    // Same in berth.yaml, at the component.
    let l = load(&fixture("kustomize-component"), &LoadOptions::default());
    assert_eq!(
        findings(&l),
        [
            "berth.yaml:7:5 Error kustomize: component `app` is a kustomization, and neither kustomize nor kubectl is installed"
        ]
    );
}

#[test]
fn an_offline_remote_base_is_an_error_naming_the_url() {
    let Some(tool) = tool("an_offline_remote_base_is_an_error_naming_the_url") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // `.invalid` never resolves, online or not.
    let url = "https://example.invalid/acme/platform//deploy/base?ref=v1.2.0";
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        format!("namespace: x\nresources:\n  - cm.yaml\n  - {url}\n"),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
    )
    .unwrap();
    let l = load(dir.path(), &options(tool));
    assert_eq!(l.findings.len(), 1, "{:?}", findings(&l));
    let f = &l.findings[0];
    assert_eq!(
        (f.file.to_str().unwrap(), f.line, f.rule.as_str()),
        ("kustomization.yaml", 4, "kustomize")
    );
    assert!(
        f.message
            .starts_with(&format!("cannot build with remote base `{url}`: ")),
        "{}",
        f.message
    );
    assert!(l.is_bad_input());
    assert!(objects(&l).is_empty());
}

#[test]
fn a_failing_build_points_at_the_failing_entry() {
    let Some(tool) = tool("a_failing_build_points_at_the_failing_entry") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources:\n  - cm.yaml\n  - not-there.yaml\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
    )
    .unwrap();
    let l = load(dir.path(), &options(tool));
    assert_eq!(l.findings.len(), 1, "{:?}", findings(&l));
    let f = &l.findings[0];
    assert_eq!(
        (f.file.to_str().unwrap(), f.line, f.column),
        ("kustomization.yaml", 3, 5)
    );
    assert!(
        f.message.starts_with("kustomize build failed: ") && f.message.contains("not-there.yaml"),
        "{}",
        f.message
    );
    assert!(l.is_bad_input());
}

#[test]
fn a_root_owns_its_folder_tree_and_plain_files_beside_it_are_read() {
    let Some(tool) = tool("a_root_owns_its_folder_tree_and_plain_files_beside_it_are_read") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let cm = |name: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n");
    std::fs::create_dir_all(p.join("app/nested")).unwrap();
    std::fs::create_dir_all(p.join("plain")).unwrap();
    std::fs::write(p.join("app/kustomization.yaml"), "resources: [a.yaml]\n").unwrap();
    // A plain folder has no values: `${...}` in a build stays as written.
    std::fs::write(
        p.join("app/a.yaml"),
        format!("{}data:\n  text: ${{greeting}}\n", cm("a")),
    )
    .unwrap();
    // Not named by the kustomization: owned by the root, never read on its own.
    std::fs::write(p.join("app/unused.yaml"), cm("unused")).unwrap();
    std::fs::write(
        p.join("app/nested/kustomization.yaml"),
        "resources: [n.yaml]\n",
    )
    .unwrap();
    std::fs::write(p.join("app/nested/n.yaml"), cm("nested")).unwrap();
    std::fs::write(p.join("plain/b.yaml"), cm("b")).unwrap();
    let l = load(p, &options(tool));
    assert!(l.findings.is_empty(), "{:?}", findings(&l));
    let names: Vec<String> = objects(&l).iter().map(|o| o.display_name()).collect();
    assert_eq!(names, ["ConfigMap/default/a", "ConfigMap/default/b"]);
    assert_eq!(at(&objects(&l)[0], ""), "app/a.yaml:1");
    assert_eq!(objects(&l)[0].value["data"]["text"], "${greeting}");
}

/// A plain folder without any kustomization never runs the tool (here: one that does not exist).
#[test]
fn a_plain_folder_without_kustomization_is_read_as_before() {
    let l = load(
        &fixture("plain"),
        &options(Tool::Kustomize(PathBuf::from("/nonexistent/kustomize"))),
    );
    assert!(!l.is_bad_input());
    assert!(l.findings.iter().all(|f| f.severity == Severity::Info));
    let names: Vec<String> = objects(&l).iter().map(|o| o.display_name()).collect();
    assert_eq!(names, ["Deployment/default/api", "Service/default/api"]);
}

#[test]
fn no_objects_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    // Only a values file: nothing to apply.
    std::fs::write(p.join("values.yaml"), "replicas: 2\n").unwrap();
    let l = load(p, &LoadOptions::default());
    let errors: Vec<&berth_model::Finding> = l
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{:?}", findings(&l));
    assert_eq!(errors[0].rule, "no-objects");
    assert_eq!(
        errors[0].message,
        format!("no objects found in {}", p.display())
    );
    assert!(l.is_bad_input());

    // An empty file on its own.
    let empty = p.join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    let l = load(&empty, &LoadOptions::default());
    assert_eq!(l.stack.as_ref().unwrap().name, "empty");
    assert!(l.is_bad_input());
    assert_eq!(l.findings[0].rule, "no-objects");

    // A berth.yaml component whose folder holds nothing, beside one that has objects.
    std::fs::create_dir(p.join("nothing")).unwrap();
    std::fs::write(
        p.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n",
    )
    .unwrap();
    std::fs::write(
        p.join("berth.yaml"),
        "stack: s\ncomponents:\n  a:\n    manifests: cm.yaml\n  b:\n    manifests: nothing/\n",
    )
    .unwrap();
    let l = load(p, &LoadOptions::default());
    assert_eq!(
        findings(&l),
        ["berth.yaml:6:5 Error no-objects: component `b`: no objects found in `nothing/`"]
    );
    assert!(l.is_bad_input());
}

#[test]
fn a_kustomization_with_no_objects_is_bad_input() {
    let Some(tool) = tool("a_kustomization_with_no_objects_is_bad_input") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kustomization.yaml"), "resources: []\n").unwrap();
    let l = load(dir.path(), &options(tool));
    assert_eq!(l.findings.len(), 1, "{:?}", findings(&l));
    assert_eq!(l.findings[0].rule, "no-objects");
    assert!(l.is_bad_input());
}
