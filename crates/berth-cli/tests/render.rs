//! `berth render` end to end: output, redaction and exit codes.

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../berth-stack/tests/fixtures")
        .join(name)
}

fn berth(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .output()
        .expect("run berth");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn renders_a_stack_in_apply_order_with_secrets_redacted() {
    let path = fixture("full");
    let (code, stdout, stderr) = berth(&["render", path.to_str().unwrap(), "--set", "replicas=4"]);
    assert_eq!(code, 0, "{stderr}");
    // Apply order: the CRD before its Widget, the `shop-app` Namespace before the app's
    // objects in it, the storage component before the app component (`after:`).
    let kinds: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("kind: "))
        .collect();
    let at = |kind: &str| {
        kinds
            .iter()
            .position(|k| *k == kind)
            .unwrap_or_else(|| panic!("{kind} in {kinds:?}"))
    };
    assert_eq!(kinds[0], "CustomResourceDefinition", "{kinds:?}");
    assert!(at("CustomResourceDefinition") < at("Widget"), "{kinds:?}");
    assert!(
        at("Namespace") < at("Deployment") && at("Namespace") < at("Service"),
        "{kinds:?}"
    );
    assert!(at("PersistentVolumeClaim") < at("Deployment"), "{kinds:?}");
    assert!(stdout.contains("  replicas: 4\n"), "{stdout}");
    assert!(stdout.contains("\n  password: <redacted>\n"), "{stdout}");
    assert!(!stdout.contains("not-a-real-password"));
    // Findings are printed as `berth check` prints them: the rule, then the message.
    assert!(stderr.contains("secret-source\n\n  ⚠ "), "{stderr}");
}

#[test]
fn a_broken_stack_exits_2_with_its_findings() {
    let path = fixture("broken");
    let (code, stdout, stderr) = berth(&["render", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    // As `berth check` prints them: rule, message, then the place and the source line.
    for (rule, place) in [
        ("yaml-syntax", "[bad/secret.yaml:6:13]"),
        ("missing-file", "[berth.yaml:8:23]"),
    ] {
        let at = stderr
            .find(&format!("{rule}\n\n  × "))
            .unwrap_or_else(|| panic!("{rule} in {stderr}"));
        assert!(stderr[at..].contains(place), "{place} in {stderr}");
    }
}

#[test]
fn a_bad_profile_is_refused_by_the_command_line() {
    let (code, _, stderr) = berth(&["render", ".", "--profile", "aws"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown profile `aws`"), "{stderr}");
}
