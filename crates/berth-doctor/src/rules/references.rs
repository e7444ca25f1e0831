//! `missing-reference`: a pod template uses a Secret, ConfigMap (or one of their keys),
//! PersistentVolumeClaim or ServiceAccount that the live cluster does not have in the pod's
//! namespace. Checked against the API itself, not the manifests, so objects created by hand
//! (or forgotten) count as they really are. When an object of that name exists in another
//! namespace, the diagnosis says so: Secrets are namespaced, and a Secret applied to the wrong
//! namespace is a classic (the Boomi Flow README's).

use berth_model::refs::{Ref, pod_spec_references};
use berth_model::{Object, Severity};
use serde_json::Value;

use crate::diagnosis::{Diagnosis, EvidenceKind};
use crate::snapshot::{Ctx, display, event_text, s};

pub(crate) const ID: &str = "missing-reference";

/// The references of a stack object's pods (see [`berth_model::refs`]) that this diagnosis
/// looks up in the cluster: Secrets and ConfigMaps (and their keys), claims and the
/// ServiceAccount. Not pull secrets (a failed pull is `image-pull`'s), nor classes (refused at
/// admission, reported by the controller's `FailedCreate`). Listed in the order the kubelet
/// meets them: init containers' env, containers' env, volumes, then the account.
pub(crate) fn refs(o: &Object) -> Vec<Ref> {
    let mut refs: Vec<Ref> = pod_spec_references(o.kind(), o.namespace(), &o.value)
        .into_iter()
        .filter(|r| {
            matches!(
                r.kind.as_str(),
                "Secret" | "ConfigMap" | "PersistentVolumeClaim" | "ServiceAccount"
            ) && !r.pointer.contains("/imagePullSecrets/")
        })
        .collect();
    let rank = |r: &Ref| {
        [
            "/initContainers/",
            "/containers/",
            "/ephemeralContainers/",
            "/volumes/",
        ]
        .iter()
        .position(|part| r.pointer.contains(part))
        .unwrap_or(4)
    };
    refs.sort_by_key(rank);
    refs
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
    let kind = r.kind.as_str();
    match ctx.get("", kind, ns, &r.name) {
        Some(live) => {
            let key = r.key.as_deref().filter(|k| !k.is_empty())?;
            if matches!(kind, "Secret" | "ConfigMap") && !has_key(live, key) {
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
            let other = if kind == "Secret" || kind == "ConfigMap" {
                elsewhere(ctx, kind, &r.name, ns)
            } else {
                Vec::new()
            };
            let severity = Severity::Error;
            let (cause, fix) = if other.is_empty() {
                (
                    format!("{what} does not exist in namespace `{ns}`"),
                    match kind {
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
            if seen.contains(&(r.kind.clone(), r.name.clone(), r.key.clone())) {
                continue;
            }
            seen.push((r.kind.clone(), r.name.clone(), r.key.clone()));
            if let Some(d) = resolve(ctx, o, ns, &r) {
                out.push(d);
            }
        }
    }
}
