//! The Kubernetes JSON schemas `berth check` validates against, embedded in the binary.
//!
//! `schemas/k8s.json.gz` is produced by `schemas/generate.py` from the PyPI package
//! `kubernetes-validate` (strict sets: unknown fields are rejected, as `kubectl` does). It holds
//! a pool of distinct definitions and, per Kubernetes minor version, a map from definition name
//! to pool entry plus a `apiVersion/Kind` index. Its index is parsed once, on first use; a
//! version's definitions stay JSON text until a validator needs them. One validator per kind is
//! compiled once and cached, so checking 10,000 objects of a dozen kinds compiles a dozen
//! validators: [`SchemaSet::prepare`] compiles the kinds of a stack together, from a registry of
//! the definitions they reach (170 of 1.34's 730 for a stack of Deployments, StatefulSets,
//! Services, ConfigMaps, HPAs and PVCs), which is dropped once they are compiled (a compiled
//! validator keeps nothing of it).

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};

use jsonschema::{Registry, Validator};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

static BLOB: &[u8] = include_bytes!("../schemas/k8s.json.gz");

/// Errors loading the embedded schemas or compiling a validator.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The stack targets a version whose schemas are not embedded.
    #[error("Kubernetes {version} is not supported by this berth; embedded schemas: {supported}")]
    UnsupportedVersion { version: String, supported: String },
    /// The embedded blob is broken (a build problem, not a user one).
    #[error("embedded schemas are unreadable: {0}")]
    Corrupt(String),
    /// A schema (usually a CRD's `openAPIV3Schema`) could not be compiled.
    #[error("schema does not compile: {0}")]
    Compile(String),
}

/// The embedded blob's shape. The pool stays raw text, borrowed from the decompressed blob:
/// a set parses only its own version's definitions (a third of the pool), and the process
/// never holds the pool as `Value`s (that was 8 MB at a 10,000-object check's peak, where the
/// set is built beside every loaded object).
#[derive(Deserialize)]
struct Blob<'a> {
    #[serde(borrow)]
    pool: Vec<&'a RawValue>,
    versions: HashMap<String, VersionIndex>,
}

#[derive(Deserialize)]
struct VersionIndex {
    defs: HashMap<String, usize>,
    gvk: HashMap<String, String>,
}

/// The embedded blob, decompressed (1 MB of JSON).
fn decompress() -> Result<Vec<u8>, SchemaError> {
    let mut text = Vec::new();
    flate2::read::GzDecoder::new(BLOB)
        .read_to_end(&mut text)
        .map_err(|e| SchemaError::Corrupt(e.to_string()))?;
    Ok(text)
}

fn parse_blob(text: &[u8]) -> Result<Blob<'_>, SchemaError> {
    serde_json::from_slice(text).map_err(|e| SchemaError::Corrupt(e.to_string()))
}

/// The index of every embedded version: its definitions and the kinds it serves. The
/// schemas themselves are kept only by the [`SchemaSet`]s made from the blob.
fn index() -> Result<&'static HashMap<String, VersionIndex>, SchemaError> {
    static CELL: OnceLock<Result<HashMap<String, VersionIndex>, String>> = OnceLock::new();
    CELL.get_or_init(|| {
        let text = decompress().map_err(|e| e.to_string())?;
        parse_blob(&text)
            .map(|b| b.versions)
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| SchemaError::Corrupt(e.clone()))
}

/// The Kubernetes minor versions (`"1.33"`) whose schemas are embedded, oldest first.
pub fn supported_versions() -> Vec<String> {
    let mut v: Vec<String> = match index() {
        Ok(versions) => versions.keys().cloned().collect(),
        Err(_) => Vec::new(),
    };
    v.sort_by_key(|s| minor_of(s));
    v
}

/// True when the embedded schemas of `version` (`"1.30"`) serve `apiVersion`/`kind`. Cheap:
/// reads the index only, without preparing that version's validators.
pub fn serves(version: &str, api_version: &str, kind: &str) -> bool {
    let key = format!("1.{}", minor_of(version));
    index()
        .ok()
        .and_then(|versions| versions.get(&key))
        .is_some_and(|v| v.gvk.contains_key(&gvk_key(api_version, kind)))
}

/// The minor number of `"1.33"` (33); 0 when it is not of that shape.
pub fn minor_of(version: &str) -> u32 {
    version
        .trim_start_matches('v')
        .strip_prefix("1.")
        .and_then(|m| m.split('.').next())
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// The schemas of one Kubernetes minor version, with a cache of compiled validators per kind.
pub struct SchemaSet {
    version: String,
    index: &'static VersionIndex,
    /// The version's definitions as JSON text, by name.
    defs: HashMap<&'static str, Box<RawValue>>,
    validators: Mutex<HashMap<String, Option<Arc<Validator>>>>,
}

impl std::fmt::Debug for SchemaSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchemaSet")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

const BASE: &str = "urn:berth:k8s";
/// How the embedded schemas write a reference to a definition.
const DEF_REF: &str = "#/$defs/";

impl SchemaSet {
    /// The set for `version` (`"1.33"`, `"v1.33"` or `"1.33.2"`), built once per process.
    pub fn get(version: &str) -> Result<&'static SchemaSet, SchemaError> {
        static SETS: OnceLock<Mutex<HashMap<String, &'static SchemaSet>>> = OnceLock::new();
        let key = format!("1.{}", minor_of(version));
        let sets = SETS.get_or_init(Default::default);
        let mut sets = sets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(set) = sets.get(&key) {
            return Ok(set);
        }
        let Some(index) = index()?.get(&key) else {
            return Err(SchemaError::UnsupportedVersion {
                version: version.to_string(),
                supported: supported_versions().join(", "),
            });
        };
        // The pool holds the schemas of every version; this set copies the text of its own.
        let text = decompress()?;
        let pool = parse_blob(&text)?.pool;
        let mut defs = HashMap::with_capacity(index.defs.len());
        for (name, &i) in &index.defs {
            let raw = pool
                .get(i)
                .map(|raw| (*raw).to_owned())
                .ok_or_else(|| SchemaError::Corrupt(name.clone()))?;
            defs.insert(name.as_str(), raw);
        }
        // Leaked on purpose: one per supported version at most, alive for the whole process.
        let set: &'static SchemaSet = Box::leak(Box::new(SchemaSet {
            version: key.clone(),
            index,
            defs,
            validators: Mutex::new(HashMap::new()),
        }));
        sets.insert(key, set);
        Ok(set)
    }

    /// The minor version this set describes (`"1.33"`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// True when this version serves `apiVersion`/`kind`.
    pub fn has_kind(&self, api_version: &str, kind: &str) -> bool {
        self.index.gvk.contains_key(&gvk_key(api_version, kind))
    }

    /// The API versions this Kubernetes version serves `kind` under (in its group or any).
    pub fn api_versions_of(&self, kind: &str) -> Vec<&str> {
        let mut v: Vec<&str> = self
            .index
            .gvk
            .keys()
            .filter_map(|k| {
                k.rsplit_once('/')
                    .filter(|(_, kd)| *kd == kind)
                    .map(|(av, _)| av)
            })
            .collect();
        v.sort_unstable();
        v
    }

    /// Compiles the validators of `kinds` (`(apiVersion, kind)`) that are not compiled yet,
    /// together: one registry holds the definitions they reach, and goes once they are built.
    pub fn prepare<'k>(&self, kinds: impl IntoIterator<Item = (&'k str, &'k str)>) {
        let mut cache = self.validators.lock().unwrap_or_else(|e| e.into_inner());
        let mut wanted: Vec<(String, Option<&'static str>)> = Vec::new();
        for (api_version, kind) in kinds {
            let key = gvk_key(api_version, kind);
            if !cache.contains_key(&key) && !wanted.iter().any(|(k, _)| *k == key) {
                let def = self.index.gvk.get(&key).map(String::as_str);
                wanted.push((key, def));
            }
        }
        if wanted.is_empty() {
            return;
        }
        let roots = wanted.iter().filter_map(|(_, def)| *def);
        let registry = self.registry_for(roots).ok();
        for (key, def) in wanted {
            let compiled = def.zip(registry.as_ref()).and_then(|(def, registry)| {
                let schema = serde_json::json!({ "$ref": format!("{BASE}{DEF_REF}{def}") });
                jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .with_registry(registry)
                    .should_validate_formats(false)
                    .build(&schema)
                    .ok()
                    .map(Arc::new)
            });
            cache.insert(key, compiled);
        }
    }

    /// A registry of the definitions `roots` reach through `$ref`, parsed from their text.
    fn registry_for<'d>(
        &self,
        roots: impl Iterator<Item = &'d str>,
    ) -> Result<Registry<'static>, SchemaError> {
        let mut defs = Map::new();
        let mut todo: Vec<&str> = roots.collect();
        while let Some(name) = todo.pop() {
            if defs.contains_key(name) {
                continue;
            }
            let def: Value = self
                .defs
                .get(name)
                .and_then(|raw| serde_json::from_str(raw.get()).ok())
                .ok_or_else(|| SchemaError::Corrupt(name.to_string()))?;
            let mut found = Vec::new();
            references(&def, &mut found);
            // A name nothing defines stays out: compiling the kind that refers to it fails.
            todo.extend(
                found
                    .drain(..)
                    .filter_map(|r| self.defs.get_key_value(r).map(|(k, _)| *k)),
            );
            defs.insert(name.to_string(), def);
        }
        let doc = serde_json::json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$defs": defs,
        });
        Registry::new()
            .add(BASE, doc)
            .and_then(|b| b.prepare())
            .map_err(|e| SchemaError::Corrupt(e.to_string()))
    }

    /// The compiled validator for `apiVersion`/`kind`, or None when this version does not
    /// know the kind. Compiled on first use when [`SchemaSet::prepare`] did not.
    pub fn validator(&self, api_version: &str, kind: &str) -> Option<Arc<Validator>> {
        let key = gvk_key(api_version, kind);
        let cached = |key: &str| {
            let cache = self.validators.lock().unwrap_or_else(|e| e.into_inner());
            cache.get(key).cloned()
        };
        if let Some(v) = cached(&key) {
            return v;
        }
        self.prepare([(api_version, kind)]);
        cached(&key).flatten()
    }
}

/// Pushes the definitions `schema` refers to (`{"$ref": "#/$defs/<name>"}`) onto `out`.
fn references<'v>(schema: &'v Value, out: &mut Vec<&'v str>) {
    match schema {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(r)) => {
                        if let Some(name) = r.strip_prefix(DEF_REF) {
                            out.push(name);
                        }
                    }
                    _ => references(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

fn gvk_key(api_version: &str, kind: &str) -> String {
    format!("{api_version}/{kind}")
}

/// Validators of the custom resources berth knows without their CRD in the stack: Karpenter's
/// NodePool and EC2NodeClass (`berth_model::karpenter::SCHEMAS`, generated from the CRDs),
/// compiled on first use. None for any other kind, or when the embedded schema does not
/// compile (a test of berth-model would fail first).
pub fn known_crd_validator(api_version: &str, kind: &str) -> Option<Arc<Validator>> {
    /// (apiVersion, kind, validator) of each embedded schema.
    type Known = Vec<(&'static str, &'static str, Option<Arc<Validator>>)>;
    static VALIDATORS: OnceLock<Known> = OnceLock::new();
    VALIDATORS
        .get_or_init(|| {
            berth_model::karpenter::SCHEMAS
                .iter()
                .map(|(a, k, text)| {
                    let v = serde_json::from_str::<Value>(text)
                        .ok()
                        .and_then(|s| compile_crd_schema(&s).ok())
                        .map(Arc::new);
                    (*a, *k, v)
                })
                .collect()
        })
        .iter()
        .find(|(a, k, _)| *a == api_version && *k == kind)
        .and_then(|(_, _, v)| v.clone())
}

/// Compiles a CRD version's `openAPIV3Schema` into a validator, made strict the way the API
/// server prunes: unknown fields are reported unless `x-kubernetes-preserve-unknown-fields`.
pub fn compile_crd_schema(schema: &Value) -> Result<Validator, SchemaError> {
    let mut schema = crd_to_json_schema(schema);
    // The object's envelope is validated by the API server, not by the CRD's schema.
    if let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        for key in ["apiVersion", "kind", "metadata"] {
            props
                .entry(key)
                .or_insert_with(|| Value::Object(Map::new()));
        }
    }
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft4)
        .should_validate_formats(false)
        .build(&schema)
        .map_err(|e| SchemaError::Compile(e.to_string()))
}

fn crd_to_json_schema(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                match k.as_str() {
                    "description" | "format" | "default" | "example" => {}
                    k if k.starts_with("x-kubernetes-") => {}
                    "properties" | "patternProperties" | "definitions" => {
                        let props = v
                            .as_object()
                            .map(|p| {
                                p.iter()
                                    .map(|(n, s)| (n.clone(), crd_to_json_schema(s)))
                                    .collect()
                            })
                            .unwrap_or_default();
                        out.insert(k.clone(), Value::Object(props));
                    }
                    _ => {
                        out.insert(k.clone(), crd_to_json_schema(v));
                    }
                }
            }
            if map.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
                return serde_json::json!({"type": ["integer", "string"]});
            }
            let preserve =
                map.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            if preserve {
                // An open object: drop the type so nested anything is accepted.
                out.remove("additionalProperties");
            } else if out.contains_key("properties") && !out.contains_key("additionalProperties") {
                out.insert("additionalProperties".into(), Value::Bool(false));
            }
            if map.get("nullable") == Some(&Value::Bool(true))
                && let Some(Value::String(t)) = out.get("type").cloned()
            {
                out.insert("type".into(), serde_json::json!([t, "null"]));
            }
            out.remove("nullable");
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(crd_to_json_schema).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn embeds_at_least_three_versions() {
        let v = supported_versions();
        for want in ["1.33", "1.34", "1.35"] {
            assert!(v.iter().any(|s| s == want), "{want} missing from {v:?}");
        }
    }

    #[test]
    fn unsupported_version_names_the_embedded_ones() {
        let err = SchemaSet::get("1.12").unwrap_err().to_string();
        assert!(err.contains("1.12") && err.contains("1.34"), "{err}");
    }

    #[test]
    fn validates_a_deployment_strictly() {
        let set = SchemaSet::get("1.34").unwrap();
        let v = set.validator("apps/v1", "Deployment").unwrap();
        let ok = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"},
            "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
            "spec": {"containers": [{"name": "c", "image": "i:1", "ports": [{"containerPort": 80}]}]}}}});
        assert!(v.is_valid(&ok));
        let mut bad = ok.clone();
        bad["spec"]["replica"] = json!(2);
        bad["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = json!("80");
        let paths: Vec<String> = v
            .iter_errors(&bad)
            .map(|e| e.instance_path().to_string())
            .collect();
        assert!(paths.contains(&"/spec".to_string()), "{paths:?}");
        assert!(
            paths.iter().any(|p| p.ends_with("containerPort")),
            "{paths:?}"
        );
    }

    #[test]
    fn int_or_string_accepts_both() {
        let set = SchemaSet::get("1.33").unwrap();
        let v = set.validator("v1", "Service").unwrap();
        for target in [json!(8080), json!("http")] {
            let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                "spec": {"ports": [{"port": 80, "targetPort": target}]}});
            assert!(v.is_valid(&svc));
        }
    }

    #[test]
    fn removed_kinds_are_unknown() {
        let set = SchemaSet::get("1.33").unwrap();
        assert!(!set.has_kind("autoscaling/v2beta2", "HorizontalPodAutoscaler"));
        assert!(set.has_kind("autoscaling/v2", "HorizontalPodAutoscaler"));
        assert_eq!(
            set.api_versions_of("HorizontalPodAutoscaler"),
            vec!["autoscaling/v1", "autoscaling/v2"]
        );
    }

    #[test]
    fn crd_schema_is_strict_unless_preserved() {
        let v = compile_crd_schema(&json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
            "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}))
        .unwrap();
        assert!(v.is_valid(&json!({"spec": {"size": 1}, "extra": {"any": 1}})));
        assert!(!v.is_valid(&json!({"spec": {"sise": 1}})));
    }
}
