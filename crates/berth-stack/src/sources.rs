//! Finding and reading manifest files: one file, a folder (recursive `*.yaml`/`*.yml`, sorted,
//! hidden entries skipped), or a list of them.
//!
//! Two strictnesses:
//! - [`Strictness::Strict`] (files a berth.yaml names): every document must be a Kubernetes
//!   object (`manifest-shape` error otherwise).
//! - [`Strictness::PlainFolder`] (a folder without berth.yaml): documents that are not
//!   Kubernetes objects at all (no `apiVersion` and no `kind`: values files, docker-compose
//!   files, Chart.yaml) and Helm chart folders are skipped with a `skipped` info finding, since
//!   real folders of manifests carry such files.
//!
//! In both, a folder holding a kustomization is a kustomization root: it and everything under it
//! is one [`Entry::Kustomization`], built by [`crate::kustomize`], never read file by file.
//! Configuration files of other tools that look like objects but are never applied to a
//! cluster (eksctl ClusterConfig, kind cluster configs, a Kustomization outside its folder's
//! kustomization.yaml) are skipped with an info finding that says what to use instead.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_model::{Finding, Object, Origin, Severity, SourceFile};
use serde_json::Value;

use crate::kustomize::{KUSTOMIZATION_FILES, kustomization_file};
use crate::manifest::{check_shape, expand, finding_at, parse_documents};

/// Rule id (info) for files and documents that were not read as manifests, and why.
pub const SKIPPED: &str = "skipped";
/// Rule id (error) for a path berth.yaml names that does not exist or cannot be read.
pub const MISSING_FILE: &str = "missing-file";

/// How strictly documents must be Kubernetes objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strictness {
    /// Files berth.yaml names: every document must be an object.
    Strict,
    /// A folder without berth.yaml: non-objects are skipped (info).
    PlainFolder,
}

/// API groups of tool configuration files that look like objects but are never applied.
const TOOL_CONFIG_GROUPS: &[(&str, &str)] = &[
    (
        "kustomize.config.k8s.io",
        "a Kustomization is built from its folder's kustomization.yaml; name that folder in `manifests:` or `kustomize:`",
    ),
    (
        "eksctl.io",
        "this is an eksctl cluster file; describe the cluster under `cluster:` in berth.yaml",
    ),
    (
        "kind.x-k8s.io",
        "this is a kind cluster configuration; `berth local up` starts a local cluster",
    ),
];

/// What a manifest path holds, in walk order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    /// A YAML file read as manifests.
    File(PathBuf),
    /// A kustomization root: the folder is built by kustomize, none of its files is read.
    Kustomization(PathBuf),
}

/// The YAML files and kustomization roots under `path` (itself, when it is a file or a root),
/// sorted, without hidden entries. A kustomization file named directly stands for its folder.
/// With `skip_charts`, folders holding a `Chart.yaml` are left out and reported in `skipped`.
pub fn collect(
    path: &Path,
    skip_charts: bool,
    skipped: &mut Vec<PathBuf>,
) -> std::io::Result<Vec<Entry>> {
    let meta = std::fs::metadata(path)?;
    if meta.is_file() {
        let is_kustomization = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| KUSTOMIZATION_FILES.contains(&n));
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        return Ok(vec![if is_kustomization {
            Entry::Kustomization(parent.to_path_buf())
        } else {
            Entry::File(path.to_path_buf())
        }]);
    }
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    walk(path, skip_charts, &mut out, skipped, &mut seen)?;
    Ok(out)
}

fn walk(
    dir: &Path,
    skip_charts: bool,
    out: &mut Vec<Entry>,
    skipped: &mut Vec<PathBuf>,
    seen: &mut HashSet<PathBuf>,
) -> std::io::Result<()> {
    // Symlink loops: visit each real folder once.
    if !seen.insert(std::fs::canonicalize(dir)?) {
        return Ok(());
    }
    if skip_charts && dir.join("Chart.yaml").is_file() {
        skipped.push(dir.to_path_buf());
        return Ok(());
    }
    if kustomization_file(dir).is_some() {
        out.push(Entry::Kustomization(dir.to_path_buf()));
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    entries.sort();
    for entry in entries {
        let Ok(meta) = std::fs::metadata(&entry) else {
            continue;
        };
        if meta.is_dir() {
            walk(&entry, skip_charts, out, skipped, seen)?;
        } else if meta.is_file() && is_yaml(&entry) {
            out.push(Entry::File(entry));
        }
    }
    Ok(())
}

fn is_yaml(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

/// The path a finding prints: relative to the stack root when inside it.
pub fn display_path(root: &Path, path: &Path) -> PathBuf {
    path.strip_prefix(root)
        .map(with_slashes)
        .unwrap_or_else(|_| path.to_path_buf())
}

/// A path relative to the stack, written with `/` on every system: findings, JSON and SARIF
/// (whose URIs need `/`) read the same on Windows as on Linux, and Windows opens such paths.
pub fn with_slashes(relative: &Path) -> PathBuf {
    if std::path::MAIN_SEPARATOR == '/' {
        return relative.to_path_buf();
    }
    let parts: Vec<String> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    PathBuf::from(parts.join("/"))
}

/// A change made to each document before it becomes objects (placeholder substitution).
pub(crate) type Transform<'a> =
    dyn Fn(&Arc<SourceFile>, &mut berth_yaml::Document, &mut Vec<Finding>) + 'a;

/// Read the documents of an already loaded source (a manifest file or `helm template` output).
pub(crate) fn read_source(
    file: &Arc<SourceFile>,
    component: &str,
    origin: &Origin,
    strictness: Strictness,
    transform: Option<&Transform<'_>>,
    objects: &mut Vec<Object>,
    findings: &mut Vec<Finding>,
) {
    let docs = parse_documents(file);
    findings.extend(docs.findings);
    for mut doc in docs.documents {
        let pos = doc.positions.get("").copied().unwrap_or_default();
        let api_version = doc
            .value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let group = berth_model::group_of(api_version);
        if let Some((_, why)) = TOOL_CONFIG_GROUPS.iter().find(|(g, _)| *g == group) {
            let kind = doc
                .value
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("object");
            findings.push(finding_at(
                file,
                SKIPPED,
                Severity::Info,
                pos,
                format!("skipped {kind} ({api_version}): not applied to a cluster"),
                *why,
            ));
            continue;
        }
        let not_an_object = match &doc.value {
            Value::Object(m) => !m.contains_key("apiVersion") && !m.contains_key("kind"),
            _ => true,
        };
        if strictness == Strictness::PlainFolder && not_an_object {
            findings.push(finding_at(
                file,
                SKIPPED,
                Severity::Info,
                pos,
                "skipped a YAML document that is not a Kubernetes object (no apiVersion or kind)",
                "nothing to do if this is a values or tool file; add apiVersion and kind if it is a manifest",
            ));
            continue;
        }
        if let Some(t) = transform {
            t(file, &mut doc, findings);
        }
        match check_shape(&doc.value) {
            Ok(()) => objects.extend(expand(file, doc, component, origin, findings)),
            Err(p) => {
                let pos = doc.positions.get(p.pointer).copied().unwrap_or(pos);
                findings.push(finding_at(
                    file,
                    crate::manifest::MANIFEST_SHAPE,
                    Severity::Error,
                    pos,
                    p.message,
                    p.fix,
                ));
            }
        }
    }
}

/// A finding about a whole file (line 1, column 1).
pub(crate) fn file_finding(path: &Path, rule: &str, message: &str, fix: &str) -> Finding {
    Finding {
        rule: rule.to_string(),
        severity: if rule == SKIPPED {
            Severity::Info
        } else {
            Severity::Error
        },
        file: path.to_path_buf(),
        line: 1,
        column: 1,
        message: message.to_string(),
        fix: fix.to_string(),
        span: None,
        source: None,
    }
}
