//! `hpa-no-requests`: an HPA on resource utilisation for containers without that request.

use berth_model::Severity;
use berth_model::ValueExt;
use serde_json::Value;

use super::{Out, Rule};
use crate::context::Context;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "hpa-no-requests",
    severity: Severity::Error,
    summary: "an HPA on a resource metric for containers without a request for that resource",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
For each HorizontalPodAutoscaler that scales on CPU or memory *utilisation* (a percentage,
including the implicit 80 % CPU of an HPA with no metrics), checks that every container of the
target workload requests that resource.

## Why is this bad?
Utilisation is usage divided by the request. When a container has no request the HPA cannot
compute it: it reports `FailedGetResourceMetric` / \"missing request for cpu\" and never scales, so
the stack runs at its minimum under load.

## Example
```yaml
kind: HorizontalPodAutoscaler
spec:
  metrics:
    - type: Resource
      resource: {name: memory, target: {type: Utilization, averageUtilization: 50}}
---
kind: StatefulSet   # its container sets limits only
```

## Fix
Add `resources.requests.<cpu|memory>` to every container of the target (sidecars included), or
scale on `AverageValue` instead of `Utilization`.
";

/// The resources `hpa` scales on by utilisation.
fn utilization_resources(hpa: &Value) -> Vec<String> {
    let spec = hpa.member("spec");
    if let Some(pct) = spec.and_then(|s| s.member("targetCPUUtilizationPercentage"))
        && !pct.is_null()
    {
        return vec!["cpu".into()];
    }
    let Some(metrics) = spec
        .and_then(|s| s.member("metrics"))
        .and_then(Value::as_array)
    else {
        return vec!["cpu".into()]; // both v1 and v2 default to 80 % CPU
    };
    let mut out = Vec::new();
    for m in metrics {
        if m.member("type").and_then(Value::as_str) != Some("Resource") {
            continue;
        }
        let Some(r) = m.member("resource") else {
            continue;
        };
        let by_utilization = r.at("/target/type").and_then(Value::as_str) == Some("Utilization")
            || r.member("targetAverageUtilization").is_some();
        if let (true, Some(name)) = (by_utilization, r.member("name").and_then(Value::as_str)) {
            out.push(name.to_string());
        }
    }
    out
}

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    for &h in ctx.of_kind("HorizontalPodAutoscaler") {
        let hpa = ctx.object(h);
        let resources = utilization_resources(&hpa.value);
        if resources.is_empty() {
            continue;
        }
        let Some(target) = ctx.hpa_target(h) else {
            continue;
        };
        let Some(t) = ctx.template_of(target) else {
            continue;
        };
        let w = ctx.object(target);
        for c in t.containers().iter().filter(|c| !c.init) {
            for r in &resources {
                let has = c
                    .value
                    .at(&format!("/resources/requests/{r}"))
                    .is_some_and(|v| !v.is_null());
                if has {
                    continue;
                }
                let ptr = if c.value.member("resources").is_some() {
                    format!("{}/resources", c.pointer())
                } else {
                    c.pointer()
                };
                out.at(
                    w,
                    &ptr,
                    format!(
                        "{} scales {} on {r} utilisation, but container `{}` requests no {r}",
                        hpa.display_name(),
                        w.display_name(),
                        c.name()
                    ),
                    format!("set resources.requests.{r} on container `{}`", c.name()),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render};

    fn stack(resources: &str) -> String {
        format!(
            "
apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: molecule}}
spec:
  serviceName: molecule
  selector: {{matchLabels: {{app: molecule}}}}
  template:
    metadata: {{labels: {{app: molecule}}}}
    spec:
      containers:
        - name: molecule
          image: boomi/molecule:5.0.1
          resources: {resources}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: molecule-hpa}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: StatefulSet, name: molecule}}
  minReplicas: 3
  maxReplicas: 20
  metrics:
    - type: Resource
      resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 50}}}}
    - type: Resource
      resource: {{name: memory, target: {{type: Utilization, averageUtilization: 50}}}}
"
        )
    }

    #[test]
    fn fires_without_requests() {
        let f = check(
            &RULE,
            &stack("{limits: {memory: 1536Mi}, requests: {memory: 1Gi}}"),
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_with_requests() {
        assert!(check(&RULE, &stack("{requests: {cpu: 500m, memory: 1Gi}}")).is_empty());
    }

    #[test]
    fn v1_defaults_to_cpu() {
        assert_eq!(
            utilization_resources(&serde_json::json!({"spec": {}})),
            vec!["cpu"]
        );
    }
}
