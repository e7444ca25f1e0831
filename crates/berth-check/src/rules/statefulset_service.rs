//! `statefulset-service`: a StatefulSet whose governing Service is missing or not headless.

use berth_model::Severity;
use berth_model::ValueExt;
use serde_json::Value;

use super::{Out, Rule};
use crate::context::Context;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "statefulset-service",
    severity: Severity::Warning,
    summary: "a StatefulSet whose serviceName is missing or not a headless Service",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Checks that each StatefulSet names a governing Service in `spec.serviceName`, that the stack (or
`external:`) has a Service of that name in its namespace, and that it is headless
(`clusterIP: None`).

## Why is this bad?
The governing Service gives every pod its stable DNS name (`molecule-0.molecule-headless`), which
is what clustered software (a Boomi Molecule, Kafka, ZooKeeper, Postgres replicas) uses to find
its peers. A LoadBalancer or ClusterIP Service in that role gives no per-pod DNS records, so peers
cannot address each other, and a missing Service leaves the pods without names at all.

## Example
```yaml
kind: StatefulSet
spec:
  serviceName: molecule-service    # a type: LoadBalancer Service
```

## Fix
Add a headless Service for the StatefulSet and keep the load balancer as a second Service:
```yaml
kind: Service
metadata: {name: molecule-headless}
spec:
  clusterIP: None
  selector: {app: molecule}
  ports: [{port: 9090}]
```
then set `serviceName: molecule-headless`.
";

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    for &i in ctx.of_kind("StatefulSet") {
        let o = ctx.object(i);
        let ns = ctx.namespace_of(i);
        let Some(name) = o
            .value
            .at("/spec/serviceName")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            out.at(
                o,
                "/spec",
                format!(
                    "{} has no spec.serviceName: its pods get no stable DNS names",
                    o.display_name()
                ),
                "add a headless Service (clusterIP: None) and name it in spec.serviceName",
            );
            continue;
        };
        match ctx.find("Service", ns, name) {
            Some(s) => {
                let svc = &ctx.object(s).value;
                let cluster_ip = svc.at("/spec/clusterIP").and_then(Value::as_str);
                if cluster_ip != Some("None") {
                    let ty = svc
                        .at("/spec/type")
                        .and_then(Value::as_str)
                        .unwrap_or("ClusterIP");
                    out.at(
                        o,
                        "/spec/serviceName",
                        format!("{} is governed by Service `{name}`, a {ty} Service, not a headless one", o.display_name()),
                        format!("add a headless Service (clusterIP: None) for the pods and set serviceName to it; keep `{name}` for clients"),
                    );
                }
            }
            None if ctx.is_external("Service", ns, name) => {}
            None => out.at(
                o,
                "/spec/serviceName",
                format!(
                    "{} names Service `{name}`, which is not in namespace `{ns}`",
                    o.display_name()
                ),
                "add a headless Service (clusterIP: None) of that name to the stack",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render};

    const STS: &str = "
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: molecule}
spec:
  serviceName: molecule-service
  selector: {matchLabels: {app: molecule}}
  template:
    metadata: {labels: {app: molecule}}
    spec:
      containers: [{name: m, image: boomi/molecule:5.0.1}]
---
apiVersion: v1
kind: Service
metadata: {name: molecule-service}
spec:
  type: LoadBalancer
  selector: {app: molecule}
  ports: [{port: 443, targetPort: 9093}]
";

    #[test]
    fn fires_on_load_balancer_or_missing_service() {
        let mut f = check(&RULE, STS);
        f.extend(check(
            &RULE,
            &STS.replace(
                "serviceName: molecule-service",
                "serviceName: molecule-headless",
            ),
        ));
        f.extend(check(
            &RULE,
            &STS.replace("  serviceName: molecule-service\n", ""),
        ));
        assert_eq!(f.len(), 3);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_with_headless_service() {
        assert!(check(&RULE, &STS.replace("type: LoadBalancer", "clusterIP: None")).is_empty());
    }
}
