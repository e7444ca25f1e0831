//! Each command reads and renders the stack once: `up` used to load it twice (once without
//! secret values to check and plan, once with them to apply), running every kustomization and
//! chart twice. A `kustomize` on `PATH` that logs each build (and hands it to berth's own
//! kubectl) counts the renders of `render`, `up` and `plan` against the local test cluster.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn builds(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

#[test]
fn up_and_plan_render_each_kustomization_once() {
    let kubectl = berth_local::binaries::find()
        .expect("this test needs berth's kubectl: run `berth local build`")
        .kubectl;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("builds.log");
    let bin = dir.path().join("bin");
    write(
        &bin.join("kustomize"),
        &format!(
            "#!/bin/sh\n# berth's test: count builds, then build with kubectl\n[ \"$1\" = build ] || exit 64\nshift\necho \"$@\" >> '{}'\nexec '{}' kustomize \"$@\"\n",
            log.display(),
            kubectl.display()
        ),
    );
    std::fs::set_permissions(
        bin.join("kustomize"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let ns = format!("load-once-{}", std::process::id());
    let stack = dir.path().join("stack");
    write(
        &stack.join("berth.yaml"),
        &format!(
            "stack: load-once\nnamespace: {ns}\nprofile: local\ncomponents:\n  config:\n    kustomize: overlay/\nsecrets:\n  token:\n    data:\n      value: {{ generate: 24 }}\n"
        ),
    );
    write(
        &stack.join("overlay/kustomization.yaml"),
        "resources: [config.yaml]\nnamePrefix: prod-\n",
    );
    write(
        &stack.join("overlay/config.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: fast}\n",
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let berth = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_berth"))
            .args(args)
            .arg(&stack)
            .env("PATH", &path)
            .env("KUBECONFIG", berth_local::testing::kubeconfig())
            .output()
            .unwrap()
    };

    let render = berth(&["render"]);
    assert_eq!(render.status.code(), Some(0), "{}", text(&render));
    assert!(String::from_utf8_lossy(&render.stdout).contains("name: prod-settings"));
    assert_eq!(builds(&log), 1, "render");

    let up = berth(&["up", "--yes", "--timeout", "2m"]);
    assert_eq!(up.status.code(), Some(0), "{}", text(&up));
    assert_eq!(builds(&log), 2, "up built the kustomization more than once");

    // `plan` after `up` renders once too, and sees no change: the generated value is read
    // back from the cluster, not generated again.
    let again = berth(&["plan"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert_eq!(
        builds(&log),
        3,
        "plan built the kustomization more than once"
    );
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("no changes"),
        "a second plan sees changes (the generated secret value was not kept?): {}",
        text(&again)
    );

    let down = berth(&["down", "--yes", "--purge"]);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down));
}
