//! `hpa-cannot-scale`: a HorizontalPodAutoscaler of the stack cannot do its job: its scale
//! target does not exist, the metrics API it reads (metrics-server's `v1beta1.metrics.k8s.io`)
//! is not there or not available, or the target's containers have no request for the resource
//! it scales on (utilisation is a percentage of the request). The HPA's own `ScalingActive` /
//! `AbleToScale` conditions are quoted as evidence.

use berth_model::pod_spec::{self, containers};
use berth_model::{Severity, group_of};
use serde_json::Value;

use crate::diagnosis::{Diagnosis, EvidenceKind};
use crate::snapshot::{Ctx, arr, display, s};

pub(crate) const ID: &str = "hpa-cannot-scale";

/// Resources the HPA scales on by utilisation/average value of pod resources.
fn resource_metrics(hpa: &Value) -> Vec<String> {
    let mut out: Vec<String> = arr(hpa, "/spec/metrics")
        .iter()
        .filter_map(|m| match s(m, "/type") {
            "Resource" => Some(s(m, "/resource/name").to_string()),
            "ContainerResource" => Some(s(m, "/containerResource/name").to_string()),
            _ => None,
        })
        .collect();
    if hpa
        .pointer("/spec/targetCPUUtilizationPercentage")
        .is_some()
    {
        out.push("cpu".into());
    }
    out
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Diagnosis>) {
    let metrics_api = ctx.get(
        "apiregistration.k8s.io",
        "APIService",
        "",
        "v1beta1.metrics.k8s.io",
    );
    let metrics_ok = metrics_api.is_some_and(|a| {
        arr(a, "/status/conditions")
            .iter()
            .any(|c| s(c, "/type") == "Available" && s(c, "/status") == "True")
    });
    for o in ctx
        .stack
        .iter()
        .filter(|o| o.kind() == "HorizontalPodAutoscaler")
    {
        // An HPA the cluster does not have scales nothing yet (`not-found`, `api-not-served`).
        let Some(hpa) = ctx.live(o) else { continue };
        let ns = o.namespace().unwrap_or("");
        let subject = display(hpa);
        let conditions: Vec<String> = arr(hpa, "/status/conditions")
            .iter()
            .filter(|c| s(c, "/status") == "False")
            .map(|c| {
                format!(
                    "{}=False {}: {}",
                    s(c, "/type"),
                    s(c, "/reason"),
                    s(c, "/message")
                )
            })
            .collect();
        let with_conditions = |mut d: Diagnosis| {
            for c in &conditions {
                d = d.with(EvidenceKind::Condition, subject.clone(), c.clone());
            }
            d
        };
        let target_kind = s(hpa, "/spec/scaleTargetRef/kind");
        let target_name = s(hpa, "/spec/scaleTargetRef/name");
        let target_group = group_of(s(hpa, "/spec/scaleTargetRef/apiVersion"));
        let target = ctx.get(target_group, target_kind, ns, target_name);
        let Some(target) = target else {
            let cause = format!(
                "HPA `{}` scales {target_kind} `{target_name}` ({}), which does not exist in namespace `{ns}`",
                o.name(),
                s(hpa, "/spec/scaleTargetRef/apiVersion")
            );
            let fix = "point `scaleTargetRef` at the workload's real apiVersion, kind and name"
                .to_string();
            out.push(with_conditions(Diagnosis::at(
                ID,
                Severity::Error,
                o,
                "/spec/scaleTargetRef",
                cause,
                fix,
            )));
            continue;
        };
        let resources = resource_metrics(hpa);
        if resources.is_empty() {
            continue;
        }
        if !metrics_ok {
            let why = if metrics_api.is_none() {
                "is not installed"
            } else {
                "is not available"
            };
            let cause = format!(
                "HPA `{}` scales on {} but the metrics API (v1beta1.metrics.k8s.io) {why}",
                o.name(),
                resources.join(" and ")
            );
            let fix = "install metrics-server (as a component the HPA's component comes after)"
                .to_string();
            out.push(with_conditions(Diagnosis::at(
                ID,
                Severity::Error,
                o,
                "/spec/metrics",
                cause,
                fix,
            )));
            continue;
        }
        // Requests: read the target's template (the live one, which is what the HPA reads).
        let spec = pod_spec::spec_pointer(target_kind).and_then(|p| target.pointer(p));
        let Some(spec) = spec else { continue };
        for resource in &resources {
            let missing: Vec<&str> = containers(spec)
                .filter(|(p, _)| p.starts_with("/containers"))
                .filter(|(_, c)| {
                    c.pointer(&format!("/resources/requests/{resource}"))
                        .is_none()
                })
                .map(|(_, c)| s(c, "/name"))
                .collect();
            if missing.is_empty() {
                continue;
            }
            let cause = format!(
                "HPA `{}` scales on {resource} utilisation, but container(s) `{}` of {target_kind} `{target_name}` have no {resource} request",
                o.name(),
                missing.join("`, `")
            );
            let fix = format!(
                "set `resources.requests.{resource}` on every container of {target_kind} `{target_name}`"
            );
            // Point at the target's containers when the target is in the stack.
            let target_obj = ctx.stack.iter().find(|t| {
                t.kind() == target_kind && t.name() == target_name && t.namespace() == Some(ns)
            });
            let d = match target_obj {
                Some(t) => {
                    let p = crate::template::container_pointer(t, missing[0])
                        .map(|p| format!("{p}/resources"))
                        .unwrap_or_default();
                    Diagnosis::at(ID, Severity::Error, t, &p, cause, fix)
                }
                None => Diagnosis::at(ID, Severity::Error, o, "/spec/metrics", cause, fix),
            };
            out.push(with_conditions(
                d.topic(format!("{}#{resource}", o.display_name())),
            ));
        }
    }
}
