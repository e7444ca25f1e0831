//! Dependencies of a local chart folder, built without writing into it.
//!
//! `helm dependency build` writes `charts/` and `Chart.lock` into the chart folder, which is
//! the user's. So berth copies the chart, and every `file://` dependency at the same place
//! relative to it, into `<cache>/charts/<hash>/` and builds the dependencies there. The hash
//! covers every copied file (path and content): an edit makes a new copy, an unchanged chart
//! reuses the built one, also offline. A build happens in a temporary folder renamed into
//! place, so two berth runs never see half of one. A folder whose dependencies are all in its
//! own `charts/` already (vendored) is rendered as it is, with no build and no network.
//!
//! A chart without a Chart.lock gets the newest dependency versions that match at its first
//! build, and keeps them while it is unchanged (a Chart.lock pins them for good).
//! Dependency repositories are given to helm by URL, in a repositories.yaml written for the
//! build: with a Chart.lock, helm refuses URLs that `helm repo add` did not add, and berth does
//! not use the user's helm configuration. So aliases (`@name`, `alias:name`), which name the
//! user's `helm repo add` entries, fail with helm's own message.

use std::ffi::OsString;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};

use super::{Helm, HelmError, network};

/// The chart folder to give `helm template` for the local chart `dir`: `dir` itself when it
/// needs no build, else its copy in the cache with the dependencies built.
pub(super) fn prepare(helm: &Helm<'_>, dir: &Path) -> Result<PathBuf, HelmError> {
    let repos = dependency_repositories(dir);
    if repos.is_empty() || all_present(helm, dir) {
        return Ok(dir.to_path_buf());
    }
    let failed = |e: io::Error, what: &Path| {
        HelmError::plain(
            format!(
                "cannot copy the chart {} into berth's cache to build its dependencies: {}: {e}",
                dir.display(),
                what.display()
            ),
            "check that the chart folder is readable and the cache folder writable",
        )
    };

    // The chart and its `file://` dependencies, copied with their common folder as the root.
    let mut trees = vec![dir.canonicalize().map_err(|e| failed(e, dir))?];
    for r in &repos {
        if let Some(p) = r.strip_prefix("file://") {
            // helm's rule: absolute as written, else relative to the chart.
            if let Ok(p) = dir.join(p).canonicalize() {
                trees.push(p);
            }
        }
    }
    let root = common_ancestor(&trees);
    let mut files = Vec::new();
    for t in &trees {
        collect(t, &root, 0, &mut files).map_err(|e| failed(e, t))?;
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files.dedup_by(|a, b| a.0 == b.0);
    let chart_rel = trees[0].strip_prefix(&root).unwrap_or(Path::new(""));

    let charts = helm.cache.join("charts");
    let built = charts.join(format!("{:016x}", digest(&files)));
    let chart_in = |base: &Path| base.join("src").join(chart_rel);
    if built.is_dir() {
        return Ok(chart_in(&built));
    }
    // Unique per process and call: parallel renders of one chart each build their own.
    static BUILDS: AtomicU64 = AtomicU64::new(0);
    let tmp = charts.join(format!(
        "{}.{}-{}.tmp",
        built
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("chart"),
        std::process::id(),
        BUILDS.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&tmp);
    let result = build(helm, &tmp, &files, &chart_in(&tmp), &repos).and_then(|()| {
        match std::fs::rename(&tmp, &built) {
            Ok(()) => Ok(()),
            // Another berth run built the same chart first: use its copy.
            Err(_) if built.is_dir() => Ok(()),
            Err(e) => Err(failed(e, &built)),
        }
    });
    let _ = std::fs::remove_dir_all(&tmp);
    result.map(|()| chart_in(&built))
}

/// Copy the files into `tmp/src/`, then run `helm dependency build` on the chart there.
fn build(
    helm: &Helm<'_>,
    tmp: &Path,
    files: &[(PathBuf, Vec<u8>)],
    chart: &Path,
    repos: &[String],
) -> Result<(), HelmError> {
    let write = |path: &Path, bytes: &[u8]| -> Result<(), HelmError> {
        let res = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(path, bytes));
        res.map_err(|e| {
            HelmError::plain(
                format!("cannot write {}: {e}", path.display()),
                "check that berth's cache folder is writable",
            )
        })
    };
    for (rel, bytes) in files {
        write(&tmp.join("src").join(rel), bytes)?;
    }
    let http: Vec<&String> = repos
        .iter()
        .filter(|r| r.starts_with("http://") || r.starts_with("https://"))
        .collect();
    let entries: Vec<Value> = http
        .iter()
        .map(|url| json!({ "name": format!("berth-{:016x}", fnv(url.as_bytes())), "url": url }))
        .collect();
    let config = tmp.join("repositories.yaml");
    // JSON is YAML: helm reads it as its repositories file.
    write(
        &config,
        json!({ "apiVersion": "v1", "repositories": entries })
            .to_string()
            .as_bytes(),
    )?;
    let mut args: Vec<OsString> = vec![
        "dependency".into(),
        "build".into(),
        chart.into(),
        "--repository-config".into(),
        config.into(),
    ];
    if repos
        .iter()
        .any(|r| r.starts_with("oci://") && network::is_loopback(r))
    {
        args.push("--plain-http".into());
    }
    let urls: Vec<String> = repos
        .iter()
        .filter(|r| !r.starts_with("file://"))
        .cloned()
        .collect();
    helm.run(
        "helm dependency build",
        &args,
        None,
        &urls,
        "fix the `dependencies:` of the chart (name, version, repository URL)",
    )
    .map(|_| ())
}

/// The `repository:` of every dependency in Chart.yaml (or a Helm 2 requirements.yaml);
/// `""` for one expected in `charts/`. Empty when the chart has none or cannot be read (then
/// `helm template` says what is wrong).
fn dependency_repositories(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for file in ["Chart.yaml", "requirements.yaml"] {
        let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
            continue;
        };
        let parsed = berth_yaml::parse(&text);
        let Some(doc) = parsed.documents.first() else {
            continue;
        };
        if let Some(deps) = doc.value.get("dependencies").and_then(Value::as_array) {
            out.extend(deps.iter().map(|d| {
                d.get("repository")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            }));
        }
    }
    out
}

/// Whether every dependency is in the chart's `charts/` already, by `helm dependency list`
/// (which reads only): each row ends in the status `ok` or `unpacked`.
fn all_present(helm: &Helm<'_>, dir: &Path) -> bool {
    let args: Vec<OsString> = vec!["dependency".into(), "list".into(), dir.into()];
    let Ok(out) = helm.run("helm dependency list", &args, None, &[], "") else {
        return false;
    };
    let out = String::from_utf8_lossy(&out);
    let mut rows = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("WARNING"))
        .skip(1)
        .peekable();
    rows.peek().is_some()
        && rows.all(|row| {
            let status = row.split_whitespace().last().unwrap_or("");
            (status == "ok" || status == "unpacked") && !row.ends_with("wrong version")
        })
}

/// Every file under `dir` (following symbolic links, leaving out `.git`), with its path
/// relative to `root` and its content.
fn collect(
    dir: &Path,
    root: &Path,
    depth: usize,
    out: &mut Vec<(PathBuf, Vec<u8>)>,
) -> io::Result<()> {
    // Deeper than any chart: a symbolic link loop.
    if depth > 32 {
        return Err(io::Error::other(
            "folders nested too deep (a symbolic link loop?)",
        ));
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.file_name().is_some_and(|n| n == ".git") {
            continue;
        }
        if std::fs::metadata(&path)?.is_dir() {
            collect(&path, root, depth + 1, out)?;
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            out.push((rel, std::fs::read(&path)?));
        }
    }
    Ok(())
}

/// The deepest folder that holds all `paths` (absolute, canonical).
fn common_ancestor(paths: &[PathBuf]) -> PathBuf {
    let mut common: Vec<Component<'_>> = paths[0].components().collect();
    for p in &paths[1..] {
        let n = common
            .iter()
            .zip(p.components())
            .take_while(|(a, b)| **a == *b)
            .count();
        common.truncate(n);
    }
    common.iter().collect()
}

/// A digest of the files, paths and contents, that names the built copy.
fn digest(files: &[(PathBuf, Vec<u8>)]) -> u64 {
    let mut all = Vec::new();
    for (rel, bytes) in files {
        for part in [rel.as_os_str().as_encoded_bytes(), bytes] {
            all.extend_from_slice(&(part.len() as u64).to_le_bytes());
            all.extend_from_slice(part);
        }
    }
    fnv(&all)
}

/// FNV-1a, 64 bits: a cache key, not a security measure.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_common_ancestor_holds_every_tree() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(
            common_ancestor(&[p("/a/stack/charts/app"), p("/a/stack/charts/common")]),
            p("/a/stack/charts")
        );
        assert_eq!(
            common_ancestor(&[p("/a/stack/app"), p("/a/libs/common")]),
            p("/a")
        );
        assert_eq!(common_ancestor(&[p("/a/app")]), p("/a/app"));
    }

    #[test]
    fn the_digest_sees_paths_and_contents() {
        let f = |path: &str, text: &str| (PathBuf::from(path), text.as_bytes().to_vec());
        let a = digest(&[f("app/Chart.yaml", "name: app")]);
        assert_eq!(a, digest(&[f("app/Chart.yaml", "name: app")]));
        assert_ne!(a, digest(&[f("app/Chart.yaml", "name: app2")]));
        assert_ne!(a, digest(&[f("app/Chart.yml", "name: app")]));
        // Where one file ends and the next begins counts too.
        assert_ne!(
            digest(&[f("a", "bc"), f("d", "")]),
            digest(&[f("a", "b"), f("cd", "")])
        );
    }
}
