//! `berth cluster up`: the commands that create the cluster from the written files —
//! `eksctl create cluster -f cluster.yaml` (which carries the node mode: `autoModeConfig`,
//! `karpenter:`), then `kubectl apply` of the autoscaler manifest or of the NodePools, the
//! latter once their CRDs are established (eksctl installs Karpenter's with its Helm chart;
//! Auto Mode's exist when the cluster is active) — where their programs are, and running them
//! in order (stopping at the first that fails).
//! The same list is printed when a program is missing; the caller owns the terminal and only
//! says how to announce each command.

use std::fmt;
use std::path::{Path, PathBuf};

use berth_model::NodeMode;

use crate::NODEPOOLS_FILE;

/// One command to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub program: String,
    pub args: Vec<String>,
}

impl Step {
    /// Where `program` is on `PATH`, if it is.
    pub fn locate(&self) -> Option<PathBuf> {
        find_on_path(&self.program, std::env::var_os("PATH").as_deref())
    }
}

fn quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

impl fmt::Display for Step {
    /// The command as a POSIX shell line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&quote(&self.program))?;
        for a in &self.args {
            write!(f, " {}", quote(a))?;
        }
        Ok(())
    }
}

/// The CRDs the NodePools of `nodes` need before they can be applied.
fn crds(nodes: NodeMode) -> &'static [&'static str] {
    match nodes {
        NodeMode::Karpenter => &["nodepools.karpenter.sh", "ec2nodeclasses.karpenter.k8s.aws"],
        NodeMode::AutoMode => &["nodepools.karpenter.sh"],
        NodeMode::ClusterAutoscaler => &[],
    }
}

/// The commands that create the cluster and apply `manifests` (the autoscaler, or the
/// NodePools after their CRDs are established), in order.
pub fn steps(cluster_file: &Path, manifests: &[PathBuf], nodes: NodeMode) -> Vec<Step> {
    let s = |p: &Path| p.display().to_string();
    let kubectl = |args: Vec<String>| Step {
        program: "kubectl".into(),
        args,
    };
    let mut out = vec![Step {
        program: "eksctl".into(),
        args: vec![
            "create".into(),
            "cluster".into(),
            "-f".into(),
            s(cluster_file),
        ],
    }];
    for m in manifests {
        if m.file_name().is_some_and(|n| n == NODEPOOLS_FILE) && !crds(nodes).is_empty() {
            let mut args = vec!["wait".into(), "--for=condition=Established".into()];
            args.extend(crds(nodes).iter().map(|c| format!("crd/{c}")));
            args.push("--timeout=10m".into());
            out.push(kubectl(args));
        }
        out.push(kubectl(vec![
            "apply".into(),
            "--server-side".into(),
            "-f".into(),
            s(m),
        ]));
    }
    out
}

/// The command that deletes the cluster (`berth cluster down`).
pub fn down_steps(name: &str, region: &str) -> Vec<Step> {
    vec![Step {
        program: "eksctl".into(),
        args: [
            "delete", "cluster", "--name", name, "--region", region, "--wait",
        ]
        .map(String::from)
        .to_vec(),
    }]
}

/// The programs of `steps` that are not on `PATH` (each named once).
pub fn missing(steps: &[Step]) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for s in steps.iter().filter(|s| s.locate().is_none()) {
        if !out.contains(&s.program.as_str()) {
            out.push(&s.program);
        }
    }
    out
}

/// Why a step did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{program}: {source}")]
    Start {
        program: String,
        source: std::io::Error,
    },
    #[error("`{step}` failed ({status}); the remaining commands were not run")]
    Failed {
        step: String,
        status: std::process::ExitStatus,
    },
}

/// Runs `steps` in order, their output on the terminal, `announce` called before each; stops
/// at the first that cannot start or fails.
pub fn run(steps: &[Step], announce: &dyn Fn(&Step)) -> Result<(), StepError> {
    for s in steps {
        announce(s);
        let status = std::process::Command::new(&s.program)
            .args(&s.args)
            .status()
            .map_err(|source| StepError::Start {
                program: s.program.clone(),
                source,
            })?;
        if !status.success() {
            return Err(StepError::Failed {
                step: s.to_string(),
                status,
            });
        }
    }
    Ok(())
}

/// Where `berth cluster up` writes the files by default: `.berth/cluster/<name>` in the stack
/// folder (the folder of `stack` when it is a file).
pub fn default_dir(stack: &Path, name: &str) -> PathBuf {
    let root = if stack.is_file() {
        stack.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        stack.to_path_buf()
    };
    root.join(".berth").join("cluster").join(name)
}

pub use berth_stack::find_on_path;

#[cfg(test)]
mod tests {
    use super::*;

    fn step(program: &str, args: &[&str]) -> Step {
        Step {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn steps_run_in_order_and_stop_at_the_first_failure() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("ran");
        let announced = std::sync::Mutex::new(Vec::new());
        let announce = |s: &Step| announced.lock().unwrap().push(s.program.clone());
        let ok = [
            step("true", &[]),
            step("touch", &[marker.to_str().unwrap()]),
        ];
        run(&ok, &announce).unwrap();
        assert!(marker.is_file());
        assert_eq!(*announced.lock().unwrap(), ["true", "touch"]);

        std::fs::remove_file(&marker).unwrap();
        let failing = [
            step("false", &[]),
            step("touch", &[marker.to_str().unwrap()]),
        ];
        let err = run(&failing, &announce).unwrap_err();
        assert!(matches!(err, StepError::Failed { .. }), "{err}");
        assert!(err.to_string().contains("remaining commands were not run"));
        assert!(!marker.exists(), "a step after a failure ran");

        let absent = [step("berth-no-such-program", &[])];
        assert!(matches!(
            run(&absent, &announce).unwrap_err(),
            StepError::Start { .. }
        ));
    }

    #[test]
    fn missing_programs_are_named_once() {
        let steps = [
            step("berth-no-such-program", &[]),
            step("true", &[]),
            step("berth-no-such-program", &["again"]),
        ];
        assert_eq!(missing(&steps), ["berth-no-such-program"]);
        assert!(missing(&[step("true", &[])]).is_empty());
    }

    #[test]
    fn files_go_beside_the_stack() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("berth.yaml");
        std::fs::write(&file, "stack: x\n").unwrap();
        let expected = dir.path().join(".berth/cluster/shop");
        assert_eq!(default_dir(&file, "shop"), expected);
        assert_eq!(default_dir(dir.path(), "shop"), expected);
    }

    #[test]
    fn commands_are_printed_as_shell_lines() {
        let s = steps(
            Path::new("out dir/cluster.yaml"),
            &[PathBuf::from("ca.yaml")],
            NodeMode::ClusterAutoscaler,
        );
        assert_eq!(
            s[0].to_string(),
            "eksctl create cluster -f 'out dir/cluster.yaml'"
        );
        assert_eq!(s[1].to_string(), "kubectl apply --server-side -f ca.yaml");
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn nodepools_are_applied_once_their_crds_are_established() {
        let pools = [PathBuf::from("d/nodepools.yaml")];
        let lines = |nodes| -> Vec<String> {
            steps(Path::new("d/cluster.yaml"), &pools, nodes)
                .iter()
                .map(ToString::to_string)
                .collect()
        };
        assert_eq!(
            lines(NodeMode::Karpenter),
            [
                "eksctl create cluster -f d/cluster.yaml",
                "kubectl wait --for=condition=Established crd/nodepools.karpenter.sh crd/ec2nodeclasses.karpenter.k8s.aws --timeout=10m",
                "kubectl apply --server-side -f d/nodepools.yaml",
            ]
        );
        assert_eq!(
            lines(NodeMode::AutoMode)[1],
            "kubectl wait --for=condition=Established crd/nodepools.karpenter.sh --timeout=10m"
        );
        // Auto Mode with only the built-in pools: nothing to apply.
        assert_eq!(steps(Path::new("c.yaml"), &[], NodeMode::AutoMode).len(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn finds_executables_on_path_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("eksctl");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        let plain = dir.path().join("kubectl");
        std::fs::write(&plain, "").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([Path::new("/nonexistent"), dir.path()]).unwrap();
        assert_eq!(find_on_path("eksctl", Some(&path)), Some(exe));
        assert_eq!(find_on_path("kubectl", Some(&path)), None);
        assert_eq!(find_on_path("eksctl", None), None);
    }
}
