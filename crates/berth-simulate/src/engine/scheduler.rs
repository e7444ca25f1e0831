//! The scheduler: places pending pods on Ready nodes.
//!
//! First fit by CPU, memory and pod count on the nodes whose labels meet the pod's node
//! selector and required node affinity ([`Cluster::admits`]), preferring the most-allocated
//! node (like the `MostAllocated` scoring strategy; the default scheduler spreads pods
//! instead, which leaves nodes emptier but needs the same number of nodes as long as requests
//! decide). Taints, preferred affinity, pod affinity and topology spread are not modelled. A
//! pod is Ready `pod_ready_s` after it is placed.

use super::cluster::{Cluster, Room, first_fit_where};

/// Pending pods of a workload that no node, Ready or starting, has room for: what a node
/// autoscaler must add nodes for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Need {
    pub workload: usize,
    pub pods: i64,
}

/// Pending pods per workload that fit on no node still starting (the pods placed first fit
/// there first, the way both autoscalers count nodes in flight).
pub(super) fn unschedulable(c: &Cluster) -> Vec<Need> {
    let mut room: Vec<Room> = c.starting.iter().map(|&id| c.room(id)).collect();
    let mut out = Vec::new();
    for w in 0..c.pods.len() {
        if c.unplaced[w] == 0 {
            continue;
        }
        let admitted = |i: usize| c.admits_on(w, c.starting[i]);
        let left = first_fit_where(
            &mut room,
            c.shapes[w].requests,
            c.unplaced[w] as i64,
            admitted,
        );
        if left > 0 {
            out.push(Need {
                workload: w,
                pods: left,
            });
        }
    }
    out
}

/// The most-allocated Ready node a pod of workload `w` may run on and fits on.
pub(super) fn best_node(c: &Cluster, w: usize) -> Option<u32> {
    let r = c.shapes[w].requests;
    let mut best: Option<(f64, u32)> = None;
    for (id, n) in c.nodes.iter().enumerate() {
        if !n.alive || !n.ready || n.cordoned || !c.admits(w, n.group) || !c.fits(n, r) {
            continue;
        }
        let g = &c.groups[n.group];
        let score = (n.used.cpu_m + r.cpu_m) as f64 / g.allocatable.cpu_m as f64
            + (n.used.mem_b + r.mem_b) as f64 / g.allocatable.mem_b as f64;
        if best.is_none_or(|b| score > b.0) {
            best = Some((score, id as u32));
        }
    }
    best.map(|b| b.1)
}

/// Places the pending pods of every workload; what fits nowhere stays pending.
pub(super) fn schedule(c: &mut Cluster) {
    for w in 0..c.pods.len() {
        if c.unplaced[w] == 0 {
            continue;
        }
        let mut failed = false;
        for i in 0..c.pods[w].len() {
            let pod = c.pods[w][i];
            if pod.placed() {
                continue;
            }
            if failed || pod.fail_epoch == c.epoch {
                // Same requests as a pod that just failed, or nothing freed since it failed.
                c.pods[w][i].fail_epoch = c.epoch;
                continue;
            }
            match best_node(c, w) {
                Some(node) => c.place(w, i, node),
                None => {
                    failed = true;
                    c.pods[w][i].fail_epoch = c.epoch;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::cluster::tests::{group, shape};
    use super::super::cluster::{DaemonSets, Pod};
    use super::*;

    fn cluster(shapes: Vec<super::super::cluster::PodShape>, nodes: usize) -> Cluster {
        let mut c = Cluster::new(vec![group(0, 10)], shapes, DaemonSets::default(), 30);
        for _ in 0..nodes {
            c.add_node(0, 0);
        }
        c
    }

    #[test]
    fn places_pods_by_requests_filling_the_most_allocated_node_first() {
        // Two 2-CPU nodes; 1.5 CPU on node 0, then four 0.5-CPU pods.
        let mut c = cluster(vec![shape(1500, 1), shape(500, 1)], 2);
        c.create_pods(0, 1, Pod::PENDING);
        schedule(&mut c);
        assert_eq!(c.pods[0][0].node, 0);
        c.create_pods(1, 4, Pod::PENDING);
        schedule(&mut c);
        let nodes: Vec<u32> = c.pods[1].iter().map(|p| p.node).collect();
        assert_eq!(nodes, [0, 1, 1, 1], "the fullest node that still has room");
        assert_eq!(c.nodes[0].used.cpu_m, 2000);
        assert_eq!(c.nodes[1].used.cpu_m, 1500);
        assert_eq!(c.unplaced[1], 0);
        assert_eq!(
            c.pods[1][0].ready_at, 30,
            "ready pod_ready_s after placement"
        );
    }

    #[test]
    fn refuses_what_does_not_fit_and_leaves_it_pending() {
        // 1.2 CPU pods: one per 2-CPU node.
        let mut c = cluster(vec![shape(1200, 1)], 2);
        c.create_pods(0, 3, Pod::PENDING);
        schedule(&mut c);
        assert_eq!(c.unplaced[0], 1);
        assert!(!c.pods[0][2].placed());
        assert_eq!(c.pods[0][2].fail_epoch, c.epoch, "remembered as failed");

        // Memory decides as well: 9 GiB fits no 8 GiB node even with CPU to spare.
        let mut c = cluster(vec![shape(100, 9)], 1);
        c.create_pods(0, 1, Pod::PENDING);
        schedule(&mut c);
        assert_eq!(c.unplaced[0], 1);
        assert_eq!(best_node(&c, 0), None);
    }

    #[test]
    fn respects_the_pod_limit_and_skips_nodes_not_ready() {
        let mut c = cluster(vec![shape(0, 0)], 0);
        c.groups[0].max_pods = 2;
        c.add_node(0, 60); // starting, not Ready
        c.add_node(0, 0);
        c.create_pods(0, 3, Pod::PENDING);
        schedule(&mut c);
        let nodes: Vec<u32> = c.pods[0].iter().map(|p| p.node).collect();
        assert_eq!(nodes[..2], [1, 1]);
        assert!(
            !c.pods[0][2].placed(),
            "the only Ready node is full by pod count"
        );
    }

    #[test]
    fn a_pod_that_failed_is_tried_again_only_once_room_may_have_freed() {
        let mut c = cluster(vec![shape(1200, 1)], 1);
        c.create_pods(0, 2, Pod::PENDING);
        schedule(&mut c);
        assert_eq!(c.unplaced[0], 1);
        // A new node raises the epoch: the pending pod is placed on it.
        c.add_node(0, 0);
        schedule(&mut c);
        assert_eq!(c.unplaced[0], 0);
        assert_eq!(c.pods[0][1].node, 1);
    }
}
