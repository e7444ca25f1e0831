//! Kustomize: `kustomize: DIR` components and the kustomization roots found in manifest
//! folders, built by the real kustomize as a subprocess (never reimplemented) and read like any
//! manifest, with every object pointing back at the file and line it came from.
//!
//! The tool is `kustomize build DIR` when `kustomize` is on `PATH`, else `kubectl kustomize DIR`
//! (`kubectl` on `PATH`, else berth's own kubectl of the local cluster, given by the caller in
//! [`crate::LoadOptions::local_kubectl`]).
//!
//! ## Which folders are built (the ownership rule)
//! A *kustomization root* is a folder holding `kustomization.yaml`, `kustomization.yml` or
//! `Kustomization`. In a manifest folder:
//! 1. a root owns its whole folder tree: no file under it is read as a manifest on its own
//!    (resources, patches, generator sources, transformer configs), and roots nested in it are
//!    not looked for: they are built only when the outer root uses them;
//! 2. a root that another root of the folder uses (its `resources`, `bases` or `components`
//!    name the root's folder, directly or through other local kustomizations, `../base`
//!    included) is built only as part of that one (an info finding says so); roots that use
//!    each other (a cycle) are all built, so kustomize reports the cycle;
//! 3. a kustomize `Component` that no root uses is not built alone (built alone it is empty);
//! 4. every other root is built once, as one unit.
//!
//! So a folder holding `base/` and `overlays/prod/` builds the overlay, not the base on its own.
//! The same rule holds for a `manifests:` folder in berth.yaml; a `kustomize: DIR` component is
//! that one root.
//!
//! ## Where objects point (source mapping)
//! A root is built through a throwaway kustomization in the temp folder, whose only resource is
//! the root (by relative path) and which turns on kustomize's own
//! `buildMetadata: [originAnnotations]`; nothing is written into the user's folder, and the
//! output is the root's own output plus one annotation. Each built object carries
//! `config.kubernetes.io/origin`: the resource file it came from, or the kustomization whose
//! generator made it. berth removes the annotation and points the object at that file: the
//! document of the same kind whose name the built name contains (namePrefix, nameSuffix and
//! generator hashes only add to a name), with that document's positions, so a field written in
//! the source points at its line and any other field (set by a patch, a transformer) at its
//! nearest ancestor there (list indices are the built object's: a patch that inserts list items
//! shifts what they point at). A generated ConfigMap or Secret points at its generator entry in
//! the kustomization. An object of a remote base points at the root's kustomization. A root
//! whose kustomization asks for origin annotations itself is built directly and keeps them.
//!
//! ## Cost
//! One subprocess per root, several at once (up to the number of cores, at most 8). With
//! kubectl each build costs about 0.2 s of CPU, almost all of it kubectl's start-up; berth's
//! own mapping is a few percent of that (`benches/kustomize.rs`).
//!
//! Rule id: `kustomize` (error, bad input: nothing is applied) when no tool is installed, the
//! build fails (a remote base offline, a missing file) or times out; kustomize's warnings
//! become `kustomize` warnings.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use berth_model::{Finding, Object, Origin, Pos, Positions, Severity, SourceFile};
use serde_json::Value;

use crate::manifest::{check_shape, expand, finding_at, nearest};
use crate::sources::{Transform, display_path};
use crate::subprocess::{self, RunError};

/// Rule id for kustomizations that could not be built.
pub const KUSTOMIZE: &str = "kustomize";

/// The names of a kustomization file, in the order kustomize looks for them.
pub const KUSTOMIZATION_FILES: &[&str] =
    &["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// How long one build may take (a remote base is fetched with git).
pub const TIMEOUT: Duration = Duration::from_secs(300);

/// The annotation kustomize's `originAnnotations` adds.
const ORIGIN_ANNOTATION: &str = "config.kubernetes.io/origin";

/// What to run kustomize with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tool {
    /// `kustomize build DIR`.
    Kustomize(PathBuf),
    /// `kubectl kustomize DIR` (kubectl embeds kustomize).
    Kubectl(PathBuf),
}

impl Tool {
    fn command(&self, dir: &Path) -> Command {
        let (program, sub) = match self {
            Tool::Kustomize(p) => (p, "build"),
            Tool::Kubectl(p) => (p, "kustomize"),
        };
        let mut cmd = Command::new(program);
        cmd.arg(sub).arg(dir);
        cmd
    }

    fn program(&self) -> &Path {
        match self {
            Tool::Kustomize(p) | Tool::Kubectl(p) => p,
        }
    }
}

/// `kustomize` on `PATH`, else `kubectl` on `PATH`, else `local_kubectl` when it exists.
pub fn find(local_kubectl: Option<&Path>) -> Option<Tool> {
    subprocess::on_path("kustomize")
        .map(Tool::Kustomize)
        .or_else(|| subprocess::on_path("kubectl").map(Tool::Kubectl))
        .or_else(|| {
            local_kubectl
                .filter(|p| p.is_file())
                .map(|p| Tool::Kubectl(p.to_path_buf()))
        })
}

/// The message and fix when no tool is found.
pub fn missing_tool(what: &str) -> (String, String) {
    (
        format!("{what} is a kustomization, and neither kustomize nor kubectl is installed"),
        "install kustomize (or kubectl, which embeds it) on PATH; berth's own kubectl works too once `berth local up` has built it".into(),
    )
}

/// The kustomization file of `dir`, when `dir` is a kustomization root.
pub fn kustomization_file(dir: &Path) -> Option<PathBuf> {
    KUSTOMIZATION_FILES
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
}

/// Whether a kustomization entry names something remote (a git repository or a URL).
pub fn is_remote(entry: &str) -> bool {
    entry.contains("://")
        || entry.contains("?ref=")
        || entry.starts_with("git@")
        || ["github.com/", "gitlab.com/", "bitbucket.org/"]
            .iter()
            .any(|h| entry.starts_with(h))
}

/// A kustomization file, parsed (`None` when it is not YAML berth can read; kustomize will say
/// why when it builds).
fn read_kustomization(file: &Path) -> Option<berth_yaml::Document> {
    let text = std::fs::read_to_string(file).ok()?;
    berth_yaml::parse(&text).documents.into_iter().next()
}

fn strings<'a>(doc: &'a berth_yaml::Document, key: &str) -> impl Iterator<Item = &'a str> {
    doc.value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

/// The local kustomization folders `root` uses, directly or through each other (canonical
/// paths, `root` itself left out).
fn uses(root: &Path) -> HashSet<PathBuf> {
    let mut seen = HashSet::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        let Some(doc) = kustomization_file(&dir).and_then(|f| read_kustomization(&f)) else {
            continue;
        };
        for key in ["resources", "bases", "components"] {
            for entry in strings(&doc, key).filter(|e| !is_remote(e)) {
                let Ok(used) = std::fs::canonicalize(dir.join(entry)) else {
                    continue;
                };
                if used.is_dir() && seen.insert(used.clone()) {
                    todo.push(used);
                }
            }
        }
    }
    if let Ok(me) = std::fs::canonicalize(root) {
        seen.remove(&me);
    }
    seen
}

/// Whether the kustomization of `root` is a `kind: Component`, which acts only inside the
/// kustomization that lists it (built alone, it yields nothing).
fn is_component(root: &Path) -> bool {
    kustomization_file(root)
        .and_then(|f| read_kustomization(&f))
        .is_some_and(|d| d.value.get("kind").and_then(Value::as_str) == Some("Component"))
}

/// Rules 2 to 4 of the module doc: the roots to build, and each root left out with the root that
/// uses it (`None`: a Component no root of the list uses). Reads each root's kustomization and
/// those it uses locally; runs nothing.
pub fn roots_to_build(roots: &[PathBuf]) -> (Vec<PathBuf>, Vec<(PathBuf, Option<PathBuf>)>) {
    let canonical: Vec<PathBuf> = roots
        .iter()
        .map(|r| std::fs::canonicalize(r).unwrap_or_else(|_| r.clone()))
        .collect();
    let used: Vec<HashSet<PathBuf>> = roots.iter().map(|r| uses(r)).collect();
    let mut build = Vec::new();
    let mut left_out = Vec::new();
    for (i, root) in roots.iter().enumerate() {
        // Roots that use each other (a cycle) are all built, so kustomize reports the cycle.
        let user = (0..roots.len()).find(|&j| {
            j != i && used[j].contains(&canonical[i]) && !used[i].contains(&canonical[j])
        });
        match user {
            Some(j) => left_out.push((root.clone(), Some(roots[j].clone()))),
            None if is_component(root) => left_out.push((root.clone(), None)),
            None => build.push(root.clone()),
        }
    }
    (build, left_out)
}

/// The output of one build.
pub struct Built {
    /// The built objects, as multi-document YAML (Secret values included: never show it).
    text: String,
    /// The folder the origin annotations' paths are relative to.
    origins_dir: PathBuf,
    /// Whether berth added the origin annotations (then they are removed again).
    added_origins: bool,
    /// What kustomize printed on stderr while succeeding (deprecations).
    pub warnings: Vec<String>,
}

/// Why a root could not be built: a message for the user, what to do, and the entry of a
/// kustomization that failed when kustomize's message names one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct KustomizeError {
    /// What went wrong, for the user.
    pub message: String,
    /// What to do about it.
    pub fix: String,
    /// The kustomization file and the JSON pointer of its failing entry.
    pub at: Option<(PathBuf, String)>,
}

/// A temp folder removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> std::io::Result<TempDir> {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let mut random = [0u8; 8];
        let _ = getrandom::fill(&mut random);
        let tag: String = random.iter().map(|b| format!("{b:02x}")).collect();
        let dir = std::env::temp_dir().join(format!(
            "berth-kustomize-{}-{}-{tag}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&dir)?;
        Ok(TempDir(std::fs::canonicalize(&dir)?))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `to` relative to `from` (both absolute and canonical), with `/` separators; `None` when they
/// share no root (other Windows drives).
fn relative(from: &Path, to: &Path) -> Option<String> {
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = to.components().collect();
    if f.first() != t.first() {
        return None;
    }
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); f.len() - common];
    parts.extend(
        t[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    Some(parts.join("/"))
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Build one root with `tool`: one subprocess (at most [`TIMEOUT`]) and, unless the root asks for
/// origin annotations itself, a throwaway kustomization in the temp folder.
pub fn build(tool: &Tool, root: &Path) -> Result<Built, KustomizeError> {
    let fail = |message: String, fix: &str| KustomizeError {
        message,
        fix: fix.to_string(),
        at: None,
    };
    let canonical = std::fs::canonicalize(root).map_err(|e| {
        fail(
            format!("cannot read {}: {e}", root.display()),
            "check the path",
        )
    })?;
    let own_metadata: Vec<String> = kustomization_file(root)
        .and_then(|f| read_kustomization(&f))
        .map(|doc| strings(&doc, "buildMetadata").map(str::to_string).collect())
        .unwrap_or_default();
    let wants_origins = own_metadata.iter().any(|m| m == "originAnnotations");
    // A Component cannot be a resource of the wrapper; built alone it is what kustomize says.
    let wrapper = if wants_origins || is_component(root) {
        None
    } else {
        let dir = TempDir::new().map_err(|e| {
            fail(
                format!("cannot make a temp folder for kustomize: {e}"),
                "check that the temp folder (TMPDIR) is writable",
            )
        })?;
        relative(&dir.0, &canonical).map(|rel| (dir, rel))
    };
    let (dir, origins_dir, added_origins) = match &wrapper {
        Some((tmp, rel)) => {
            let mut metadata = vec!["originAnnotations".to_string()];
            metadata.extend(own_metadata);
            let text = format!(
                "resources:\n  - {}\nbuildMetadata: {}\n",
                Value::String(rel.clone()),
                serde_json::to_string(&metadata).unwrap_or_default()
            );
            std::fs::write(tmp.0.join("kustomization.yaml"), text).map_err(|e| {
                fail(
                    format!("cannot write a temp kustomization: {e}"),
                    "check that the temp folder (TMPDIR) is writable",
                )
            })?;
            (tmp.0.clone(), tmp.0.clone(), true)
        }
        None => (canonical.clone(), canonical.clone(), false),
    };
    let ran = match subprocess::run(tool.command(&dir), None, TIMEOUT) {
        Ok(ran) => ran,
        Err(RunError::Spawn(e)) => {
            return Err(fail(
                format!("cannot run {}: {e}", tool.program().display()),
                "install kustomize or kubectl on PATH",
            ));
        }
        Err(RunError::Timeout) => {
            let remote = first_remote(root);
            return Err(KustomizeError {
                message: format!(
                    "kustomize did not finish within {}s{}",
                    TIMEOUT.as_secs(),
                    remote
                        .as_ref()
                        .map(|(_, _, url)| format!(" (fetching remote base `{url}`)"))
                        .unwrap_or_default()
                ),
                fix: "check that remote bases are reachable, or copy them into the stack".into(),
                at: remote.map(|(f, p, _)| (f, p)),
            });
        }
        Err(RunError::Wait(e)) => {
            return Err(fail(format!("waiting for kustomize failed: {e}"), ""));
        }
    };
    let stderr = String::from_utf8_lossy(&ran.stderr);
    if !ran.status.success() {
        let mut message = clean_stderr(&stderr);
        if let Some((_, rel)) = &wrapper {
            // Name the root as the user gave it, not as the wrapper reached it.
            let shown: PathBuf = root.components().collect();
            message = message.replace(rel.as_str(), &shown.display().to_string());
        }
        return Err(explain_failure(root, &message));
    }
    let text = String::from_utf8(ran.stdout)
        .map_err(|_| fail("kustomize printed something that is not UTF-8".into(), ""))?;
    let warnings = stderr
        .lines()
        .map(|l| {
            let l = l.trim().trim_start_matches('#').trim();
            l.strip_prefix("Warning:").unwrap_or(l).trim()
        })
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    Ok(Built {
        text,
        origins_dir,
        added_origins,
        warnings,
    })
}

/// Build several roots, in parallel when there are several (one subprocess each, up to the
/// number of cores, at most 8 at once); results in the order of `roots`.
pub fn build_all(tool: &Tool, roots: &[PathBuf]) -> Vec<Result<Built, KustomizeError>> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8)
        .min(roots.len());
    if workers <= 1 {
        return roots.iter().map(|r| build(tool, r)).collect();
    }
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, Result<Built, KustomizeError>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut out = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(root) = roots.get(i) else { break };
                        out.push((i, build(tool, root)));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// kustomize's error text without kubectl's log prefix (`E1129 ... "command failed" err=<...>`)
/// or kustomize's `Error: `, on one line.
fn clean_stderr(stderr: &str) -> String {
    let mut s = stderr.trim();
    if let Some(i) = s.find("err=") {
        s = s[i + 4..].trim_start_matches(['<', '"']);
        s = s.trim_end().trim_end_matches(['>', '"']);
    }
    let s = s.trim().trim_start_matches("Error:").trim();
    let joined = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let joined = joined.replace("\\\"", "\"");
    if joined.is_empty() {
        "no output".to_string()
    } else {
        joined
    }
}

/// Fields of a kustomization whose entries name files, folders or URLs.
const PATH_FIELDS: &[&str] = &[
    "resources",
    "bases",
    "components",
    "crds",
    "configurations",
    "generators",
    "transformers",
    "validators",
    "patchesStrategicMerge",
    "patches",
    "patchesJson6902",
    "replacements",
    "configMapGenerator",
    "secretGenerator",
    "openapi",
];

/// Whether the string at `pointer` of a kustomization names a file, folder or URL: an item of
/// a [`PATH_FIELDS`] list, a `path`, `env`, or an item of `files` or `envs`.
fn is_path_entry(pointer: &str) -> bool {
    let tokens: Vec<&str> = pointer.split('/').skip(1).collect();
    let Some(field) = tokens.first() else {
        return false;
    };
    let last = tokens.last().copied().unwrap_or("");
    let parent = tokens.len().checked_sub(2).map(|i| tokens[i]).unwrap_or("");
    PATH_FIELDS.contains(field)
        && (tokens.len() == 2
            || matches!(last, "path" | "env")
            || matches!(parent, "files" | "envs"))
}

/// Entries of `root`'s kustomization and of the local kustomizations it uses that name files,
/// folders or URLs: the kustomization file, the entry's pointer and its text. Generator
/// literals (secret values) are never among them.
fn entries(root: &Path) -> Vec<(PathBuf, String, String)> {
    fn walk(v: &Value, pointer: &mut String, out: &mut Vec<(String, String)>) {
        match v {
            Value::String(s) if is_path_entry(pointer) => out.push((pointer.clone(), s.clone())),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    pointer.push_str(&format!("/{i}"));
                    walk(item, pointer, out);
                    pointer.truncate(len);
                }
            }
            Value::Object(map) => {
                for (k, item) in map {
                    if k == "literals" {
                        continue;
                    }
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&berth_yaml::escape_pointer_token(k));
                    walk(item, pointer, out);
                    pointer.truncate(len);
                }
            }
            _ => {}
        }
    }
    let mut dirs: Vec<PathBuf> = vec![root.to_path_buf()];
    dirs.extend(uses(root));
    let mut out = Vec::new();
    for dir in dirs {
        let Some(file) = kustomization_file(&dir) else {
            continue;
        };
        let Some(doc) = read_kustomization(&file) else {
            continue;
        };
        let mut found = Vec::new();
        walk(&doc.value, &mut String::new(), &mut found);
        out.extend(found.into_iter().map(|(p, s)| (file.clone(), p, s)));
    }
    out
}

/// The first remote entry of the root's kustomization tree.
fn first_remote(root: &Path) -> Option<(PathBuf, String, String)> {
    entries(root).into_iter().find(|(_, _, s)| is_remote(s))
}

/// A failed build as an error: the failing entry is the longest entry of the kustomization
/// tree that kustomize's message names; a remote one is said to be remote.
fn explain_failure(root: &Path, message: &str) -> KustomizeError {
    let entries = entries(root);
    let failing = entries
        .iter()
        .filter(|(_, _, s)| s.len() >= 3 && message.contains(s.as_str()))
        .max_by_key(|(_, _, s)| s.len());
    let remote = failing
        .filter(|(_, _, s)| is_remote(s))
        .or_else(|| entries.iter().find(|(_, _, s)| is_remote(s)));
    match remote {
        Some((file, pointer, url)) => KustomizeError {
            message: format!("cannot build with remote base `{url}`: {message}"),
            fix: "remote bases are fetched when berth is online; check the network, or copy the base into the stack".into(),
            at: Some((file.clone(), pointer.clone())),
        },
        None => KustomizeError {
            message: format!("kustomize build failed: {message}"),
            fix: "fix the kustomization at this entry; `kubectl kustomize DIR` shows the same error".into(),
            at: failing.map(|(f, p, _)| (f.clone(), p.clone())),
        },
    }
}

/// A finding for an error of `root`'s build, at the failing entry when known, else at the
/// root's kustomization file.
pub fn error_finding(stack_root: &Path, root: &Path, e: &KustomizeError) -> Finding {
    let mut sources = Sources::new(stack_root);
    let (file, pointer) = match &e.at {
        Some((file, pointer)) => (file.clone(), pointer.as_str()),
        None => (
            kustomization_file(root).unwrap_or_else(|| root.to_path_buf()),
            "",
        ),
    };
    match sources.get(&file) {
        Some(src) => {
            let pos = src
                .docs
                .first()
                .map(|d| nearest(&d.positions, pointer))
                .unwrap_or(START);
            finding_at(
                &src.file,
                KUSTOMIZE,
                Severity::Error,
                pos,
                e.message.clone(),
                e.fix.clone(),
            )
        }
        None => crate::sources::file_finding(&sources.shown(&file), KUSTOMIZE, &e.message, &e.fix),
    }
}

const START: Pos = Pos {
    line: 1,
    column: 1,
    offset: 0,
};

/// A source file of a build, parsed once.
struct Source {
    file: Arc<SourceFile>,
    docs: Vec<berth_yaml::Document>,
}

/// Source files read while mapping built objects back, by absolute path.
struct Sources {
    stack_root: PathBuf,
    canonical_root: Option<PathBuf>,
    files: HashMap<PathBuf, Option<Arc<Source>>>,
}

impl Sources {
    fn new(stack_root: &Path) -> Sources {
        Sources {
            stack_root: stack_root.to_path_buf(),
            canonical_root: std::fs::canonicalize(stack_root).ok(),
            files: HashMap::new(),
        }
    }

    /// How a finding names `path`: relative to the stack folder when inside it.
    fn shown(&self, path: &Path) -> PathBuf {
        if let Some(rel) = self
            .canonical_root
            .as_ref()
            .and_then(|r| path.strip_prefix(r).ok())
        {
            return crate::sources::with_slashes(rel);
        }
        display_path(&self.stack_root, path)
    }

    fn get(&mut self, path: &Path) -> Option<Arc<Source>> {
        if let Some(s) = self.files.get(path) {
            return s.clone();
        }
        let source = std::fs::read_to_string(path).ok().map(|text| {
            let docs = berth_yaml::parse(&text).documents;
            Arc::new(Source {
                file: Arc::new(SourceFile::new(self.shown(path), Arc::from(text))),
                docs,
            })
        });
        self.files.insert(path.to_path_buf(), source.clone());
        source
    }
}

/// Where a built object came from, as its origin annotation says.
enum BuiltFrom {
    /// A resource file (absolute).
    Resource(PathBuf),
    /// A generator configured in a kustomization file (absolute), of this generator kind.
    Generator(PathBuf, String),
    /// A remote base, or no annotation.
    Unknown,
}

/// Remove the origin annotation from `value` (when berth added it) and say what it named.
fn take_origin(value: &mut Value, origins_dir: &Path, remove: bool) -> BuiltFrom {
    let Some(annotations) = value
        .pointer_mut("/metadata/annotations")
        .and_then(Value::as_object_mut)
    else {
        return BuiltFrom::Unknown;
    };
    let text = if remove {
        annotations.shift_remove(ORIGIN_ANNOTATION)
    } else {
        annotations.get(ORIGIN_ANNOTATION).cloned()
    };
    if remove
        && annotations.is_empty()
        && let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.shift_remove("annotations");
    }
    let Some(Value::String(text)) = text else {
        return BuiltFrom::Unknown;
    };
    let Some(origin) = berth_yaml::parse(&text).documents.into_iter().next() else {
        return BuiltFrom::Unknown;
    };
    let o = &origin.value;
    if o.get("repo").is_some() {
        return BuiltFrom::Unknown;
    }
    let at = |p: &str| normalize(&origins_dir.join(p));
    if let Some(p) = o.get("path").and_then(Value::as_str) {
        return BuiltFrom::Resource(at(p));
    }
    match (
        o.get("configuredIn").and_then(Value::as_str),
        o.pointer("/configuredBy/kind").and_then(Value::as_str),
    ) {
        (Some(file), Some(kind)) => BuiltFrom::Generator(at(file), kind.to_string()),
        _ => BuiltFrom::Unknown,
    }
}

/// Of `names` (index, name), the one `built` contains that is longest.
fn best_name<'a>(names: impl Iterator<Item = (usize, &'a str)>, built: &str) -> Option<usize> {
    names
        .filter(|(_, n)| !n.is_empty() && built.contains(n))
        .max_by_key(|(_, n)| n.len())
        .map(|(i, _)| i)
}

/// The source document (file, document index, positions) of a built object.
fn locate(
    sources: &mut Sources,
    from: &BuiltFrom,
    kind: &str,
    name: &str,
    root_file: &Path,
) -> Option<(Arc<SourceFile>, usize, Positions)> {
    match from {
        BuiltFrom::Resource(path) => {
            let src = sources.get(path)?;
            let same_kind: Vec<&berth_yaml::Document> = src
                .docs
                .iter()
                .filter(|d| d.value.get("kind").and_then(Value::as_str) == Some(kind))
                .collect();
            let by_name = best_name(
                same_kind.iter().enumerate().map(|(i, d)| {
                    (
                        i,
                        d.value
                            .pointer("/metadata/name")
                            .and_then(Value::as_str)
                            .unwrap_or(""),
                    )
                }),
                name,
            );
            let doc = by_name
                .map(|i| same_kind[i])
                .or_else(|| same_kind.first().copied())
                .or_else(|| src.docs.first())?;
            Some((src.file.clone(), doc.index, doc.positions.clone()))
        }
        BuiltFrom::Generator(path, generator) => {
            let src = sources.get(path)?;
            let doc = src.docs.first()?;
            let key = match generator.as_str() {
                "ConfigMapGenerator" => "configMapGenerator",
                "SecretGenerator" => "secretGenerator",
                _ => "",
            };
            let list = doc.value.get(key).and_then(Value::as_array);
            let entry = list.and_then(|items| {
                best_name(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, e)| (i, e.get("name").and_then(Value::as_str).unwrap_or(""))),
                    name,
                )
            });
            let mut positions = BTreeMap::new();
            match entry {
                Some(i) => {
                    let at = format!("/{key}/{i}");
                    let pos = nearest(&doc.positions, &at);
                    positions.insert(String::new(), pos);
                    positions.insert("/metadata".into(), pos);
                    positions.insert(
                        "/metadata/name".into(),
                        nearest(&doc.positions, &format!("{at}/name")),
                    );
                }
                None => {
                    // A generator configuration file of its own (`generators:`).
                    let own = src
                        .docs
                        .iter()
                        .find(|d| d.value.get("kind").and_then(Value::as_str) == Some(generator))
                        .unwrap_or(doc);
                    positions.insert(String::new(), nearest(&own.positions, ""));
                }
            }
            Some((src.file.clone(), doc.index, positions.into()))
        }
        BuiltFrom::Unknown => {
            let src = sources.get(root_file)?;
            let pos = src
                .docs
                .first()
                .map(|d| nearest(&d.positions, ""))
                .unwrap_or(START);
            Some((src.file.clone(), 0, [("", pos)].into_iter().collect()))
        }
    }
}

/// Read the objects of a successful build of `root` into `objects`, each pointing at its
/// source (see the module doc), through the same `transform` and shape check as any manifest.
/// Returns how many objects it read.
pub(crate) fn read_built(
    stack_root: &Path,
    root: &Path,
    built: &Built,
    component: &str,
    transform: Option<&Transform<'_>>,
    objects: &mut Vec<Object>,
    findings: &mut Vec<Finding>,
) -> usize {
    let mut sources = Sources::new(stack_root);
    let root_file = kustomization_file(root).unwrap_or_else(|| root.to_path_buf());
    let root_file = std::fs::canonicalize(&root_file).unwrap_or(root_file);
    let shown_root = sources.shown(&root_file);
    for w in &built.warnings {
        findings.push(Finding {
            severity: Severity::Warning,
            ..crate::sources::file_finding(
                &shown_root,
                KUSTOMIZE,
                &format!("kustomize: {w}"),
                "update the kustomization as kustomize says (`kustomize edit fix` fixes deprecated fields)",
            )
        });
    }
    let parsed = berth_yaml::parse(&built.text);
    // The output is never shown (it holds Secret values): its errors point at the root.
    for e in &parsed.errors {
        findings.push(crate::sources::file_finding(
            &shown_root,
            KUSTOMIZE,
            &format!("kustomize printed YAML berth cannot read: {}", e.message),
            "build it with `kubectl kustomize` to see the output",
        ));
    }
    let before = objects.len();
    for out in parsed.documents {
        let mut value = out.value;
        let from = take_origin(&mut value, &built.origins_dir, built.added_origins);
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let (file, index, positions) = locate(&mut sources, &from, &kind, &name, &root_file)
            .unwrap_or_else(|| {
                let file = Arc::new(SourceFile::new(shown_root.clone(), Arc::from("")));
                (file, 0, [("", START)].into_iter().collect())
            });
        let mut doc = berth_yaml::Document {
            index,
            value,
            positions,
            // Spans are in the built text, not `file`: a placeholder not found there falls back
            // to its key's position in the source.
            dollar_scalars: out.dollar_scalars,
        };
        if let Some(t) = transform {
            t(&file, &mut doc, findings);
        }
        match check_shape(&doc.value) {
            Ok(()) => objects.extend(expand(&file, doc, component, &Origin::Manifest, findings)),
            Err(p) => {
                let pos = nearest(&doc.positions, p.pointer);
                findings.push(finding_at(
                    &file,
                    crate::manifest::MANIFEST_SHAPE,
                    Severity::Error,
                    pos,
                    p.message,
                    p.fix,
                ));
            }
        }
    }
    objects.len() - before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_climb_to_the_common_folder() {
        assert_eq!(
            relative(Path::new("/tmp/b-1"), Path::new("/work/st/overlays/prod")).as_deref(),
            Some("../../work/st/overlays/prod")
        );
        assert_eq!(
            relative(Path::new("/a/b"), Path::new("/a/c")).as_deref(),
            Some("../c")
        );
        assert_eq!(
            normalize(Path::new("/tmp/b-1/../../work/st/base/d.yaml")),
            Path::new("/work/st/base/d.yaml")
        );
    }

    #[test]
    fn remote_entries() {
        for e in [
            "https://github.com/org/repo//deploy?ref=v1",
            "github.com/org/repo/deploy?ref=v1",
            "git@github.com:org/repo.git",
            "ssh://git@example.com/repo",
        ] {
            assert!(is_remote(e), "{e}");
        }
        for e in ["../base", "deployment.yaml", "https-config/"] {
            assert!(!is_remote(e), "{e}");
        }
    }

    #[test]
    fn kubectl_and_kustomize_errors_are_one_clean_line() {
        assert_eq!(
            clean_stderr(
                "E1129 18:51:37.692525   10113 run.go:72] \"command failed\" err=\"accumulating resources: 'x.yaml' missing\"\n"
            ),
            "accumulating resources: 'x.yaml' missing"
        );
        assert_eq!(
            clean_stderr(
                "E1129 run.go:72] \"command failed\" err=<\n\taccumulating: a\n\t: exit status 128\n >\n"
            ),
            "accumulating: a : exit status 128"
        );
        assert_eq!(
            clean_stderr("Error: must build at directory: not a valid directory\n"),
            "must build at directory: not a valid directory"
        );
    }

    #[test]
    fn path_entries() {
        for p in [
            "/resources/0",
            "/patches/1/path",
            "/secretGenerator/0/files/0",
            "/configMapGenerator/2/envs/1",
            "/configMapGenerator/0/env",
        ] {
            assert!(is_path_entry(p), "{p}");
        }
        for p in [
            "/kind",
            "/namePrefix",
            "/secretGenerator/0/name",
            "/secretGenerator/0/literals/0",
            "/images/0/newTag",
            "/patches/0/target/kind",
        ] {
            assert!(!is_path_entry(p), "{p}");
        }
    }

    #[test]
    fn the_longest_contained_name_wins() {
        let names = [(0, "web"), (1, "web-config"), (2, "db")];
        assert_eq!(
            best_name(names.into_iter(), "prod-web-config-8h2k"),
            Some(1)
        );
        assert_eq!(best_name(names.into_iter(), "prod-web"), Some(0));
        assert_eq!(best_name(names.into_iter(), "cache"), None);
    }
}
