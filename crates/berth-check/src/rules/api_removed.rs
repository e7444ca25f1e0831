//! `api-removed`: apiVersions the target Kubernetes version no longer serves.

use berth_model::{Object, Severity, group_of};

use super::{Out, Rule};
use crate::context::Context;
use crate::schemas::{self, SchemaSet};

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "api-removed",
    severity: Severity::Error,
    summary: "apiVersions removed by the target version (autoscaling/v2beta2, extensions/v1beta1, ...)",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Finds objects whose `apiVersion` the stack's target Kubernetes version (`kubernetes:` in
berth.yaml) no longer serves, such as `autoscaling/v2beta2` HorizontalPodAutoscalers (removed in
1.26), `extensions/v1beta1` Ingresses and Deployments, `apps/v1beta1`, `policy/v1beta1`,
`batch/v1beta1` CronJobs, `storage.k8s.io/v1beta1` CSIDrivers and `rbac.authorization.k8s.io/v1beta1`.
It also checks the `apiVersion` an HPA's `scaleTargetRef` names.

## Why is this bad?
The API server rejects the object (`no matches for kind ... in version ...`), so the apply fails
halfway through the stack. Old tutorials and vendor READMEs are full of these, and
`kubectl apply --validate=false` does not help: validation is not what fails.

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

/// (apiVersion, kind or `*`, removed in minor, replacement apiVersion or "").
const REMOVED: &[(&str, &str, u32, &str)] = &[
    ("extensions/v1beta1", "Ingress", 22, "networking.k8s.io/v1"),
    (
        "extensions/v1beta1",
        "NetworkPolicy",
        16,
        "networking.k8s.io/v1",
    ),
    ("extensions/v1beta1", "PodSecurityPolicy", 16, ""),
    ("extensions/v1beta1", "*", 16, "apps/v1"),
    ("apps/v1beta1", "*", 16, "apps/v1"),
    ("apps/v1beta2", "*", 16, "apps/v1"),
    ("networking.k8s.io/v1beta1", "*", 22, "networking.k8s.io/v1"),
    ("autoscaling/v2beta1", "*", 25, "autoscaling/v2"),
    ("autoscaling/v2beta2", "*", 26, "autoscaling/v2"),
    ("policy/v1beta1", "PodSecurityPolicy", 25, ""),
    ("policy/v1beta1", "*", 25, "policy/v1"),
    ("batch/v1beta1", "*", 25, "batch/v1"),
    ("batch/v2alpha1", "*", 21, "batch/v1"),
    ("discovery.k8s.io/v1beta1", "*", 25, "discovery.k8s.io/v1"),
    ("events.k8s.io/v1beta1", "*", 25, "events.k8s.io/v1"),
    ("node.k8s.io/v1beta1", "*", 25, "node.k8s.io/v1"),
    (
        "storage.k8s.io/v1beta1",
        "CSIStorageCapacity",
        27,
        "storage.k8s.io/v1",
    ),
    ("storage.k8s.io/v1beta1", "*", 22, "storage.k8s.io/v1"),
    (
        "rbac.authorization.k8s.io/v1beta1",
        "*",
        22,
        "rbac.authorization.k8s.io/v1",
    ),
    (
        "rbac.authorization.k8s.io/v1alpha1",
        "*",
        22,
        "rbac.authorization.k8s.io/v1",
    ),
    (
        "apiextensions.k8s.io/v1beta1",
        "*",
        22,
        "apiextensions.k8s.io/v1",
    ),
    (
        "admissionregistration.k8s.io/v1beta1",
        "*",
        22,
        "admissionregistration.k8s.io/v1",
    ),
    (
        "apiregistration.k8s.io/v1beta1",
        "*",
        22,
        "apiregistration.k8s.io/v1",
    ),
    (
        "authentication.k8s.io/v1beta1",
        "*",
        22,
        "authentication.k8s.io/v1",
    ),
    (
        "authorization.k8s.io/v1beta1",
        "*",
        22,
        "authorization.k8s.io/v1",
    ),
    (
        "certificates.k8s.io/v1beta1",
        "*",
        22,
        "certificates.k8s.io/v1",
    ),
    (
        "coordination.k8s.io/v1beta1",
        "*",
        22,
        "coordination.k8s.io/v1",
    ),
    ("scheduling.k8s.io/v1beta1", "*", 22, "scheduling.k8s.io/v1"),
    (
        "scheduling.k8s.io/v1alpha1",
        "*",
        17,
        "scheduling.k8s.io/v1",
    ),
    (
        "flowcontrol.apiserver.k8s.io/v1beta1",
        "*",
        26,
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    (
        "flowcontrol.apiserver.k8s.io/v1beta2",
        "*",
        29,
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    (
        "flowcontrol.apiserver.k8s.io/v1beta3",
        "*",
        32,
        "flowcontrol.apiserver.k8s.io/v1",
    ),
];

/// A removed API: when it went away and what replaces it.
#[derive(Debug, PartialEq, Eq)]
pub struct Removal {
    /// The minor version that stopped serving it (`26` for 1.26).
    pub removed_in: u32,
    /// The apiVersion to use instead, when there is one.
    pub replacement: Option<String>,
}

/// Whether `api_version`/`kind` is removed at or before `target_minor`. Uses the table of known
/// removals, then the embedded schemas (a kind an older embedded version served under this
/// apiVersion and the target does not). Built-in groups only: custom resources are the schema
/// rule's business.
pub fn removal(api_version: &str, kind: &str, target: &SchemaSet) -> Option<Removal> {
    let target_minor = schemas::minor_of(target.version());
    if target.has_kind(api_version, kind) {
        return None;
    }
    let kind_replacement = |fallback: &str| -> Option<String> {
        let served = target.api_versions_of(kind);
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
    };
    for (av, k, minor, replacement) in REMOVED {
        if *av == api_version && (*k == kind || *k == "*") {
            if *minor > target_minor {
                return None;
            }
            return Some(Removal {
                removed_in: *minor,
                replacement: kind_replacement(replacement),
            });
        }
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
            return Some(Removal {
                removed_in,
                replacement: kind_replacement(""),
            });
        }
    }
    None
}

fn report(
    out: &mut Out<'_>,
    o: &Object,
    pointer: &str,
    what: &str,
    (api_version, kind): (&str, &str),
    r: Removal,
    target: &str,
) {
    let fix = match &r.replacement {
        Some(rep) => format!("use `apiVersion: {rep}`"),
        None => format!(
            "{kind} has no replacement in Kubernetes {target}; remove it or use the mechanism that replaced it"
        ),
    };
    out.at(
        o,
        pointer,
        format!(
            "{what} `{api_version}` {kind} was removed in Kubernetes 1.{} (target is {target})",
            r.removed_in
        ),
        fix,
    );
}

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    let Ok(target) = SchemaSet::get(&ctx.stack.kubernetes) else {
        return;
    }; // `schema` reports it
    let version = target.version();
    for o in ctx.objects {
        let (av, kind) = (o.api_version(), o.kind());
        if let Some(r) = removal(av, kind, target) {
            report(
                out,
                o,
                "/apiVersion",
                &o.display_name(),
                (av, kind),
                r,
                version,
            );
        }
        if kind == "HorizontalPodAutoscaler" {
            let v = &o.value;
            if let (Some(tav), Some(tkind)) = (
                crate::k8s::str_at(v, "/spec/scaleTargetRef/apiVersion"),
                crate::k8s::str_at(v, "/spec/scaleTargetRef/kind"),
            ) && let Some(r) = removal(tav, tkind, target)
            {
                let what = format!("{}'s scaleTargetRef", o.display_name());
                report(
                    out,
                    o,
                    "/spec/scaleTargetRef/apiVersion",
                    &what,
                    (tav, tkind),
                    r,
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

    #[test]
    fn fires_on_removed_versions() {
        let f = check(&RULE, HPA);
        assert_eq!(f.len(), 4);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_on_current_versions_and_older_targets() {
        let current = HPA
            .replace("autoscaling/v2beta2", "autoscaling/v2")
            .replace("apps/v1beta1", "apps/v1")
            .replace("extensions/v1beta1", "networking.k8s.io/v1")
            .replace("storage.k8s.io/v1beta1", "storage.k8s.io/v1");
        assert!(check(&RULE, &current).is_empty());
        let mut old = testing::stack(
            "
apiVersion: autoscaling/v2beta2
kind: HorizontalPodAutoscaler
metadata: {name: h}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: m}
  maxReplicas: 2
",
        );
        old.kubernetes = "1.25".into();
        assert!(testing::run(&RULE, &old).is_empty());
    }

    #[test]
    fn removal_derived_from_embedded_schemas() {
        let set = SchemaSet::get("1.34").unwrap();
        // flowcontrol v1beta3 was served until 1.31 (in the table), resource.k8s.io/v1alpha2 not.
        let r = removal("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", set).unwrap();
        assert_eq!(r.removed_in, 32);
        assert!(removal("apps/v1", "Deployment", set).is_none());
        assert!(removal("example.com/v1", "Widget", set).is_none());
    }
}
