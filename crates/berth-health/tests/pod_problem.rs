//! `pod_problem` over realistic pods (tests/fixtures/pods/*.json).

use std::path::Path;

use berth_health::{PodProblem, pod_problem};
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/pods")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn healthy_and_starting_pods_have_no_problem() {
    for name in ["healthy", "container-creating", "succeeded"] {
        assert_eq!(pod_problem(&fixture(name)), None, "{name}");
    }
}

#[test]
fn image_pull_failures() {
    for (name, reason) in [
        ("image-pull-backoff", "ImagePullBackOff"),
        ("err-image-pull", "ErrImagePull"),
        ("invalid-image-name", "InvalidImageName"),
    ] {
        match pod_problem(&fixture(name)) {
            Some(PodProblem::ImagePull {
                container,
                image,
                reason: r,
                message,
            }) => {
                assert_eq!(container, "web");
                assert!(image.starts_with("registry.example.com/shop/"), "{image}");
                assert_eq!(r, reason);
                assert!(!message.is_empty());
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn crash_loop_with_exit_code_and_restarts() {
    let p = pod_problem(&fixture("crash-loop")).unwrap();
    assert_eq!(
        p,
        PodProblem::CrashLoop {
            container: "web".into(),
            exit_code: Some(1),
            last_reason: "Error".into(),
            restarts: 5
        }
    );
    assert_eq!(p.id(), "crash-loop");
}

#[test]
fn init_container_crash_loop_names_the_init_container() {
    let p = pod_problem(&fixture("init-crash-loop")).unwrap();
    assert_eq!(p.container(), Some("fix-permissions"));
    assert!(matches!(
        p,
        PodProblem::CrashLoop {
            exit_code: Some(126),
            restarts: 2,
            ..
        }
    ));
}

#[test]
fn oom_killed_from_last_state_or_current_state() {
    assert_eq!(
        pod_problem(&fixture("oom-crash-loop")),
        Some(PodProblem::OomKilled {
            container: "web".into(),
            restarts: 3
        })
    );
    assert_eq!(
        pod_problem(&fixture("oom-terminated")),
        Some(PodProblem::OomKilled {
            container: "web".into(),
            restarts: 0
        })
    );
}

#[test]
fn missing_secret_is_a_container_config_problem() {
    assert_eq!(
        pod_problem(&fixture("create-container-config-error")),
        Some(PodProblem::ContainerConfig {
            container: "web".into(),
            message: "secret \"flow-db\" not found".into()
        })
    );
}

#[test]
fn unschedulable_carries_the_scheduler_message() {
    match pod_problem(&fixture("unschedulable")) {
        Some(PodProblem::Unschedulable { message }) => {
            assert!(message.starts_with("0/3 nodes are available: 3 Insufficient cpu."))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn causes_read_as_sentences() {
    let mut out = String::new();
    let mut names: Vec<String> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pods"))
            .unwrap()
            .map(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .trim_end_matches(".json")
                    .to_string()
            })
            .collect();
    names.sort();
    for name in names {
        let line = match pod_problem(&fixture(&name)) {
            Some(p) => format!("{} | {}", p.id(), p.cause()),
            None => "-".to_string(),
        };
        out.push_str(&format!("{name}: {line}\n"));
    }
    insta::assert_snapshot!(out);
}
