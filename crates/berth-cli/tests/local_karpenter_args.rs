//! `berth local up --autoscaler karpenter --nodepool FILE` refuses bad input before it starts
//! anything: exit 2, the file and line named, no cluster state written. (Starting Karpenter for
//! real is crates/berth-apply/tests/karpenter.rs.)

use std::process::Command;

fn up(state: &std::path::Path, args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["local", "up", "--name", "bad-input"])
        .args(args)
        .env("BERTH_LOCAL_STATE", state)
        .output()
        .expect("run berth");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_nodepool_files_are_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let bad = dir.path().join("pools.yaml");
    std::fs::write(
        &bad,
        "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: web}\nspec: [\n",
    )
    .unwrap();
    let bad = bad.to_string_lossy().into_owned();

    let (code, err) = up(&state, &["--autoscaler", "karpenter", "--nodepool", &bad]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains(&format!("{bad}:")), "{err}");

    // Must not be taken without Karpenter, even when the file is good.
    let good = dir.path().join("good.yaml");
    std::fs::write(
        &good,
        "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata: {name: web}\nspec: {}\n",
    )
    .unwrap();
    let (code, err) = up(&state, &["--nodepool", &good.to_string_lossy()]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--nodepool needs --autoscaler karpenter"),
        "{err}"
    );

    let (code, err) = up(&state, &["--autoscaler", "cluster-autoscaler"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`karpenter` or `none`"), "{err}");

    assert!(!state.join("bad-input").join("cluster.json").exists());
}
