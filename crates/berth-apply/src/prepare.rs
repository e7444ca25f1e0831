//! Turns rendered objects into what is sent to the API server. Pure: no cluster access.
//!
//! - every object gets the ApplySet membership label, so the set can be listed and pruned;
//! - `spec.replicas` is dropped from workloads an HPA of the stack scales (the HPA owns it;
//!   sending it would scale the workload back on every `up`);
//! - a pod template that uses Secrets or ConfigMaps of the stack gets a checksum annotation
//!   of their data, so changing a value rolls the pods that read it.

use std::collections::{BTreeMap, HashSet};

use base64::Engine;
use berth_model::{Object, ObjectKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Label that makes an object a member of an ApplySet (KEP-3659).
pub const PART_OF: &str = "applyset.kubernetes.io/part-of";
/// Pod-template annotation: checksum of the stack's Secrets and ConfigMaps the pods use.
pub const CONFIG_CHECKSUM: &str = "berth.dev/config-checksum";
/// Annotation on a stored Secret: checksum of its data, which is never stored.
pub const DATA_CHECKSUM: &str = "berth.dev/data-sha256";

/// The ApplySet id of a stack whose parent is the Secret `name` in `namespace`:
/// `applyset-<base64url(sha256(<name>.<namespace>.Secret.))>-v1` (KEP-3659).
pub fn applyset_id(parent_name: &str, namespace: &str) -> String {
    let digest = Sha256::digest(format!("{parent_name}.{namespace}.Secret.").as_bytes());
    format!(
        "applyset-{}-v1",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

/// The objects as they are applied: membership label, HPA-owned replicas removed, config
/// checksums on pod templates. Same order as `objects`.
pub fn prepare(objects: &[Object], applyset: &str) -> Vec<Value> {
    let hpa_targets: HashSet<(String, Option<String>, String)> = objects
        .iter()
        .filter(|o| o.kind() == "HorizontalPodAutoscaler")
        .filter_map(|o| {
            let kind = o.value.pointer("/spec/scaleTargetRef/kind")?.as_str()?;
            let name = o.value.pointer("/spec/scaleTargetRef/name")?.as_str()?;
            Some((
                kind.to_string(),
                o.namespace().map(str::to_string),
                name.to_string(),
            ))
        })
        .collect();
    let config: BTreeMap<ObjectKey, String> = objects
        .iter()
        .filter(|o| matches!(o.kind(), "Secret" | "ConfigMap") && o.group().is_empty())
        .map(|o| (o.key(), data_checksum(&o.value)))
        .collect();

    objects
        .iter()
        .map(|o| {
            let mut v = o.value.clone();
            drop_empty_metadata_maps(&mut v);
            set_label(&mut v, PART_OF, applyset);
            let target = (
                o.kind().to_string(),
                o.namespace().map(str::to_string),
                o.name().to_string(),
            );
            if hpa_targets.contains(&target)
                && let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut)
            {
                spec.remove("replicas");
            }
            if let Some(pointer) = berth_model::pod_spec::spec_pointer(o.kind()) {
                let used: Vec<&String> =
                    berth_model::refs::references(o.kind(), o.namespace(), &o.value)
                        .into_iter()
                        .filter(|r| r.names_object())
                        .filter(|r| matches!(r.kind.as_str(), "Secret" | "ConfigMap"))
                        .filter_map(|r| {
                            config.get(&ObjectKey {
                                group: String::new(),
                                kind: r.kind,
                                namespace: r.namespace,
                                name: r.name,
                            })
                        })
                        .collect();
                if !used.is_empty() {
                    let mut h = Sha256::new();
                    for c in used {
                        h.update(c.as_bytes());
                    }
                    let template_meta = pointer.trim_end_matches("/spec").to_string() + "/metadata";
                    set_annotation_at(&mut v, &template_meta, CONFIG_CHECKSUM, &hex(&h.finalize()));
                }
            }
            v
        })
        .collect()
}

/// Removes `annotations: {}` (and `labels: {}`) from the object's and its pod template's
/// metadata. The API server does not store an empty map, so berth would own it only once
/// someone else (a controller adding an annotation) made the map exist, and every later `up`
/// would report the object changed for a field that holds nothing.
fn drop_empty_metadata_maps(v: &mut Value) {
    for pointer in ["/metadata", "/spec/template/metadata"] {
        if let Some(meta) = v.pointer_mut(pointer).and_then(Value::as_object_mut) {
            for field in ["annotations", "labels"] {
                if meta
                    .get(field)
                    .is_some_and(|m| m.as_object().is_some_and(|m| m.is_empty()) || m.is_null())
                {
                    meta.remove(field);
                }
            }
        }
    }
}

/// sha256 of a Secret's or ConfigMap's data (`data`, `stringData`, `binaryData`), hex.
pub fn data_checksum(v: &Value) -> String {
    let mut h = Sha256::new();
    for key in ["data", "stringData", "binaryData"] {
        h.update(key.as_bytes());
        // serde_json keeps insertion order; sort keys so the checksum depends on content only.
        if let Some(map) = v.get(key).and_then(Value::as_object) {
            let sorted: BTreeMap<&String, &Value> = map.iter().collect();
            h.update(
                serde_json::to_string(&sorted)
                    .unwrap_or_default()
                    .as_bytes(),
            );
        }
    }
    hex(&h.finalize())
}

/// A copy of a Secret without its values (for revisions and plans): `data` and `stringData`
/// replaced by the checksum annotation. Other objects are returned unchanged.
pub fn without_secret_values(v: &Value) -> Value {
    if v.get("kind").and_then(Value::as_str) != Some("Secret")
        || v.get("apiVersion").and_then(Value::as_str) != Some("v1")
    {
        return v.clone();
    }
    let mut out = v.clone();
    let sum = data_checksum(v);
    if let Some(m) = out.as_object_mut() {
        m.remove("data");
        m.remove("stringData");
    }
    set_annotation_at(&mut out, "/metadata", DATA_CHECKSUM, &sum);
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn ensure_object<'a>(v: &'a mut Value, key: &str) -> &'a mut serde_json::Map<String, Value> {
    if !v.get(key).is_some_and(Value::is_object) {
        v[key] = json!({});
    }
    v[key].as_object_mut().expect("just made an object")
}

/// Sets `metadata.labels[key] = value`.
pub fn set_label(v: &mut Value, key: &str, value: &str) {
    if !v.is_object() {
        return;
    }
    let meta = ensure_object(v, "metadata");
    let labels = meta.entry("labels").or_insert_with(|| json!({}));
    if !labels.is_object() {
        *labels = json!({});
    }
    labels[key] = json!(value);
}

fn set_annotation_at(v: &mut Value, meta_pointer: &str, key: &str, value: &str) {
    let mut cur = v;
    for part in meta_pointer.split('/').filter(|p| !p.is_empty()) {
        if !cur.is_object() {
            return;
        }
        ensure_object(cur, part);
        cur = &mut cur[part];
    }
    let annotations = ensure_object(cur, "annotations");
    annotations.insert(key.to_string(), json!(value));
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use berth_model::{Origin, SourceFile};

    use super::*;

    fn obj(value: Value) -> Object {
        Object {
            value,
            file: Arc::new(SourceFile::new("m.yaml", "")),
            doc: 0,
            component: "c".into(),
            origin: Origin::Manifest,
            positions: Default::default(),
        }
    }

    #[test]
    fn empty_annotation_and_label_maps_are_not_sent() {
        let d = obj(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "annotations": {}, "labels": null},
            "spec": {"template": {"metadata": {"annotations": {}, "labels": {"app": "web"}}}}}));
        let out = &prepare(&[d], "set")[0];
        assert!(out.pointer("/metadata/annotations").is_none());
        assert_eq!(
            out.pointer("/metadata/labels/applyset.kubernetes.io~1part-of"),
            Some(&json!("set"))
        );
        assert!(out.pointer("/spec/template/metadata/annotations").is_none());
        assert_eq!(
            out.pointer("/spec/template/metadata/labels/app"),
            Some(&json!("web"))
        );
        // A map with something in it is left as it is.
        let c = obj(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "annotations": {"a": "b"}}}),
        );
        assert_eq!(
            prepare(&[c], "set")[0].pointer("/metadata/annotations/a"),
            Some(&json!("b"))
        );
    }

    fn stack(secret_value: &str) -> Vec<Object> {
        vec![
            obj(
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "a"},
                "stringData": {"password": secret_value}}),
            ),
            obj(
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "a"},
                "spec": {"replicas": 3, "template": {"metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "s"}}]}]}}}}),
            ),
            obj(
                json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": "web", "namespace": "a"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}}),
            ),
        ]
    }

    #[test]
    fn members_get_the_label_hpa_targets_lose_replicas_and_pods_get_a_checksum() {
        let out = prepare(&stack("one"), "applyset-x-v1");
        assert!(
            out.iter()
                .all(|v| v["metadata"]["labels"][PART_OF] == "applyset-x-v1")
        );
        assert!(out[1]["spec"].get("replicas").is_none());
        assert_eq!(
            out[1]["spec"]["template"]["metadata"]["labels"]["app"],
            "web"
        );
        let sum = out[1]["spec"]["template"]["metadata"]["annotations"][CONFIG_CHECKSUM].clone();
        assert!(sum.is_string());
        let again = prepare(&stack("one"), "applyset-x-v1");
        assert_eq!(
            again[1]["spec"]["template"]["metadata"]["annotations"][CONFIG_CHECKSUM],
            sum
        );
        let changed = prepare(&stack("two"), "applyset-x-v1");
        assert_ne!(
            changed[1]["spec"]["template"]["metadata"]["annotations"][CONFIG_CHECKSUM],
            sum
        );
    }

    #[test]
    fn stored_secrets_keep_no_values() {
        let s = &stack("hunter2")[0].value;
        let stored = without_secret_values(s);
        assert!(!stored.to_string().contains("hunter2"));
        assert_eq!(
            stored["metadata"]["annotations"][DATA_CHECKSUM],
            json!(data_checksum(s))
        );
    }

    #[test]
    fn applyset_id_follows_the_kep_format() {
        let id = applyset_id("berth.shop", "shop");
        assert!(id.starts_with("applyset-") && id.ends_with("-v1"));
        assert!(
            id.len() <= 63,
            "label values are at most 63 characters: {id}"
        );
    }
}
