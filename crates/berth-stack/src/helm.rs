//! Helm chart components, rendered with `helm template` as a subprocess.
//!
//! No Rust crate renders real charts (Sprig, `include`, `tpl`, subcharts), so berth runs helm
//! like Argo CD does and reads its output with the same loader as any manifest. The binary is
//! `$BERTH_HELM`, else `helm` on `PATH`, else the newest `~/.cache/berth/local/helm-*/helm`.
//! Values go to helm on stdin (`--values -`), so nothing is written to disk.
//!
//! Rule id: `helm` (error) when helm is missing, fails or times out.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::stackfile::ChartSpec;
use crate::subprocess::{self, RunError};

/// Rule id for charts that could not be rendered.
pub const HELM: &str = "helm";

/// How long `helm template` may take (it may download a chart).
pub const TIMEOUT: Duration = Duration::from_secs(300);

/// Why a chart could not be rendered: a message for the user and what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HelmError {
    /// What went wrong, for the user.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

/// Where helm is: `$BERTH_HELM`, `PATH`, then berth's own cache.
pub fn find_helm() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_HELM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(found) = subprocess::on_path("helm") {
        return Some(found);
    }
    let cache = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/berth/local"))?;
    let mut found: Vec<PathBuf> = std::fs::read_dir(cache)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("helm-") && !n.ends_with(".tmp"))
        })
        .map(|e| e.path().join("helm"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
}

/// What to render.
pub struct Render<'a> {
    /// The helm binary.
    pub helm: &'a Path,
    /// Release name (the component name unless the chart names one).
    pub release: &'a str,
    /// The chart to render.
    pub chart: &'a ChartSpec,
    /// The stack folder, for `chart.path`.
    pub root: &'a Path,
    /// The release namespace (`--namespace`).
    pub namespace: &'a str,
    /// `"1.33"`, passed as `--kube-version`.
    pub kubernetes: &'a str,
    /// Helm values of the component, placeholders already filled.
    pub values: Option<&'a Value>,
}

/// Run `helm template` and return its output (multi-document YAML).
pub fn template(r: &Render<'_>) -> Result<String, HelmError> {
    let mut cmd = Command::new(r.helm);
    cmd.arg("template").arg(r.release);
    match (&r.chart.path, &r.chart.repo, &r.chart.name) {
        (Some(path), _, _) => {
            cmd.arg(r.root.join(path));
        }
        (None, Some(repo), Some(name)) if repo.starts_with("oci://") => {
            cmd.arg(format!("{}/{name}", repo.trim_end_matches('/')));
        }
        (None, Some(repo), Some(name)) => {
            cmd.arg(name).arg("--repo").arg(repo);
        }
        _ => {
            return Err(HelmError {
                message: "the chart has neither `path:` nor `repo:` and `name:`".into(),
                fix: "see the chart fields in berth.yaml".into(),
            });
        }
    }
    if let Some(v) = &r.chart.version {
        cmd.arg("--version").arg(v);
    }
    cmd.args(["--namespace", r.namespace, "--include-crds", "--skip-tests"]);
    cmd.arg("--kube-version").arg(format!("{}.0", r.kubernetes));
    let values = r.values.map(|v| v.to_string());
    if values.is_some() {
        // JSON is YAML: helm reads it as a values file.
        cmd.args(["--values", "-"]);
    }
    let ran = match subprocess::run(cmd, values.map(String::into_bytes), TIMEOUT) {
        Ok(ran) => ran,
        Err(RunError::Spawn(e)) => {
            return Err(HelmError {
                message: format!("cannot run helm ({}): {e}", r.helm.display()),
                fix: "install helm, or point BERTH_HELM at it".into(),
            });
        }
        Err(RunError::Timeout) => {
            return Err(HelmError {
                message: format!("helm template did not finish within {}s", TIMEOUT.as_secs()),
                fix: "check that the chart repository is reachable".into(),
            });
        }
        Err(RunError::Wait(e)) => {
            return Err(HelmError {
                message: format!("waiting for helm failed: {e}"),
                fix: String::new(),
            });
        }
    };
    if !ran.status.success() {
        let stderr = String::from_utf8_lossy(&ran.stderr);
        let first = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no output")
            .trim();
        return Err(HelmError {
            message: format!("helm template failed: {first}"),
            fix: "fix the chart reference or its values; run the same `helm template` to see all of it".into(),
        });
    }
    let out = ran.stdout;
    String::from_utf8(out).map_err(|_| HelmError {
        message: "helm template printed something that is not UTF-8".into(),
        fix: String::new(),
    })
}
