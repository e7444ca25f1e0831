//! Drift: the fields of berth's applied configuration that another field manager has taken.
//!
//! berth applies with server-side apply as [`FIELD_MANAGER`]. When someone changes a field
//! berth set (`kubectl scale`, `kubectl edit`, `kubectl patch`, another tool's apply with
//! `--force-conflicts`), the API server moves that field's ownership in `metadata.managedFields`
//! from berth to them. So drift is read from the object itself, without keeping old values:
//! a field is drifted when it is in the configuration berth applied (the revision's stored
//! object), another manager owns it, and berth's own entries no longer do.
//!
//! What is not drift, by design:
//! - writes to the `status` subresource (controllers report there; berth never sets status);
//! - fields berth does not set, whoever owns them: a controller filling in spec fields berth
//!   leaves out (an HPA's `spec.replicas`, which berth drops from HPA targets, see
//!   [`crate::prepare`]; defaulted fields; annotations such as `deployment.kubernetes.io/revision`)
//!   is that controller's business, not a change to what berth applied;
//! - a field another manager applied with the same value berth did: both own it then (shared
//!   ownership), and the value is berth's.
//!
//! A field someone deleted has no owner left and is not seen here; `berth plan` shows it as
//! a change `up` would revert. The stored Secrets carry no values ([`crate::prepare::without_secret_values`]),
//! so for them every `data` and `stringData` key counts as applied by berth (berth builds or
//! applies the whole Secret).
//!
//! Everything here is pure: [`drift`] takes the stored and the live object.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::inventory::FIELD_MANAGER;
use crate::up::INITIAL_REPLICAS_MANAGER;

/// One drifted field: a field berth applied that `manager` owns now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// JSON-path-like: `spec.replicas`, `data.key`, `metadata.labels["app.kubernetes.io/name"]`,
    /// list items by their key: `spec.template.spec.containers[name=web].image`.
    pub path: String,
    /// The field manager that owns it now (`kubectl`, `kubectl-edit`, `kubectl-patch`, ...).
    pub manager: String,
    /// `Update` (a write such as edit, patch, scale) or `Apply` (a server-side apply).
    pub operation: String,
    /// The subresource it was written through (`scale` for `kubectl scale`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
    /// When that manager last wrote the object (RFC 3339), as the API server recorded it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// The drifted fields of `live` against `applied` (the object as berth last applied it), in
/// path order, one entry per field and manager. Empty when `live` carries no managedFields.
pub fn drift(applied: &Value, live: &Value) -> Vec<Drift> {
    let Some(entries) = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    let applied = with_secret_keys(applied, live);
    let mut berth = Map::new();
    for e in entries.iter().filter(|e| is_berth(e)) {
        if let Some(Value::Object(f)) = e.get("fieldsV1") {
            merge(&mut berth, f);
        }
    }
    let mut out = Vec::new();
    for e in entries {
        let text = |k: &str| e.get(k).and_then(Value::as_str).map(str::to_string);
        let subresource = text("subresource").filter(|s| !s.is_empty());
        if is_berth(e) || subresource.as_deref() == Some("status") {
            continue;
        }
        let Some(Value::Object(fields)) = e.get("fieldsV1") else {
            continue;
        };
        let mut paths = Vec::new();
        walk(fields, &applied, Some(&berth), &mut Vec::new(), &mut paths);
        for path in paths {
            out.push(Drift {
                path: render(&path),
                manager: text("manager").unwrap_or_else(|| "(unnamed manager)".into()),
                operation: text("operation").unwrap_or_default(),
                subresource: subresource.clone(),
                time: text("time"),
            });
        }
    }
    out.sort_by(|a, b| (&a.path, &a.manager).cmp(&(&b.path, &b.manager)));
    out.dedup_by(|a, b| a.path == b.path && a.manager == b.manager);
    out
}

/// berth's own entries: its applies, and the HPA target's first replicas it sets.
fn is_berth(entry: &Value) -> bool {
    matches!(
        entry.get("manager").and_then(Value::as_str),
        Some(FIELD_MANAGER | INITIAL_REPLICAS_MANAGER)
    )
}

/// A stored Secret has no values; every key of the live one stands in for what berth applied.
fn with_secret_keys(applied: &Value, live: &Value) -> Value {
    let is_secret = applied.get("kind").and_then(Value::as_str) == Some("Secret")
        && applied.get("apiVersion").and_then(Value::as_str) == Some("v1");
    if !is_secret || applied.get("data").is_some() || applied.get("stringData").is_some() {
        return applied.clone();
    }
    let mut out = applied.clone();
    if let (Some(m), Some(Value::Object(data))) = (out.as_object_mut(), live.get("data")) {
        let keys = data.keys().map(|k| (k.clone(), Value::Null)).collect();
        m.insert("data".into(), Value::Object(keys));
    }
    out
}

/// Union of two fieldsV1 trees.
fn merge(into: &mut Map<String, Value>, from: &Map<String, Value>) {
    for (k, v) in from {
        let slot = into
            .entry(k.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if let (Value::Object(a), Value::Object(b)) = (slot, v) {
            merge(a, b);
        }
    }
}

/// One step of a field path.
#[derive(Clone, Debug)]
enum Step {
    Field(String),
    /// A list item by its key fields (`containers[name=web]`).
    Key(Map<String, Value>),
    /// A set item by value.
    Value(Value),
    Index(usize),
}

/// Walks the fieldsV1 tree `fields` of another manager beside `applied` (the part of berth's
/// configuration at the same place) and `berth` (berth's own fieldsV1 there, `None` once berth
/// owns nothing below), collecting the leaves that berth applied and no longer owns.
fn walk(
    fields: &Map<String, Value>,
    applied: &Value,
    berth: Option<&Map<String, Value>>,
    path: &mut Vec<Step>,
    out: &mut Vec<Vec<Step>>,
) {
    for (k, sub) in fields {
        let berth_sub = berth.and_then(|b| b.get(k)).and_then(Value::as_object);
        if k == "." {
            // The node itself (a list item or map as a whole): drifted only when berth lost it.
            if berth.is_none() && !path.is_empty() {
                out.push(path.clone());
            }
            continue;
        }
        let Some((step, next)) = step_into(k, applied) else {
            continue;
        };
        path.push(step);
        match sub.as_object().filter(|m| !m.is_empty()) {
            Some(children) => walk(children, next, berth_sub, path, out),
            None if berth_sub.is_none() => out.push(path.clone()),
            None => {}
        }
        path.pop();
    }
}

/// Parses one fieldsV1 key and finds its place in `applied`; `None` when berth's configuration
/// has nothing there (or the key is not understood).
fn step_into<'a>(key: &str, applied: &'a Value) -> Option<(Step, &'a Value)> {
    let (kind, rest) = key.split_once(':')?;
    match kind {
        "f" => Some((Step::Field(rest.to_string()), applied.get(rest)?)),
        "k" => {
            let Ok(Value::Object(want)) = serde_json::from_str::<Value>(rest) else {
                return None;
            };
            // A key field the manifest leaves out was defaulted by the server (a port's
            // `protocol: TCP`): it does not tell items apart, the others must match.
            let item = applied.as_array()?.iter().find(|item| {
                want.iter().any(|(f, v)| item.get(f) == Some(v))
                    && want
                        .iter()
                        .all(|(f, v)| item.get(f).is_none_or(|have| have == v))
            })?;
            Some((Step::Key(want), item))
        }
        "v" => {
            let want: Value = serde_json::from_str(rest).ok()?;
            let item = applied.as_array()?.iter().find(|i| **i == want)?;
            Some((Step::Value(want), item))
        }
        "i" => {
            let i: usize = rest.parse().ok()?;
            Some((Step::Index(i), applied.as_array()?.get(i)?))
        }
        _ => None,
    }
}

/// `spec.template.spec.containers[name=web].image`; names that are not plain identifiers
/// (annotation keys, ConfigMap keys with dots) are quoted: `data["app.properties"]`.
fn render(path: &[Step]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Field(f)
                if !f.is_empty()
                    && f.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(f);
            }
            Step::Field(f) => s.push_str(&format!("[{}]", Value::String(f.clone()))),
            Step::Key(k) => {
                let parts: Vec<String> = k
                    .iter()
                    .map(|(f, v)| match v {
                        Value::String(t) => format!("{f}={t}"),
                        other => format!("{f}={other}"),
                    })
                    .collect();
                s.push_str(&format!("[{}]", parts.join(",")));
            }
            Step::Value(v) => s.push_str(&format!("[{v}]")),
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(manager: &str, operation: &str, subresource: Option<&str>, fields: Value) -> Value {
        let mut e = json!({"manager": manager, "operation": operation, "apiVersion": "apps/v1",
            "time": "2026-01-01T00:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": fields});
        if let Some(s) = subresource {
            e["subresource"] = json!(s);
        }
        e
    }

    fn deployment() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web",
            "labels": {"app.kubernetes.io/name": "web"}},
            "spec": {"replicas": 2, "template": {"spec": {"containers": [
                {"name": "web", "image": "web:1", "ports": [{"containerPort": 80}]},
                {"name": "side", "image": "side:1"}]}}}})
    }

    /// berth's own apply of [`deployment`], minus what `minus` names.
    fn berth_fields() -> Value {
        json!({"f:metadata": {"f:labels": {"f:app.kubernetes.io/name": {}}},
            "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"web\"}": {".": {}, "f:name": {}, "f:image": {}, "f:ports": {
                    "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}},
                "k:{\"name\":\"side\"}": {".": {}, "f:name": {}, "f:image": {}}}}}}})
    }

    fn live(entries: Vec<Value>) -> Value {
        let mut v = deployment();
        v["metadata"]["managedFields"] = Value::Array(entries);
        v
    }

    fn paths(d: &[Drift]) -> Vec<(String, String)> {
        d.iter()
            .map(|d| (d.path.clone(), d.manager.clone()))
            .collect()
    }

    #[test]
    fn fields_taken_by_scale_and_edit_are_drift_with_their_paths() {
        let mut mine = berth_fields();
        mine["f:spec"].as_object_mut().unwrap().remove("f:replicas");
        mine["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"]
            .as_object_mut()
            .unwrap()
            .remove("f:image");
        let d = drift(
            &deployment(),
            &live(vec![
                entry("berth", "Apply", None, mine),
                entry(
                    "kubectl",
                    "Update",
                    Some("scale"),
                    json!({"f:spec": {"f:replicas": {}}}),
                ),
                entry(
                    "kubectl-edit",
                    "Update",
                    None,
                    json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"web\"}": {"f:image": {}}}}}}}),
                ),
            ]),
        );
        assert_eq!(
            paths(&d),
            [
                ("spec.replicas".into(), "kubectl".into()),
                (
                    "spec.template.spec.containers[name=web].image".into(),
                    "kubectl-edit".into()
                ),
            ]
        );
        assert_eq!(d[0].subresource.as_deref(), Some("scale"));
        assert_eq!(d[1].operation, "Update");
        assert_eq!(d[1].time.as_deref(), Some("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn status_writes_fields_berth_does_not_set_and_shared_fields_are_not_drift() {
        let d = drift(
            &deployment(),
            &live(vec![
                entry("berth", "Apply", None, berth_fields()),
                // A controller reporting status.
                entry(
                    "kube-controller-manager",
                    "Update",
                    Some("status"),
                    json!({"f:status": {"f:replicas": {}}}),
                ),
                // A controller writing what berth leaves out (an annotation, a defaulted field).
                entry(
                    "kube-controller-manager",
                    "Update",
                    None,
                    json!({"f:metadata": {"f:annotations": {
                    "f:deployment.kubernetes.io/revision": {}}}, "f:spec": {"f:strategy": {"f:type": {}}}}),
                ),
                // Another tool applying the same label value: shared ownership.
                entry(
                    "helm",
                    "Apply",
                    None,
                    json!({"f:metadata": {"f:labels": {"f:app.kubernetes.io/name": {}}}}),
                ),
                // A port's defaulted protocol, owned by someone else, under an item berth keeps.
                entry(
                    "other",
                    "Update",
                    None,
                    json!({"f:spec": {"f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"web\"}": {"f:ports": {"k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {"f:protocol": {}}}}}}}}}),
                ),
            ]),
        );
        assert_eq!(d, []);
    }

    #[test]
    fn an_hpa_owned_replicas_berth_dropped_is_not_drift() {
        // berth drops `replicas` from HPA targets (prepare), so it is not in what berth applied.
        let mut applied = deployment();
        applied["spec"].as_object_mut().unwrap().remove("replicas");
        let mut mine = berth_fields();
        mine["f:spec"].as_object_mut().unwrap().remove("f:replicas");
        let d = drift(
            &applied,
            &live(vec![
                entry("berth", "Apply", None, mine),
                entry(
                    "berth-initial-replicas",
                    "Apply",
                    None,
                    json!({"f:spec": {"f:replicas": {}}}),
                ),
                entry(
                    "kube-controller-manager",
                    "Update",
                    Some("scale"),
                    json!({"f:spec": {"f:replicas": {}}}),
                ),
            ]),
        );
        assert_eq!(d, []);
    }

    #[test]
    fn a_list_item_taken_as_a_whole_and_quoted_keys() {
        let mut mine = berth_fields();
        mine["f:spec"]["f:template"]["f:spec"]["f:containers"]
            .as_object_mut()
            .unwrap()
            .remove("k:{\"name\":\"side\"}");
        mine["f:metadata"]["f:labels"]
            .as_object_mut()
            .unwrap()
            .remove("f:app.kubernetes.io/name");
        let d = drift(
            &deployment(),
            &live(vec![
                entry("berth", "Apply", None, mine),
                entry(
                    "other",
                    "Apply",
                    None,
                    json!({"f:metadata": {"f:labels": {"f:app.kubernetes.io/name": {}}},
                    "f:spec": {"f:template": {"f:spec": {"f:containers": {
                    "k:{\"name\":\"side\"}": {".": {}, "f:name": {}, "f:image": {}}}}}}}),
                ),
            ]),
        );
        assert_eq!(
            paths(&d),
            [
                (
                    "metadata.labels[\"app.kubernetes.io/name\"]".into(),
                    "other".into()
                ),
                (
                    "spec.template.spec.containers[name=side]".into(),
                    "other".into()
                ),
                (
                    "spec.template.spec.containers[name=side].image".into(),
                    "other".into()
                ),
                (
                    "spec.template.spec.containers[name=side].name".into(),
                    "other".into()
                ),
            ]
        );
    }

    #[test]
    fn config_map_and_secret_keys() {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "data": {"mode": "fast", "extra": "x"}});
        let mut live_cm = cm.clone();
        live_cm["metadata"]["managedFields"] = json!([
            entry("berth", "Apply", None, json!({"f:data": {"f:extra": {}}})),
            entry(
                "kubectl-patch",
                "Update",
                None,
                json!({"f:data": {"f:mode": {}, "f:added": {}}})
            ),
        ]);
        assert_eq!(
            paths(&drift(&cm, &live_cm)),
            [("data.mode".into(), "kubectl-patch".into())]
        );

        // A stored Secret has no values: its live keys stand in.
        let stored = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}});
        let live_secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s",
            "managedFields": [
                entry("berth", "Apply", None, json!({"f:data": {"f:a": {}}})),
                entry("kubectl-edit", "Update", None, json!({"f:data": {"f:b": {}}})),
            ]}, "data": {"a": "eA==", "b": "eQ=="}});
        assert_eq!(
            paths(&drift(&stored, &live_secret)),
            [("data.b".into(), "kubectl-edit".into())]
        );
    }

    #[test]
    fn no_managed_fields_no_drift() {
        assert_eq!(drift(&deployment(), &deployment()), []);
        assert_eq!(drift(&deployment(), &Value::Null), []);
    }
}
