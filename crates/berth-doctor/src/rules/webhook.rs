//! `webhook-no-endpoints`: an admission webhook calls a Service that does not exist or has no
//! ready endpoint. With `failurePolicy: Fail` every create or update it intercepts is refused,
//! which looks like the API server rejecting the stack for no reason; with `Ignore` the webhook
//! silently does nothing. Checked for the stack's own webhook configurations and for every
//! other webhook whose rules intercept a kind the stack has.

use berth_model::Severity;
use serde_json::Value;

use crate::diagnosis::{Diagnosis, EvidenceKind};
use crate::snapshot::{Ctx, arr, display, s};

pub(crate) const ID: &str = "webhook-no-endpoints";

fn ready(ctx: &Ctx<'_>, ns: &str, name: &str) -> bool {
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

/// True when one of the webhook's rules matches the group and kind of a stack object. Rules
/// name plural resources; a kind matches a resource that starts with its lowercase name
/// (`Deployment` → `deployments`), which is how plurals are formed for all but a few kinds.
fn intercepts_stack(ctx: &Ctx<'_>, webhook: &Value) -> bool {
    let strs = |v: &Value, p: &str| -> Vec<String> {
        arr(v, p)
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect()
    };
    arr(webhook, "/rules").iter().any(|rule| {
        let groups = strs(rule, "/apiGroups");
        let resources = strs(rule, "/resources");
        ctx.stack.iter().any(|o| {
            let kind = o.kind().to_lowercase();
            groups.iter().any(|g| g == "*" || g == o.group())
                && resources
                    .iter()
                    .any(|r| r == "*" || r.split('/').next().is_some_and(|r| r.starts_with(&kind)))
        })
    })
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Diagnosis>) {
    let configs = ctx
        .list(
            "admissionregistration.k8s.io",
            "ValidatingWebhookConfiguration",
        )
        .iter()
        .chain(ctx.list(
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration",
        ));
    for cfg in configs {
        let in_stack = ctx.owner(cfg);
        for (i, w) in arr(cfg, "/webhooks").iter().enumerate() {
            if in_stack.is_none() && !intercepts_stack(ctx, w) {
                continue;
            }
            let Some(svc) = w.pointer("/clientConfig/service") else {
                continue;
            };
            let (ns, name) = (s(svc, "/namespace"), s(svc, "/name"));
            let exists = ctx.get("", "Service", ns, name).is_some();
            if exists && ready(ctx, ns, name) {
                continue;
            }
            let fail = s(w, "/failurePolicy") != "Ignore";
            let what = if exists {
                "has no ready endpoint"
            } else {
                "does not exist"
            };
            let effect = if fail {
                "every request it intercepts is refused (failurePolicy Fail)"
            } else {
                "it is skipped silently (failurePolicy Ignore)"
            };
            let cause = format!(
                "admission webhook `{}` calls Service `{ns}/{name}`, which {what}: {effect}",
                s(w, "/name")
            );
            let fix = "start the webhook's backend (its Deployment) before anything it intercepts, or remove the webhook configuration if its backend is gone".to_string();
            let severity = if fail {
                Severity::Error
            } else {
                Severity::Warning
            };
            let d = match in_stack {
                Some(o) => Diagnosis::at(
                    ID,
                    severity,
                    o,
                    &format!("/webhooks/{i}/clientConfig/service"),
                    cause,
                    fix,
                ),
                None => Diagnosis::live(ID, severity, display(cfg), cause, fix),
            };
            out.push(d.with(EvidenceKind::State, format!("Service/{ns}/{name}"), what));
        }
    }
}
