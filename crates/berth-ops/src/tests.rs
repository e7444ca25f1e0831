//! The pipeline's gate without a cluster: what is refused (and with which exit class), what
//! goes through, and that the secret values are resolved without loading the stack again.

use std::path::Path;

use super::*;

fn write(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

const DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx:1.27.3
          envFrom: [{secretRef: {name: db}}]
          resources:
            requests: {cpu: 100m, memory: 64Mi}
            limits: {memory: 64Mi}
          readinessProbe: {httpGet: {path: /, port: 80}}
"#;

fn stack_with_secret(dir: &Path) {
    write(
        dir,
        &[
            (
                "berth.yaml",
                "stack: shop\nnamespace: shop\ncomponents:\n  web:\n    manifests: web/\nsecrets:\n  db:\n    data:\n      password: { env: BERTH_OPS_TEST_PASSWORD }\n      token: { generate: 16 }\n",
            ),
            ("web/deployment.yaml", DEPLOYMENT),
        ],
    );
}

/// Environment of the test only: the process environment is shared between tests.
struct TestSource;

impl SecretSource for TestSource {
    fn env(&self, name: &str) -> Option<SecretValue> {
        (name == "BERTH_OPS_TEST_PASSWORD").then(|| SecretValue::new("s3cret"))
    }
}

fn options() -> LoadOptions {
    LoadOptions::default()
}

#[test]
fn a_clean_stack_is_ready_with_its_plan() {
    let dir = tempfile::tempdir().unwrap();
    stack_with_secret(dir.path());
    let prepared = prepare(dir.path(), &options(), Checks::All);
    assert!(!prepared.is_bad_input(), "{:#?}", prepared.findings);
    // The secret's environment variable is not set here: a warning at load, not an error.
    assert!(!prepared.has_errors(), "{:#?}", prepared.findings);
    let ready = prepared
        .ready()
        .expect("a clean stack goes through the gate");
    let planned: Vec<usize> = ready.plan.order().collect();
    assert_eq!(planned.len(), ready.stack.objects.len());
    // The Secret is applied before the Deployment that reads it.
    let secret = ready
        .stack
        .objects
        .iter()
        .position(|o| o.kind() == "Secret")
        .unwrap();
    let web = ready
        .stack
        .objects
        .iter()
        .position(|o| o.kind() == "Deployment")
        .unwrap();
    let at = |i| planned.iter().position(|&p| p == i).unwrap();
    assert!(at(secret) < at(web));
}

#[test]
fn secret_values_are_resolved_without_reading_the_stack_again() {
    let dir = tempfile::tempdir().unwrap();
    stack_with_secret(dir.path());
    let ready = prepare(dir.path(), &options(), Checks::All)
        .ready()
        .unwrap();
    // Every manifest and berth.yaml are gone: resolving the values must not need them.
    std::fs::remove_dir_all(dir.path().join("web")).unwrap();
    std::fs::remove_file(dir.path().join("berth.yaml")).unwrap();
    let (data, findings) = ready.loaded.resolve_secrets(&TestSource);
    assert!(findings.is_empty(), "{findings:#?}");
    let secret = ready
        .stack
        .objects
        .iter()
        .find(|o| o.kind() == "Secret")
        .unwrap();
    assert_eq!(
        data.get(&secret.key(), "password")
            .map(|v| v.expose().to_vec()),
        Some(b"s3cret".to_vec())
    );
    assert_eq!(data.get(&secret.key(), "token").unwrap().expose().len(), 16);
    // The stack's objects themselves never hold the value.
    assert!(
        !serde_json::to_string(&secret.value)
            .unwrap()
            .contains("s3cret")
    );
}

#[test]
fn an_unavailable_secret_value_is_an_error_when_resolving() {
    let dir = tempfile::tempdir().unwrap();
    stack_with_secret(dir.path());
    let ready = prepare(dir.path(), &options(), Checks::All)
        .ready()
        .unwrap();
    struct Nothing;
    impl SecretSource for Nothing {
        fn env(&self, _: &str) -> Option<SecretValue> {
            None
        }
    }
    let (data, findings) = ready.loaded.resolve_secrets(&Nothing);
    assert!(data.is_empty());
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert_eq!(findings[0].severity, Severity::Error);
    assert!(findings[0].message.contains("BERTH_OPS_TEST_PASSWORD"));
}

#[test]
fn bad_input_is_refused_with_exit_2_and_not_checked() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "a.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a\n",
            ),
            (
                "b.yaml",
                "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec:\n  containers: [{name: b, image: 'busybox:latest'}]\n",
            ),
        ],
    );
    let prepared = prepare(dir.path(), &options(), Checks::All);
    assert!(prepared.is_bad_input());
    // The checks do not run on a stack that could not be read: only the load's findings.
    assert!(
        prepared.findings.iter().all(|f| f.rule != "mutable-image"),
        "{:#?}",
        prepared.findings
    );
    let refused = prepared.ready().unwrap_err();
    assert_eq!(refused.class, ErrorClass::BadInput);
    assert!(refused.message.contains("nothing was applied"));

    // `berth check` still reports the findings of the files it could read.
    let all = prepare_all_findings(dir.path(), &options(), Checks::All);
    assert!(all.is_bad_input());
    assert!(
        all.findings.iter().any(|f| f.rule == "mutable-image"),
        "{:#?}",
        all.findings
    );
}

#[test]
fn error_findings_are_refused_with_exit_1_and_warnings_are_not() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(
            "hpa.yaml",
            "apiVersion: autoscaling/v2beta2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 1\n  maxReplicas: 3\n",
        )],
    );
    let prepared = prepare(dir.path(), &options(), Checks::All);
    assert!(prepared.has_errors(), "{:#?}", prepared.findings);
    assert_eq!(prepared.ready().unwrap_err().class, ErrorClass::Failed);

    // The same stack with the load's findings only: nothing refuses it.
    let prepared = prepare(dir.path(), &options(), Checks::LoadOnly);
    assert!(!prepared.has_errors(), "{:#?}", prepared.findings);
    assert!(prepared.ready().is_ok());
}

#[test]
fn selected_rules_run_alone() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(
            "pod.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec:\n  containers: [{name: b, image: 'busybox:latest'}]\n",
        )],
    );
    let all = prepare(dir.path(), &options(), Checks::All);
    assert!(all.findings.iter().any(|f| f.rule == "mutable-image"));
    assert!(all.findings.iter().any(|f| f.rule != "mutable-image"));
    let only = berth_check::select(&["mutable-image"]).unwrap();
    let some = prepare(dir.path(), &options(), Checks::Rules(&only));
    assert!(!some.findings.is_empty());
    assert!(some.findings.iter().all(|f| f.rule == "mutable-image"));
}

#[test]
fn findings_come_sorted_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            (
                "b.yaml",
                "apiVersion: v1\nkind: Pod\nmetadata: {name: b}\nspec:\n  containers: [{name: b, image: 'busybox:latest'}]\n",
            ),
            (
                "a.yaml",
                "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers: [{name: a, image: 'busybox:latest'}]\n",
            ),
        ],
    );
    let prepared = prepare(dir.path(), &options(), Checks::All);
    let mut sorted = prepared.findings.clone();
    berth_check::sort(&mut sorted);
    assert_eq!(prepared.findings, sorted);
    assert!(prepared.findings.first().unwrap().file.ends_with("a.yaml"));
}

#[test]
fn a_dependency_cycle_is_bad_input_with_its_finding() {
    let dir = tempfile::tempdir().unwrap();
    // Two components that each wait for the other.
    write(
        dir.path(),
        &[
            (
                "berth.yaml",
                "stack: loop\ncomponents:\n  a:\n    manifests: a.yaml\n    after: [b]\n  b:\n    manifests: b.yaml\n    after: [a]\n",
            ),
            (
                "a.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
            ),
            (
                "b.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n",
            ),
        ],
    );
    let prepared = prepare(dir.path(), &options(), Checks::All);
    let refused = match prepared.ordered() {
        Err(refused) => refused,
        Ok(order) => panic!("a cycle was ordered: {}", order.len()),
    };
    assert_eq!(refused.class, ErrorClass::BadInput);
    let refused = prepared.ready().unwrap_err();
    assert_eq!(refused.class, ErrorClass::BadInput);
}
