//! `berth cluster config | up` end to end: the binary on berth-cluster's fixture stacks.
//! `cluster up` runs stand-in `eksctl` and `kubectl` scripts that record their arguments.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../berth-cluster/tests/fixtures")
        .join(name)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("berth-cluster-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn berth(args: &[&str], path: Option<&Path>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(args);
    if let Some(p) = path {
        cmd.env("PATH", p);
    }
    cmd.output().expect("berth runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn config_writes_both_files_and_explains() {
    let out_dir = scratch("config");
    let stack = fixture("openremote");
    let out = berth(
        &[
            "cluster",
            "config",
            stack.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            "--explain",
        ],
        None,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr: {stderr}");
    let cluster = std::fs::read_to_string(out_dir.join("cluster.yaml")).unwrap();
    let ca = std::fs::read_to_string(out_dir.join("cluster-autoscaler.yaml")).unwrap();
    assert!(cluster.contains("kind: ClusterConfig"));
    assert!(ca.contains("--max-nodes-total=4"));
    assert!(stderr.contains("first-fit-decreasing"), "{stderr}");
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[test]
fn config_reports_a_disagreeing_autoscaler_with_exit_1() {
    let stack = fixture("molecule");
    let out = berth(&["cluster", "config", stack.to_str().unwrap()], None);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(text(&out.stdout).contains("apiVersion: eksctl.io/v1alpha5"));
    assert!(stderr.contains("autoscaler/cluster-autoscaler.yaml:23:15: the stack's cluster-autoscaler has --max-nodes-total `10`, the generated one `30`"), "{stderr}");
}

#[test]
fn config_refuses_another_profile() {
    let stack = fixture("openremote");
    let out = berth(
        &[
            "cluster",
            "config",
            stack.to_str().unwrap(),
            "--profile",
            "aks",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "stderr: {}", text(&out.stderr));
}

#[test]
fn up_without_eksctl_prints_the_commands() {
    let out_dir = scratch("up-missing");
    let empty = scratch("empty-path");
    let stack = fixture("openremote");
    let out = berth(
        &[
            "cluster",
            "up",
            stack.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ],
        Some(&empty),
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    assert!(
        stdout.contains(&format!(
            "eksctl create cluster -f {}",
            out_dir.join("cluster.yaml").display()
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("kubectl apply --server-side -f"),
        "{stdout}"
    );
    assert!(text(&out.stderr).contains("eksctl and kubectl not on PATH"));
    let _ = std::fs::remove_dir_all(&out_dir);
    let _ = std::fs::remove_dir_all(&empty);
}

#[cfg(unix)]
#[test]
fn up_runs_eksctl_then_kubectl() {
    use std::os::unix::fs::PermissionsExt;
    let out_dir = scratch("up-run");
    let bin = scratch("fake-bin");
    let log = bin.join("calls.log");
    for program in ["eksctl", "kubectl"] {
        let script = bin.join(program);
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho \"{program} $*\" >> '{}'\n", log.display()),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path =
        std::env::join_paths([bin.as_path(), Path::new("/bin"), Path::new("/usr/bin")]).unwrap();
    let stack = fixture("openremote");
    let out = berth(
        &[
            "cluster",
            "up",
            stack.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ],
        Some(Path::new(&path)),
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls,
        format!(
            "eksctl create cluster -f {}\nkubectl apply --server-side -f {}\n",
            out_dir.join("cluster.yaml").display(),
            out_dir.join("cluster-autoscaler.yaml").display()
        )
    );
    let _ = std::fs::remove_dir_all(&out_dir);
    let _ = std::fs::remove_dir_all(&bin);
}

/// `--nodes karpenter`: eksctl gets the mode in cluster.yaml, and the NodePools are applied
/// after their CRDs are established, never before the cluster exists.
#[cfg(unix)]
#[test]
fn up_with_karpenter_applies_the_nodepools_once_the_cluster_is_ready() {
    use std::os::unix::fs::PermissionsExt;
    let out_dir = scratch("up-karpenter");
    let bin = scratch("fake-bin-karpenter");
    let log = bin.join("calls.log");
    for program in ["eksctl", "kubectl"] {
        let script = bin.join(program);
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho \"{program} $*\" >> '{}'\n", log.display()),
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path =
        std::env::join_paths([bin.as_path(), Path::new("/bin"), Path::new("/usr/bin")]).unwrap();
    let stack = fixture("openremote");
    let out = berth(
        &[
            "cluster",
            "up",
            stack.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
            "--nodes",
            "karpenter",
        ],
        Some(Path::new(&path)),
    );
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let cluster = std::fs::read_to_string(out_dir.join("cluster.yaml")).unwrap();
    assert!(cluster.contains("karpenter:"), "{cluster}");
    assert!(!out_dir.join("cluster-autoscaler.yaml").exists());
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls,
        format!(
            "eksctl create cluster -f {}\nkubectl wait --for=condition=Established crd/nodepools.karpenter.sh crd/ec2nodeclasses.karpenter.k8s.aws --timeout=10m\nkubectl apply --server-side -f {}\n",
            out_dir.join("cluster.yaml").display(),
            out_dir.join("nodepools.yaml").display()
        )
    );
    let bad = berth(
        &[
            "cluster",
            "config",
            stack.to_str().unwrap(),
            "--nodes",
            "fargate",
        ],
        None,
    );
    assert_eq!(bad.status.code(), Some(2), "{}", text(&bad.stderr));
    let _ = std::fs::remove_dir_all(&out_dir);
    let _ = std::fs::remove_dir_all(&bin);
}
