//! `crd-missing`: a stack object is of a kind the API does not serve: its
//! CustomResourceDefinition is not installed (or not yet). `crd-not-established`: the CRD is
//! there but not Established (its names clash with another CRD, or it is still installing),
//! so its objects cannot be created. `api-not-served`: a stack object uses a built-in group's
//! apiVersion the cluster does not serve (removed, like `autoscaling/v2beta2` since 1.26), which
//! no CRD can fix.

use berth_model::Severity;
use serde_json::Value;

use crate::diagnosis::{Diagnosis, EvidenceKind};
use crate::snapshot::{Ctx, arr, display, s};

pub(crate) const ID: &str = "crd-missing";
pub(crate) const ID_NOT_ESTABLISHED: &str = "crd-not-established";
pub(crate) const ID_API: &str = "api-not-served";

/// Groups of Kubernetes itself: the core group, the unqualified ones (`apps`, `batch`, ...) and
/// `*.k8s.io` (except `x-k8s.io` projects, which ship CRDs).
fn built_in(group: &str) -> bool {
    group.is_empty()
        || !group.contains('.')
        || (group.ends_with(".k8s.io") && !group.ends_with(".x-k8s.io"))
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Diagnosis>) {
    let crds = ctx.list("apiextensions.k8s.io", "CustomResourceDefinition");
    let crd_for = |group: &str, kind: &str| -> Option<&Value> {
        crds.iter()
            .copied()
            .find(|c| s(c, "/spec/group") == group && s(c, "/spec/names/kind") == kind)
    };
    let mut seen = Vec::new();
    for o in ctx.stack {
        let gk = format!("{}/{}", o.group(), o.kind());
        if !ctx.snapshot.unserved.contains(&gk) || seen.contains(&gk) {
            continue;
        }
        seen.push(gk.clone());
        if built_in(o.group()) {
            out.push(
                Diagnosis::at(
                    ID_API,
                    Severity::Error,
                    o,
                    "/apiVersion",
                    format!("the cluster does not serve {} {}: that API version was removed or never existed", o.api_version(), o.kind()),
                    format!("use the API version the cluster serves for {} (`kubectl api-resources` lists them; `berth check` names the replacement)", o.kind()),
                )
                .with(EvidenceKind::State, "API discovery", format!("no resource for {} {}", o.api_version(), o.kind())),
            );
            continue;
        }
        match crd_for(o.group(), o.kind()) {
            Some(crd) => {
                let health = berth_health::status(crd);
                let crd_name = s(crd, "/metadata/name");
                // The fix belongs in the CRD's names when the stack defines it; otherwise the
                // custom resource is what the user can point at.
                let own = ctx
                    .stack
                    .iter()
                    .find(|c| c.kind() == "CustomResourceDefinition" && c.name() == crd_name);
                let mut d = match own {
                    Some(c) => Diagnosis::at(
                        ID_NOT_ESTABLISHED,
                        Severity::Error,
                        c,
                        "/spec/names",
                        format!(
                            "the CRD `{crd_name}` is not established, so {} `{}` cannot be applied: {}",
                            o.kind(),
                            o.name(),
                            health.message
                        ),
                        "rename what clashes with another CRD of the group (kind, plural, singular, short names, list kind), then run `berth up` again".to_string(),
                    ),
                    None => Diagnosis::at(
                        ID_NOT_ESTABLISHED,
                        Severity::Error,
                        o,
                        "/kind",
                        format!("the CRD `{crd_name}` for {} is not established: {}", o.kind(), health.message),
                        "fix the CRD's names if they clash with another CRD; otherwise wait for it to be established before applying its objects".to_string(),
                    ),
                };
                for c in arr(crd, "/status/conditions") {
                    d = d.with(
                        EvidenceKind::Condition,
                        display(crd),
                        format!(
                            "{}={} {}: {}",
                            s(c, "/type"),
                            s(c, "/status"),
                            s(c, "/reason"),
                            s(c, "/message")
                        ),
                    );
                }
                out.push(d);
            }
            None => {
                let in_stack = ctx.stack.iter().any(|c| {
                    c.kind() == "CustomResourceDefinition"
                        && s(&c.value, "/spec/group") == o.group()
                        && s(&c.value, "/spec/names/kind") == o.kind()
                });
                let fix = if in_stack {
                    "the stack defines the CRD but it is not in the cluster: run `berth up`, which applies CRDs first".to_string()
                } else {
                    format!(
                        "install the CRD that defines {} in group `{}` (usually the operator's chart) in a component this one comes after",
                        o.kind(),
                        o.group()
                    )
                };
                out.push(
                    Diagnosis::at(
                        ID,
                        Severity::Error,
                        o,
                        "/apiVersion",
                        format!(
                            "the cluster does not serve {} ({}): its CRD is missing",
                            o.kind(),
                            o.api_version()
                        ),
                        fix,
                    )
                    .with(
                        EvidenceKind::State,
                        "API discovery",
                        format!("no resource for {gk}"),
                    ),
                );
            }
        }
    }
}
