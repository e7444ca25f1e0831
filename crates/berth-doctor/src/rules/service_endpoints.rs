//! `service-no-endpoints`: a Service of the stack has no ready endpoint, so every connection to
//! it fails. Either its selector matches no pod (a label typo; the diagnosis shows the labels
//! the namespace's pods really have), or the matching pods are not ready.
//!
//! `service-port`: a Service port's `targetPort` names a port that no container of the matching
//! pods declares, so that port has no endpoints even when the pods are ready.

use berth_model::Severity;
use berth_model::labels::Selector;
use serde_json::Value;

use crate::diagnosis::{Diagnosis, EvidenceKind};
use crate::snapshot::{Ctx, arr, display, s};

pub(crate) const ID: &str = "service-no-endpoints";
pub(crate) const ID_PORT: &str = "service-port";

/// True when an EndpointSlice of the Service has a ready endpoint.
fn has_ready_endpoint(ctx: &Ctx<'_>, ns: &str, name: &str) -> bool {
    ctx.list("discovery.k8s.io", "EndpointSlice")
        .iter()
        .any(|es| {
            s(es, "/metadata/namespace") == ns
                && s(es, "/metadata/labels/kubernetes.io~1service-name") == name
                && arr(es, "/endpoints")
                    .iter()
                    .any(|e| e.pointer("/conditions/ready").and_then(Value::as_bool) != Some(false))
        })
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Diagnosis>) {
    for o in ctx
        .stack
        .iter()
        .filter(|o| o.kind() == "Service" && o.group().is_empty())
    {
        let Some(live) = ctx.live(o) else { continue };
        let ns = s(live, "/metadata/namespace");
        let name = s(live, "/metadata/name");
        let selector = live.pointer("/spec/selector").unwrap_or(&Value::Null);
        if s(live, "/spec/type") == "ExternalName"
            || selector.as_object().is_none_or(|m| m.is_empty())
        {
            continue;
        }
        let Some(by_labels) = Selector::of("Service", live) else {
            continue;
        };
        let pods = ctx.pods_matching(ns, by_labels);
        let sel_text = selector
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        // Named target ports must exist on the pods that match.
        for (i, port) in arr(live, "/spec/ports").iter().enumerate() {
            let Some(target) = port.get("targetPort").and_then(Value::as_str) else {
                continue;
            };
            if pods.is_empty() {
                break;
            }
            let declared = pods.iter().any(|p| {
                berth_model::pod_spec::containers(p.get("spec").unwrap_or(&Value::Null))
                    .flat_map(|(_, c)| arr(c, "/ports"))
                    .any(|cp| s(cp, "/name") == target)
            });
            if !declared {
                let names: Vec<&str> = pods
                    .iter()
                    .flat_map(|p| {
                        berth_model::pod_spec::containers(p.get("spec").unwrap_or(&Value::Null))
                            .flat_map(|(_, c)| arr(c, "/ports"))
                    })
                    .map(|cp| s(cp, "/name"))
                    .filter(|n| !n.is_empty())
                    .collect();
                let mut names = names;
                names.sort_unstable();
                names.dedup();
                // People know a port by its name, else its number.
                let port_name = match s(port, "/name") {
                    "" => port
                        .get("port")
                        .map(Value::to_string)
                        .unwrap_or_else(|| i.to_string()),
                    n => n.to_string(),
                };
                let cause = format!(
                    "port `{port_name}` of Service `{name}` targets the port name `{target}`, which no container of its pods declares"
                );
                let fix = format!(
                    "name the container port `{target}` or set `targetPort` to a port the pods declare ({})",
                    if names.is_empty() {
                        "they declare no named ports".to_string()
                    } else {
                        names.join(", ")
                    }
                );
                out.push(
                    Diagnosis::at(
                        ID_PORT,
                        Severity::Error,
                        o,
                        &format!("/spec/ports/{i}/targetPort"),
                        cause,
                        fix,
                    )
                    .with(
                        EvidenceKind::State,
                        display(pods[0]),
                        format!(
                            "declared port names: {}",
                            if names.is_empty() {
                                "(none)".into()
                            } else {
                                names.join(", ")
                            }
                        ),
                    ),
                );
            }
        }
        if has_ready_endpoint(ctx, ns, name) {
            continue;
        }
        if pods.is_empty() {
            let keys: Vec<&String> = selector
                .as_object()
                .map(|m| m.keys().collect())
                .unwrap_or_default();
            let mut seen: Vec<String> = ctx
                .list_in("", "Pod", ns)
                .map(|p| {
                    keys.iter()
                        .filter_map(|k| {
                            p.pointer("/metadata/labels")
                                .and_then(|l| l.get(k.as_str()))
                                .and_then(Value::as_str)
                                .map(|v| format!("{k}={v}"))
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .filter(|l| !l.is_empty())
                .collect();
            seen.sort();
            seen.dedup();
            let cause = format!(
                "Service `{name}` selects pods with `{sel_text}`, and no pod in namespace `{ns}` has those labels"
            );
            let fix = "make the Service's selector match the labels of the pod template it should route to".to_string();
            let mut d = Diagnosis::at(ID, Severity::Error, o, "/spec/selector", cause, fix);
            d = d.with(
                EvidenceKind::State,
                format!("Namespace/{ns}"),
                if seen.is_empty() {
                    "no pod has any of the selector's label keys".to_string()
                } else {
                    format!("pods have: {}", seen.join("; "))
                },
            );
            out.push(d);
        } else if pods
            .iter()
            .all(|p| berth_health::status(p).is_current() || berth_health::pod_problem(p).is_some())
        {
            // Every pod that is not ready has a fail-fast problem, diagnosed for its workload:
            // the Service's missing endpoints are only that problem's symptom.
            continue;
        } else {
            let not_ready: Vec<&str> = pods
                .iter()
                .filter(|p| !berth_health::status(p).is_current())
                .map(|p| s(p, "/metadata/name"))
                .collect();
            let cause = format!(
                "Service `{name}` has no ready endpoint: {} of its {} pods are not ready",
                not_ready.len(),
                pods.len()
            );
            let fix = "make the pods ready (see the diagnoses of the workload they belong to)"
                .to_string();
            let mut d = Diagnosis::at(ID, Severity::Error, o, "/spec/selector", cause, fix);
            for p in pods.iter().take(3) {
                d = d.with(
                    EvidenceKind::Condition,
                    display(p),
                    berth_health::status(p).message,
                );
            }
            out.push(d);
        }
    }
}
