//! `api-removed`: apiVersions the target Kubernetes version no longer serves (errors), and
//! deprecated ones it still serves but a later version removes (warnings).
//!
//! The knowledge is one table, [`LIFECYCLE`] (the Kubernetes deprecation guide, with the rows
//! Pluto's `versions.yaml` adds through 1.36), backed by the embedded schemas: an apiVersion an
//! older embedded version served and the target does not is removed even without a row.

use berth_model::{Object, Severity, group_of};

use super::{Out, Rule};
use crate::context::Context;
use crate::schemas::{self, SchemaSet};

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "api-removed",
    severity: Severity::Error,
    summary: "apiVersions removed by the target version (autoscaling/v2beta2, extensions/v1beta1, ...) or deprecated in it",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Finds objects whose `apiVersion` the stack's target Kubernetes version (`kubernetes:` in
berth.yaml) no longer serves, such as `autoscaling/v2beta2` HorizontalPodAutoscalers (removed in
1.26), `extensions/v1beta1` Ingresses and Deployments, `apps/v1beta1`, `policy/v1beta1`,
`batch/v1beta1` CronJobs, `flowcontrol.apiserver.k8s.io/v1beta3` (1.32) or `resource.k8s.io/v1beta1`
(1.36): those are errors. An `apiVersion` the target still serves but has deprecated is a
warning that names the version removing it (`resource.k8s.io/v1beta1` with target 1.35). It also
checks the `apiVersion` an HPA's `scaleTargetRef` names.

## Why is this bad?
The API server rejects a removed version (`no matches for kind ... in version ...`), so the
apply fails halfway through the stack. Old tutorials and vendor READMEs are full of these, and
`kubectl apply --validate=false` does not help: validation is not what fails. A deprecated
version works today and breaks the stack on the cluster upgrade that removes it, usually long
after the manifest was written.

## Example
```yaml
apiVersion: autoscaling/v2beta2
kind: HorizontalPodAutoscaler
spec:
  scaleTargetRef:
    apiVersion: apps/v1beta1
    kind: StatefulSet
```

## Fix
Use the replacement the message names (`autoscaling/v2`, `apps/v1`, `networking.k8s.io/v1`,
...). Some replacements changed fields too: an `networking.k8s.io/v1` Ingress backend is
`service: {name, port: {number}}` instead of `serviceName`/`servicePort`; `berth check` then
reports the remaining differences under `schema`.
";

/// One apiVersion (of one kind, or of every kind it served) on its way out of Kubernetes.
struct Lifecycle {
    api_version: &'static str,
    /// The kind (its `…List` too), or `*` for every kind the version served when it was removed.
    /// A `*` row gives way to the schemas: old beta versions gain new kinds
    /// (`networking.k8s.io/v1beta1` IPAddress in 1.31), and a kind the target serves is not
    /// removed. Rows that name their kind hold even when the target's OpenAPI still lists the
    /// kind: the embedded 1.36 and 1.37 schemas keep `resource.k8s.io/v1beta1`, which Pluto's
    /// table has removed in 1.36.
    kind: &'static str,
    /// The minor that deprecated it (alpha versions, which Kubernetes drops without a
    /// deprecation period: the minor that first served the replacement); 0 when no release is
    /// recorded, for versions removed before berth's oldest target (1.25).
    deprecated_in: u32,
    /// The first minor that no longer serves it.
    removed_in: u32,
    /// The apiVersion to use instead, or "" when the kind itself went away.
    replacement: &'static str,
}

const fn row(
    api_version: &'static str,
    kind: &'static str,
    deprecated_in: u32,
    removed_in: u32,
    replacement: &'static str,
) -> Lifecycle {
    Lifecycle {
        api_version,
        kind,
        deprecated_in,
        removed_in,
        replacement,
    }
}

/// Deprecated and removed built-in apiVersions through Kubernetes 1.36. For one apiVersion,
/// rows naming a kind come before its `*` row (the first match counts).
#[rustfmt::skip]
const LIFECYCLE: &[Lifecycle] = &[
    // Removed in 1.16.
    row("extensions/v1beta1", "Ingress", 14, 22, "networking.k8s.io/v1"),
    row("extensions/v1beta1", "NetworkPolicy", 9, 16, "networking.k8s.io/v1"),
    row("extensions/v1beta1", "PodSecurityPolicy", 10, 16, ""),
    row("extensions/v1beta1", "*", 9, 16, "apps/v1"),
    row("apps/v1beta1", "*", 9, 16, "apps/v1"),
    row("apps/v1beta2", "*", 9, 16, "apps/v1"),
    // Removed in 1.17 to 1.22.
    row("scheduling.k8s.io/v1alpha1", "*", 14, 17, "scheduling.k8s.io/v1"),
    row("batch/v2alpha1", "*", 0, 21, "batch/v1"),
    row("networking.k8s.io/v1beta1", "Ingress", 19, 22, "networking.k8s.io/v1"),
    row("networking.k8s.io/v1beta1", "IngressClass", 19, 22, "networking.k8s.io/v1"),
    row("storage.k8s.io/v1beta1", "CSIDriver", 19, 22, "storage.k8s.io/v1"),
    row("storage.k8s.io/v1beta1", "CSINode", 17, 22, "storage.k8s.io/v1"),
    row("storage.k8s.io/v1beta1", "StorageClass", 6, 22, "storage.k8s.io/v1"),
    row("storage.k8s.io/v1beta1", "VolumeAttachment", 13, 22, "storage.k8s.io/v1"),
    row("rbac.authorization.k8s.io/v1beta1", "*", 17, 22, "rbac.authorization.k8s.io/v1"),
    row("rbac.authorization.k8s.io/v1alpha1", "*", 17, 22, "rbac.authorization.k8s.io/v1"),
    row("apiextensions.k8s.io/v1beta1", "*", 16, 22, "apiextensions.k8s.io/v1"),
    row("admissionregistration.k8s.io/v1beta1", "MutatingWebhookConfiguration", 16, 22, "admissionregistration.k8s.io/v1"),
    row("admissionregistration.k8s.io/v1beta1", "ValidatingWebhookConfiguration", 16, 22, "admissionregistration.k8s.io/v1"),
    row("apiregistration.k8s.io/v1beta1", "*", 10, 22, "apiregistration.k8s.io/v1"),
    row("authentication.k8s.io/v1beta1", "TokenReview", 6, 22, "authentication.k8s.io/v1"),
    row("authorization.k8s.io/v1beta1", "*", 0, 22, "authorization.k8s.io/v1"),
    row("certificates.k8s.io/v1beta1", "CertificateSigningRequest", 19, 22, "certificates.k8s.io/v1"),
    row("coordination.k8s.io/v1beta1", "Lease", 14, 22, "coordination.k8s.io/v1"),
    row("scheduling.k8s.io/v1beta1", "PriorityClass", 14, 22, "scheduling.k8s.io/v1"),
    // Removed in 1.25 to 1.29.
    row("autoscaling/v2beta1", "*", 22, 25, "autoscaling/v2"),
    row("policy/v1beta1", "PodSecurityPolicy", 21, 25, ""),
    row("policy/v1beta1", "*", 21, 25, "policy/v1"),
    row("batch/v1beta1", "*", 21, 25, "batch/v1"),
    row("discovery.k8s.io/v1beta1", "*", 21, 25, "discovery.k8s.io/v1"),
    row("events.k8s.io/v1beta1", "*", 19, 25, "events.k8s.io/v1"),
    row("node.k8s.io/v1beta1", "*", 22, 25, "node.k8s.io/v1"),
    row("autoscaling/v2beta2", "*", 23, 26, "autoscaling/v2"),
    row("flowcontrol.apiserver.k8s.io/v1beta1", "*", 23, 26, "flowcontrol.apiserver.k8s.io/v1"),
    row("storage.k8s.io/v1beta1", "CSIStorageCapacity", 24, 27, "storage.k8s.io/v1"),
    row("flowcontrol.apiserver.k8s.io/v1beta2", "*", 26, 29, "flowcontrol.apiserver.k8s.io/v1"),
    // Removed in 1.32 to 1.36.
    row("flowcontrol.apiserver.k8s.io/v1beta3", "*", 29, 32, "flowcontrol.apiserver.k8s.io/v1"),
    // Pluto says 1.33; the 1.32 OpenAPI (the embedded schemas) no longer has it.
    row("admissionregistration.k8s.io/v1alpha1", "ValidatingAdmissionPolicy", 30, 32, "admissionregistration.k8s.io/v1"),
    row("admissionregistration.k8s.io/v1alpha1", "ValidatingAdmissionPolicyBinding", 30, 32, "admissionregistration.k8s.io/v1"),
    row("resource.k8s.io/v1alpha3", "DeviceClass", 32, 34, "resource.k8s.io/v1"),
    row("resource.k8s.io/v1alpha3", "ResourceClaim", 32, 34, "resource.k8s.io/v1"),
    row("resource.k8s.io/v1alpha3", "ResourceClaimTemplate", 32, 34, "resource.k8s.io/v1"),
    row("resource.k8s.io/v1alpha3", "ResourceSlice", 32, 34, "resource.k8s.io/v1"),
    row("storage.k8s.io/v1alpha1", "VolumeAttributesClass", 31, 35, "storage.k8s.io/v1"),
    row("storagemigration.k8s.io/v1alpha1", "StorageVersionMigration", 35, 35, "storagemigration.k8s.io/v1beta1"),
    row("resource.k8s.io/v1beta1", "DeviceClass", 34, 36, "resource.k8s.io/v1"),
    row("resource.k8s.io/v1beta1", "ResourceClaim", 34, 36, "resource.k8s.io/v1"),
    row("resource.k8s.io/v1beta1", "ResourceClaimTemplate", 34, 36, "resource.k8s.io/v1"),
    row("resource.k8s.io/v1beta1", "ResourceSlice", 34, 36, "resource.k8s.io/v1"),
];

/// An apiVersion on its way out: when it goes and what replaces it.
#[derive(Debug, PartialEq, Eq)]
pub struct Removal {
    /// The minor version that stops serving it (`26` for 1.26).
    pub removed_in: u32,
    /// The apiVersion to use instead, when there is one.
    pub replacement: Option<String>,
}

/// What the target version does with an apiVersion/kind.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No longer served: the API server refuses the object.
    Removed(Removal),
    /// Served, deprecated, and removed by a later minor.
    Deprecated(Removal),
}

/// Whether `api_version`/`kind` is removed at or before the target's minor: the removed half
/// of [`verdict`] (the schema rule leaves such objects to this rule).
pub fn removal(api_version: &str, kind: &str, target: &SchemaSet) -> Option<Removal> {
    match verdict(api_version, kind, target)? {
        Verdict::Removed(r) => Some(r),
        Verdict::Deprecated(_) => None,
    }
}

/// Whether the target no longer serves `api_version`/`kind`, or serves it deprecated. Uses
/// [`LIFECYCLE`], then the embedded schemas (a kind an older embedded version served under
/// this apiVersion and the target does not). Built-in groups only: custom resources are the
/// schema rule's business.
pub fn verdict(api_version: &str, kind: &str, target: &SchemaSet) -> Option<Verdict> {
    let target_minor = schemas::minor_of(target.version());
    let served = target.has_kind(api_version, kind);
    let row = LIFECYCLE.iter().find(|r| {
        r.api_version == api_version
            && (r.kind == "*"
                || kind
                    .strip_prefix(r.kind)
                    .is_some_and(|rest| rest.is_empty() || rest == "List"))
    });
    let removal = |removed_in: u32, fallback: &str| Removal {
        removed_in,
        replacement: replacement(api_version, kind, fallback, target),
    };
    if let Some(r) = row {
        // A `*` row gives way to a target that serves the kind (a kind added later).
        if r.removed_in <= target_minor && (r.kind != "*" || !served) {
            return Some(Verdict::Removed(removal(r.removed_in, r.replacement)));
        }
        if served
            && r.deprecated_in != 0
            && r.deprecated_in <= target_minor
            && target_minor < r.removed_in
        {
            return Some(Verdict::Deprecated(removal(r.removed_in, r.replacement)));
        }
    }
    if served {
        return None;
    }
    // Derived from the embedded sets: served by an older version, not by the target.
    for version in schemas::supported_versions() {
        let minor = schemas::minor_of(&version);
        if minor >= target_minor {
            break;
        }
        if schemas::serves(&version, api_version, kind) {
            let removed_in = (minor + 1..=target_minor)
                .find(|m| !schemas::serves(&format!("1.{m}"), api_version, kind))
                .unwrap_or(target_minor);
            return Some(Verdict::Removed(removal(removed_in, "")));
        }
    }
    None
}

/// The apiVersion the target serves `kind` under that replaces `api_version`: `fallback` when
/// the target serves it, else the newest of the same group, else the newest of any group.
fn replacement(
    api_version: &str,
    kind: &str,
    fallback: &str,
    target: &SchemaSet,
) -> Option<String> {
    let served: Vec<&str> = target
        .api_versions_of(kind)
        .into_iter()
        .filter(|av| *av != api_version)
        .collect();
    if !fallback.is_empty() && served.contains(&fallback) {
        return Some(fallback.to_string());
    }
    let same_group = served
        .iter()
        .rfind(|av| group_of(av) == group_of(api_version));
    same_group
        .or_else(|| served.last())
        .map(|s| s.to_string())
        .or_else(|| (!fallback.is_empty()).then(|| fallback.to_string()))
}

fn report(
    out: &mut Out<'_>,
    o: &Object,
    pointer: &str,
    what: &str,
    (api_version, kind): (&str, &str),
    verdict: Verdict,
    target: &str,
) {
    let use_instead = |r: &Removal| match &r.replacement {
        Some(rep) => format!("use `apiVersion: {rep}`"),
        None => format!(
            "{kind} has no replacement in Kubernetes {target}; remove it or use the mechanism that replaced it"
        ),
    };
    match verdict {
        Verdict::Removed(r) => out.at(
            o,
            pointer,
            format!(
                "{what} `{api_version}` {kind} was removed in Kubernetes 1.{} (target is {target})",
                r.removed_in
            ),
            use_instead(&r),
        ),
        Verdict::Deprecated(r) => out.at_severity(
            Severity::Warning,
            o,
            pointer,
            format!(
                "{what} `{api_version}` {kind} is deprecated and Kubernetes 1.{} removes it \
                 (target is {target})",
                r.removed_in
            ),
            format!("{} before upgrading to 1.{}", use_instead(&r), r.removed_in),
        ),
    }
}

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    let Ok(target) = SchemaSet::get(&ctx.stack.kubernetes) else {
        return;
    }; // `schema` reports it
    let version = target.version();
    for o in ctx.objects {
        let (av, kind) = (o.api_version(), o.kind());
        if let Some(v) = verdict(av, kind, target) {
            report(
                out,
                o,
                "/apiVersion",
                &o.display_name(),
                (av, kind),
                v,
                version,
            );
        }
        if kind == "HorizontalPodAutoscaler" {
            let v = &o.value;
            if let (Some(tav), Some(tkind)) = (
                crate::k8s::str_at(v, "/spec/scaleTargetRef/apiVersion"),
                crate::k8s::str_at(v, "/spec/scaleTargetRef/kind"),
            ) && let Some(v) = verdict(tav, tkind, target)
            {
                let what = format!("{}'s scaleTargetRef", o.display_name());
                report(
                    out,
                    o,
                    "/spec/scaleTargetRef/apiVersion",
                    &what,
                    (tav, tkind),
                    v,
                    version,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{self, check, render};
    use berth_model::Finding;

    const HPA: &str = "
apiVersion: autoscaling/v2beta2
kind: HorizontalPodAutoscaler
metadata: {name: molecule-hpa}
spec:
  scaleTargetRef: {apiVersion: apps/v1beta1, kind: StatefulSet, name: molecule}
  minReplicas: 3
  maxReplicas: 20
---
apiVersion: extensions/v1beta1
kind: Ingress
metadata: {name: molecule-ingress}
spec:
  backend: {serviceName: molecule-service, servicePort: 443}
---
apiVersion: storage.k8s.io/v1beta1
kind: CSIDriver
metadata: {name: efs.csi.aws.com}
spec: {attachRequired: false}
";

    const DEVICE_CLASS: &str = "
apiVersion: resource.k8s.io/v1beta1
kind: DeviceClass
metadata: {name: gpu}
spec: {}
";

    fn check_at(version: &str, yaml: &str) -> Vec<Finding> {
        let mut stack = testing::stack(yaml);
        stack.kubernetes = version.into();
        testing::run(&RULE, &stack)
    }

    #[test]
    fn fires_on_removed_versions() {
        let f = check(&RULE, HPA);
        assert_eq!(f.len(), 4);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_on_current_versions() {
        let current = HPA
            .replace("autoscaling/v2beta2", "autoscaling/v2")
            .replace("apps/v1beta1", "apps/v1")
            .replace("extensions/v1beta1", "networking.k8s.io/v1")
            .replace("storage.k8s.io/v1beta1", "storage.k8s.io/v1");
        assert!(check(&RULE, &current).is_empty());
        let current = DEVICE_CLASS.replace("v1beta1", "v1");
        for version in ["1.34", "1.35", "1.36", "1.37"] {
            assert!(check_at(version, &current).is_empty(), "{version}");
        }
    }

    #[test]
    fn deprecated_and_served_is_a_warning_naming_the_removing_version() {
        // resource.k8s.io/v1beta1: deprecated in 1.34, removed in 1.36.
        let f = check_at("1.35", DEVICE_CLASS);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Warning);
        insta::assert_snapshot!(render(&f), @r"
        test.yaml:2:1: Warning [api-removed] DeviceClass/gpu `resource.k8s.io/v1beta1` DeviceClass is deprecated and Kubernetes 1.36 removes it (target is 1.35)
          fix: use `apiVersion: resource.k8s.io/v1` before upgrading to 1.36
        ");
        // The removing version itself: an error (its OpenAPI still lists the kind).
        let f = check_at("1.36", DEVICE_CLASS);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Error);
        assert!(f[0].message.contains("was removed in Kubernetes 1.36"));
        // Before its deprecation: nothing.
        assert!(check_at("1.33", DEVICE_CLASS).is_empty());
        // An older target that still serves a removed HPA version: a warning, not an error.
        let old = "
apiVersion: autoscaling/v2beta2
kind: HorizontalPodAutoscaler
metadata: {name: h}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: m}
  maxReplicas: 2
";
        let f = check_at("1.25", old);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].severity, Severity::Warning);
        assert!(f[0].message.contains("Kubernetes 1.26 removes it"));
    }

    #[test]
    fn removal_derived_from_embedded_schemas() {
        let set = SchemaSet::get("1.34").unwrap();
        // flowcontrol v1beta3 was served until 1.31 (in the table), resource.k8s.io/v1alpha2 not.
        let r = removal("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", set).unwrap();
        assert_eq!(r.removed_in, 32);
        let r = removal("resource.k8s.io/v1alpha2", "ResourceClass", set).unwrap();
        assert_eq!(r.removed_in, 31);
        assert!(removal("apps/v1", "Deployment", set).is_none());
        assert!(removal("example.com/v1", "Widget", set).is_none());
        // A kind added later to an old beta version is not one of the rows of the kinds that
        // version lost.
        assert!(verdict("networking.k8s.io/v1beta1", "IPAddress", set).is_none());
    }

    /// The table agrees with the embedded schemas: a row is served by every embedded version
    /// between its deprecation and its removal (a warning must never hide an error), and by
    /// none from its removal on, except where the OpenAPI keeps a kind no longer served by
    /// default.
    #[test]
    fn table_agrees_with_embedded_schemas() {
        const STILL_IN_OPENAPI: &[&str] = &["resource.k8s.io/v1beta1"];
        let mut problems = Vec::new();
        for r in LIFECYCLE.iter().filter(|r| r.kind != "*") {
            for version in schemas::supported_versions() {
                let minor = schemas::minor_of(&version);
                let served = schemas::serves(&version, r.api_version, r.kind);
                let deprecated = r.deprecated_in != 0 && r.deprecated_in <= minor;
                if deprecated && minor < r.removed_in && !served {
                    problems.push(format!(
                        "{} {} not served in {version}",
                        r.api_version, r.kind
                    ));
                }
                if minor >= r.removed_in && served && !STILL_IN_OPENAPI.contains(&r.api_version) {
                    problems.push(format!(
                        "{} {} still served in {version}",
                        r.api_version, r.kind
                    ));
                }
            }
        }
        assert!(problems.is_empty(), "{problems:#?}");
    }
}
