//! `nodepool-limits`: NodePool CPU or memory limits below what the pods it must run need at
//! their HPA maxima.

use berth_model::Severity;
use berth_model::karpenter;

use super::{Out, Rule};
use crate::context::Context;
use crate::nodepools::{admitting, peak, pod_requests, pools};

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "nodepool-limits",
    severity: Severity::Warning,
    summary: "NodePool cpu/memory limits below what the HPA maxima of its pods need",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
For each Karpenter NodePool with `spec.limits`, adds up the requests of the pods that only it
can run (their node selectors and affinities admit no other pool) at their peak: the HPA's
`maxReplicas`, else `replicas`. Reports a `cpu` or `memory` limit below that sum.

## Why is this bad?
Karpenter stops launching nodes for a pool once the capacity of its nodes reaches the limit. The
HPA scales up, the new pods stay Pending, and the load the HPA was reacting to is not served.
The sum counts requests only; nodes also carry DaemonSets and system reservations, so the real
need is higher still.

## Example
```yaml
kind: NodePool
spec:
  limits: {cpu: \"8\"}          # the HPA's 20 pods of 1 CPU need 20
---
kind: HorizontalPodAutoscaler
spec: {maxReplicas: 20}
```

## Fix
Raise the limits to at least the sum, with headroom for per-node pods (`berth cluster config
--nodes karpenter` derives them from the same numbers), or lower the HPA's `maxReplicas`.
";

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    let pools = pools(ctx);
    for (pi, pool) in pools.iter().enumerate() {
        let Some(i) = pool.object else { continue };
        let np = ctx.object(i);
        let (cpu_limit, mem_limit) = karpenter::limits(&np.value);
        if cpu_limit.is_none() && mem_limit.is_none() {
            continue;
        }
        let (mut cpu, mut mem) = (0i64, 0i64);
        let mut who = Vec::new();
        for t in &ctx.pod_templates {
            let o = ctx.object(t.object);
            if !matches!(o.kind(), "Deployment" | "StatefulSet") {
                continue;
            }
            let on = admitting(&pools, t);
            if on.len() != 1 || !std::ptr::eq(on[0], &pools[pi]) {
                continue;
            }
            let n = peak(ctx, t.object);
            let (c, m) = pod_requests(t);
            cpu += c * n;
            mem += m * n;
            who.push(format!("{} × {n}", o.display_name()));
        }
        let who = who.join(", ");
        if let Some(limit) = cpu_limit
            && limit < cpu
        {
            out.at(
                np,
                "/spec/limits/cpu",
                format!(
                    "NodePool `{}` limits cpu to {limit}m, but the pods only it can run request {cpu}m at their peak ({who})",
                    pool.name
                ),
                format!("raise `spec.limits.cpu` to at least {} (plus headroom for per-node pods), or lower the HPAs' maxReplicas", (cpu + 999) / 1000),
            );
        }
        if let Some(limit) = mem_limit
            && limit < mem
        {
            let gib = |b: i64| b as f64 / f64::from(1u32 << 30);
            out.at(
                np,
                "/spec/limits/memory",
                format!(
                    "NodePool `{}` limits memory to {:.1}GiB, but the pods only it can run request {:.1}GiB at their peak ({who})",
                    pool.name,
                    gib(limit),
                    gib(mem)
                ),
                format!("raise `spec.limits.memory` to at least {}Gi (plus headroom for per-node pods), or lower the HPAs' maxReplicas", (mem + (1 << 30) - 1) >> 30),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render};

    const STACK: &str = "
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: general}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements: []
  limits: {cpu: \"8\", memory: 64Gi}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: w
          image: nginx:1.27
          resources: {requests: {cpu: \"1\", memory: 1Gi}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 20
";

    #[test]
    fn fires_when_the_hpa_maxima_exceed_the_limits() {
        let f = check(&RULE, STACK);
        assert_eq!(f.len(), 1, "{f:#?}");
        insta::assert_snapshot!(render(&f));
        let f = check(&RULE, &STACK.replace("memory: 64Gi", "memory: 16Gi"));
        assert_eq!(f.len(), 2, "{f:#?}");
    }

    #[test]
    fn silent_when_the_limits_hold_or_the_pods_can_go_elsewhere() {
        assert!(check(&RULE, &STACK.replace("cpu: \"8\"", "cpu: \"24\"")).is_empty());
        assert!(check(&RULE, &STACK.replace("maxReplicas: 20", "maxReplicas: 8")).is_empty());
        // A second pool without limits can take them too.
        let two = format!(
            "{STACK}---\n{}",
            STACK
                .split("---")
                .next()
                .unwrap()
                .replace("name: general", "name: spare")
                .replace("  limits: {cpu: \"8\", memory: 64Gi}\n", "")
        );
        assert!(check(&RULE, &two).is_empty());
        // No limits: nothing to compare.
        assert!(
            check(
                &RULE,
                &STACK.replace("  limits: {cpu: \"8\", memory: 64Gi}\n", "")
            )
            .is_empty()
        );
    }
}
