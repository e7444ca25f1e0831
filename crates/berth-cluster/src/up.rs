//! `berth cluster up`: the commands that create the cluster from the written files —
//! `eksctl create cluster -f cluster.yaml`, then `kubectl apply` of the autoscaler manifest —
//! and where their programs are. Running them is the CLI's job (it owns the terminal); this
//! module only says what to run, so the same list is printed when a program is missing.

use std::fmt;
use std::path::{Path, PathBuf};

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

/// The commands that create the cluster and install its autoscaler, in order.
pub fn steps(cluster_file: &Path, autoscaler_file: &Path) -> Vec<Step> {
    let s = |p: &Path| p.display().to_string();
    vec![
        Step {
            program: "eksctl".into(),
            args: vec![
                "create".into(),
                "cluster".into(),
                "-f".into(),
                s(cluster_file),
            ],
        },
        Step {
            program: "kubectl".into(),
            args: vec![
                "apply".into(),
                "--server-side".into(),
                "-f".into(),
                s(autoscaler_file),
            ],
        },
    ]
}

/// The first executable file named `program` in the folders of `path` (a `PATH` value).
pub fn find_on_path(program: &str, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .map(|dir| dir.join(program))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(p: &Path) -> bool {
    p.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_printed_as_shell_lines() {
        let s = steps(Path::new("out dir/cluster.yaml"), Path::new("ca.yaml"));
        assert_eq!(
            s[0].to_string(),
            "eksctl create cluster -f 'out dir/cluster.yaml'"
        );
        assert_eq!(s[1].to_string(), "kubectl apply --server-side -f ca.yaml");
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
