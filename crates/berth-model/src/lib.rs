//! The data that flows through berth's pipeline.
//!
//! Loading and rendering a stack (`berth-stack`) produce a [`Stack`]: its settings and the
//! [`Object`]s it would apply, each carrying the file and position it came from. Every later
//! step — checks, wave planning, apply, simulation — reads this model and nothing else, so it
//! stays small and free of I/O. Nothing here talks to a cluster.

pub mod autoscaler_flags;
pub mod dirs;
pub mod duration;
pub mod jvm;
pub mod karpenter;
pub mod labels;
pub mod pod_spec;
pub mod positions;
pub mod quantity;
pub mod refs;
pub mod requests;
pub mod scope;
pub mod storage;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What stands in for a secret value wherever berth shows text: rendered objects, log lines.
pub const REDACTED: &str = "<redacted>";

pub use positions::{PointerHash, Positions};

/// A position in a source file, 1-based like a compiler's (line 1, column 1 is the first byte).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Pos {
    pub line: u32,
    pub column: u32,
    /// Byte offset into [`SourceFile::text`], for snippet rendering.
    pub offset: u32,
}

/// A file a stack was read from: the path findings print, and its text for the snippets
/// under them.
///
/// `path` is what findings print: relative to the stack folder when the file is inside it.
/// Output of `helm template` is a source file too (its path names the chart and template).
///
/// Text berth made or was given (helm's and kustomize's output, a string handed to the
/// parser) is kept. A manifest read from disk is not, once it is loaded
/// ([`SourceFile::left_on_disk`]): [`SourceFile::text`] reads it back when a snippet is shown,
/// and gives nothing if the file changed since. Findings are few and files many: a check of
/// 10,000 objects held 6 MB of text for snippets it never showed.
#[derive(Debug, PartialEq, Eq)]
pub struct SourceFile {
    pub path: PathBuf,
    text: SourceText,
}

#[derive(Debug, PartialEq, Eq)]
enum SourceText {
    Kept(Arc<str>),
    /// On disk at `path`; `len` and `hash` are the loaded text's ([`fingerprint`]).
    OnDisk {
        path: PathBuf,
        len: usize,
        hash: u64,
    },
}

/// A hash of a file's text that says whether it is still the text berth loaded.
fn fingerprint(text: &str) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    text.hash(&mut h);
    h.finish()
}

impl SourceFile {
    /// A source whose text is kept in memory.
    pub fn new(path: impl Into<PathBuf>, text: impl Into<Arc<str>>) -> SourceFile {
        SourceFile {
            path: path.into(),
            text: SourceText::Kept(text.into()),
        }
    }

    /// The same source with its text left on disk at `disk`, where it was read from: what
    /// [`SourceFile::text`] reads back must be what is held now (the same length and hash).
    pub fn left_on_disk(&self, disk: &Path) -> SourceFile {
        let text = match &self.text {
            SourceText::Kept(text) => text,
            SourceText::OnDisk { path, len, hash } => {
                return SourceFile {
                    path: self.path.clone(),
                    text: SourceText::OnDisk {
                        path: path.clone(),
                        len: *len,
                        hash: *hash,
                    },
                };
            }
        };
        SourceFile {
            path: self.path.clone(),
            text: SourceText::OnDisk {
                path: disk.to_path_buf(),
                len: text.len(),
                hash: fingerprint(text),
            },
        }
    }

    /// The text offsets in [`Pos`] point into: the kept text, or the file read back from
    /// disk; `None` when it can no longer be read or is not what was loaded.
    pub fn text(&self) -> Option<Arc<str>> {
        match &self.text {
            SourceText::Kept(text) => Some(text.clone()),
            SourceText::OnDisk { path, len, hash } => {
                let text = std::fs::read(path)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())?;
                (text.len() == *len && fingerprint(&text) == *hash).then(|| text.into())
            }
        }
    }

    /// The kept text, or `""` once it is left on disk. For the loader, which reads a file's
    /// text before it leaves it there.
    pub fn kept_text(&self) -> &str {
        match &self.text {
            SourceText::Kept(text) => text,
            SourceText::OnDisk { .. } => "",
        }
    }
}

/// Where an object came from, which decides how later steps treat it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Origin {
    /// A document in one of the stack's manifest files.
    Manifest,
    /// Rendered from a Helm chart component.
    Chart { chart: String },
    /// A Secret berth built from the stack's `secrets:` section; its data is sensitive and is
    /// never printed, written to disk or put into a plan.
    StackSecret,
}

/// One Kubernetes object as berth will apply it, with the positions of its fields.
///
/// `positions` maps a JSON pointer (`/spec/template/spec/containers/0/image`) to where that
/// node starts in `file` (compactly: see [`Positions`]); [`Object::pos`] falls back to the
/// nearest ancestor that has one, so objects built by berth itself (whose pointers are not in
/// the file) still point somewhere useful.
#[derive(Clone, Debug)]
pub struct Object {
    pub value: Value,
    pub file: Arc<SourceFile>,
    /// Index of the YAML document within `file` (0-based).
    pub doc: usize,
    /// The component the object belongs to (`components:` key in berth.yaml, or the folder
    /// name for a plain folder of manifests).
    pub component: String,
    pub origin: Origin,
    pub positions: Arc<Positions>,
}

impl Object {
    pub fn api_version(&self) -> &str {
        member(&self.value, "apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    pub fn kind(&self) -> &str {
        member(&self.value, "kind")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The API group: `apps` for `apps/v1`, `` for `v1`.
    pub fn group(&self) -> &str {
        group_of(self.api_version())
    }

    pub fn name(&self) -> &str {
        member(&self.value, "metadata")
            .and_then(|m| member(m, "name"))
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// The namespace written in the object (after rendering set the default), if any.
    pub fn namespace(&self) -> Option<&str> {
        member(&self.value, "metadata")
            .and_then(|m| member(m, "namespace"))
            .and_then(Value::as_str)
    }

    /// The identity berth uses for this object across render, apply, inventory and prune.
    pub fn key(&self) -> ObjectKey {
        ObjectKey {
            group: self.group().to_string(),
            kind: self.kind().to_string(),
            namespace: self.namespace().map(str::to_string),
            name: self.name().to_string(),
        }
    }

    /// Where the node at `pointer` starts, or its nearest ancestor's position, or the start of
    /// the document.
    pub fn pos(&self, pointer: &str) -> Pos {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.positions.get(p) {
                return *pos;
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return self.positions.get("").copied().unwrap_or_default(),
            }
        }
    }

    /// `Kind/name` or `Kind/namespace/name`, for messages.
    pub fn display_name(&self) -> String {
        self.key().to_string()
    }
}

/// The member `key` of `value` when it is a JSON object, like `value.get(key)` but cheaper
/// for the small objects Kubernetes objects are made of.
///
/// serde_json's map keeps source order (`preserve_order`), which makes it an `IndexMap` whose
/// lookups hash the key with SipHash; an object's top level has four or five members and
/// `metadata` a handful, so comparing the keys in order is several times faster. Every rule
/// asks each object for its kind, name and namespace, so this ran millions of times in a
/// `berth check` of 10,000 objects (a tenth of its time in the profile).
pub fn member<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    let map = value.as_object()?;
    if map.len() > 8 {
        return map.get(key);
    }
    map.iter().find_map(|(k, v)| (k == key).then_some(v))
}

/// JSON pointer lookups that do not allocate.
///
/// `Value::pointer` copies every token of the pointer into a new string (twice, to unescape
/// `~1` and `~0`) before looking it up; the checks look up a few pointers in every object, so
/// that was a large share of their time. [`ValueExt::at`] reads a pointer exactly as
/// `Value::pointer` does (RFC 6901; list indexes without a sign or leading zero), copying a
/// token only when it holds an escape.
pub trait ValueExt {
    /// The node at `pointer` (`/spec/template/spec`), like `Value::pointer`.
    fn at(&self, pointer: &str) -> Option<&Value>;

    /// The member `key` of an object, like `Value::get(key)` but without hashing `key` in
    /// small objects ([`member`]).
    fn member(&self, key: &str) -> Option<&Value>;
}

impl ValueExt for Value {
    fn member(&self, key: &str) -> Option<&Value> {
        member(self, key)
    }

    fn at(&self, pointer: &str) -> Option<&Value> {
        if pointer.is_empty() {
            return Some(self);
        }
        let rest = pointer.strip_prefix('/')?;
        let mut target = self;
        for raw in rest.split('/') {
            let token: std::borrow::Cow<'_, str> = if raw.contains('~') {
                raw.replace("~1", "/").replace("~0", "~").into()
            } else {
                raw.into()
            };
            target = match target {
                Value::Object(_) => member(target, &token)?,
                Value::Array(items) => items.get(list_index(&token)?)?,
                _ => return None,
            };
        }
        Some(target)
    }
}

/// A list index as serde_json's pointer reads one: digits, no `+`, no leading zero.
fn list_index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

/// `apps` for `apps/v1`, the empty string for the core group (`v1`).
pub fn group_of(api_version: &str) -> &str {
    match api_version.rsplit_once('/') {
        Some((g, _)) => g,
        None => "",
    }
}

/// Identity of an object: group, kind, namespace (None for cluster-scoped) and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    pub group: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}/{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}/{}", self.kind, self.name),
        }
    }
}

/// A cloud profile: what portable intents (load balancers, storage) turn into.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    Eks,
    Aks,
    Gke,
    #[default]
    Local,
}

impl Profile {
    pub const ALL: [Profile; 4] = [Profile::Eks, Profile::Aks, Profile::Gke, Profile::Local];

    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Eks => "eks",
            Profile::Aks => "aks",
            Profile::Gke => "gke",
            Profile::Local => "local",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Profile::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown profile `{s}` (expected eks, aks, gke or local)"))
    }
}

/// An object the stack uses but does not own (`external:` in berth.yaml).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExternalRef {
    pub kind: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A component of the stack, as far as ordering and reporting need it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Component {
    pub name: String,
    /// Components that must be healthy before this one is applied.
    pub after: Vec<String>,
    /// Turned off under the stack's profile: shown in `plan`, not rendered or applied.
    #[serde(default)]
    pub disabled: bool,
}

/// `cluster:` in berth.yaml: what `berth cluster config` and `berth simulate` work from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    pub name: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub zones: Vec<String>,
    #[serde(default)]
    pub node_groups: Vec<NodeGroupSpec>,
    /// What adds and removes nodes on EKS (`nodes: karpenter`); see [`NodeMode`] for the
    /// default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nodes: Option<NodeMode>,
    /// EFS file systems `berth cluster up` creates when missing; their ids are the values
    /// `efs.<name>` of the stack (`${efs.shared}`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_systems: Vec<FileSystemSpec>,
}

/// One entry of `cluster.fileSystems`: an EFS file system with one mount target per zone of
/// the cluster, reachable over NFS from the cluster's nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FileSystemSpec {
    /// A DNS-1123 label; the value `efs.<name>` holds the file system's id.
    pub name: String,
    #[serde(default)]
    pub performance_mode: EfsPerformanceMode,
    #[serde(default)]
    pub throughput_mode: EfsThroughputMode,
    /// Encrypted at rest with the account's EFS KMS key (default: true).
    #[serde(default = "yes")]
    pub encrypted: bool,
    /// When files move to cheaper storage classes; absent: EFS's default (none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<EfsLifecycle>,
}

fn yes() -> bool {
    true
}

/// EFS performance mode (the EFS API's spelling).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum EfsPerformanceMode {
    #[default]
    #[serde(rename = "generalPurpose")]
    GeneralPurpose,
    #[serde(rename = "maxIO")]
    MaxIo,
}

/// EFS throughput mode; `provisioned` needs a throughput berth does not size, so it is not
/// offered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EfsThroughputMode {
    #[default]
    Elastic,
    Bursting,
}

/// `lifecycle:` of a file system, in the EFS API's words (`AFTER_30_DAYS`, `AFTER_1_ACCESS`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EfsLifecycle {
    /// `AFTER_1_DAY`, `AFTER_7_DAYS`, … `AFTER_365_DAYS`: to Infrequent Access.
    #[serde(
        default,
        rename = "transitionToIA",
        skip_serializing_if = "Option::is_none"
    )]
    pub transition_to_ia: Option<EfsTransition>,
    /// `AFTER_1_DAY` … `AFTER_365_DAYS`: to Archive (elastic throughput only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transition_to_archive: Option<EfsTransition>,
    /// `AFTER_1_ACCESS`: back to Standard when a file is read again.
    #[serde(
        default,
        rename = "transitionToPrimaryStorageClass",
        skip_serializing_if = "Option::is_none"
    )]
    pub transition_to_primary: Option<EfsBackTransition>,
}

/// After how long unused a file moves (the EFS API's values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(non_camel_case_types)]
pub enum EfsTransition {
    AFTER_1_DAY,
    AFTER_7_DAYS,
    AFTER_14_DAYS,
    AFTER_30_DAYS,
    AFTER_60_DAYS,
    AFTER_90_DAYS,
    AFTER_180_DAYS,
    AFTER_270_DAYS,
    AFTER_365_DAYS,
}

/// When a file moves back to Standard.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(non_camel_case_types)]
pub enum EfsBackTransition {
    AFTER_1_ACCESS,
}

/// What scales a cluster's nodes (`cluster.nodes`, `berth cluster config --nodes`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeMode {
    /// EKS Auto Mode: AWS runs Karpenter, built-in and the stack's NodePools.
    AutoMode,
    /// Karpenter installed by eksctl, with the stack's NodePools and EC2NodeClass.
    Karpenter,
    /// Managed node groups and the cluster-autoscaler. The default when `cluster.nodes` is
    /// absent: a stack written before berth knew the other modes keeps the cluster it had
    /// (its autoscaler manifest and the `ca-*` checks stay meaningful), instead of changing
    /// meaning silently the way an eksctl default would.
    #[default]
    ClusterAutoscaler,
}

impl NodeMode {
    /// Every mode, in the order AWS recommends them.
    pub const ALL: [NodeMode; 3] = [
        NodeMode::AutoMode,
        NodeMode::Karpenter,
        NodeMode::ClusterAutoscaler,
    ];

    /// The spelling in berth.yaml and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeMode::AutoMode => "auto-mode",
            NodeMode::Karpenter => "karpenter",
            NodeMode::ClusterAutoscaler => "cluster-autoscaler",
        }
    }

    /// Whether Karpenter (self-managed or Auto Mode's) consolidates the nodes.
    pub fn is_karpenter(self) -> bool {
        matches!(self, NodeMode::AutoMode | NodeMode::Karpenter)
    }
}

impl fmt::Display for NodeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for NodeMode {
    type Err = String;
    fn from_str(s: &str) -> Result<NodeMode, String> {
        NodeMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| {
                format!("`{s}` is not a node mode: use auto-mode, karpenter or cluster-autoscaler")
            })
    }
}

/// Annotation of a workload whose pods keep queued messages on their own volume (Boomi Atom
/// Queues): removing a pod strands them, so nothing may scale it down or move it.
pub const HOLDS_QUEUE: &str = "berth.dev/holds-queue";

/// `metadata` fields only the API server writes: what a diff leaves out, and what the loader
/// drops from a manifest copied from a live object.
pub const SERVER_METADATA: &[&str] = &[
    "managedFields",
    "resourceVersion",
    "uid",
    "creationTimestamp",
    "generation",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
];

/// Whether a workload is annotated [`HOLDS_QUEUE`] `"true"` (any case, or a YAML boolean), on
/// itself or its pod template. `berth check`, `berth simulate` and `berth cluster config` all
/// ask here, so they agree on which workloads hold queues.
pub fn holds_queue(workload: &Value) -> bool {
    [
        "/metadata/annotations/berth.dev~1holds-queue",
        "/spec/template/metadata/annotations/berth.dev~1holds-queue",
    ]
    .iter()
    .any(|p| {
        matches!(workload.at(p), Some(Value::String(s)) if s.eq_ignore_ascii_case("true"))
            || workload.at(p) == Some(&Value::Bool(true))
    })
}

/// One node group of `cluster.nodeGroups`. With `perZone`, one group per zone is meant, each
/// with these min/max.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodeGroupSpec {
    pub name: String,
    pub instance_type: String,
    #[serde(default)]
    pub min: u32,
    pub max: u32,
    #[serde(default)]
    pub per_zone: bool,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// A loaded and rendered stack: everything the steps after rendering need.
#[derive(Clone, Debug)]
pub struct Stack {
    pub name: String,
    /// The stack folder (or the folder of plain manifests).
    pub root: PathBuf,
    /// Default namespace for namespaced objects that name none.
    pub namespace: String,
    /// Target Kubernetes minor version, `"1.33"`.
    pub kubernetes: String,
    pub profile: Profile,
    pub components: Vec<Component>,
    pub objects: Vec<Object>,
    pub external: Vec<ExternalRef>,
    pub cluster: Option<ClusterSpec>,
    /// Values after overrides, without secrets: recorded in revisions.
    pub values: BTreeMap<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_left_on_disk_is_read_back_only_while_it_is_what_was_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("app.yaml");
        let text = "kind: ConfigMap\r\ndata: {a: b}\n";
        std::fs::write(&disk, text).unwrap();
        let kept = SourceFile::new("app.yaml", text);
        assert_eq!(kept.text().as_deref(), Some(text));
        assert_eq!(kept.kept_text(), text);

        let left = kept.left_on_disk(&disk);
        assert_eq!(left.path, PathBuf::from("app.yaml"));
        assert_eq!(left.kept_text(), "", "the text is no longer held");
        assert_eq!(
            left.text().as_deref(),
            Some(text),
            "read back, CRLF and all"
        );
        assert_eq!(left.left_on_disk(Path::new("elsewhere")), left);

        // Changed after loading (same length, then another length), or gone: no text, so
        // no snippet can show lines the offsets do not belong to.
        std::fs::write(&disk, text.replace("a", "x")).unwrap();
        assert_eq!(left.text(), None);
        std::fs::write(&disk, "kind: Secret\n").unwrap();
        assert_eq!(left.text(), None);
        std::fs::remove_file(&disk).unwrap();
        assert_eq!(left.text(), None);
    }

    fn obj(value: Value, positions: &[(&str, u32)]) -> Object {
        Object {
            value,
            file: Arc::new(SourceFile::new("a.yaml", "")),
            doc: 0,
            component: "c".into(),
            origin: Origin::Manifest,
            positions: Arc::new(
                positions
                    .iter()
                    .map(|(p, l)| {
                        (
                            p.to_string(),
                            Pos {
                                line: *l,
                                column: 1,
                                offset: 0,
                            },
                        )
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn pos_falls_back_to_nearest_ancestor() {
        let o = obj(
            serde_json::json!({}),
            &[("", 1), ("/spec", 5), ("/spec/replicas", 6)],
        );
        assert_eq!(o.pos("/spec/replicas").line, 6);
        assert_eq!(o.pos("/spec/template/spec").line, 5);
        assert_eq!(o.pos("/status").line, 1);
    }

    #[test]
    fn at_reads_pointers_like_serde_json() {
        let v = serde_json::json!({
            "a": {"b/c": [1, {"d~e": 2}], "": 3},
            "list": [10, 11],
            "big": (0..20)
                .map(|i| (format!("k{i}"), serde_json::json!(i)))
                .collect::<serde_json::Map<_, _>>(),
        });
        for p in [
            "",
            "/a",
            "/a/b~1c",
            "/a/b~1c/1/d~0e",
            "/a/",
            "/list/1",
            "/list/01",
            "/list/+1",
            "/list/-",
            "/list/2",
            "/big/k19",
            "/big/k20",
            "a",
            "/a/b~1c/0/x",
            "/missing",
        ] {
            assert_eq!(v.at(p), v.pointer(p), "{p}");
        }
    }

    #[test]
    fn key_and_group() {
        let o = obj(
            serde_json::json!({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop"}}),
            &[],
        );
        assert_eq!(o.group(), "apps");
        assert_eq!(o.key().to_string(), "Deployment/shop/web");
        assert_eq!(group_of("v1"), "");
    }
}

/// Annotation on a Secret berth built that names the keys whose values berth generated
/// (`{ generate: N }`): those values exist nowhere but in the cluster, so `down` keeps the
/// Secret along with the data it protects (unless `--purge`).
pub const GENERATED_KEYS_ANNOTATION: &str = "berth.dev/generated-keys";

/// How serious a finding is. `Error` stops `up` before its first write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

/// Rules whose findings mean the input itself is broken (exit code 2, nothing applied),
/// rather than a stack that loads but is wrong (exit code 1).
/// (`manifest-shape`: a manifest document that is YAML but not a Kubernetes object;
/// `kustomize`, `helm`: a kustomization or chart that could not be built; `no-objects`:
/// nothing to apply.)
pub const BAD_INPUT_RULES: &[&str] = &[
    "yaml-syntax",
    "stack-file",
    "missing-file",
    "placeholder",
    "dependency-cycle",
    "manifest-shape",
    "kustomize",
    "helm",
    "no-objects",
];

/// One problem found in a stack, pointing at the source. Produced by loading (`yaml-syntax`,
/// `stack-file`, ...), by rendering and by the checks; printed by `berth check` as a compiler
/// would (human), or as JSON/SARIF with the stable fields `rule`, `severity`, `file`, `line`,
/// `column`, `message`, `fix`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    /// The file, as the user should read it (relative to the stack when inside it).
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
    /// What is wrong, in one sentence, naming the object.
    pub message: String,
    /// What to do about it.
    pub fix: String,
    /// Byte offset and length of the offending text in the file, for snippets (not in JSON).
    #[serde(skip)]
    pub span: Option<(u32, u32)>,
    /// The file's text, for snippets (not in JSON).
    #[serde(skip)]
    pub source: Option<Arc<SourceFile>>,
}

impl Finding {
    /// A finding at the node `pointer` of `object`.
    pub fn at(
        rule: &str,
        severity: Severity,
        object: &Object,
        pointer: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        let pos = object.pos(pointer);
        Finding {
            rule: rule.to_string(),
            severity,
            file: object.file.path.clone(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
            fix: fix.into(),
            span: Some((pos.offset, 0)),
            source: Some(object.file.clone()),
        }
    }

    /// True when this finding means the input could not be read as a stack (exit code 2).
    pub fn is_bad_input(&self) -> bool {
        self.severity == Severity::Error && BAD_INPUT_RULES.contains(&self.rule.as_str())
    }
}
