//! `ingress-no-address`: an Ingress of the stack has no address, because its IngressClass does
//! not exist, none is named and none is the default, or the class's controller has not acted.
//!
//! `ingress-backend`: an Ingress routes to a Service that does not exist in its namespace.

use berth_model::Severity;
use serde_json::Value;

use crate::diagnosis::{Diagnosis, EvidenceKind};
use crate::snapshot::{Ctx, arr, display, s};

pub(crate) const ID: &str = "ingress-no-address";
pub(crate) const ID_BACKEND: &str = "ingress-backend";

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Diagnosis>) {
    let classes = ctx.list("networking.k8s.io", "IngressClass");
    for o in ctx.stack.iter().filter(|o| o.kind() == "Ingress") {
        let Some(live) = ctx.live(o) else { continue };
        let ns = s(live, "/metadata/namespace");
        let name = s(live, "/metadata/name");
        // Backends: every rule path and the default backend.
        let mut backends: Vec<(String, &str)> = Vec::new();
        if let Some(svc) = live
            .pointer("/spec/defaultBackend/service/name")
            .and_then(Value::as_str)
        {
            backends.push(("/spec/defaultBackend/service/name".into(), svc));
        }
        for (i, rule) in arr(live, "/spec/rules").iter().enumerate() {
            for (j, path) in arr(rule, "/http/paths").iter().enumerate() {
                if let Some(svc) = path
                    .pointer("/backend/service/name")
                    .and_then(Value::as_str)
                {
                    backends.push((
                        format!("/spec/rules/{i}/http/paths/{j}/backend/service/name"),
                        svc,
                    ));
                }
            }
        }
        let mut seen = Vec::new();
        for (pointer, svc) in backends {
            if seen.contains(&svc) || ctx.get("", "Service", ns, svc).is_some() {
                continue;
            }
            seen.push(svc);
            out.push(
                Diagnosis::at(
                    ID_BACKEND,
                    Severity::Error,
                    o,
                    &pointer,
                    format!("Ingress `{name}` routes to Service `{svc}`, which does not exist in namespace `{ns}`"),
                    format!("add the Service `{svc}` to the stack in `{ns}`, or correct the backend's name"),
                )
                .with(EvidenceKind::State, format!("Service/{ns}/{svc}"), "not found"),
            );
        }
        if !arr(live, "/status/loadBalancer/ingress").is_empty() {
            continue;
        }
        let named = live
            .pointer("/spec/ingressClassName")
            .and_then(Value::as_str)
            .or_else(|| {
                live.pointer("/metadata/annotations/kubernetes.io~1ingress.class")
                    .and_then(Value::as_str)
            });
        let default = classes.iter().find(|c| {
            s(
                c,
                "/metadata/annotations/ingressclass.kubernetes.io~1is-default-class",
            ) == "true"
        });
        let all: Vec<&str> = classes.iter().map(|c| s(c, "/metadata/name")).collect();
        let all_text = if all.is_empty() {
            "the cluster has none".to_string()
        } else {
            all.join(", ")
        };
        let (pointer, cause, fix, severity) = match (named, default) {
            (Some(n), _) if !classes.iter().any(|c| s(c, "/metadata/name") == n) => (
                "/spec/ingressClassName",
                format!("Ingress `{name}` has no address: its IngressClass `{n}` does not exist"),
                format!(
                    "install the ingress controller that provides `{n}` (e.g. ingress-nginx as a component before this one), or use an existing class ({all_text})"
                ),
                Severity::Error,
            ),
            (None, None) => (
                "/spec",
                format!(
                    "Ingress `{name}` has no address: it names no IngressClass and none is the default"
                ),
                format!("set `spec.ingressClassName` (classes: {all_text})"),
                Severity::Error,
            ),
            (n, d) => {
                let cname = n.or(d.map(|c| s(c, "/metadata/name"))).unwrap_or("");
                let controller = classes
                    .iter()
                    .find(|c| s(c, "/metadata/name") == cname)
                    .map(|c| s(c, "/spec/controller"))
                    .unwrap_or("");
                (
                    "/spec/ingressClassName",
                    format!("Ingress `{name}` has no address yet: the controller `{controller}` of IngressClass `{cname}` has not given it one"),
                    "check that the ingress controller runs and has a load balancer (its own Service)".to_string(),
                    Severity::Warning,
                )
            }
        };
        out.push(Diagnosis::at(ID, severity, o, pointer, cause, fix).with(
            EvidenceKind::State,
            display(live),
            "status.loadBalancer is empty",
        ));
    }
}
