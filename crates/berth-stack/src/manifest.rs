//! One manifest file → Kubernetes [`Object`]s, or findings that say why a document is not one.
//!
//! Rules produced here:
//! - `yaml-syntax` (error): the text is not YAML that kubectl could read (see `berth-yaml`).
//! - `manifest-shape` (error): a document is YAML but not a Kubernetes object: not a mapping,
//!   no string `apiVersion` or `kind`, or no `metadata.name` (nor `generateName`).
//! - `server-fields` (warning): an object carries what the API server writes
//!   (`metadata.managedFields`, `resourceVersion`, `uid`, ...), as `kubectl get -o yaml` prints
//!   it. Those fields are dropped from the object (server-side apply refuses `managedFields`,
//!   and a stale `resourceVersion` makes the apply a conflict), and so is `status`, silently:
//!   the API server never takes it from an apply (vendor CRD files carry an empty one).
//!
//! A `kind: List` document (what `kubectl get -o yaml` prints) is expanded into its items, as
//! kubectl does on apply; each item keeps its own positions.

use berth_model::ValueExt;
use std::path::Path;
use std::sync::Arc;

use berth_model::{Finding, Object, Origin, Pos, Positions, Severity, SourceFile};
use serde_json::Value;

/// Rule id for documents that are YAML but not Kubernetes objects.
pub const MANIFEST_SHAPE: &str = "manifest-shape";
/// Rule id for fields the API server writes, found in a manifest and dropped.
pub const SERVER_FIELDS: &str = "server-fields";

/// Drops from `value` what only the API server writes (see the module docs); the
/// `metadata` fields dropped that had a value, in the order written.
fn drop_server_fields(value: &mut Value) -> Vec<String> {
    let mut dropped = Vec::new();
    let Some(map) = value.as_object_mut() else {
        return dropped;
    };
    map.shift_remove("status");
    if let Some(Value::Object(meta)) = map.get_mut("metadata") {
        let present: Vec<String> = meta
            .keys()
            .filter(|k| berth_model::SERVER_METADATA.contains(&k.as_str()))
            .cloned()
            .collect();
        for k in present {
            // `creationTimestamp: null` is what `kubectl create --dry-run -o yaml` writes into
            // every template: dropped without a word.
            if meta.shift_remove(&k).is_some_and(|v| !v.is_null()) {
                dropped.push(k);
            }
        }
    }
    dropped
}

/// The `server-fields` warning for the `dropped` fields of `value`.
fn server_fields_finding(
    file: &Arc<SourceFile>,
    positions: &Positions,
    value: &Value,
    dropped: &[String],
) -> Finding {
    let pos = nearest(positions, &format!("/metadata/{}", dropped[0]));
    let name = format!(
        "{}/{}",
        value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("object"),
        value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
    );
    let fields: Vec<String> = dropped.iter().map(|f| format!("`metadata.{f}`")).collect();
    finding_at(
        file,
        SERVER_FIELDS,
        Severity::Warning,
        pos,
        format!(
            "{name} carries {}, which the API server writes (a copy of a live object?): berth applies it without them",
            fields.join(", ")
        ),
        "remove them from the manifest (`kubectl get -o yaml` output needs them removed before it is a manifest)",
    )
}
/// Rule id for YAML that does not parse.
pub const YAML_SYNTAX: &str = "yaml-syntax";

/// Parse the text of one manifest file into objects of `component`, tagged
/// [`Origin::Manifest`]. Never fails: what cannot be read becomes a finding, and the other
/// documents of the file are still returned.
pub fn parse_manifest_str(path: &Path, text: &str, component: &str) -> (Vec<Object>, Vec<Finding>) {
    let file = Arc::new(SourceFile::new(path.to_path_buf(), Arc::from(text)));
    let docs = parse_documents(&file);
    let mut objects = Vec::new();
    let mut findings = docs.findings;
    for doc in docs.documents {
        match check_shape(&doc.value) {
            Ok(()) => objects.extend(expand(
                &file,
                doc,
                component,
                &Origin::Manifest,
                &mut findings,
            )),
            Err(problem) => findings.push(shape_finding(&file, &doc, &problem)),
        }
    }
    (objects, findings)
}

/// The documents of a file and the `yaml-syntax` findings met while reading it.
pub(crate) struct FileDocuments {
    pub documents: Vec<berth_yaml::Document>,
    pub findings: Vec<Finding>,
}

pub(crate) fn parse_documents(file: &Arc<SourceFile>) -> FileDocuments {
    let parsed = berth_yaml::parse(file.kept_text());
    let findings = parsed
        .errors
        .iter()
        .map(|e| {
            let fix = match e.kind {
                berth_yaml::ErrorKind::DuplicateKey => "remove one of the two keys",
                berth_yaml::ErrorKind::Budget => "expand the aliases by hand, or use fewer",
                _ => "fix the YAML at this position; quote values that contain `*`, `&`, `!`, `:` or `#`",
            };
            finding_at(file, YAML_SYNTAX, Severity::Error, e.pos, e.message.clone(), fix)
        })
        .collect();
    FileDocuments {
        documents: parsed.documents,
        findings,
    }
}

/// The position of `pointer`, or of its nearest ancestor that has one, or line 1 column 1.
pub(crate) fn nearest(positions: &Positions, pointer: &str) -> Pos {
    let mut p = pointer;
    loop {
        if let Some(pos) = positions.get(p) {
            return *pos;
        }
        match p.rfind('/') {
            Some(i) => p = &p[..i],
            None => {
                return positions.get("").copied().unwrap_or(Pos {
                    line: 1,
                    column: 1,
                    offset: 0,
                });
            }
        }
    }
}

/// A finding at a position of a file.
pub(crate) fn finding_at(
    file: &Arc<SourceFile>,
    rule: &str,
    severity: Severity,
    pos: Pos,
    message: impl Into<String>,
    fix: impl Into<String>,
) -> Finding {
    Finding {
        rule: rule.to_string(),
        severity,
        file: file.path.clone(),
        line: pos.line,
        column: pos.column,
        message: message.into(),
        fix: fix.into(),
        span: Some((pos.offset, 0)),
        source: Some(file.clone()),
    }
}

/// Why a document is not a Kubernetes object: the pointer to blame and a message.
pub(crate) struct ShapeProblem {
    pub pointer: &'static str,
    pub message: String,
    pub fix: &'static str,
}

/// Whether a document is a Kubernetes object berth can handle.
pub(crate) fn check_shape(value: &Value) -> Result<(), ShapeProblem> {
    let Some(map) = value.as_object() else {
        return Err(ShapeProblem {
            pointer: "",
            message: format!(
                "this document is {}, not a Kubernetes object",
                describe(value)
            ),
            fix: "a manifest document must be a mapping with apiVersion, kind and metadata",
        });
    };
    for field in ["apiVersion", "kind"] {
        match map.get(field) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(other) => {
                return Err(ShapeProblem {
                    pointer: if field == "kind" {
                        "/kind"
                    } else {
                        "/apiVersion"
                    },
                    message: format!("`{field}` is {}, not text", describe(other)),
                    fix: "write it as text, e.g. `apiVersion: apps/v1` and `kind: Deployment`",
                });
            }
            None => {
                return Err(ShapeProblem {
                    pointer: "",
                    message: format!(
                        "this document has no `{field}`, so it is not a Kubernetes object"
                    ),
                    fix: "add apiVersion and kind, or move this file out of the manifests",
                });
            }
        }
    }
    let is_list = map
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && map.get("items").is_some_and(Value::is_array);
    if is_list {
        return Ok(());
    }
    let named = ["/metadata/name", "/metadata/generateName"]
        .iter()
        .any(|p| {
            value
                .at(p)
                .and_then(Value::as_str)
                .is_some_and(|s| !s.is_empty())
        });
    if !named {
        return Err(ShapeProblem {
            pointer: if map.contains_key("metadata") {
                "/metadata"
            } else {
                ""
            },
            message: "this object has no `metadata.name`".to_string(),
            fix: "give the object a name under `metadata:`",
        });
    }
    Ok(())
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "empty",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

fn shape_finding(file: &Arc<SourceFile>, doc: &berth_yaml::Document, p: &ShapeProblem) -> Finding {
    let pos = doc
        .positions
        .get(p.pointer)
        .or_else(|| doc.positions.get(""))
        .copied();
    finding_at(
        file,
        MANIFEST_SHAPE,
        Severity::Error,
        pos.unwrap_or_default(),
        p.message.clone(),
        p.fix,
    )
}

/// Turn a checked document into objects: itself, or the items of a `List`.
pub(crate) fn expand(
    file: &Arc<SourceFile>,
    doc: berth_yaml::Document,
    component: &str,
    origin: &Origin,
    findings: &mut Vec<Finding>,
) -> Vec<Object> {
    let make = |mut value: Value, positions: Positions, findings: &mut Vec<Finding>| {
        let dropped = drop_server_fields(&mut value);
        if !dropped.is_empty() {
            findings.push(server_fields_finding(file, &positions, &value, &dropped));
        }
        Object {
            value,
            file: file.clone(),
            doc: doc.index,
            component: component.to_string(),
            origin: origin.clone(),
            positions: Arc::new(positions),
        }
    };
    let is_list = doc
        .value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && doc.value.get("items").is_some_and(Value::is_array);
    if !is_list {
        let berth_yaml::Document {
            value, positions, ..
        } = doc;
        return vec![make(value, positions, findings)];
    }
    let items = match doc.value.get("items") {
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    };
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let prefix = format!("/items/{i}");
        let positions = doc.positions.rebase(&prefix, &item);
        match check_shape(&item) {
            Ok(()) => out.push(make(item, positions, findings)),
            Err(p) => {
                let sub = berth_yaml::Document {
                    index: doc.index,
                    value: item,
                    positions,
                    dollar_scalars: Default::default(),
                };
                findings.push(shape_finding(file, &sub, &p));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (Vec<Object>, Vec<Finding>) {
        parse_manifest_str(Path::new("m.yaml"), text, "web")
    }

    #[test]
    fn objects_keep_file_doc_component_and_positions() {
        let (objs, findings) = run(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\n\
             apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: b\nspec:\n  replicas: 2\n",
        );
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[1].display_name(), "Deployment/b");
        assert_eq!(objs[1].doc, 1);
        assert_eq!(objs[1].component, "web");
        assert_eq!(objs[1].origin, Origin::Manifest);
        assert_eq!(objs[1].pos("/spec/replicas").line, 11);
        assert_eq!(objs[1].pos("/spec/replicas/nope").line, 11);
        assert_eq!(objs[1].file.path, Path::new("m.yaml"));
    }

    #[test]
    fn fields_the_api_server_writes_are_dropped_with_a_warning() {
        // As `kubectl get -o yaml` prints a live object, and inside a List.
        let exported = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  \
            namespace: shop\n  uid: 5f0c2f0e-8d7b-4a36-9f5e-0d6f8c1c2b11\n  \
            resourceVersion: \"123456\"\n  creationTimestamp: \"2026-01-02T03:04:05Z\"\n  \
            managedFields:\n    - {manager: kubectl, operation: Update}\n  \
            ownerReferences: [{apiVersion: v1, kind: Secret, name: s, uid: x}]\n  \
            finalizers: [example.com/keep]\ndata: {a: b}\nstatus: {phase: Active}\n";
        let (objs, findings) = run(exported);
        assert_eq!(findings.len(), 1, "{findings:?}");
        let f = &findings[0];
        assert_eq!(
            (f.rule.as_str(), f.severity),
            (SERVER_FIELDS, Severity::Warning)
        );
        assert_eq!((f.line, f.column), (6, 3), "at the first of them: uid");
        assert!(
            f.message.contains("ConfigMap/settings carries `metadata.uid`, `metadata.resourceVersion`, `metadata.creationTimestamp`, `metadata.managedFields`"),
            "{}",
            f.message
        );
        let v = &objs[0].value;
        for gone in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "managedFields",
        ] {
            assert!(v["metadata"].get(gone).is_none(), "{gone} dropped");
        }
        assert!(v.get("status").is_none());
        // Must not: what the user may mean stays.
        assert_eq!(v["metadata"]["ownerReferences"][0]["name"], "s");
        assert_eq!(v["metadata"]["finalizers"][0], "example.com/keep");
        assert_eq!(v["metadata"]["namespace"], "shop");
        assert_eq!(v["data"]["a"], "b");
        assert_eq!(objs[0].pos("/data/a").line, 13, "positions unchanged");

        let list = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: ConfigMap\n    \
            metadata: {name: a, resourceVersion: \"1\"}\n  - apiVersion: v1\n    kind: ConfigMap\n    \
            metadata: {name: b}\n";
        let (objs, findings) = run(list);
        assert_eq!(objs.len(), 2);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].line, 6);
        assert!(objs[0].value["metadata"].get("resourceVersion").is_none());
    }

    #[test]
    fn a_status_alone_is_dropped_without_a_word_and_manifests_say_nothing() {
        // controller-gen writes an empty status into CRD files.
        let crd = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
            metadata: {name: widgets.example.com}\nspec: {group: example.com}\n\
            status: {acceptedNames: {kind: \"\", plural: \"\"}, conditions: [], storedVersions: []}\n";
        let (objs, findings) = run(crd);
        assert!(findings.is_empty(), "{findings:?}");
        assert!(objs[0].value.get("status").is_none());
        // `kubectl create --dry-run=client -o yaml` output.
        let (objs, findings) = run(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  creationTimestamp: null\n  name: b\n  labels: {uid: x}\nspec:\n  replicas: 2\nstatus: {}\n",
        );
        assert!(objs[0].value["metadata"].get("creationTimestamp").is_none());
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(objs[0].value["metadata"]["labels"]["uid"], "x");
    }

    #[test]
    fn yaml_errors_become_findings_and_other_documents_survive() {
        let (objs, findings) = run(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  password: ******\n\
             ---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n",
        );
        assert_eq!(objs.len(), 1);
        assert_eq!(objs[0].name(), "ok");
        assert_eq!(findings.len(), 1);
        let f = &findings[0];
        assert_eq!(
            (f.rule.as_str(), f.severity, f.line, f.column),
            ("yaml-syntax", Severity::Error, 6, 13)
        );
        assert!(f.is_bad_input());
    }

    #[test]
    fn shape_problems_are_findings() {
        let cases = [
            ("- a\n- b\n", 1, "a list"),
            ("name: x\n", 1, "no `apiVersion`"),
            ("apiVersion: v1\nname: x\n", 1, "no `kind`"),
            ("apiVersion: v1\nkind: 3\n", 2, "`kind` is a number"),
            (
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  labels: {}\n",
                3,
                "no `metadata.name`",
            ),
            ("apiVersion: v1\nkind: ConfigMap\n", 1, "no `metadata.name`"),
        ];
        for (text, line, msg) in cases {
            let (objs, findings) = run(text);
            assert!(objs.is_empty(), "{text}");
            assert_eq!(findings.len(), 1, "{text}: {findings:?}");
            assert_eq!(findings[0].rule, MANIFEST_SHAPE);
            assert_eq!(findings[0].line, line, "{text}");
            assert!(
                findings[0].message.contains(msg),
                "{text}: {}",
                findings[0].message
            );
        }
    }

    #[test]
    fn generate_name_is_enough() {
        let (objs, findings) =
            run("apiVersion: batch/v1\nkind: Job\nmetadata:\n  generateName: x-\n");
        assert_eq!((objs.len(), findings.len()), (1, 0));
    }

    #[test]
    fn lists_are_expanded_with_their_positions() {
        let (objs, findings) = run(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: a\n\
             - apiVersion: v1\n  kind: ConfigMap\n  metadata:\n    name: b\n- 3\n",
        );
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[1].name(), "b");
        assert_eq!(objs[1].pos("/metadata/name").line, 11);
        assert_eq!(objs[1].pos("").line, 8);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].line, 12);
    }
}
