//! `load()` over the fixture stacks: what renders, and which findings come out where.

use std::path::{Path, PathBuf};

use berth_model::{Origin, Profile, Severity};
use berth_stack::{LoadOptions, Loaded, load};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
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

fn objects(l: &Loaded) -> Vec<String> {
    l.stack
        .as_ref()
        .unwrap()
        .objects
        .iter()
        .map(|o| {
            format!(
                "{} [{}] {}:{}",
                o.display_name(),
                o.component,
                o.file.path.display(),
                o.pos("").line
            )
        })
        .collect()
}

#[test]
fn full_stack_renders() {
    let l = load(&fixture("full"), &LoadOptions::default());
    insta::assert_snapshot!("full_findings", findings(&l).join("\n"));
    insta::assert_snapshot!("full_objects", objects(&l).join("\n"));
    let stack = l.stack.as_ref().unwrap();
    assert_eq!(stack.name, "shop");
    assert_eq!(stack.profile, Profile::Eks);
    assert_eq!(stack.kubernetes, "1.33");
    let comps: Vec<(&str, bool)> = stack
        .components
        .iter()
        .map(|c| (c.name.as_str(), c.disabled))
        .collect();
    assert_eq!(
        comps,
        [
            ("crds", false),
            ("storage", false),
            ("app", false),
            ("aks-only", true)
        ]
    );
    assert_eq!(stack.components[2].after, ["storage", "crds"]);
    assert_eq!(stack.external[0].name, "gp3");
    assert_eq!(stack.cluster.as_ref().unwrap().node_groups[0].max, 10);
    assert_eq!(stack.values["replicas"], serde_json::json!(3));
    let values: Vec<serde_json::Value> = stack.objects.iter().map(|o| o.value.clone()).collect();
    insta::assert_json_snapshot!("full_values", values);
    // Secrets were not resolved: check/render mode holds no values.
    assert!(l.secrets.is_empty());
    assert!(
        stack
            .objects
            .iter()
            .any(|o| o.origin == Origin::StackSecret)
    );
    assert!(!l.is_bad_input());
}

#[test]
fn profile_and_values_can_be_overridden() {
    let dir = tempfile::tempdir().unwrap();
    let values = dir.path().join("v.yaml");
    std::fs::write(&values, "replicas: 5\nimage: example/shop:9.9.9\n").unwrap();
    let options = LoadOptions {
        profile: Some(Profile::Gke),
        values_files: vec![values],
        set: vec!["image=example/shop:2.0.0".into(), "port=9090".into()],
        ..LoadOptions::default()
    };
    let l = load(&fixture("full"), &options);
    let stack = l.stack.as_ref().unwrap();
    assert_eq!(stack.profile, Profile::Gke);
    let web = stack
        .objects
        .iter()
        .find(|o| o.kind() == "Deployment")
        .unwrap();
    assert_eq!(web.value["spec"]["replicas"], serde_json::json!(5));
    let c = &web.value["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], serde_json::json!("example/shop:2.0.0"));
    assert_eq!(c["env"][0]["value"], serde_json::json!("9090"));
    let pvc = stack
        .objects
        .iter()
        .find(|o| o.kind() == "PersistentVolumeClaim")
        .unwrap();
    assert_eq!(
        pvc.value["spec"]["storageClassName"],
        serde_json::json!("standard-rwx")
    );
    // Under gke the aks-only component is off, under aks it is on.
    assert!(
        stack
            .components
            .iter()
            .any(|c| c.name == "aks-only" && c.disabled)
    );
    let aks = load(
        &fixture("full"),
        &LoadOptions {
            profile: Some(Profile::Aks),
            ..LoadOptions::default()
        },
    );
    let n = aks
        .stack
        .unwrap()
        .objects
        .iter()
        .filter(|o| o.component == "aks-only")
        .count();
    assert_eq!(n, 1);
}

#[test]
fn broken_stack_reports_every_problem() {
    let l = load(&fixture("broken"), &LoadOptions::default());
    insta::assert_snapshot!("broken_findings", findings(&l).join("\n"));
    assert!(l.is_bad_input());
    // What could be read is still there.
    let names: Vec<String> = l
        .stack
        .as_ref()
        .unwrap()
        .objects
        .iter()
        .map(|o| o.display_name())
        .collect();
    assert_eq!(
        names,
        [
            "ConfigMap/default/settings",
            "ConfigMap/default/after-the-broken-one"
        ]
    );
}

#[test]
fn plain_folder_is_a_stack_and_skips_non_manifests() {
    let l = load(&fixture("plain"), &LoadOptions::default());
    insta::assert_snapshot!("plain_findings", findings(&l).join("\n"));
    insta::assert_snapshot!("plain_objects", objects(&l).join("\n"));
    let stack = l.stack.as_ref().unwrap();
    assert_eq!(stack.name, "plain");
    assert_eq!(stack.namespace, "default");
    assert_eq!(stack.kubernetes, "1.34");
    assert_eq!(stack.profile, Profile::Local);
    assert!(!l.is_bad_input());
    assert!(l.stack_file.is_none());
}

#[test]
fn single_file_and_berth_yaml_paths() {
    // A stack of one plain file is named after the file, not its folder.
    let l = load(&fixture("plain/app.yaml"), &LoadOptions::default());
    assert_eq!(objects(&l), ["Deployment/default/api [app] app.yaml:1"]);
    assert_eq!(l.stack.as_ref().unwrap().name, "app");
    let l = load(&fixture("full/berth.yaml"), &LoadOptions::default());
    assert_eq!(l.stack.unwrap().name, "shop");
}

#[test]
fn missing_path_is_bad_input() {
    let l = load(&fixture("does-not-exist"), &LoadOptions::default());
    assert!(l.stack.is_none());
    assert!(l.is_bad_input());
    assert_eq!(l.findings[0].rule, "missing-file");
}

/// A stack folder with `files` (berth.yaml among them, or not).
fn stack_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

const STACK_WITH_REPLICAS: &str =
    "stack: demo\nvalues:\n  replicas: 2\ncomponents:\n  app:\n    manifests: app.yaml\n";

/// The load generator of a well-known microservices demo: its init container's shell script
/// uses `${FRONTEND_ADDR}`, which is the container's environment variable, not berth's.
const LOADGENERATOR: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: loadgenerator
spec:
  replicas: ${replicas}
  selector:
    matchLabels: { app: loadgenerator }
  template:
    metadata:
      labels: { app: loadgenerator }
    spec:
      initContainers:
      - command:
        - /bin/sh
        - -exc
        - |
          MAX_RETRIES=12
          RETRY_INTERVAL=10
          for i in $(seq 1 $MAX_RETRIES); do
            echo "Attempt $i: Pinging frontend: ${FRONTEND_ADDR}..."
            STATUSCODE=$(wget --server-response http://${FRONTEND_ADDR} 2>&1 | awk '/^  HTTP/{print $2}')
            if [ $STATUSCODE -eq 200 ]; then
                echo "Frontend is reachable."
                exit 0
            fi
            echo "Error: Could not reach frontend - Status code: ${STATUSCODE}"
            sleep $RETRY_INTERVAL
          done
          echo "Failed to reach frontend after $MAX_RETRIES attempts."
          exit 1
        name: frontend-check
        image: busybox:1.37
        env:
        - name: FRONTEND_ADDR
          value: "frontend:80"
      containers:
      - name: main
        image: example/loadgenerator:1.0
"#;

const LOADGENERATOR_SCRIPT: &str = r#"MAX_RETRIES=12
RETRY_INTERVAL=10
for i in $(seq 1 $MAX_RETRIES); do
  echo "Attempt $i: Pinging frontend: ${FRONTEND_ADDR}..."
  STATUSCODE=$(wget --server-response http://${FRONTEND_ADDR} 2>&1 | awk '/^  HTTP/{print $2}')
  if [ $STATUSCODE -eq 200 ]; then
      echo "Frontend is reachable."
      exit 0
  fi
  echo "Error: Could not reach frontend - Status code: ${STATUSCODE}"
  sleep $RETRY_INTERVAL
done
echo "Failed to reach frontend after $MAX_RETRIES attempts."
exit 1
"#;

fn init_script(l: &Loaded) -> serde_json::Value {
    let o = &l.stack.as_ref().unwrap().objects[0];
    o.value["spec"]["template"]["spec"]["initContainers"][0]["command"][2].clone()
}

#[test]
fn undeclared_placeholders_in_a_shell_script_are_left_as_written() {
    let dir = stack_dir(&[
        ("berth.yaml", STACK_WITH_REPLICAS),
        ("app.yaml", LOADGENERATOR),
    ]);
    let l = load(dir.path(), &LoadOptions::default());
    assert!(l.findings.is_empty(), "{:?}", findings(&l));
    assert_eq!(init_script(&l), serde_json::json!(LOADGENERATOR_SCRIPT));
    // The declared name next to it is still filled, with its type.
    let o = &l.stack.as_ref().unwrap().objects[0];
    assert_eq!(o.value["spec"]["replicas"], serde_json::json!(2));
}

#[test]
fn set_and_values_files_declare_names() {
    let dir = stack_dir(&[
        ("berth.yaml", STACK_WITH_REPLICAS),
        ("app.yaml", LOADGENERATOR),
        ("v.yaml", "replicas: 4\n"),
    ]);
    let l = load(
        dir.path(),
        &LoadOptions {
            set: vec!["FRONTEND_ADDR=frontend.shop:8080".into()],
            values_files: vec![dir.path().join("v.yaml")],
            ..LoadOptions::default()
        },
    );
    assert!(l.findings.is_empty(), "{:?}", findings(&l));
    let script = init_script(&l);
    let script = script.as_str().unwrap();
    assert!(
        script.contains("http://frontend.shop:8080 2>&1") && !script.contains("FRONTEND_ADDR"),
        "{script}"
    );
    assert!(script.contains("${STATUSCODE}"), "{script}");
    let o = &l.stack.as_ref().unwrap().objects[0];
    assert_eq!(o.value["spec"]["replicas"], serde_json::json!(4));
}

#[test]
fn a_typo_points_at_the_placeholder_inside_a_block_scalar() {
    let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: scripts\ndata:\n  \
        run.sh: |\n    #!/bin/sh\n    echo ${FRONTEND_ADDR}\n    scale --to ${replicsa} --max ${Replicas}\n  \
        folded: >\n    one ${replicas}\n    two ${replicsa}\n  \
        quoted: \"one ${replicas}\n    two ${replicsa}\"\n  \
        plain: x-${replicsa}\n";
    let dir = stack_dir(&[("berth.yaml", STACK_WITH_REPLICAS), ("app.yaml", manifest)]);
    let l = load(dir.path(), &LoadOptions::default());
    let typo = "`${replicsa}` has no value; did you mean `replicas`?";
    let case = "`${Replicas}` has no value; did you mean `replicas`?";
    assert_eq!(
        findings(&l),
        [
            format!("app.yaml:9:16 Error placeholder: {typo}"),
            format!("app.yaml:9:34 Error placeholder: {case}"),
            format!("app.yaml:12:9 Error placeholder: {typo}"),
            format!("app.yaml:14:9 Error placeholder: {typo}"),
            format!("app.yaml:15:12 Error placeholder: {typo}"),
        ]
    );
    let f = &l.findings[0];
    let (offset, len) = f.span.unwrap();
    let text = f.source.as_ref().unwrap().text().unwrap();
    assert_eq!(
        &text[offset as usize..(offset + len) as usize],
        "${replicsa}"
    );
    assert!(f.fix.contains("write `${replicas}`"), "{}", f.fix);
    assert!(l.is_bad_input());
    // A scalar with a typo is left as written, never half filled.
    let o = &l.stack.as_ref().unwrap().objects[0];
    assert_eq!(
        o.value["data"]["folded"],
        serde_json::json!("one ${replicas} two ${replicsa}\n")
    );
}

#[test]
fn escapes_render_a_literal_dollar_brace() {
    let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  \
        declared: $${replicas}\n  undeclared: \"$${HOSTNAME##*-} $${HOST}\"\n  \
        both: \"${replicas} $${replicas} ${HOST}\"\n";
    let dir = stack_dir(&[("berth.yaml", STACK_WITH_REPLICAS), ("app.yaml", manifest)]);
    let l = load(dir.path(), &LoadOptions::default());
    assert!(l.findings.is_empty(), "{:?}", findings(&l));
    let o = &l.stack.as_ref().unwrap().objects[0];
    assert_eq!(
        o.value["data"],
        serde_json::json!({
            "declared": "${replicas}",
            "undeclared": "${HOSTNAME##*-} ${HOST}",
            "both": "2 ${replicas} ${HOST}"
        })
    );
}

#[test]
fn a_plain_folder_is_never_substituted() {
    let manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  \
        a: ${replicas}\n  b: \"${HOME:-/root} $${x} ${replicsa}\"\n";
    let dir = stack_dir(&[("cm.yaml", manifest), ("app.yaml", LOADGENERATOR)]);
    let expected = serde_json::json!({"a": "${replicas}", "b": "${HOME:-/root} $${x} ${replicsa}"});
    for options in [
        LoadOptions::default(),
        LoadOptions {
            set: vec!["replicas=3".into()],
            ..LoadOptions::default()
        },
    ] {
        for path in [dir.path().to_path_buf(), dir.path().join("cm.yaml")] {
            let l = load(&path, &options);
            assert!(l.findings.is_empty(), "{:?}", findings(&l));
            let stack = l.stack.as_ref().unwrap();
            let cm = stack
                .objects
                .iter()
                .find(|o| o.kind() == "ConfigMap")
                .unwrap();
            assert_eq!(cm.value["data"], expected);
        }
    }
    let l = load(dir.path(), &LoadOptions::default());
    let deploy = l
        .stack
        .as_ref()
        .unwrap()
        .objects
        .iter()
        .find(|o| o.kind() == "Deployment")
        .unwrap();
    assert_eq!(
        deploy.value["spec"]["replicas"],
        serde_json::json!("${replicas}")
    );
}

#[test]
fn strict_secrets_fail_when_unavailable() {
    let options = LoadOptions {
        secret_mode: berth_stack::SecretMode::Strict,
        ..LoadOptions::default()
    };
    let l = load(&fixture("full"), &options);
    let secret_findings: Vec<&berth_model::Finding> = l
        .findings
        .iter()
        .filter(|f| f.rule == "secret-source")
        .collect();
    assert_eq!(secret_findings.len(), 1);
    assert_eq!(secret_findings[0].severity, Severity::Error);
    assert!(l.has_errors());
}

#[cfg(unix)]
fn fake_helm(dir: &Path, script: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("helm");
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

#[cfg(unix)]
#[test]
fn chart_output_is_read_with_the_loader() {
    let dir = tempfile::tempdir().unwrap();
    // A stand-in for helm that echoes its arguments and stdin (the values) into a ConfigMap.
    let helm = fake_helm(
        dir.path(),
        r#"values=$(cat)
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: args\ndata:\n  args: "%s"\n  values: %s\n' "$*" "'$values'""#,
    );
    let l = load(
        &fixture("chart"),
        &LoadOptions {
            helm: Some(helm),
            ..LoadOptions::default()
        },
    );
    assert!(l.findings.is_empty(), "{:?}", findings(&l));
    let o = &l.stack.as_ref().unwrap().objects[0];
    assert_eq!(
        o.origin,
        Origin::Chart {
            chart: "charts/tiny".into()
        }
    );
    assert_eq!(o.namespace(), Some("tiny"));
    let args = o.value["data"]["args"].as_str().unwrap();
    assert!(args.starts_with("template tiny "), "{args}");
    assert!(args.ends_with("charts/tiny --namespace tiny --include-crds --skip-tests --kube-version 1.34.0 --values -"), "{args}");
    assert_eq!(
        o.value["data"]["values"],
        serde_json::json!(r#"{"message":"hello","replicas":2}"#)
    );
}

#[cfg(unix)]
#[test]
fn helm_failures_and_absence_are_findings() {
    let dir = tempfile::tempdir().unwrap();
    let helm = fake_helm(dir.path(), "echo 'Error: chart is broken' >&2\nexit 1");
    let l = load(
        &fixture("chart"),
        &LoadOptions {
            helm: Some(helm),
            ..LoadOptions::default()
        },
    );
    assert_eq!(
        findings(&l),
        [
            "berth.yaml:7:5 Error helm: component `tiny`: helm template failed: Error: chart is broken"
        ]
    );
    let l = load(
        &fixture("chart"),
        &LoadOptions {
            helm: Some(dir.path().join("nope")),
            ..LoadOptions::default()
        },
    );
    assert_eq!(l.findings.len(), 1);
    assert!(
        l.findings[0].message.contains("cannot run helm"),
        "{}",
        l.findings[0].message
    );
}

/// With a real helm (`$BERTH_HELM`, PATH or berth's cache), the local chart renders.
#[test]
fn real_helm_renders_the_local_chart() {
    let helm = berth_stack::helm::find_helm().expect(
        "this test needs helm ($BERTH_HELM, PATH, or berth's own: `berth local build --peers`)",
    );
    let l = load(
        &fixture("chart"),
        &LoadOptions {
            helm: Some(helm),
            ..LoadOptions::default()
        },
    );
    assert!(l.findings.is_empty(), "{:?}", findings(&l));
    let names: Vec<String> = l
        .stack
        .unwrap()
        .objects
        .iter()
        .map(|o| o.display_name())
        .collect();
    assert_eq!(
        names,
        ["ConfigMap/tiny/tiny-config", "Deployment/tiny/tiny"]
    );
}

#[test]
fn when_switches_components_by_value() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("berth.yaml"),
        "stack: w\nvalues:\n  exposure: proxy\n  tls: true\ncomponents:\n  proxy:\n    manifests: proxy.yaml\n    when: { exposure: proxy }\n  ingress:\n    manifests: ingress.yaml\n    when: { exposure: ingress, tls: \"true\" }\n  typo:\n    manifests: proxy.yaml\n    when: { exposur: proxy }\n",
    )
    .unwrap();
    for (file, name) in [("proxy.yaml", "p"), ("ingress.yaml", "i")] {
        std::fs::write(
            dir.path().join(file),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"),
        )
        .unwrap();
    }
    let on = |l: &Loaded| -> Vec<(String, bool)> {
        l.stack
            .as_ref()
            .unwrap()
            .components
            .iter()
            .map(|c| (c.name.clone(), c.disabled))
            .collect()
    };
    let l = load(dir.path(), &LoadOptions::default());
    assert_eq!(
        on(&l),
        [
            ("proxy".to_string(), false),
            ("ingress".to_string(), true),
            ("typo".to_string(), true)
        ]
    );
    // A misspelt value name is an error at its key, not a silently disabled component.
    assert_eq!(
        findings(&l),
        [
            "berth.yaml:14:13 Error stack-file: component `typo` is `when:` value `exposur`, which is no value; did you mean `exposure`?"
        ]
    );
    let names: Vec<String> = l
        .stack
        .as_ref()
        .unwrap()
        .objects
        .iter()
        .map(|o| o.display_name())
        .collect();
    assert_eq!(names, ["ConfigMap/default/p"]);

    // --set flips the choice; the boolean value `tls: true` matches `"true"` written as text.
    let l = load(
        dir.path(),
        &LoadOptions {
            set: vec!["exposure=ingress".into()],
            ..LoadOptions::default()
        },
    );
    assert_eq!(
        on(&l)[..2],
        [("proxy".to_string(), true), ("ingress".to_string(), false)]
    );
}

#[test]
fn a_manifest_from_disk_is_not_held_in_memory_and_reads_back_for_findings() {
    let manifest =
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\ndata:\n  n: ${replicsa}\n";
    let dir = stack_dir(&[("berth.yaml", STACK_WITH_REPLICAS), ("app.yaml", manifest)]);
    let l = load(dir.path(), &LoadOptions::default());
    let o = &l.stack.as_ref().unwrap().objects[0];
    assert_eq!(o.file.path, PathBuf::from("app.yaml"));
    assert_eq!(o.file.kept_text(), "", "the object's file keeps no text");
    assert_eq!(o.file.text().as_deref(), Some(manifest));
    // The finding's source is the same light file, and its span still points into the text.
    let f = &l.findings[0];
    let source = f.source.as_ref().unwrap();
    assert!(std::sync::Arc::ptr_eq(source, &o.file));
    let (offset, len) = f.span.unwrap();
    assert_eq!(
        &source.text().unwrap()[offset as usize..(offset + len) as usize],
        "${replicsa}"
    );
}

/// Snippets of files left on disk are read back when findings are shown: masked where the file
/// holds secret values, and never from a file that changed since it was loaded.
#[test]
fn snippets_are_read_back_masked_and_never_from_a_changed_file() {
    let with_secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData:\n  \
        password: hunter2-secret\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  \
        containers: [{name: a, image: nginx:latest}]\n";
    let plain = "apiVersion: v1\nkind: Pod\nmetadata: {name: q}\nspec:\n  \
        containers: [{name: b, image: redis:latest}]\n";
    let dir = stack_dir(&[("secret.yaml", with_secret), ("plain.yaml", plain)]);
    let l = load(dir.path(), &LoadOptions::default());
    let findings = berth_check::check(l.stack.as_ref().unwrap());
    let shown = berth_check::report::human(&findings, false);
    assert!(shown.contains("image: nginx:latest"), "{shown}");
    assert!(shown.contains("image: redis:latest"), "{shown}");
    assert!(!shown.contains("hunter2-secret"), "{shown}");

    // plain.yaml changes after loading: its findings keep their place, without a snippet.
    std::fs::write(
        dir.path().join("plain.yaml"),
        plain.replace("redis", "valkey"),
    )
    .unwrap();
    let shown = berth_check::report::human(&findings, false);
    assert!(shown.contains("--> plain.yaml:5:"), "{shown}");
    assert!(
        !shown.contains("valkey") && !shown.contains("image: redis"),
        "{shown}"
    );
    assert!(shown.contains("image: nginx:latest"), "{shown}");
}
