//! Benchmark: one simulated week in 15-second steps (40,321 steps), 20 workloads with HPAs
//! on daily load curves (peaks spread over the day), three per-zone m5.large groups of at
//! most 100 nodes each under `--max-nodes-total=300` with balancing.
//!
//! The same week runs again with Karpenter scaling the nodes: a NodePool of m5.large only,
//! limited to 600 vCPUs (300 nodes), consolidating after 5 minutes within the default 10%
//! budget, so that it reaches the same 300 nodes; and once more with any m5 type, which
//! Karpenter packs onto fewer, larger nodes.
//!
//! Method: build the stack once, run `simulate` 5 times per node model in a release build,
//! print each run and the minimum and median wall-clock times with the run's peak nodes and
//! pods (so a change that makes the run do less work shows). Run with
//! `cargo bench -p berth-simulate --bench week`. The goal (PRODUCT.md) is under one second.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use berth_model::{
    ClusterSpec, NodeGroupSpec, NodeMode, Object, Origin, Profile, SourceFile, Stack,
};
use berth_simulate::load::{Curve, Demand};
use berth_simulate::{Load, Series, SimOptions, simulate};
use serde_json::json;

fn obj(value: serde_json::Value) -> Object {
    Object {
        value,
        file: Arc::new(SourceFile::new("bench.yaml", "")),
        doc: 0,
        component: "bench".into(),
        origin: Origin::Manifest,
        positions: Default::default(),
    }
}

fn stack() -> Stack {
    let mut objects = Vec::new();
    for i in 0..20 {
        let name = format!("svc-{i:02}");
        let kind = if i % 5 == 0 {
            "StatefulSet"
        } else {
            "Deployment"
        };
        let annotations = if i % 5 == 0 {
            json!({"berth.dev/holds-queue": "true"})
        } else {
            json!({})
        };
        objects.push(obj(json!({
            "apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"replicas": 3, "podManagementPolicy": "Parallel", "template": {"spec": {"containers": [{
                "name": "main", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}}}
        })));
        objects.push(obj(json!({
            "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": name},
                "minReplicas": 3, "maxReplicas": 60,
                "metrics": [
                    {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
                    {"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 80}}}
                ]}
        })));
    }
    objects.push(obj(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "cluster-autoscaler", "namespace": "kube-system"},
        "spec": {"template": {"spec": {"containers": [{"name": "ca",
            "image": "registry.k8s.io/autoscaling/cluster-autoscaler:v1.33.0",
            "command": ["./cluster-autoscaler", "--balance-similar-node-groups=true", "--max-nodes-total=300",
                "--scale-down-unneeded-time=5m", "--scale-down-delay-after-add=5m"],
            "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}}}]}}}
    })));
    objects.push(obj(json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "node-agent"},
        "spec": {"template": {"spec": {"containers": [{"name": "agent",
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}]}}}
    })));
    Stack {
        name: "bench".into(),
        root: ".".into(),
        namespace: "bench".into(),
        kubernetes: "1.33".into(),
        profile: Profile::Eks,
        components: vec![],
        objects,
        external: vec![],
        cluster: Some(ClusterSpec {
            nodes: None,
            file_systems: Vec::new(),
            name: "bench".into(),
            region: Some("us-east-1".into()),
            zones: vec![
                "us-east-1a".into(),
                "us-east-1b".into(),
                "us-east-1c".into(),
            ],
            node_groups: vec![NodeGroupSpec {
                name: "workers".into(),
                instance_type: "m5.large".into(),
                min: 1,
                max: 100,
                per_zone: true,
                labels: BTreeMap::new(),
            }],
        }),
        values: BTreeMap::new(),
    }
}

fn load() -> Load {
    // Peaks of 18 cores (36 pods at 60% of 500m → 3 per m5.large node; 20 workloads × up to
    // 60 pods would need 400 nodes, so the 300-node cap is reached at the busiest hour).
    let series = (0..20)
        .map(|i| Series {
            workload: format!("svc-{i:02}"),
            origin: "bench".into(),
            curve: Curve::Daily {
                low: Demand {
                    cpu_m: 500.0,
                    mem_mib: Some(1500.0),
                },
                high: Demand {
                    cpu_m: 24000.0,
                    mem_mib: Some(30000.0),
                },
                peak_s: 10.0 * 3600.0 + (i as f64) * 1200.0,
            },
        })
        .collect();
    Load { series }
}

/// The stack with a Karpenter NodePool of `types` (instance types, `[]` for any m5) and a
/// CPU limit.
fn karpenter_stack(types: &[&str], cpu_limit: &str) -> Stack {
    let mut s = stack();
    let requirement = if types.is_empty() {
        json!({"key": "karpenter.k8s.aws/instance-family", "operator": "In", "values": ["m5"]})
    } else {
        json!({"key": "node.kubernetes.io/instance-type", "operator": "In", "values": types})
    };
    s.objects.push(obj(json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "workers"},
        "spec": {"template": {"spec": {"requirements": [requirement]}},
            "limits": {"cpu": cpu_limit},
            "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "5m"}}
    })));
    if let Some(c) = s.cluster.as_mut() {
        c.nodes = Some(NodeMode::Karpenter);
        c.node_groups.clear();
    }
    s
}

/// Runs `simulate` five times and prints each run and the minimum and median.
fn measure(label: &str, stack: &Stack, load: &Load) {
    let opts = SimOptions::default();
    let mut times = Vec::new();
    for run in 0..5 {
        let start = Instant::now();
        let r =
            black_box(simulate(black_box(stack), black_box(load), &opts).expect("simulation runs"));
        let elapsed = start.elapsed();
        println!(
            "run {run}: {:>8.1} ms  ({} steps, peak {} nodes, {} pods, {} scale events, {:.0} node-hours, {} pods evicted)",
            elapsed.as_secs_f64() * 1000.0,
            r.timeline.time_s.len(),
            r.summary.peak_nodes,
            r.summary.peak_pods,
            r.events.len(),
            r.summary.node_hours,
            r.summary.evicted_pods
        );
        times.push(elapsed.as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    println!(
        "simulate ({label}): one week at 15 s, 20 workloads: min {:.1} ms, median {:.1} ms",
        times[0] * 1000.0,
        times[times.len() / 2] * 1000.0
    );
}

fn main() {
    let load = load();
    measure("cluster-autoscaler, up to 300 nodes", &stack(), &load);
    measure(
        "karpenter, m5.large up to 300 nodes",
        &karpenter_stack(&["m5.large"], "600"),
        &load,
    );
    measure(
        "karpenter, any m5 up to 600 vCPUs",
        &karpenter_stack(&[], "600"),
        &load,
    );
}
