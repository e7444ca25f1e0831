//! The stack's Karpenter NodePools as the `nodepool-*` and `karpenter-*` rules read them: each
//! pool's requirements (`berth_model::karpenter`), and which pools a pod template can land on.
//! With `cluster.nodes: auto-mode`, Auto Mode's built-in `general-purpose` pool counts too,
//! since it exists on the cluster without being in the stack.

use berth_model::ValueExt;
use berth_model::karpenter::{self, Requirement};
use berth_model::{NodeMode, requests};
use serde_json::Value;

use crate::context::{Context, PodTemplate};

/// One NodePool that can take pods.
pub struct Pool {
    /// Index of the NodePool in the stack; None for Auto Mode's built-in pool.
    pub object: Option<usize>,
    pub name: String,
    pub requirements: Vec<Requirement>,
    /// `disruption.consolidationPolicy: WhenEmpty`: it never moves a running pod to save cost.
    pub when_empty: bool,
}

/// The NodePools of the stack, and Auto Mode's built-in one when the cluster is Auto Mode.
pub fn pools(ctx: &Context<'_>) -> Vec<Pool> {
    let mut out: Vec<Pool> = ctx
        .of_kind("NodePool")
        .iter()
        .copied()
        .filter(|&i| karpenter::is_nodepool(&ctx.object(i).value))
        .map(|i| {
            let v = &ctx.object(i).value;
            Pool {
                object: Some(i),
                name: ctx.object(i).name().to_string(),
                requirements: karpenter::pool_requirements(v),
                when_empty: v
                    .at("/spec/disruption/consolidationPolicy")
                    .and_then(Value::as_str)
                    == Some("WhenEmpty"),
            }
        })
        .collect();
    let auto_mode = ctx.stack.cluster.as_ref().and_then(|c| c.nodes) == Some(NodeMode::AutoMode);
    if auto_mode {
        out.push(Pool {
            object: None,
            name: "general-purpose (Auto Mode built-in)".into(),
            requirements: karpenter::builtin_general_purpose(),
            when_empty: false,
        });
    }
    out
}

/// The pools a pod of `t` can be scheduled on (every pool when it constrains nothing).
pub fn admitting<'p>(pools: &'p [Pool], t: &PodTemplate<'_>) -> Vec<&'p Pool> {
    let terms = t.spec().map(karpenter::pod_terms).unwrap_or_default();
    pools
        .iter()
        .filter(|p| {
            terms.is_empty()
                || terms
                    .iter()
                    .any(|term| karpenter::admits(&p.requirements, term))
        })
        .collect()
}

/// Pods of workload `i` at peak: its HPA's `maxReplicas`, else `spec.replicas`, else 1.
pub fn peak(ctx: &Context<'_>, i: usize) -> i64 {
    let max = ctx
        .hpas_of(i)
        .filter_map(|h| ctx.object(h).value.at("/spec/maxReplicas")?.as_i64())
        .max();
    max.or_else(|| ctx.object(i).value.at("/spec/replicas")?.as_i64())
        .unwrap_or(1)
        .max(0)
}

/// Requests of one pod of `t` as the scheduler counts them: (millicores, bytes); zeros when a
/// quantity is malformed (the `schema` rule reports it).
pub fn pod_requests(t: &PodTemplate<'_>) -> (i64, i64) {
    t.spec()
        .and_then(|s| requests::pod_requests(s).ok())
        .map_or((0, 0), |r| (r.cpu_millis(), r.memory_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::stack;
    use berth_model::ClusterSpec;

    const STACK: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {tier: web}
      containers: [{name: w, image: nginx:1.27, resources: {requests: {cpu: 250m, memory: 1Gi}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: one}
spec:
  selector: {matchLabels: {app: one}}
  template:
    metadata: {labels: {app: one}}
    spec:
      containers: [{name: w, image: nginx:1.27}]
";

    #[test]
    fn peaks_requests_and_pools() {
        let with_hpa = format!(
            "{STACK}---\napiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {{name: web}}\nspec:\n  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: web}}\n  maxReplicas: 12\n"
        );
        for (yaml, web_peak) in [(STACK.to_string(), 3), (with_hpa, 12)] {
            let s = stack(&yaml);
            let ctx = Context::new(&s);
            let web = ctx.find("Deployment", "app", "web").unwrap();
            let one = ctx.find("Deployment", "app", "one").unwrap();
            assert_eq!(peak(&ctx, web), web_peak);
            assert_eq!(peak(&ctx, one), 1, "no replicas: one pod");
            let t = ctx.template_of(web).unwrap();
            assert_eq!(pod_requests(t), (250, 1 << 30));
            // No NodePools and no Auto Mode: nothing to match against.
            assert!(pools(&ctx).is_empty());
        }
        // Auto Mode's built-in pool takes the plain pod, not the one selecting a custom label.
        let mut s = stack(STACK);
        s.cluster = Some(ClusterSpec {
            name: "c".into(),
            region: None,
            zones: vec![],
            node_groups: vec![],
            nodes: Some(NodeMode::AutoMode),
            file_systems: Vec::new(),
        });
        let ctx = Context::new(&s);
        let p = pools(&ctx);
        assert_eq!(p.len(), 1);
        let web = ctx
            .template_of(ctx.find("Deployment", "app", "web").unwrap())
            .unwrap();
        let one = ctx
            .template_of(ctx.find("Deployment", "app", "one").unwrap())
            .unwrap();
        assert!(admitting(&p, web).is_empty());
        assert_eq!(admitting(&p, one).len(), 1);
    }
}
