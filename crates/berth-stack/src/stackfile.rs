//! `berth.yaml`: the stack file, read into typed structs.
//!
//! Every field of PRODUCT.md "The stack file" is here. Unknown fields and wrong types become
//! `stack-file` findings (error) at the offending key, with a "did you mean" hint for near
//! misses. Sections are read one by one (and each component and secret on its own), so one
//! mistake does not hide the next.

use std::sync::Arc;

use berth_model::{
    ClusterSpec, ExternalRef, Finding, Pos, Positions, Profile, Severity, SourceFile,
};
use indexmap::IndexMap;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::manifest::{finding_at, parse_documents};

/// Rule id for problems in `berth.yaml` itself.
pub const STACK_FILE: &str = "stack-file";

/// The parsed `berth.yaml`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StackFile {
    /// `stack:`, a DNS-1123 label; names the stack in the cluster.
    pub stack: String,
    /// `namespace:`, the default namespace for namespaced objects that name none.
    pub namespace: Option<String>,
    /// `kubernetes:`, the target minor version (`"1.33"`).
    pub kubernetes: Option<String>,
    /// `profile:`, the default cloud profile (`--profile` overrides).
    pub profile: Option<Profile>,
    /// `values:`, parameters for `${name}` placeholders, in source order.
    pub values: IndexMap<String, Value>,
    /// `secrets:`, Secrets berth builds, in source order.
    pub secrets: IndexMap<String, SecretSpec>,
    /// `components:`, in source order.
    pub components: IndexMap<String, ComponentSpec>,
    /// `external:`, objects the stack uses but does not own.
    pub external: Vec<ExternalRef>,
    /// `cluster:`, what `berth cluster config` builds from.
    pub cluster: Option<ClusterSpec>,
    /// Where each key of the file is, for findings about the stack file after loading.
    pub positions: Arc<Positions>,
}

/// One entry of `components:`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentSpec {
    /// A file, a folder (recursive `*.yaml`/`*.yml`) or a list of them, relative to the stack.
    #[serde(default)]
    pub manifests: Option<OneOrMany>,
    /// A Helm chart rendered with `helm template`.
    #[serde(default)]
    pub chart: Option<ChartSpec>,
    /// A kustomization folder (relative to the stack) built with kustomize.
    #[serde(default)]
    pub kustomize: Option<String>,
    /// Components that must be healthy before this one.
    #[serde(default)]
    pub after: Vec<String>,
    /// Namespace for this component's objects that name none (overrides the stack's).
    #[serde(default)]
    pub namespace: Option<String>,
    /// Helm values for a chart component.
    #[serde(default)]
    pub values: Option<Value>,
    /// Profiles the component is for; under any other profile it is disabled (shown by
    /// `plan`, not rendered). Empty: every profile.
    #[serde(default)]
    pub profiles: Vec<Profile>,
    /// Values the component is for: `when: { exposure: proxy }` renders it only when every
    /// named value (after `--values` and `--set`) equals the one given; otherwise it is
    /// disabled like a component of another profile. Empty: always.
    #[serde(default)]
    pub when: IndexMap<String, Value>,
}

/// `manifests:` as one path or a list of paths.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(untagged, expecting = "a path or a list of paths")]
pub enum OneOrMany {
    /// `manifests: path`
    One(String),
    /// `manifests: [path, ...]`
    Many(Vec<String>),
}

impl OneOrMany {
    /// The paths, in order.
    pub fn paths(&self) -> Vec<&str> {
        match self {
            OneOrMany::One(p) => vec![p.as_str()],
            OneOrMany::Many(ps) => ps.iter().map(String::as_str).collect(),
        }
    }
}

/// `chart:` of a component: a chart from a repository, or a local chart folder.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartSpec {
    /// Repository URL: `https://...` (a chart repository with an index.yaml) or
    /// `oci://registry/path` (the chart is `<repo>/<name>`; plain HTTP for loopback hosts only).
    #[serde(default)]
    pub repo: Option<String>,
    /// Chart name in the repository.
    #[serde(default)]
    pub name: Option<String>,
    /// Chart version; required with `repo` so renders are reproducible.
    #[serde(default)]
    pub version: Option<String>,
    /// A chart folder relative to the stack, instead of `repo`/`name`.
    #[serde(default)]
    pub path: Option<String>,
    /// Helm release name (default: the component name).
    #[serde(default)]
    pub release: Option<String>,
}

/// One entry of `secrets:`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    /// Namespaces that get a copy (default: the stack namespace).
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Secret type: `Opaque` (default) or `kubernetes.io/dockerconfigjson`.
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
    /// Key → where its value comes from, in source order.
    #[serde(default)]
    pub data: IndexMap<String, ValueSource>,
}

/// Where one secret value comes from. Exactly one field is set (checked after parsing).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueSource {
    /// An environment variable of the process running berth.
    #[serde(default)]
    pub env: Option<String>,
    /// A file, relative to the stack folder; its bytes are the value.
    #[serde(default)]
    pub file: Option<String>,
    /// Asked on the terminal by `berth up`.
    #[serde(default)]
    pub prompt: Option<bool>,
    /// A random value of this many characters, generated once and then kept from the cluster.
    #[serde(default)]
    pub generate: Option<u32>,
    /// A SOPS-encrypted file (YAML or JSON, age or AWS KMS keys), relative to the stack
    /// folder; `key:` is the path of the value in it (`db.password`).
    #[serde(default)]
    pub sops: Option<String>,
    /// An AWS Secrets Manager secret (name or ARN), read by `berth up`; with `key:`, one key
    /// of its JSON, else the whole secret string.
    #[serde(default, rename = "aws-secretsmanager")]
    pub aws_secretsmanager: Option<String>,
    /// An AWS SSM parameter (`/path/name`), read by `berth up`; SecureStrings are decrypted.
    #[serde(default, rename = "aws-ssm")]
    pub aws_ssm: Option<String>,
    /// With `sops:` (required) or `aws-secretsmanager:` (optional): which value of it.
    #[serde(default)]
    pub key: Option<String>,
}

/// Top-level keys, for unknown-key hints.
const TOP_KEYS: &[&str] = &[
    "stack",
    "namespace",
    "kubernetes",
    "profile",
    "values",
    "secrets",
    "components",
    "external",
    "cluster",
];

/// Read `berth.yaml` from its text. `None` when the file cannot be used at all (not YAML, not a
/// mapping, no `stack:`); the findings say why.
pub fn parse_stack_file(file: &Arc<SourceFile>) -> (Option<StackFile>, Vec<Finding>) {
    let docs = parse_documents(file);
    let mut findings = docs.findings;
    let mut reader = Reader {
        file,
        positions: Positions::default(),
        findings: Vec::new(),
    };
    let mut documents = docs.documents.into_iter();
    let Some(doc) = documents.next() else {
        if findings.is_empty() {
            findings.push(reader.finding_at_pos(
                Pos {
                    line: 1,
                    column: 1,
                    offset: 0,
                },
                "berth.yaml is empty".to_string(),
                "start it with `stack: <name>`",
            ));
        }
        return (None, findings);
    };
    if let Some(extra) = documents.next() {
        let pos = extra.positions.get("").copied().unwrap_or_default();
        findings.push(reader.finding_at_pos(
            pos,
            "berth.yaml has more than one YAML document".to_string(),
            "keep the whole stack file in one document",
        ));
    }
    reader.positions = doc.positions;
    let Value::Object(top) = doc.value else {
        findings.push(reader.finding(
            "",
            "berth.yaml must be a mapping".into(),
            "start it with `stack: <name>`",
        ));
        return (None, findings);
    };
    let mut sf = StackFile::default();
    let mut has_stack = false;
    for (key, value) in top {
        let ptr = format!("/{}", berth_yaml::escape_pointer_token(&key));
        match key.as_str() {
            "stack" => {
                if let Some(name) = reader.read::<String>(&ptr, value) {
                    has_stack = true;
                    if !is_dns_label(&name) {
                        reader.push(
                            &ptr,
                            format!("stack name `{name}` is not a DNS-1123 label"),
                            "use lowercase letters, digits and `-`, at most 63 characters, starting and ending with a letter or digit",
                        );
                    }
                    sf.stack = name;
                }
            }
            "namespace" => {
                sf.namespace = reader.read::<String>(&ptr, value);
                if let Some(ns) = &sf.namespace
                    && !is_dns_label(ns)
                {
                    reader.push(
                        &ptr,
                        format!("namespace `{ns}` is not a DNS-1123 label"),
                        "use lowercase letters, digits and `-`",
                    );
                }
            }
            "kubernetes" => sf.kubernetes = reader.kubernetes(&ptr, value),
            "profile" => sf.profile = reader.read(&ptr, value),
            "values" => sf.values = reader.read(&ptr, value).unwrap_or_default(),
            "secrets" => {
                sf.secrets = reader.each(&ptr, value, |r, p, name, v| r.secret(p, name, v))
            }
            "components" => {
                sf.components = reader.each(&ptr, value, |r, p, _, v| r.read::<ComponentSpec>(p, v))
            }
            "external" => sf.external = reader.read(&ptr, value).unwrap_or_default(),
            "cluster" => {
                sf.cluster = reader.read(&ptr, value);
                if let Some(c) = &sf.cluster {
                    reader.check_file_systems(c);
                }
            }
            other => {
                let hint = did_you_mean(other, TOP_KEYS);
                reader.push(
                    &ptr,
                    format!("unknown field `{other}` in berth.yaml{hint}"),
                    "remove it or fix its name",
                );
            }
        }
    }
    if !has_stack {
        reader.push(
            "",
            "berth.yaml has no `stack:` name".into(),
            "add `stack: <name>` (a DNS-1123 label)",
        );
    }
    reader.check_components(&sf);
    findings.append(&mut reader.findings);
    sf.positions = Arc::new(reader.positions);
    (has_stack.then_some(sf), findings)
}

/// Reads sections of the stack file, collecting findings.
struct Reader<'a> {
    file: &'a Arc<SourceFile>,
    positions: Positions,
    findings: Vec<Finding>,
}

impl Reader<'_> {
    fn pos(&self, pointer: &str) -> Pos {
        crate::manifest::nearest(&self.positions, pointer)
    }

    fn finding_at_pos(&self, pos: Pos, message: String, fix: &str) -> Finding {
        finding_at(self.file, STACK_FILE, Severity::Error, pos, message, fix)
    }

    fn finding(&self, pointer: &str, message: String, fix: &str) -> Finding {
        self.finding_at_pos(self.pos(pointer), message, fix)
    }

    fn push(&mut self, pointer: &str, message: String, fix: &str) {
        let f = self.finding(pointer, message, fix);
        self.findings.push(f);
    }

    /// Deserialize the subtree at `pointer`, turning serde's error into a finding at the exact
    /// key (serde's path, mapped to a JSON pointer and then to the position).
    fn read<T: DeserializeOwned>(&mut self, pointer: &str, value: Value) -> Option<T> {
        match serde_path_to_error::deserialize::<_, T>(value) {
            Ok(v) => Some(v),
            Err(e) => {
                let mut at = pointer.to_string();
                for seg in e.path().iter() {
                    use serde_path_to_error::Segment;
                    match seg {
                        Segment::Seq { index } => at.push_str(&format!("/{index}")),
                        Segment::Map { key } | Segment::Enum { variant: key } => {
                            at.push('/');
                            at.push_str(&berth_yaml::escape_pointer_token(key));
                        }
                        Segment::Unknown => {}
                    }
                }
                let inner = e.into_inner().to_string();
                let (message, fix) = explain_serde_error(&inner);
                let path = pointer_to_path(&at);
                let f = self.finding(&at, format!("{path}: {message}"), &fix);
                self.findings.push(f);
                None
            }
        }
    }

    /// `kubernetes:` as text; a number is almost always `1.30` read as `1.3`, so say so.
    fn kubernetes(&mut self, pointer: &str, value: Value) -> Option<String> {
        match value {
            Value::String(s) => {
                let ok = s.split_once('.').is_some_and(|(a, b)| {
                    a == "1" && !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit())
                });
                if !ok {
                    self.push(
                        pointer,
                        format!("`kubernetes: {s}` is not a version like \"1.33\""),
                        "write the minor version in quotes, e.g. `kubernetes: \"1.33\"`",
                    );
                    return None;
                }
                Some(s)
            }
            Value::Number(n) => {
                self.push(
                    pointer,
                    format!("`kubernetes:` is the number {n}; a version must be text (unquoted, `1.30` reads as 1.3)"),
                    "write the version in quotes, e.g. `kubernetes: \"1.33\"`",
                );
                None
            }
            other => self.read::<String>(pointer, other),
        }
    }

    /// A mapping whose entries are read one by one, so each bad entry gets its own finding.
    fn each<T>(
        &mut self,
        pointer: &str,
        value: Value,
        mut read: impl FnMut(&mut Self, &str, &str, Value) -> Option<T>,
    ) -> IndexMap<String, T> {
        let mut out = IndexMap::new();
        match value {
            Value::Object(map) => {
                for (name, v) in map {
                    let p = format!("{pointer}/{}", berth_yaml::escape_pointer_token(&name));
                    if let Some(t) = read(self, &p, &name, v) {
                        out.insert(name, t);
                    }
                }
            }
            Value::Null => {}
            other => {
                let what = if other.is_array() {
                    "a list"
                } else {
                    "a single value"
                };
                self.push(
                    pointer,
                    format!(
                        "{}: expected a mapping of names, found {what}",
                        pointer_to_path(pointer)
                    ),
                    "write one `name:` entry per item",
                );
            }
        }
        out
    }

    fn secret(&mut self, pointer: &str, name: &str, value: Value) -> Option<SecretSpec> {
        let spec: SecretSpec = self.read(pointer, value)?;
        let mut ok = true;
        for (key, src) in &spec.data {
            let p = format!("{pointer}/data/{}", berth_yaml::escape_pointer_token(key));
            let set = [
                src.env.is_some(),
                src.file.is_some(),
                src.prompt == Some(true),
                src.generate.is_some(),
                src.sops.is_some(),
                src.aws_secretsmanager.is_some(),
                src.aws_ssm.is_some(),
            ];
            let n = set.iter().filter(|b| **b).count();
            if n != 1 {
                ok = false;
                self.push(
                    &p,
                    format!("secret `{name}` key `{key}` needs exactly one source, found {n}"),
                    "use one of `{ env: VAR }`, `{ file: path }`, `{ prompt: true }`, `{ generate: 32 }`, `{ sops: FILE, key: a.b }`, `{ aws-secretsmanager: NAME }` or `{ aws-ssm: /path }`",
                );
            } else if src.sops.is_some() && src.key.as_deref().is_none_or(str::is_empty) {
                ok = false;
                self.push(
                    &p,
                    format!(
                        "secret `{name}` key `{key}` reads a SOPS file but names no `key:` in it"
                    ),
                    "add `key: path.in.file` (dots between levels, e.g. `key: db.password`)",
                );
            } else if src.key.is_some() && src.sops.is_none() && src.aws_secretsmanager.is_none() {
                ok = false;
                self.push(
                    &format!("{p}/key"),
                    format!("secret `{name}` key `{key}`: `key:` goes with `sops:` or `aws-secretsmanager:` only"),
                    "remove `key:`",
                );
            }
            if src.generate == Some(0) {
                ok = false;
                self.push(
                    &p,
                    format!("secret `{name}` key `{key}`: `generate: 0` makes an empty value"),
                    "generate at least 16 characters",
                );
            }
        }
        match spec.type_.as_deref() {
            None | Some("Opaque") => {}
            Some(crate::secrets::DOCKER_CONFIG_JSON) => {
                for required in ["registry", "username", "password"] {
                    if !spec.data.contains_key(required) {
                        ok = false;
                        self.push(
                            &format!("{pointer}/data"),
                            format!("secret `{name}` of type kubernetes.io/dockerconfigjson has no `{required}` key"),
                            "give `registry`, `username` and `password` under `data:`",
                        );
                    }
                }
            }
            Some(other) => {
                ok = false;
                self.push(
                    &format!("{pointer}/type"),
                    format!("secret type `{other}` is not one berth builds"),
                    "use `Opaque` or `kubernetes.io/dockerconfigjson`",
                );
            }
        }
        for ns in &spec.namespaces {
            if !is_dns_label(ns) {
                ok = false;
                self.push(
                    &format!("{pointer}/namespaces"),
                    format!("namespace `{ns}` is not a DNS-1123 label"),
                    "use lowercase letters, digits and `-`",
                );
            }
        }
        ok.then_some(spec)
    }

    /// `cluster.fileSystems`: each name a DNS-1123 label (it is in tags and the value
    /// `efs.<name>`), and each name once.
    fn check_file_systems(&mut self, cluster: &ClusterSpec) {
        for (i, fs) in cluster.file_systems.iter().enumerate() {
            let p = format!("/cluster/fileSystems/{i}/name");
            if !is_dns_label(&fs.name) {
                self.push(
                    &p,
                    format!("file system name `{}` is not a DNS-1123 label", fs.name),
                    "use lowercase letters, digits and `-` (it names the value `efs.<name>`)",
                );
            } else if cluster.file_systems[..i].iter().any(|o| o.name == fs.name) {
                self.push(
                    &p,
                    format!("file system `{}` is declared twice", fs.name),
                    "give each file system its own name",
                );
            }
        }
    }

    /// Cross-field checks of components: a source, known `after:` names.
    fn check_components(&mut self, sf: &StackFile) {
        for (name, c) in &sf.components {
            let p = format!("/components/{}", berth_yaml::escape_pointer_token(name));
            let sources: Vec<&str> = [
                (c.manifests.is_some(), "`manifests:`"),
                (c.kustomize.is_some(), "`kustomize:`"),
                (c.chart.is_some(), "`chart:`"),
            ]
            .into_iter()
            .filter_map(|(set, key)| set.then_some(key))
            .collect();
            match sources.len() {
                0 => self.push(
                    &p,
                    format!(
                        "component `{name}` has neither `manifests:`, `kustomize:` nor `chart:`"
                    ),
                    "add `manifests: <folder>`, `kustomize: <folder>` or a `chart:`",
                ),
                1 => {}
                _ => self.push(
                    &p,
                    format!("component `{name}` has both {}", sources.join(" and ")),
                    "split it into one component per source",
                ),
            }
            if c.values.is_some() && c.chart.is_none() {
                self.push(&format!("{p}/values"), format!("component `{name}` has `values:` but no chart"), "`values:` of a component are Helm values; use the stack's `values:` for placeholders");
            }
            if let Some(chart) = &c.chart {
                let cp = format!("{p}/chart");
                match (&chart.path, &chart.repo, &chart.name) {
                    (Some(_), None, None) => {}
                    (None, Some(_), Some(_)) => {
                        if chart.version.is_none() {
                            self.push(&cp, format!("chart of `{name}` has no `version:`"), "pin the chart version so every render is the same");
                        }
                    }
                    _ => self.push(&cp, format!("chart of `{name}` needs either `path:` or `repo:` and `name:`"), "e.g. `chart: { repo: https://charts.example.com, name: app, version: 1.2.3 }`"),
                }
            }
            if let Some(ns) = &c.namespace
                && !is_dns_label(ns)
            {
                self.push(
                    &format!("{p}/namespace"),
                    format!("namespace `{ns}` is not a DNS-1123 label"),
                    "use lowercase letters, digits and `-`",
                );
            }
            for (i, dep) in c.after.iter().enumerate() {
                if !sf.components.contains_key(dep) {
                    let names: Vec<&str> = sf.components.keys().map(String::as_str).collect();
                    let hint = did_you_mean(dep, &names);
                    self.push(
                        &format!("{p}/after/{i}"),
                        format!("component `{name}` is after `{dep}`, which is no component{hint}"),
                        "name a component of this stack",
                    );
                } else if dep == name {
                    self.push(
                        &format!("{p}/after/{i}"),
                        format!("component `{name}` is after itself"),
                        "remove it from its own `after:`",
                    );
                }
            }
        }
    }
}

/// `/components/web/after` → `components.web.after`, how users read the path.
fn pointer_to_path(pointer: &str) -> String {
    let path: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    if path.is_empty() {
        "berth.yaml".to_string()
    } else {
        path.join(".")
    }
}

/// Make serde's message readable and add a "did you mean" for unknown fields.
fn explain_serde_error(msg: &str) -> (String, String) {
    if let Some(rest) = msg.strip_prefix("unknown field `")
        && let Some((field, expected)) = rest.split_once('`')
    {
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let hint = did_you_mean(field, &candidates);
        let fix = if candidates.is_empty() {
            "remove it".to_string()
        } else {
            format!("known fields: {}", candidates.join(", "))
        };
        return (format!("unknown field `{field}`{hint}"), fix);
    }
    if let Some(rest) = msg.strip_prefix("unknown variant `")
        && let Some((word, expected)) = rest.split_once('`')
    {
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let hint = did_you_mean(word, &candidates);
        return (
            format!("unknown value `{word}`{hint}"),
            format!("use one of: {}", candidates.join(", ")),
        );
    }
    if !msg.contains("expected") {
        // An `expecting = "..."` text of an untagged enum.
        return (
            format!("expected {msg}"),
            "see the stack file format in PRODUCT.md".to_string(),
        );
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or("");
        return (
            format!("missing field `{field}`"),
            format!("add `{field}:`"),
        );
    }
    (
        msg.to_string(),
        "see the stack file format in PRODUCT.md".to_string(),
    )
}

/// `; did you mean `after`?` when one candidate is close enough, else "".
pub(crate) fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(word, c), *c))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// A DNS-1123 label: lowercase alphanumerics and `-`, 1–63 characters, alphanumeric at both ends.
pub fn is_dns_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Read a values file (`--values FILE`): a YAML mapping of name → value.
pub fn parse_values_file(file: &Arc<SourceFile>) -> (IndexMap<String, Value>, Vec<Finding>) {
    let docs = parse_documents(file);
    let mut findings = docs.findings;
    let mut out = IndexMap::new();
    for doc in docs.documents {
        match doc.value {
            Value::Object(map) => out.extend(map),
            _ => {
                let pos = doc.positions.get("").copied().unwrap_or_default();
                findings.push(finding_at(
                    file,
                    STACK_FILE,
                    Severity::Error,
                    pos,
                    "a values file must be a mapping of name: value",
                    "write one `name: value` per line",
                ));
            }
        }
    }
    (out, findings)
}

#[cfg(test)]
mod tests;
