//! Test helpers: stacks from inline YAML (parsed by the real loader, so positions are real)
//! and a compact rendering of findings for snapshots.

use std::path::{Path, PathBuf};

use berth_model::{Finding, Profile, Stack};

use super::Rule;

/// A stack of the manifests `files` (`(path, yaml)`), namespace `app`, Kubernetes 1.34, EKS.
pub fn stack_files(files: &[(&str, &str)]) -> Stack {
    let mut objects = Vec::new();
    for (path, text) in files {
        let (objs, findings) = berth_stack::parse_manifest_str(Path::new(path), text, "app");
        assert!(
            findings.is_empty(),
            "fixture {path} does not load: {findings:#?}"
        );
        objects.extend(objs);
    }
    Stack {
        name: "test".into(),
        root: PathBuf::from("."),
        namespace: "app".into(),
        kubernetes: "1.34".into(),
        profile: Profile::Eks,
        components: Vec::new(),
        objects,
        external: Vec::new(),
        cluster: None,
        values: Default::default(),
    }
}

/// A stack of one manifest file `test.yaml`.
pub fn stack(yaml: &str) -> Stack {
    stack_files(&[("test.yaml", yaml)])
}

/// Runs one rule over `stack`.
pub fn run(rule: &'static Rule, stack: &Stack) -> Vec<Finding> {
    crate::check_rules(stack, &[rule])
}

/// Runs one rule over one inline manifest file.
pub fn check(rule: &'static Rule, yaml: &str) -> Vec<Finding> {
    run(rule, &stack(yaml))
}

/// `file:line:col: severity [rule] message` + the fix, one finding per paragraph.
pub fn render(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            format!(
                "{}:{}:{}: {:?} [{}] {}\n  fix: {}\n",
                f.file.display(),
                f.line,
                f.column,
                f.severity,
                f.rule,
                f.message,
                f.fix
            )
        })
        .collect::<Vec<_>>()
        .join("")
}
