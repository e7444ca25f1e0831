//! `simulate` with Karpenter scaling the nodes, end to end through [`simulate`]: a load that
//! rises and falls, the nodes Karpenter launches for it and consolidates after, and what keeps
//! it from consolidating (`consolidateAfter: Never`, `karpenter.sh/do-not-disrupt`).

mod common;

use berth_model::{ClusterSpec, NodeMode, Object, Stack};
use berth_simulate::{Load, Report, SimOptions, simulate};
use serde_json::{Value, json};

use common::{eks_stack, obj};

/// `web`: 500m and 256Mi per pod, an HPA from 2 to 20 replicas at 50% CPU; its pod template
/// carries `annotations`.
fn web(annotations: Value) -> Vec<Object> {
    vec![
        obj(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}, "annotations": annotations},
                    "spec": {"containers": [{"name": "main", "image": "x:1",
                        "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}}]}}}
        })),
        obj(json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2, "maxReplicas": 20,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 50}}}]}
        })),
    ]
}

/// A NodePool of m5 types with `disruption`, and `limits` when given.
fn nodepool(disruption: Value, limits: Option<Value>) -> Object {
    let mut v = json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "general"},
        "spec": {"template": {"spec": {"requirements": [
            {"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["m5"]}]}},
            "disruption": disruption}
    });
    if let Some(l) = limits {
        v["spec"]["limits"] = l;
    }
    obj(v)
}

fn stack(objects: Vec<Object>) -> Stack {
    eks_stack(
        objects,
        ClusterSpec {
            nodes: Some(NodeMode::Karpenter),
            name: "test".into(),
            region: Some("us-east-1".into()),
            zones: vec![],
            node_groups: vec![],
            file_systems: vec![],
        },
    )
}

/// 300m in total, 6000m from 1 min to 20 min, then 300m again; 50 minutes.
fn run(objects: Vec<Object>) -> Report {
    run_stack(&stack(objects))
}

/// [`run`]'s load on a whole stack.
fn run_stack(s: &Stack) -> Report {
    let load = Load::from_csv(
        "load.csv",
        "time_s,workload,cpu_millicores\n0,web,300\n60,web,300\n61,web,6000\n1200,web,6000\n1201,web,300\n",
    )
    .unwrap();
    let opts = SimOptions {
        duration_s: 50 * 60,
        pod_ready_s: 0,
        ..SimOptions::default()
    };
    simulate(s, &load, &opts).expect("simulates")
}

fn nodes_at(r: &Report, t: u64) -> u32 {
    let i = r.timeline.time_s.iter().position(|&x| x == t).unwrap();
    r.timeline.nodes.iter().map(|g| g[i]).sum()
}

fn consolidating(after: &str) -> Value {
    json!({"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": after})
}

#[test]
fn nodes_come_for_the_peak_and_go_after_it_once_consolidate_after_has_passed() {
    let mut objects = web(json!({}));
    objects.push(nodepool(consolidating("2m"), None));
    let r = run(objects);
    // 6000m at 50% of 500m is 24 pods, capped at 20: 10 CPUs of requests.
    assert_eq!(r.workloads[0].peak_replicas, 20);
    assert_eq!(nodes_at(&r, 0), 1, "two pods start on one m5.large");
    assert!(nodes_at(&r, 19 * 60) >= 2, "nodes were added for the peak");
    assert!(
        r.node_groups
            .iter()
            .all(|g| g.instance_type.starts_with("m5.")),
        "only the pool's types: {:?}",
        r.node_groups
    );
    assert!(
        r.summary.pending_pod_seconds > 0,
        "pods waited for their nodes"
    );
    assert_eq!(
        nodes_at(&r, 50 * 60),
        1,
        "after the peak the extra nodes were consolidated away"
    );
    assert!(r.summary.scale_down_events > 0);
    assert_eq!(r.settings.nodes, NodeMode::Karpenter);
    assert_eq!(r.settings.nodepools[0].consolidate_after_s, Some(120));
}

#[test]
fn consolidate_after_never_and_do_not_disrupt_keep_the_nodes() {
    let mut objects = web(json!({}));
    objects.push(nodepool(consolidating("Never"), None));
    let never = run(objects);
    let peak = never.summary.peak_nodes;
    assert!(peak >= 2);
    assert_eq!(nodes_at(&never, 50 * 60), peak, "nothing consolidated");
    assert_eq!(
        never.summary.scale_down_events, 1,
        "only the HPA's scale-down"
    );

    let mut objects = web(json!({"karpenter.sh/do-not-disrupt": "true"}));
    objects.push(nodepool(consolidating("2m"), None));
    let kept = run(objects);
    assert_eq!(kept.summary.evicted_pods, 0, "no pod of web was moved");
    // Nodes left empty by the HPA's scale-down still go; the ones web's pods stay on do not.
    assert!(nodes_at(&kept, 50 * 60) >= 1);
}

#[test]
fn limits_cap_the_nodes_and_leave_pods_pending() {
    let mut objects = web(json!({}));
    objects.push(nodepool(consolidating("2m"), Some(json!({"cpu": "4"}))));
    let r = run(objects);
    // 4 vCPUs of capacity: two m5.large (or one m5.xlarge), 3.86 CPUs allocatable, 7 pods.
    let cpus: u32 = r
        .node_groups
        .iter()
        .map(|g| g.peak_nodes * if g.instance_type == "m5.large" { 2 } else { 4 })
        .sum();
    assert!(cpus <= 4, "{:?}", r.node_groups);
    let i = r
        .timeline
        .time_s
        .iter()
        .position(|&x| x == 19 * 60)
        .unwrap();
    assert!(
        r.timeline.pending[0][i] > 0,
        "pods wait: the pool is at its limit"
    );
}

/// The stack of `run` with two fixed m5.4xlarge nodes (`cluster.nodeGroups`, room for every
/// pod of web) beside the NodePool.
fn with_fixed_nodes(objects: Vec<Object>) -> Stack {
    let mut s = stack(objects);
    let cluster = s.cluster.as_mut().unwrap();
    cluster.node_groups = vec![berth_model::NodeGroupSpec {
        name: "system".into(),
        instance_type: "m5.4xlarge".into(),
        min: 2,
        max: 2,
        per_zone: false,
        labels: Default::default(),
    }];
    s
}

#[test]
fn pods_that_select_the_pool_get_its_nodes_even_beside_fixed_nodes_with_room() {
    let pool_nodes = |r: &Report, t: u64| nodes_at(r, t) - 2;

    let mut objects = web(json!({}));
    objects[0].value["spec"]["template"]["spec"]["nodeSelector"] =
        json!({"karpenter.sh/nodepool": "general"});
    objects.push(nodepool(consolidating("2m"), None));
    let r = run_stack(&with_fixed_nodes(objects));
    assert_eq!(
        pool_nodes(&r, 0),
        1,
        "web's two pods start on a node of the pool"
    );
    assert!(pool_nodes(&r, 19 * 60) >= 2, "the pool grew for the peak");
    assert_eq!(pool_nodes(&r, 50 * 60), 1, "and was consolidated after it");

    // Must not: without the selector web's pods run on the fixed nodes and the pool launches
    // nothing.
    let mut objects = web(json!({}));
    objects.push(nodepool(consolidating("2m"), None));
    let r = run_stack(&with_fixed_nodes(objects));
    assert_eq!(r.summary.peak_nodes, 2);
    assert_eq!(r.summary.pending_pod_seconds, 0);

    // A pod selecting a pool the stack does not have stays pending; nothing is launched.
    let mut objects = web(json!({}));
    objects[0].value["spec"]["template"]["spec"]["nodeSelector"] =
        json!({"karpenter.sh/nodepool": "gpu"});
    objects.push(nodepool(consolidating("2m"), None));
    let r = run_stack(&with_fixed_nodes(objects));
    assert_eq!(r.summary.peak_nodes, 2);
    assert!(r.summary.pending_pod_seconds > 0);
}
