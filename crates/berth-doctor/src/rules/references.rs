//! `missing-reference`: a pod template uses a Secret, ConfigMap (or one of their keys),
//! PersistentVolumeClaim or ServiceAccount that the live cluster does not have in the pod's
//! namespace. Checked against the API itself, not the manifests, so objects created by hand
//! (or forgotten) count as they really are. When an object of that name exists in another
//! namespace, the diagnosis says so: Secrets are namespaced, and a Secret applied to the wrong
//! namespace is a classic (the Boomi Flow README's).

use berth_model::{Object, Severity};
use serde_json::Value;

use crate::diagnosis::{Diagnosis, EvidenceKind};
use crate::snapshot::{Ctx, arr, display, event_text, s};
use crate::template::{containers, pod_spec};

pub(crate) const ID: &str = "missing-reference";

/// One reference from a pod template to another object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ref {
    pub kind: &'static str,
    pub name: String,
    pub key: Option<String>,
    pub optional: bool,
    /// Pointer into the stack object where the reference is written.
    pub pointer: String,
}

fn optional(v: &Value) -> bool {
    v.get("optional").and_then(Value::as_bool).unwrap_or(false)
}

/// Every reference a stack object's pod template makes.
pub(crate) fn refs(o: &Object) -> Vec<Ref> {
    let Some((base, spec)) = pod_spec(o) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut push = |kind, name: &str, key: Option<&str>, optional, pointer: String| {
        if !name.is_empty() {
            out.push(Ref {
                kind,
                name: name.to_string(),
                key: key.map(str::to_string),
                optional,
                pointer,
            });
        }
    };
    for (cp, c) in containers(spec) {
        for (j, e) in arr(c, "/env").iter().enumerate() {
            for (field, kind) in [("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")] {
                if let Some(r) = e.pointer(&format!("/valueFrom/{field}")) {
                    let p = format!("{base}{cp}/env/{j}/valueFrom/{field}/name");
                    push(kind, s(r, "/name"), Some(s(r, "/key")), optional(r), p);
                }
            }
        }
        for (j, e) in arr(c, "/envFrom").iter().enumerate() {
            for (field, kind) in [("secretRef", "Secret"), ("configMapRef", "ConfigMap")] {
                if let Some(r) = e.get(field) {
                    push(
                        kind,
                        s(r, "/name"),
                        None,
                        optional(r),
                        format!("{base}{cp}/envFrom/{j}/{field}/name"),
                    );
                }
            }
        }
    }
    for (v, vol) in arr(spec, "/volumes").iter().enumerate() {
        let vp = format!("{base}/volumes/{v}");
        if let Some(r) = vol.get("secret") {
            push_items(
                &mut push,
                "Secret",
                s(r, "/secretName"),
                r,
                format!("{vp}/secret/secretName"),
            );
        }
        if let Some(r) = vol.get("configMap") {
            push_items(
                &mut push,
                "ConfigMap",
                s(r, "/name"),
                r,
                format!("{vp}/configMap/name"),
            );
        }
        for (k, src) in arr(vol, "/projected/sources").iter().enumerate() {
            for (field, kind) in [("secret", "Secret"), ("configMap", "ConfigMap")] {
                if let Some(r) = src.get(field) {
                    push_items(
                        &mut push,
                        kind,
                        s(r, "/name"),
                        r,
                        format!("{vp}/projected/sources/{k}/{field}/name"),
                    );
                }
            }
        }
        if let Some(r) = vol.get("persistentVolumeClaim") {
            push(
                "PersistentVolumeClaim",
                s(r, "/claimName"),
                None,
                false,
                format!("{vp}/persistentVolumeClaim/claimName"),
            );
        }
    }
    let sa = [
        ("/serviceAccountName", "serviceAccountName"),
        ("/serviceAccount", "serviceAccount"),
    ]
    .into_iter()
    .find(|(p, _)| !s(spec, p).is_empty());
    if let Some((p, field)) = sa {
        push(
            "ServiceAccount",
            s(spec, p),
            None,
            false,
            format!("{base}/{field}"),
        );
    }
    out
}

/// A Secret/ConfigMap volume: the object, and each key its `items` project.
fn push_items(
    push: &mut impl FnMut(&'static str, &str, Option<&str>, bool, String),
    kind: &'static str,
    name: &str,
    r: &Value,
    pointer: String,
) {
    push(kind, name, None, optional(r), pointer.clone());
    for item in arr(r, "/items") {
        push(
            kind,
            name,
            Some(s(item, "/key")),
            optional(r),
            pointer.clone(),
        );
    }
}

/// Namespaces other than `ns` that have a `kind` called `name`.
pub(crate) fn elsewhere<'a>(ctx: &Ctx<'a>, kind: &str, name: &str, ns: &str) -> Vec<&'a str> {
    let mut out: Vec<&str> = ctx
        .list("", kind)
        .iter()
        .filter(|v| s(v, "/metadata/name") == name && s(v, "/metadata/namespace") != ns)
        .map(|v| s(v, "/metadata/namespace"))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Does the live Secret/ConfigMap have `key`?
fn has_key(v: &Value, key: &str) -> bool {
    ["data", "binaryData"]
        .iter()
        .any(|f| v.get(f).and_then(|d| d.get(key)).is_some())
}

/// The diagnosis for a reference that does not resolve in `ns`, or `None` when it does.
pub(crate) fn resolve(ctx: &Ctx<'_>, o: &Object, ns: &str, r: &Ref) -> Option<Diagnosis> {
    if r.optional {
        return None;
    }
    let topic = format!("{}/{ns}/{}", r.kind, r.name);
    let what = format!("{} `{}`", r.kind, r.name);
    match ctx.get("", r.kind, ns, &r.name) {
        Some(live) => {
            let key = r.key.as_deref().filter(|k| !k.is_empty())?;
            if matches!(r.kind, "Secret" | "ConfigMap") && !has_key(live, key) {
                let keys: Vec<&str> = ["data", "binaryData"]
                    .iter()
                    .filter_map(|f| live.get(f).and_then(Value::as_object))
                    .flat_map(|m| m.keys().map(String::as_str))
                    .collect();
                let cause = format!("{what} in namespace `{ns}` has no key `{key}`");
                let fix = format!("add the key `{key}` to {what}, or use one of the keys it has");
                return Some(
                    Diagnosis::at(ID, Severity::Error, o, &r.pointer, cause, fix)
                        .with(
                            EvidenceKind::State,
                            format!("{}/{ns}/{}", r.kind, r.name),
                            format!(
                                "keys: {}",
                                if keys.is_empty() {
                                    "(none)".to_string()
                                } else {
                                    keys.join(", ")
                                }
                            ),
                        )
                        .topic(format!("{topic}#{key}")),
                );
            }
            None
        }
        None => {
            let other = if r.kind == "Secret" || r.kind == "ConfigMap" {
                elsewhere(ctx, r.kind, &r.name, ns)
            } else {
                Vec::new()
            };
            let severity = Severity::Error;
            let (cause, fix) = if other.is_empty() {
                (
                    format!("{what} does not exist in namespace `{ns}`"),
                    match r.kind {
                        "Secret" => format!(
                            "create the Secret `{}` in `{ns}` (declare it under `secrets:` in berth.yaml so berth builds it), or add it to `external:` if something else provides it",
                            r.name
                        ),
                        "ServiceAccount" => {
                            format!("add a ServiceAccount `{}` to the stack in `{ns}`", r.name)
                        }
                        "PersistentVolumeClaim" => format!(
                            "add the PersistentVolumeClaim `{}` to the stack in `{ns}`, or use a volumeClaimTemplate",
                            r.name
                        ),
                        _ => format!("add the {} `{}` to the stack in `{ns}`", r.kind, r.name),
                    },
                )
            } else {
                (
                    format!(
                        "{what} does not exist in namespace `{ns}`, but one of that name exists in namespace `{}`",
                        other.join("`, `")
                    ),
                    format!(
                        "{} objects are namespaced: create `{}` in `{ns}` (for a stack secret, `namespaces: [{ns}]`), or move the workload",
                        r.kind, r.name
                    ),
                )
            };
            let mut d = Diagnosis::at(ID, severity, o, &r.pointer, cause, fix).topic(topic);
            d = d.with(
                EvidenceKind::State,
                format!("{}/{ns}/{}", r.kind, r.name),
                "not found",
            );
            if let Some((who, e)) = failed_create(ctx, o, ns, &r.name) {
                d = d.with(EvidenceKind::Event, who, event_text(e));
            }
            Some(d)
        }
    }
}

/// The latest `FailedCreate` event naming `name` on a controller of `o` (its ReplicaSets, or
/// itself for a StatefulSet, DaemonSet or Job): the API refusing to create its pods (a missing
/// ServiceAccount is refused at admission, so no pod ever exists to report it).
fn failed_create<'a>(
    ctx: &Ctx<'a>,
    o: &Object,
    ns: &'a str,
    name: &str,
) -> Option<(String, &'a Value)> {
    let mut found: Option<(String, &Value)> = None;
    for (group, kind) in [
        ("apps", "ReplicaSet"),
        ("apps", "StatefulSet"),
        ("apps", "DaemonSet"),
        ("batch", "Job"),
    ] {
        for v in ctx.list_in(group, kind, ns) {
            if !ctx.owner(v).is_some_and(|w| std::ptr::eq(w, o)) {
                continue;
            }
            let hit = ctx
                .events(kind, ns, s(v, "/metadata/name"))
                .into_iter()
                .rev()
                .find(|e| s(e, "/reason") == "FailedCreate" && event_text(e).contains(name));
            if let Some(e) = hit {
                found = Some((display(v), e));
            }
        }
    }
    found
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Diagnosis>) {
    for o in ctx.stack {
        let Some(ns) = o.namespace() else { continue };
        let mut seen = Vec::new();
        for r in refs(o) {
            if seen.contains(&(r.kind, r.name.clone(), r.key.clone())) {
                continue;
            }
            seen.push((r.kind, r.name.clone(), r.key.clone()));
            if let Some(d) = resolve(ctx, o, ns, &r) {
                out.push(d);
            }
        }
    }
}
