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
fn renders_a_stack_in_stage_order_with_secrets_redacted() {
    let path = fixture("full");
    let (code, stdout, stderr) = berth(&["render", path.to_str().unwrap(), "--set", "replicas=4"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.starts_with("---\napiVersion: v1\nkind: Namespace\n"),
        "{stdout}"
    );
    assert!(stdout.contains("  replicas: 4\n"), "{stdout}");
    assert!(stdout.contains("\n  password: <redacted>\n"), "{stdout}");
    assert!(!stdout.contains("not-a-real-password"));
    assert!(stderr.contains("warning[secret-source]"), "{stderr}");
}

#[test]
fn a_broken_stack_exits_2_with_its_findings() {
    let path = fixture("broken");
    let (code, stdout, stderr) = berth(&["render", path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("bad/secret.yaml:6:13: error[yaml-syntax]"),
        "{stderr}"
    );
    assert!(
        stderr.contains("berth.yaml:8:23: error[missing-file]"),
        "{stderr}"
    );
}

#[test]
fn a_bad_profile_is_refused_by_the_command_line() {
    let (code, _, stderr) = berth(&["render", ".", "--profile", "aws"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unknown profile `aws`"), "{stderr}");
}
