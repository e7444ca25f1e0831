//! `lb-cloud`: load-balancer annotations of another cloud than the profile's.

use berth_model::ValueExt;
use berth_model::{Profile, Severity};
use serde_json::Value;

use super::{Out, Rule};
use crate::context::Context;
use crate::k8s;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "lb-cloud",
    severity: Severity::Warning,
    summary: "load-balancer annotations of another cloud than the profile's",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Finds Services and Ingresses annotated for one cloud's load balancer
(`service.beta.kubernetes.io/aws-load-balancer-*`, `alb.ingress.kubernetes.io/*`,
`service.beta.kubernetes.io/azure-*`, `cloud.google.com/*`, `networking.gke.io/*`) when the stack
is checked for another cloud profile. The `local` profile has no load-balancer controller and
ignores all of them, so it is not checked.

## Why is this bad?
Another cloud's controller ignores these annotations silently: the Service gets a default,
usually public, load balancer of the wrong type, or no TLS, or the wrong scheme. The stack looks
portable and is not.

## Example
```yaml
kind: Service
metadata:
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-type: nlb   # checked with --profile aks
```

## Fix
Replace cloud annotations with berth's portable intent, which each profile turns into its
cloud's annotations:
```yaml
  annotations:
    berth.dev/load-balancer: external          # or internal
    berth.dev/load-balancer-type: network      # or application
```
";

/// The cloud an annotation key belongs to, if it is a load-balancer annotation.
fn cloud_of(key: &str) -> Option<Profile> {
    if key.starts_with("service.beta.kubernetes.io/aws-")
        || key.starts_with("alb.ingress.kubernetes.io/")
        || key.starts_with("service.kubernetes.io/aws-")
    {
        Some(Profile::Eks)
    } else if key.starts_with("service.beta.kubernetes.io/azure-")
        || key.starts_with("appgw.ingress.kubernetes.io/")
    {
        Some(Profile::Aks)
    } else if key.starts_with("cloud.google.com/") || key.starts_with("networking.gke.io/") {
        Some(Profile::Gke)
    } else {
        None
    }
}

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    let profile = ctx.stack.profile;
    if profile == Profile::Local {
        return;
    }
    for kind in ["Service", "Ingress"] {
        for &i in ctx.of_kind(kind) {
            let o = ctx.object(i);
            let Some(ann) = o
                .value
                .at("/metadata/annotations")
                .and_then(Value::as_object)
            else {
                continue;
            };
            for key in ann.keys() {
                let Some(cloud) = cloud_of(key) else { continue };
                if cloud == profile {
                    continue;
                }
                out.at(
                    o,
                    &format!("/metadata/annotations/{}", k8s::escape(key)),
                    format!("{} has the {cloud} annotation `{key}`, but the profile is {profile}", o.display_name()),
                    "use `berth.dev/load-balancer: external|internal` (and `berth.dev/load-balancer-type`), which every profile translates",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{testing, testing::render};

    const SVC: &str = "
apiVersion: v1
kind: Service
metadata:
  name: molecule-service
  annotations:
    service.beta.kubernetes.io/aws-load-balancer-type: nlb
    berth.dev/load-balancer: external
spec:
  type: LoadBalancer
  ports: [{port: 443}]
";

    #[test]
    fn fires_for_another_cloud() {
        let mut s = testing::stack(SVC);
        s.profile = Profile::Aks;
        let f = testing::run(&RULE, &s);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_for_the_same_cloud_or_local() {
        let mut s = testing::stack(SVC);
        assert!(testing::run(&RULE, &s).is_empty());
        s.profile = Profile::Local;
        assert!(testing::run(&RULE, &s).is_empty());
    }
}
