//! Hand-computed scenarios: each test writes out the arithmetic the controllers do.
//!
//! Stacks are built in code (objects from `json!`, no positions), so these tests exercise the
//! simulator alone.

mod common;

use std::collections::BTreeMap;

use berth_model::{ClusterSpec, NodeGroupSpec, Object, Stack};
use berth_simulate::{Load, Scaled, Series, SimOptions, simulate};
use serde_json::{Value, json};

use common::{eks_stack, obj};

fn workload(kind: &str, name: &str, replicas: u32, cpu: &str, annotations: Value) -> Object {
    obj(json!({
        "apiVersion": "apps/v1", "kind": kind,
        "metadata": {"name": name, "namespace": "shop", "annotations": annotations},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": "x:1",
                    "resources": {"requests": {"cpu": cpu, "memory": "256Mi"}}}]}
            }
        }
    }))
}

fn hpa(kind: &str, name: &str, min: u32, max: u32, behavior: Option<Value>) -> Object {
    let mut v = json!({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": name},
            "minReplicas": min, "maxReplicas": max,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 50}}}]
        }
    });
    if let Some(b) = behavior {
        v["spec"]["behavior"] = b;
    }
    obj(v)
}

fn autoscaler(flags: &[&str]) -> Object {
    let mut command = vec!["./cluster-autoscaler", "--cloud-provider=aws"];
    command.extend_from_slice(flags);
    obj(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "cluster-autoscaler", "namespace": "kube-system"},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{
            "name": "cluster-autoscaler",
            "image": "registry.k8s.io/autoscaling/cluster-autoscaler:v1.33.0",
            "command": command,
            "resources": {"requests": {"cpu": "100m", "memory": "300Mi"}}
        }]}}}
    }))
}

fn group(name: &str, instance: &str, min: u32, max: u32, per_zone: bool) -> NodeGroupSpec {
    NodeGroupSpec {
        name: name.into(),
        instance_type: instance.into(),
        min,
        max,
        per_zone,
        labels: BTreeMap::new(),
    }
}

fn stack(objects: Vec<Object>, groups: Vec<NodeGroupSpec>, zones: &[&str]) -> Stack {
    eks_stack(
        objects,
        ClusterSpec {
            nodes: None,
            file_systems: Vec::new(),
            name: "test".into(),
            region: Some("us-east-1".into()),
            zones: zones.iter().map(|z| z.to_string()).collect(),
            node_groups: groups,
        },
    )
}

fn load(shapes: &[&str]) -> Load {
    Load {
        series: shapes
            .iter()
            .map(|s| Series::parse_shape(s).unwrap())
            .collect(),
    }
}

/// Options for hand computation: pods are ready as soon as they are placed.
fn opts(duration_s: u64) -> SimOptions {
    SimOptions {
        duration_s,
        pod_ready_s: 0,
        ..SimOptions::default()
    }
}

/// Replicas of workload `w` at time `t`.
fn replicas_at(r: &berth_simulate::Report, w: usize, t: u64) -> u32 {
    let i = r
        .timeline
        .time_s
        .iter()
        .position(|&x| x == t)
        .expect("a step at that time");
    r.timeline.replicas[w][i]
}

// Workload `web`: 500m per pod, HPA 2..20 at 50% CPU, on two m5.4xlarge nodes (15.89 cores
// allocatable each, room for every pod). Load: 500m in total until 60 s, then 4000m.
fn step_stack(behavior: Option<Value>) -> Stack {
    stack(
        vec![
            workload("Deployment", "web", 2, "500m", json!({})),
            hpa("Deployment", "web", 2, 20, behavior),
        ],
        vec![group("big", "m5.4xlarge", 2, 10, false)],
        &[],
    )
}

#[test]
fn step_load_without_behavior_uses_the_controllers_older_rate_limit() {
    let r = simulate(
        &step_stack(None),
        &load(&["step:web:500:4000:60s"]),
        &opts(300),
    )
    .unwrap();
    // t < 60: 500m / 2 pods = 250m = 50% of 500m: ratio 1.0, within tolerance → 2.
    assert_eq!(replicas_at(&r, 0, 45), 2);
    // t = 60: 4000m / 2 = 2000m = 400% → ratio 8 → ceil(8 × 2) = 16; without `behavior` the
    // controller allows at most max(2 × 2, 4) = 4.
    assert_eq!(replicas_at(&r, 0, 60), 4);
    // t = 75: 4 ready, 1000m each = 200% → ceil(4 × 4) = 16, limit max(2 × 4, 4) = 8.
    assert_eq!(replicas_at(&r, 0, 75), 8);
    // t = 90: 8 ready, 500m each = 100% → ceil(2 × 8) = 16, limit 16.
    assert_eq!(replicas_at(&r, 0, 90), 16);
    // t = 105: 16 ready, 250m each = 50% → ratio 1 → stays 16.
    assert_eq!(replicas_at(&r, 0, 105), 16);
    assert_eq!(replicas_at(&r, 0, 300), 16);
    assert_eq!(r.workloads[0].peak_replicas, 16);
    assert_eq!(r.summary.pending_pod_seconds, 0);
    assert_eq!(r.workloads[0].scale_ups, 3);
}

#[test]
fn step_load_under_the_default_behavior() {
    let r = simulate(
        &step_stack(Some(json!({}))),
        &load(&["step:web:500:4000:60s"]),
        &opts(300),
    )
    .unwrap();
    assert_eq!(replicas_at(&r, 0, 45), 2);
    // t = 60: desired ceil(8 × 2) = 16. Default scaleUp policies per 15 s: Percent 100 →
    // ceil(2 × 2) = 4, Pods 4 → 2 + 4 = 6; selectPolicy Max → 6.
    assert_eq!(replicas_at(&r, 0, 60), 6);
    // t = 75: 4000m / 6 = 666.7 → 667m per pod; utilisation int(667 × 6 × 100 / 3000) = 133%
    // → ratio 2.66 → ceil(2.66 × 6) = 16. The event at t = 60 is not inside (60, 75], so the
    // period starts at 6: max(12, 10) = 12.
    assert_eq!(replicas_at(&r, 0, 75), 12);
    // t = 90: 333m per pod → int(333 × 12 × 100 / 6000) = 66% → 1.32 → ceil(15.84) = 16;
    // limit max(24, 16) = 24 → 16.
    assert_eq!(replicas_at(&r, 0, 90), 16);
    assert_eq!(replicas_at(&r, 0, 105), 16);
}

#[test]
fn scale_down_is_held_by_the_stabilization_window() {
    // Same workload at 16 replicas; load 4000m until 600 s, then 500m.
    let s = stack(
        vec![
            workload("Deployment", "web", 16, "500m", json!({})),
            hpa("Deployment", "web", 2, 20, Some(json!({}))),
        ],
        vec![group("big", "m5.4xlarge", 2, 10, false)],
        &[],
    );
    let r = simulate(&s, &load(&["step:web:4000:500:600s"]), &opts(1200)).unwrap();
    // t < 600: 4000 / 16 = 250m = 50% → 16.
    assert_eq!(replicas_at(&r, 0, 585), 16);
    // From t = 600: 500 / 16 = 31m → int(31 × 100 / 500) = 6% → ratio 0.12 → ceil(1.92) = 2.
    // The default scaleDown window (300 s) keeps the largest recommendation of (t − 300, t]:
    // at t = 870 that still includes t = 585 (16).
    assert_eq!(replicas_at(&r, 0, 600), 16);
    assert_eq!(replicas_at(&r, 0, 870), 16);
    // t = 885: (585, 885] holds only recommendations of 2; Percent 100 per 15 s allows it.
    assert_eq!(replicas_at(&r, 0, 885), 2);
    assert_eq!(r.workloads[0].scale_downs, 1);
    assert_eq!(r.summary.flaps, 0);

    // Without `behavior`, the older rule keeps recommendations at exactly t − 300 too: one
    // sync later.
    let s = stack(
        vec![
            workload("Deployment", "web", 16, "500m", json!({})),
            hpa("Deployment", "web", 2, 20, None),
        ],
        vec![group("big", "m5.4xlarge", 2, 10, false)],
        &[],
    );
    let r = simulate(&s, &load(&["step:web:4000:500:600s"]), &opts(1200)).unwrap();
    assert_eq!(replicas_at(&r, 0, 885), 16);
    assert_eq!(replicas_at(&r, 0, 900), 2);
}

#[test]
fn a_node_group_at_its_maximum_leaves_pods_pending() {
    // `api`: 1000m per pod; an m5.large has 1930m allocatable, so one pod per node. The group
    // starts at 1 node (min 1), max 3. HPA 1..4 without behavior; load 4000m from the start.
    let s = stack(
        vec![
            workload("Deployment", "api", 1, "1000m", json!({})),
            hpa("Deployment", "api", 1, 4, None),
        ],
        vec![group("small", "m5.large", 1, 3, false)],
        &[],
    );
    let o = SimOptions {
        node_startup_s: Some(120),
        ..opts(600)
    };
    let r = simulate(&s, &load(&["const:api:4000"]), &o).unwrap();
    // t = 0: 4000m on 1 pod = 400% → ratio 8 → 8, limited to max(2, 4) = 4 (and maxReplicas 4).
    // 3 new pods do not fit node 1; the autoscaler adds 2 nodes (the group's room), Ready at
    // t = 120. Then 2 pods are placed and 1 stays pending: the group is at its maximum.
    assert_eq!(replicas_at(&r, 0, 0), 4);
    let g = &r.node_groups[0];
    assert_eq!(g.peak_nodes, 3);
    assert_eq!(g.scale_ups, 1);
    let pending_at =
        |t: u64| r.timeline.pending[0][r.timeline.time_s.iter().position(|&x| x == t).unwrap()];
    assert_eq!(pending_at(105), 3);
    assert_eq!(pending_at(120), 1);
    assert_eq!(pending_at(600), 1);
    // Pod-seconds pending: 3 pods × 8 steps (0..105) × 15 s + 1 pod × 33 steps (120..600) × 15 s
    // = 360 + 495 = 855.
    assert_eq!(r.summary.pending_pod_seconds, 855);
    // The group was at 3 nodes (counting starting ones) with pods pending on all 41 steps.
    assert_eq!(g.seconds_at_max_with_pending, 41 * 15);
    // Node-hours: 3 nodes × 41 steps × 15 s = 1845 s = 0.5125 h at $0.096.
    assert!((r.summary.node_hours - 0.5125).abs() < 1e-9);
    assert!((r.summary.cost_usd - 0.5125 * 0.096).abs() < 1e-9);
    assert_eq!(
        r.advice,
        [
            "`small` was at its maximum (3 nodes) while pods were pending for 10m15s: raise its `max` in `cluster.nodeGroups`"
        ]
    );
}

// `api`: 1000m per pod (one per m5.large), HPA 3..9 without behavior, load 9000m; node group
// `workers` per zone in three zones, min 1 max 10 each.
fn zone_stack(flags: &[&str]) -> Stack {
    stack(
        vec![
            workload("Deployment", "api", 3, "1000m", json!({})),
            hpa("Deployment", "api", 3, 9, None),
            autoscaler(flags),
        ],
        vec![group("workers", "m5.large", 1, 10, true)],
        &["us-east-1a", "us-east-1b", "us-east-1c"],
    )
}

#[test]
fn scale_up_is_balanced_across_three_zone_groups() {
    let s = zone_stack(&[
        "--balance-similar-node-groups=true",
        "--expander=least-waste",
    ]);
    let r = simulate(
        &s,
        &load(&["const:api:9000"]),
        &SimOptions {
            node_startup_s: Some(120),
            ..opts(600)
        },
    )
    .unwrap();
    let names: Vec<&str> = r.node_groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "workers-us-east-1a",
            "workers-us-east-1b",
            "workers-us-east-1c"
        ]
    );
    // The autoscaler's own pod (100m) shares a node with one `api` pod (1000m + 100m ≤ 1930m).
    // Start: 3 pods on 3 nodes, one per zone.
    assert!(r.node_groups.iter().all(|g| g.start_nodes == 1));
    // t = 0: 9000m / 3 = 300% → ratio 6 → 18, limit max(6, 4) = 6: 3 pods pending. All three
    // groups waste the same (tie, first wins), then balancing spreads 3 nodes as 1 + 1 + 1.
    // t = 15: 3 ready → 18 → limit 12, maxReplicas 9: 6 pending, 3 of which fit on the 3
    // starting nodes; 3 more nodes, again 1 + 1 + 1.
    let node_events: Vec<(u64, &str, u32, u32)> = r
        .events
        .iter()
        .filter(|e| e.target == Scaled::NodeGroup)
        .map(|e| (e.time_s, e.name.as_str(), e.from, e.to))
        .collect();
    assert_eq!(
        node_events,
        [
            (0, "workers-us-east-1a", 1, 2),
            (0, "workers-us-east-1b", 1, 2),
            (0, "workers-us-east-1c", 1, 2),
            (15, "workers-us-east-1a", 2, 3),
            (15, "workers-us-east-1b", 2, 3),
            (15, "workers-us-east-1c", 2, 3),
        ]
    );
    assert!(r.node_groups.iter().all(|g| g.peak_nodes == 3));
    assert_eq!(replicas_at(&r, 0, 600), 9);
    let last = r.timeline.time_s.len() - 1;
    assert_eq!(r.timeline.pending[0][last], 0);

    // Without --balance-similar-node-groups every node goes to the first group.
    let r = simulate(
        &zone_stack(&[]),
        &load(&["const:api:9000"]),
        &SimOptions {
            node_startup_s: Some(120),
            ..opts(600)
        },
    )
    .unwrap();
    let peaks: Vec<u32> = r.node_groups.iter().map(|g| g.peak_nodes).collect();
    assert_eq!(peaks, [7, 1, 1]);
}

#[test]
fn scaling_down_a_queue_holding_statefulset_is_a_data_loss_event() {
    // `molecule`: StatefulSet holding Atom Queues, 500m per pod, 4 replicas, HPA 2..10 with a
    // 60 s scaleDown window (as in the Boomi reference). Load 1000m until 300 s, then 200m.
    let s = stack(
        vec![
            workload(
                "StatefulSet",
                "molecule",
                4,
                "500m",
                json!({"berth.dev/holds-queue": "true"}),
            ),
            hpa(
                "StatefulSet",
                "molecule",
                2,
                10,
                Some(json!({"scaleDown": {"stabilizationWindowSeconds": 60}})),
            ),
            workload("Deployment", "web", 2, "500m", json!({})),
            hpa("Deployment", "web", 2, 10, None),
        ],
        vec![group("big", "m5.4xlarge", 1, 10, false)],
        &[],
    );
    let r = simulate(
        &s,
        &load(&["step:molecule:1000:200:300s", "step:web:2000:100:300s"]),
        &opts(900),
    )
    .unwrap();
    // t < 300: 1000 / 4 = 250m = 50% → 4.
    assert_eq!(replicas_at(&r, 0, 285), 4);
    // From t = 300: 200 / 4 = 50m = 10% → ratio 0.2 → ceil(0.8) = 1. Window 60 s: at 300, 315
    // and 330 the window (t − 60, t] still holds a 4 (from 255, 270, 285). At 345 it holds
    // only 1s → 1, raised to minReplicas 2 (Percent 100 allows dropping all).
    assert_eq!(replicas_at(&r, 0, 330), 4);
    assert_eq!(replicas_at(&r, 0, 345), 2);
    assert_eq!(r.data_loss.len(), 1);
    let d = &r.data_loss[0];
    assert_eq!(
        (
            d.time_s,
            d.workload.as_str(),
            d.from,
            d.to,
            d.replicas_removed
        ),
        (345, "molecule", 4, 2, 2)
    );
    assert_eq!(r.summary.replicas_lost, 2);
    // OrderedReady removes one ordinal per step: 3 pods at 345, 2 at 360.
    let i = r.timeline.time_s.iter().position(|&x| x == 345).unwrap();
    assert_eq!(r.timeline.ready[0][i], 3);
    assert_eq!(r.timeline.ready[0][i + 1], 2);
    // `web` scaled down too (2000 → 100 over its pods) but holds no queue: no event for it.
    assert!(r.workloads[1].scale_downs >= 1);
    assert!(r.data_loss.iter().all(|d| d.workload == "molecule"));
}

#[test]
fn errors_name_the_problem() {
    let s = step_stack(None);
    let e = simulate(&s, &load(&["const:nope:1"]), &opts(60)).unwrap_err();
    assert!(
        e.to_string().contains("`nope`") && e.to_string().contains("known: web"),
        "{e}"
    );
    let mut s2 = step_stack(None);
    s2.cluster.as_mut().unwrap().node_groups[0].instance_type = "m9.huge".into();
    let e = simulate(&s2, &load(&[]), &opts(60)).unwrap_err();
    assert!(e.to_string().contains("m9.huge"), "{e}");
    let mut s3 = step_stack(None);
    s3.cluster = None;
    assert!(matches!(
        simulate(&s3, &load(&[]), &opts(60)),
        Err(berth_simulate::SimError::NoNodeGroups)
    ));
    let s4 = zone_stack(&["--scale-down-unneeded-time=soon"]);
    let e = simulate(&s4, &load(&[]), &opts(60)).unwrap_err();
    assert!(e.to_string().starts_with("test.yaml:"), "{e}");
    assert!(e.to_string().contains("`soon` is not a duration"), "{e}");
}

// `a` (HPA 1..4, scaleDown window 0) and `b` (fixed 2 replicas), both 600m per pod, on
// m5.large nodes (1930m allocatable: three such pods). Warm start: a0, a1, b0 fill node A
// (1800m); b1 gets node B (600m = 31%, under the 0.5 threshold, so unneeded from t = 0) but
// cannot move while A is full.
fn drain_stack(unneeded: &str) -> Stack {
    stack(
        vec![
            workload("Deployment", "a", 2, "600m", json!({})),
            hpa(
                "Deployment",
                "a",
                1,
                4,
                Some(json!({"scaleDown": {"stabilizationWindowSeconds": 0}})),
            ),
            workload("Deployment", "b", 2, "600m", json!({})),
            autoscaler(&[&format!("--scale-down-unneeded-time={unneeded}")]),
        ],
        vec![group("workers", "m5.large", 1, 3, false)],
        &[],
    )
}

#[test]
fn an_underused_node_is_drained_once_its_pods_fit_elsewhere() {
    // The autoscaler's own pod (100m) is placed in the same first pass, on A: 1900m.
    let o = SimOptions {
        pod_ready_s: 30,
        ..opts(600)
    };
    let r = simulate(&drain_stack("1m"), &load(&["step:a:600:150:60s"]), &o).unwrap();
    assert_eq!(r.node_groups[0].start_nodes, 2);
    // t = 60: `a` at 150m / 2 pods = 75m = 12% → ratio 0.24 → ceil(0.48) = 1; a1 (newest, on
    // A) is deleted. B has been unneeded for 60 s ≥ 1m, and b1 (600m) now fits on A
    // (1900m − 600m + 600m ≤ 1930m): B is drained and removed at t = 60.
    assert_eq!(replicas_at(&r, 0, 60), 1);
    let node_events: Vec<(u64, u32, u32)> = r
        .events
        .iter()
        .filter(|e| e.target == Scaled::NodeGroup)
        .map(|e| (e.time_s, e.from, e.to))
        .collect();
    assert_eq!(node_events, [(60, 2, 1)]);
    // b1 restarts on A: Ready 30 s later.
    let at = |t: u64| r.timeline.time_s.iter().position(|&x| x == t).unwrap();
    assert_eq!(r.timeline.ready[1][at(75)], 1);
    assert_eq!(r.timeline.ready[1][at(90)], 2);
    assert_eq!(r.timeline.pending[1][at(60)], 0);

    // With --scale-down-unneeded-time=5m the same node goes at t = 300 (unneeded since 0).
    let r = simulate(&drain_stack("5m"), &load(&["step:a:600:150:60s"]), &o).unwrap();
    let node_events: Vec<(u64, u32, u32)> = r
        .events
        .iter()
        .filter(|e| e.target == Scaled::NodeGroup)
        .map(|e| (e.time_s, e.from, e.to))
        .collect();
    assert_eq!(node_events, [(300, 2, 1)]);
}

#[test]
fn pods_with_local_storage_keep_their_node_unless_the_autoscaler_is_told_otherwise() {
    // As above, but `b` mounts an emptyDir: with the default --skip-nodes-with-local-storage
    // (true) node B is never drained; with =false it goes at t = 60 as before.
    let with_empty_dir = |flags: &[&str]| {
        let mut b = workload("Deployment", "b", 2, "600m", json!({}));
        b.value["spec"]["template"]["spec"]["volumes"] = json!([{"name": "tmp", "emptyDir": {}}]);
        let mut all = vec!["--scale-down-unneeded-time=1m"];
        all.extend_from_slice(flags);
        stack(
            vec![
                workload("Deployment", "a", 2, "600m", json!({})),
                hpa(
                    "Deployment",
                    "a",
                    1,
                    4,
                    Some(json!({"scaleDown": {"stabilizationWindowSeconds": 0}})),
                ),
                b,
                autoscaler(&all),
            ],
            vec![group("workers", "m5.large", 1, 3, false)],
            &[],
        )
    };
    let o = SimOptions {
        pod_ready_s: 30,
        ..opts(600)
    };
    let r = simulate(&with_empty_dir(&[]), &load(&["step:a:600:150:60s"]), &o).unwrap();
    assert_eq!(r.node_groups[0].scale_downs, 0);
    assert_eq!(r.node_groups[0].peak_nodes, 2);
    let r = simulate(
        &with_empty_dir(&["--skip-nodes-with-local-storage=false"]),
        &load(&["step:a:600:150:60s"]),
        &o,
    )
    .unwrap();
    let downs: Vec<u64> = r
        .events
        .iter()
        .filter(|e| e.target == Scaled::NodeGroup)
        .map(|e| e.time_s)
        .collect();
    assert_eq!(downs, [60]);
}

#[test]
fn the_human_report_and_the_timeline_csv() {
    let s = stack(
        vec![
            workload(
                "StatefulSet",
                "molecule",
                4,
                "500m",
                json!({"berth.dev/holds-queue": "true"}),
            ),
            hpa(
                "StatefulSet",
                "molecule",
                2,
                10,
                Some(json!({"scaleDown": {"stabilizationWindowSeconds": 60}})),
            ),
            workload("Deployment", "huge", 1, "64", json!({})),
        ],
        vec![group("workers", "m5.xlarge", 1, 4, true)],
        &["a", "b"],
    );
    let r = simulate(&s, &load(&["step:molecule:1000:200:300s"]), &opts(900)).unwrap();
    insta::assert_snapshot!(r.to_human());
    let mut csv = Vec::new();
    r.write_timeline_csv(&mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    insta::assert_snapshot!(csv.lines().take(3).collect::<Vec<_>>().join("\n"));
}

#[test]
fn a_load_drives_the_workloads_it_names_the_way_simulate_reads_it_without_node_groups() {
    let mut s = stack(
        vec![
            workload("Deployment", "web", 1, "100m", json!({})),
            workload("StatefulSet", "queue", 1, "100m", json!({})),
            workload("Deployment", "idle", 1, "100m", json!({})),
        ],
        vec![],
        &[],
    );
    s.cluster = None;
    let driven = berth_simulate::driven_workloads(
        &s,
        &load(&[
            "step:web:100:900:30s",
            "const:web:50",
            "ramp:shop/queue:0:400:10s:20s",
        ]),
    )
    .unwrap();
    let names: Vec<(&str, &str, &str)> = driven
        .iter()
        .map(|w| (w.kind.as_str(), w.namespace.as_str(), w.label.as_str()))
        .collect();
    assert_eq!(
        names,
        [
            ("Deployment", "shop", "web"),
            ("StatefulSet", "shop", "queue")
        ]
    );
    // Two series of `web` add up; the curve ends at its last point.
    assert_eq!(driven[0].load.at(0.0).cpu_m, 150.0);
    assert_eq!(driven[0].load.at(31.0).cpu_m, 950.0);
    assert_eq!(driven[0].load.end_s(), Some(30.0));
    assert_eq!(driven[1].load.end_s(), Some(20.0));

    let err = berth_simulate::driven_workloads(&s, &load(&["const:nope:1"])).unwrap_err();
    assert!(err.to_string().contains("`nope`"), "{err}");
}

// Node selection: `web` (500m per pod, HPA 2..20 at 50%) selects `role: web`. Group `general`
// (m5.4xlarge, 2 nodes, room for every pod) lacks the label; group `web` (m5.large, 1.93
// cores, 3 pods of 500m each) has it and scales from 1 to 10. Load: 500m, then 4000m from 60 s
// (16 pods).
fn pinned_stack(selector: Value) -> Stack {
    let mut web = workload("Deployment", "web", 2, "500m", json!({}));
    web.value["spec"]["template"]["spec"]["nodeSelector"] = selector;
    let mut labelled = group("web", "m5.large", 1, 10, false);
    labelled.labels.insert("role".into(), "web".into());
    stack(
        vec![web, hpa("Deployment", "web", 2, 20, None)],
        vec![group("general", "m5.4xlarge", 2, 2, false), labelled],
        &[],
    )
}

#[test]
fn pods_run_only_on_node_groups_whose_labels_they_select() {
    let load = load(&["step:web:500:4000:60s"]);
    let r = simulate(&pinned_stack(json!({"role": "web"})), &load, &opts(600)).unwrap();
    // 16 pods of 500m, 3 per m5.large: 6 nodes of group `web`, though `general` has room.
    assert_eq!(r.workloads[0].peak_replicas, 16);
    let web = r.node_groups.iter().find(|g| g.name == "web").unwrap();
    assert_eq!(web.peak_nodes, 6, "{:?}", r.node_groups);
    assert!(r.summary.pending_pod_seconds > 0, "pods waited for nodes");

    // Must not: without the selector every pod fits on `general`, and `web` stays at 1.
    let r = simulate(&pinned_stack(json!({})), &load, &opts(600)).unwrap();
    let web = r.node_groups.iter().find(|g| g.name == "web").unwrap();
    assert_eq!(web.peak_nodes, 1);
    assert_eq!(r.summary.pending_pod_seconds, 0);

    // A selector no group meets: the pods stay pending and no group scales for them.
    let r = simulate(&pinned_stack(json!({"role": "db"})), &load, &opts(600)).unwrap();
    assert!(r.node_groups.iter().all(|g| g.peak_nodes == g.start_nodes));
    assert!(r.summary.pending_pod_seconds > 0);
}
