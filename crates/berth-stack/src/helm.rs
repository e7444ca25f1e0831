//! Helm chart components, rendered with `helm template` as a subprocess.
//!
//! No Rust crate renders real charts (Sprig, `include`, `tpl`, subcharts), so berth runs helm
//! like Argo CD does and reads its output with the same loader as any manifest. The binary is
//! `$BERTH_HELM`, else `helm` on `PATH`, else the newest `helm-*/helm` in the local cluster's
//! cache (`$BERTH_LOCAL_CACHE`, else `$XDG_CACHE_HOME/berth/local`, else
//! `~/.cache/berth/local`).
//! Values go to helm on stdin (`--values -`), so nothing is written to disk.
//!
//! Where a chart comes from:
//! - `repo: https://…, name, version`: a classic chart repository (an `index.yaml`), given to
//!   `helm template NAME --repo URL --version V`, so no `helm repo add` is needed.
//! - `repo: oci://host/path, name, version`: `helm template oci://host/path/NAME --version V`.
//!   Registries are spoken to over HTTPS, except loopback ones (`localhost`, `127.0.0.0/8`,
//!   `::1`), which get `--plain-http`: a registry on the same machine is a test registry or a
//!   local mirror, plain HTTP to it never crosses a network, and real registries are HTTPS.
//! - `path:` a chart folder in the stack. One with dependencies is rendered from a copy in
//!   berth's cache where `helm dependency build` ran (see `helm/deps.rs`); the folder is never
//!   written to. Charts from repositories come packaged with their dependencies.
//!
//! helm keeps its state (repositories.yaml, the repository cache, registry logins, plugins)
//! under berth's cache, `<cache>/helm/` ([`default_cache`]), never in the user's
//! `~/.config/helm` or `~/.cache/helm`: a render does not depend on what `helm repo add` did
//! on this machine and does not change it. The price: the user's `helm registry login`
//! credentials and helm plugins (downloaders such as `s3://`) are not used. CRDs in a chart's
//! `crds/` folder are rendered too (`--include-crds`); the planner puts them first.
//!
//! Rule id: `helm` (error) when helm is missing, fails or times out. When helm could not reach
//! a repository or registry (DNS, refused or reset connection, timeout, TLS), the message
//! starts with [`NETWORK_FAILURE`] and names the URL ([`is_network_failure`] tells them apart).

mod deps;
mod network;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use berth_model::Finding;
use serde_json::Value;

use crate::stackfile::ChartSpec;
use crate::subprocess::{self, RunError};

/// Rule id for charts that could not be rendered.
pub const HELM: &str = "helm";

/// How long one helm run may take (it may download a chart or its dependencies).
pub const TIMEOUT: Duration = Duration::from_secs(300);

/// How the message of a `helm` finding starts when helm could not reach a chart repository or
/// registry, rather than finding something wrong with the chart.
pub const NETWORK_FAILURE: &str = "network failure:";

/// Why a chart could not be rendered: a message for the user and what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct HelmError {
    /// What went wrong, for the user.
    pub message: String,
    /// What to do about it.
    pub fix: String,
    /// The URL helm could not reach, when the failure is the network's (the message then
    /// starts with [`NETWORK_FAILURE`]).
    pub unreachable: Option<String>,
}

impl HelmError {
    fn plain(message: impl Into<String>, fix: impl Into<String>) -> HelmError {
        HelmError {
            message: message.into(),
            fix: fix.into(),
            unreachable: None,
        }
    }
}

/// Whether `finding` is a chart that could not be rendered because a repository or registry
/// was out of reach (an offline machine), as opposed to a wrong chart, version or value.
pub fn is_network_failure(finding: &Finding) -> bool {
    finding.rule == HELM && finding.message.contains(NETWORK_FAILURE)
}

/// Where helm is: `$BERTH_HELM`, `PATH`, then the newest `helm-*` that `berth local up` built
/// in its cache ([`berth_model::dirs::local_cache_root`]: `$BERTH_LOCAL_CACHE` and
/// `$XDG_CACHE_HOME` count, as they do for the local cluster).
pub fn find_helm() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("BERTH_HELM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(found) = subprocess::on_path("helm") {
        return Some(found);
    }
    let cache = berth_model::dirs::local_cache_root();
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
    // By version, not by text: `helm-v3.22.0` is newer than `helm-v3.9.0`.
    found.sort_by_key(|p| version_key(p));
    found.pop()
}

/// The numbers of a `helm-vX.Y.Z` folder's version, for ordering.
fn version_key(helm: &std::path::Path) -> Vec<u64> {
    helm.parent()
        .and_then(|d| d.file_name())
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("helm-"))
        .map(|v| {
            v.trim_start_matches('v')
                .split(['.', '-', '+'])
                .map(|part| part.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default()
}

/// berth's cache folder for charts: `$XDG_CACHE_HOME/berth`, else `~/.cache/berth` (`%LOCALAPPDATA%\berth` on Windows). helm's
/// state goes to `helm/` in it, local charts with dependencies to `charts/`.
pub fn default_cache() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        // Windows: the user's local application data, where programs keep caches.
        .or_else(|| std::env::var_os("LOCALAPPDATA").map(PathBuf::from))
        .unwrap_or_else(std::env::temp_dir)
        .join("berth")
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
    /// berth's cache folder ([`default_cache`]): helm's state and built chart dependencies.
    pub cache: &'a Path,
}

/// Run `helm template` and return its output (multi-document YAML). A local chart with
/// dependencies first gets them built in the cache (one more helm run, once per chart content).
pub fn template(r: &Render<'_>) -> Result<String, HelmError> {
    let helm = Helm {
        bin: r.helm,
        cache: r.cache,
    };
    let mut args: Vec<OsString> = vec!["template".into(), r.release.into()];
    let mut urls = Vec::new();
    match (&r.chart.path, &r.chart.repo, &r.chart.name) {
        (Some(path), _, _) => {
            args.push(deps::prepare(&helm, &r.root.join(path))?.into());
        }
        (None, Some(repo), Some(name)) if repo.starts_with("oci://") => {
            args.push(format!("{}/{name}", repo.trim_end_matches('/')).into());
            if network::is_loopback(repo) {
                args.push("--plain-http".into());
            }
            urls.push(repo.clone());
        }
        (None, Some(repo), Some(name)) => {
            args.extend([name.into(), "--repo".into(), repo.into()]);
            urls.push(repo.clone());
        }
        _ => {
            return Err(HelmError::plain(
                "the chart has neither `path:` nor `repo:` and `name:`",
                "see the chart fields in berth.yaml",
            ));
        }
    }
    if let Some(v) = &r.chart.version {
        args.extend(["--version".into(), v.into()]);
    }
    for a in ["--namespace", r.namespace, "--include-crds", "--skip-tests"] {
        args.push(a.into());
    }
    args.push("--kube-version".into());
    args.push(format!("{}.0", r.kubernetes).into());
    let values = r.values.map(|v| v.to_string());
    if values.is_some() {
        // JSON is YAML: helm reads it as a values file.
        args.extend(["--values".into(), "-".into()]);
    }
    let out = helm.run(
        "helm template",
        &args,
        values,
        &urls,
        "fix the chart reference or its values; run the same `helm template` to see all of it",
    )?;
    String::from_utf8(out)
        .map_err(|_| HelmError::plain("helm template printed something that is not UTF-8", ""))
}

/// A helm binary that keeps its state in berth's cache.
struct Helm<'a> {
    bin: &'a Path,
    cache: &'a Path,
}

impl Helm<'_> {
    /// A helm command whose config, cache and data folders are berth's, whatever the
    /// environment says: `HELM_*_HOME` point into `<cache>/helm/`, the variables that would
    /// point single files elsewhere are dropped so they default to those folders, and so is
    /// `HELM_DEBUG`.
    fn command(&self) -> Command {
        let home = self.cache.join("helm");
        let mut cmd = Command::new(self.bin);
        cmd.env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_DATA_HOME", home.join("data"));
        for var in [
            "HELM_REPOSITORY_CONFIG",
            "HELM_REPOSITORY_CACHE",
            "HELM_REGISTRY_CONFIG",
            "HELM_PLUGINS",
            "HELM_CONTENT_CACHE",
            // With debug on, a failed `helm template` prints its manifests on stdout.
            "HELM_DEBUG",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// Run helm with `args` (and `stdin`), within [`TIMEOUT`], and return its stdout. `what`
    /// names the run in messages; `urls` are the repositories it may reach, named when the
    /// network fails; `fix` is the advice for any other failure.
    fn run(
        &self,
        what: &str,
        args: &[OsString],
        stdin: Option<String>,
        urls: &[String],
        fix: &str,
    ) -> Result<Vec<u8>, HelmError> {
        let mut cmd = self.command();
        cmd.args(args);
        let ran = match subprocess::run(cmd, stdin.map(String::into_bytes), TIMEOUT) {
            Ok(ran) => ran,
            Err(RunError::Spawn(e)) => {
                return Err(HelmError::plain(
                    format!("cannot run helm ({}): {e}", self.bin.display()),
                    "install helm, or point BERTH_HELM at it",
                ));
            }
            Err(RunError::Timeout) => {
                let late = format!("{what} did not finish within {}s", TIMEOUT.as_secs());
                return Err(match urls {
                    [] => HelmError::plain(late, "run the same helm command to see where it hangs"),
                    _ => network_error(&urls.join(", "), &late, &format!("{what} timed out")),
                });
            }
            Err(RunError::Wait(e)) => {
                return Err(HelmError::plain(
                    format!("waiting for helm failed: {e}"),
                    "",
                ));
            }
        };
        let (out, err) = (ran.stdout, ran.stderr);
        if ran.status.success() {
            return Ok(out);
        }
        let stderr = String::from_utf8_lossy(&err);
        let said = network::error_line(&stderr);
        // helm prints some network failures as progress on stdout (`helm dependency build`:
        // "Unable to get an update from ..."), then fails with a message that does not say
        // why. A failed run prints no manifests (HELM_DEBUG is dropped), so stdout is only that.
        let stdout = String::from_utf8_lossy(&out);
        if let Some((reason, line)) =
            network::diagnose(&stderr).or_else(|| network::diagnose(&stdout))
        {
            let url = network::url_named(line, urls);
            return Err(network_error(&url, reason, &format!("{what}: {said}")));
        }
        Err(HelmError::plain(format!("{what} failed: {said}"), fix))
    }
}

fn network_error(url: &str, reason: &str, detail: &str) -> HelmError {
    HelmError {
        message: format!("{NETWORK_FAILURE} cannot reach {url} ({reason}); {detail}"),
        fix: format!(
            "check that this machine can reach {url} (network, DNS, proxy, firewall, \
             certificates) and that the URL is right"
        ),
        unreachable: Some(url.to_string()),
    }
}
