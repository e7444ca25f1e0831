//! Karpenter's disruption controller: which of its nodes to remove or replace, and when.
//!
//! Every pass (Karpenter polls every 10 s), in Karpenter's order:
//! 1. **Expiration** (`expireAfter` from launch): forceful, so neither budgets nor
//!    `karpenter.sh/do-not-disrupt` pods hold it back; the pods are evicted and the provisioner
//!    launches what they need.
//! 2. **Emptiness**: nodes with no pod but DaemonSet pods, once *consolidatable*, removed
//!    together up to the pool's budget for `Empty`.
//! 3. **Underutilisation** (pools with `WhenEmptyOrUnderutilized`, and only when no pod is
//!    pending): first *multi-node* — candidates, fewest pods first (Karpenter's disruption cost),
//!    whose pods all fit on the nodes that stay, removed together up to the budget for
//!    `Underutilized` (at most 100 considered, as Karpenter does); else *single-node* — the
//!    first candidate whose pods fit on the other nodes plus one node of a strictly cheaper
//!    type of its pool, which is launched; the candidate goes once the replacement is Ready.
//!
//! A node is *consolidatable* when it is Ready, no pod was placed on or removed from it for
//! the pool's `consolidateAfter` (`Never` turns consolidation off), and no pod on it carries
//! `karpenter.sh/do-not-disrupt`. Moved pods go only to nodes that are not themselves within
//! their `consolidateAfter` (Karpenter's scheduling simulation skips such nodes for the pods
//! of a candidate, `isUnderConsolidateAfter`), so a load drop that freed room on a node does
//! not let another node's pods move there until its window has passed. PodDisruptionBudgets
//! and drift are not modelled.

use crate::nodepools::{ConsolidationPolicy, Reason};

use super::super::cluster::{Cluster, Room, first_fit};
use super::Pool;
use super::budgets::{self, PoolNodes};

/// Candidates multi-node consolidation considers at most (Karpenter's `MultiNodeConsolidation`
/// caps its search at 100).
const MULTI_NODE_MAX: usize = 100;

/// What a consolidation pass decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(in crate::engine) enum Command {
    /// Remove these nodes; their pods fit on the others.
    Delete(Vec<u32>),
    /// Launch a node of `group` and remove `node` once it is Ready.
    Replace { node: u32, group: usize },
}

/// [`first_fit`] of workload `w`'s pods into the rooms of the nodes in `order` that may run
/// them, recording in `undo` each room it changes, with its value before.
fn fill_logged(
    c: &Cluster,
    w: usize,
    count: i64,
    (rooms, order): (&mut [Room], &[usize]),
    undo: &mut Vec<(usize, Room)>,
) -> i64 {
    let r = c.shapes[w].requests;
    let mut left = count;
    for (i, room) in rooms.iter_mut().enumerate() {
        if left == 0 {
            break;
        }
        if room.pods <= 0 || room.cpu_m < r.cpu_m || room.mem_b < r.mem_b {
            continue;
        }
        if order.get(i).is_some_and(|&id| !c.admits_on(w, id as u32)) {
            continue;
        }
        let before = *room;
        let k = room.fill(r, left);
        if k > 0 {
            undo.push((i, before));
            left -= k;
        }
    }
    left
}

/// Nodes per pool as budgets count them.
pub(in crate::engine) fn pool_nodes(c: &Cluster, pools: &[Pool]) -> Vec<PoolNodes> {
    let mut out = vec![PoolNodes::default(); pools.len()];
    for n in c.nodes.iter().filter(|n| n.alive) {
        if let Some(p) = c.groups[n.group].pool {
            out[p].total += 1;
            if !n.ready {
                out[p].not_ready += 1;
            } else if n.cordoned {
                out[p].deleting += 1;
            }
        }
    }
    out
}

/// Whether Karpenter may consolidate node `id` now (see the module documentation).
pub(in crate::engine) fn consolidatable(c: &Cluster, pools: &[Pool], id: u32) -> bool {
    let n = &c.nodes[id as usize];
    let Some(p) = c.groups[n.group].pool else {
        return false;
    };
    let Some(after) = pools[p].spec.consolidate_after_s else {
        return false;
    };
    n.alive
        && n.ready
        && !n.cordoned
        && n.blocking == 0
        && c.t >= n.pod_event_at.max(n.ready_at) + after
}

/// Whether node `id` is a NodePool's and within its `consolidateAfter` of its last pod change:
/// Karpenter moves no candidate's pods onto it.
fn under_consolidate_after(c: &Cluster, pools: &[Pool], id: u32) -> bool {
    let n = &c.nodes[id as usize];
    let after = c.groups[n.group]
        .pool
        .and_then(|p| pools[p].spec.consolidate_after_s);
    after.is_some_and(|after| c.t < n.pod_event_at.max(n.ready_at) + after)
}

/// Nodes whose `expireAfter` has passed.
pub(in crate::engine) fn expired(c: &Cluster, pools: &[Pool]) -> Vec<u32> {
    (0..c.nodes.len() as u32)
        .filter(|&id| {
            let n = &c.nodes[id as usize];
            let expire = c.groups[n.group]
                .pool
                .and_then(|p| pools[p].spec.expire_after_s);
            n.alive && expire.is_some_and(|e| c.t >= n.launched_at + e)
        })
        .collect()
}

/// Empty consolidatable nodes to remove now, within each pool's budget for `Empty`.
pub(in crate::engine) fn empty(c: &Cluster, pools: &[Pool]) -> Vec<u32> {
    let counts = pool_nodes(c, pools);
    let mut left: Vec<u32> = pools
        .iter()
        .zip(&counts)
        .map(|(p, &n)| budgets::allowed(&p.spec.budgets, Reason::Empty, n))
        .collect();
    let mut out = Vec::new();
    for id in 0..c.nodes.len() as u32 {
        let n = &c.nodes[id as usize];
        if n.alive && n.pods <= c.daemonsets.pods && consolidatable(c, pools, id) {
            let p = c.groups[n.group].pool.unwrap_or_default();
            if left[p] > 0 {
                left[p] -= 1;
                out.push(id);
            }
        }
    }
    out
}

/// One underutilisation pass: a multi-node delete, else a single-node replacement, else
/// nothing.
pub(in crate::engine) fn underutilized(c: &Cluster, pools: &[Pool]) -> Option<Command> {
    if c.unplaced.iter().any(|&u| u > 0) {
        return None; // Karpenter does not consolidate while pods wait for a node
    }
    let counts = pool_nodes(c, pools);
    let mut left: Vec<u32> = pools
        .iter()
        .zip(&counts)
        .map(|(p, &n)| budgets::allowed(&p.spec.budgets, Reason::Underutilized, n))
        .collect();
    let mut candidates: Vec<u32> = (0..c.nodes.len() as u32)
        .filter(|&id| {
            let n = &c.nodes[id as usize];
            let policy = c.groups[n.group]
                .pool
                .map(|p| pools[p].spec.consolidation_policy);
            policy == Some(ConsolidationPolicy::WhenEmptyOrUnderutilized)
                && n.pods > c.daemonsets.pods
                && consolidatable(c, pools, id)
        })
        .collect();
    if candidates.is_empty() {
        return None;
    }
    candidates.sort_by_key(|&id| (c.nodes[id as usize].pods, id));
    // Pods per node, from one pass over all pods.
    let mut on_node: Vec<Vec<(usize, i64)>> = vec![Vec::new(); c.nodes.len()];
    for (w, pods) in c.pods.iter().enumerate() {
        for p in pods.iter().filter(|p| p.placed()) {
            let list = &mut on_node[p.node as usize];
            match list.last_mut() {
                Some((lw, k)) if *lw == w => *k += 1,
                _ => list.push((w, 1)),
            }
        }
    }
    // A room can take a moved pod only if it has the smallest request of a running pod.
    let running = (0..c.pods.len()).filter(|&w| c.pods[w].len() > c.unplaced[w] as usize);
    let smallest = running.fold((i64::MAX, i64::MAX), |(cpu, mem), w| {
        let r = c.shapes[w].requests;
        (cpu.min(r.cpu_m), mem.min(r.mem_b))
    });
    let usable = |id: usize| {
        let n = &c.nodes[id];
        let room = c.room(id as u32);
        n.alive
            && n.ready
            && !n.cordoned
            && !under_consolidate_after(c, pools, id as u32)
            && room.pods > 0
            && room.cpu_m >= smallest.0
            && room.mem_b >= smallest.1
    };
    let zero = Room {
        cpu_m: 0,
        mem_b: 0,
        pods: 0,
    };
    // Rooms that can take a pod, fullest first, so moved pods pack onto the busiest nodes as
    // the scheduler would place them; `at[id]` is node `id`'s position, or the last, always
    // empty one for a node whose room can take nothing.
    let mut order: Vec<usize> = (0..c.nodes.len()).filter(|&id| usable(id)).collect();
    order.sort_by_key(|&id| (c.room(id as u32).cpu_m, id));
    let mut at = vec![order.len(); c.nodes.len()];
    for (i, &id) in order.iter().enumerate() {
        at[id] = i;
    }
    let mut rooms: Vec<Room> = order.iter().map(|&id| c.room(id as u32)).collect();
    rooms.push(zero);
    // Free CPU and memory on all usable nodes: a candidate needing more than the others
    // have free cannot move.
    let (mut free_cpu, mut free_mem) = rooms
        .iter()
        .fold((0, 0), |(a, b), r| (a + r.cpu_m, b + r.mem_b));
    let needs = |id: u32| {
        let n = &c.nodes[id as usize];
        (
            n.used.cpu_m - c.daemonsets.requests.cpu_m,
            n.used.mem_b - c.daemonsets.requests.mem_b,
        )
    };
    // Nodes that took pods of a chosen candidate, which therefore stay.
    let mut took = vec![false; c.nodes.len()];
    let mut chosen: Vec<u32> = Vec::new();
    // (position, room before) of every room a trial changed, to undo a trial that fails.
    let mut undo: Vec<(usize, Room)> = Vec::new();
    for &id in candidates.iter().take(MULTI_NODE_MAX) {
        let p = c.groups[c.nodes[id as usize].group]
            .pool
            .unwrap_or_default();
        let own = rooms[at[id as usize]];
        let (cpu, mem) = needs(id);
        if left[p] == 0
            || took[id as usize]
            || cpu > free_cpu - own.cpu_m
            || mem > free_mem - own.mem_b
        {
            continue;
        }
        undo.clear();
        undo.push((at[id as usize], own));
        rooms[at[id as usize]] = zero;
        let fits = on_node[id as usize]
            .iter()
            .all(|&(w, k)| fill_logged(c, w, k, (&mut rooms, &order), &mut undo) == 0);
        if fits {
            for &(i, _) in &undo[1..] {
                took[order[i]] = true;
            }
            free_cpu -= own.cpu_m + cpu;
            free_mem -= own.mem_b + mem;
            left[p] -= 1;
            chosen.push(id);
        } else {
            for &(i, r) in undo.iter().rev() {
                rooms[i] = r;
            }
        }
    }
    if !chosen.is_empty() {
        return Some(Command::Delete(chosen));
    }
    // Single node: what does not fit elsewhere must fit one cheaper node of the pool.
    let mut rest: Vec<(usize, i64)> = Vec::new();
    for &id in &candidates {
        let n = &c.nodes[id as usize];
        let p = c.groups[n.group].pool.unwrap_or_default();
        let price = c.groups[n.group].usd_per_hour;
        let cheaper = |g: usize| c.groups[g].usd_per_hour < price;
        if left[p] == 0 || !pools[p].groups.iter().any(|&g| cheaper(g)) {
            continue;
        }
        undo.clear();
        undo.push((at[id as usize], rooms[at[id as usize]]));
        rooms[at[id as usize]] = zero;
        rest.clear();
        for &(w, k) in &on_node[id as usize] {
            let l = fill_logged(c, w, k, (&mut rooms, &order), &mut undo);
            if l > 0 {
                rest.push((w, l));
            }
        }
        for &(i, r) in undo.iter().rev() {
            rooms[i] = r;
        }
        let replacement = pools[p].groups.iter().copied().find(|&g| {
            let mut room = [c.empty_room(g)];
            cheaper(g)
                && rest.iter().all(|&(w, k)| {
                    c.admits(w, g) && first_fit(&mut room, c.shapes[w].requests, k) == 0
                })
        });
        if let Some(group) = replacement {
            return Some(Command::Replace { node: id, group });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::super::cluster::tests::{GIB, group, shape};
    use super::super::super::cluster::{DaemonSets, NodeGroup, Pod, PodShape, Resources};
    use super::super::tests::pool;
    use super::*;
    use crate::nodepools::{Budget, BudgetNodes};

    fn sized(cpu: i64, usd: f64) -> NodeGroup {
        let mut g = group(0, u32::MAX);
        g.allocatable = Resources {
            cpu_m: cpu * 1000,
            mem_b: cpu * 4 * GIB,
        };
        g.capacity = g.allocatable;
        g.usd_per_hour = usd;
        g.pool = Some(0);
        g
    }

    /// One pool of 2-, 4- and 8-CPU types, consolidating after 5 minutes.
    fn setup(shapes: Vec<PodShape>) -> (Cluster, Vec<Pool>) {
        let groups = vec![sized(2, 0.1), sized(4, 0.2), sized(8, 0.4)];
        let c = Cluster::new(groups, shapes, DaemonSets::default(), 30);
        let mut p = pool(vec![0, 1, 2]);
        p.spec.consolidate_after_s = Some(300);
        (c, vec![p])
    }

    /// Puts `k` pods of workload `w` on node `id`.
    fn put(c: &mut Cluster, w: usize, id: u32, k: usize) {
        let first = c.pods[w].len();
        c.create_pods(w, k, Pod::PENDING);
        for i in first..first + k {
            c.place(w, i, id);
        }
    }

    #[test]
    fn an_empty_node_goes_only_after_consolidate_after() {
        let (mut c, pools) = setup(vec![shape(500, 1)]);
        c.add_node(0, 0);
        c.add_node(0, 0);
        put(&mut c, 0, 0, 1);
        c.t = 299;
        assert!(empty(&c, &pools).is_empty(), "not before consolidateAfter");
        c.t = 300;
        assert_eq!(empty(&c, &pools), [1], "the empty one, not the busy one");
        // A pod placed and removed at 200 restarts the clock.
        c.t = 200;
        put(&mut c, 0, 1, 1);
        c.delete_pod(0, 1);
        c.t = 300;
        assert!(empty(&c, &pools).is_empty());
        c.t = 500;
        assert_eq!(empty(&c, &pools), [1]);
    }

    #[test]
    fn never_and_static_nodes_are_not_consolidated() {
        let (mut c, mut pools) = setup(vec![shape(500, 1)]);
        pools[0].spec.consolidate_after_s = None;
        c.add_node(0, 0);
        c.t = 10_000;
        assert!(empty(&c, &pools).is_empty(), "consolidateAfter: Never");
        let (mut c, pools) = setup(vec![shape(500, 1)]);
        c.groups[0].pool = None; // a node group of cluster.nodeGroups
        c.add_node(0, 0);
        c.t = 10_000;
        assert!(empty(&c, &pools).is_empty());
    }

    #[test]
    fn budgets_cap_how_many_empty_nodes_go_at_once() {
        let (mut c, mut pools) = setup(vec![]);
        for _ in 0..12 {
            c.add_node(0, 0);
        }
        c.t = 300;
        assert_eq!(empty(&c, &pools).len(), 2, "10% of 12, rounded up");
        pools[0].spec.budgets = vec![Budget {
            nodes: BudgetNodes::Count(0),
            reasons: vec![],
            scheduled: false,
        }];
        assert!(empty(&c, &pools).is_empty());
    }

    #[test]
    fn underused_nodes_whose_pods_fit_elsewhere_are_removed_together() {
        let (mut c, mut pools) = setup(vec![shape(1000, 1)]);
        pools[0].spec.budgets[0].nodes = BudgetNodes::Percent(100);
        // Three 4-CPU nodes with 1, 1 and 2 CPUs used: the two lightest fit on the third.
        for _ in 0..3 {
            c.add_node(1, 0);
        }
        put(&mut c, 0, 0, 1);
        put(&mut c, 0, 1, 1);
        put(&mut c, 0, 2, 2);
        c.t = 299;
        assert_eq!(
            underutilized(&c, &pools),
            None,
            "not before consolidateAfter"
        );
        c.t = 300;
        assert_eq!(underutilized(&c, &pools), Some(Command::Delete(vec![0, 1])));
        // WhenEmpty leaves them.
        pools[0].spec.consolidation_policy = ConsolidationPolicy::WhenEmpty;
        assert_eq!(underutilized(&c, &pools), None);
    }

    #[test]
    fn pods_do_not_move_onto_a_node_within_its_consolidate_after() {
        let (mut c, mut pools) = setup(vec![shape(1000, 1)]);
        pools[0].spec.budgets[0].nodes = BudgetNodes::Percent(100);
        // A 2-CPU node (the cheapest type: no replacement) with 1 CPU used, and a 4-CPU one
        // with 2: the light one fits on the other...
        c.add_node(0, 0);
        c.add_node(1, 0);
        put(&mut c, 0, 0, 1);
        put(&mut c, 0, 1, 3);
        // ...but a pod left node 1 at 200, so until 500 nothing may move onto it.
        c.t = 200;
        c.delete_pod(0, 3);
        c.t = 400;
        assert_eq!(
            underutilized(&c, &pools),
            None,
            "node 1 is within its window"
        );
        // Must act once the window has passed.
        c.t = 500;
        assert_eq!(underutilized(&c, &pools), Some(Command::Delete(vec![0])));
    }

    #[test]
    fn a_do_not_disrupt_pod_keeps_its_node() {
        let mut blocked = shape(1000, 1);
        blocked.do_not_disrupt = true;
        let (mut c, mut pools) = setup(vec![shape(1000, 1), blocked]);
        pools[0].spec.budgets[0].nodes = BudgetNodes::Percent(100);
        c.add_node(1, 0);
        c.add_node(1, 0);
        put(&mut c, 1, 0, 1);
        put(&mut c, 0, 1, 1);
        c.t = 300;
        // Node 0 would be the one to go (fewest pods first, then lowest id), but its pod may
        // not be disrupted: node 1's pod moves to node 0 instead.
        assert_eq!(underutilized(&c, &pools), Some(Command::Delete(vec![1])));
        put(&mut c, 1, 1, 1);
        assert_eq!(
            underutilized(&c, &pools),
            None,
            "both nodes hold such a pod"
        );
    }

    #[test]
    fn a_node_whose_pods_fit_no_other_is_replaced_by_a_cheaper_one() {
        let (mut c, pools) = setup(vec![shape(1000, 1)]);
        // One 8-CPU node running 3 CPUs: a 4-CPU node holds them and costs less.
        c.add_node(2, 0);
        put(&mut c, 0, 0, 3);
        c.t = 300;
        assert_eq!(
            underutilized(&c, &pools),
            Some(Command::Replace { node: 0, group: 1 })
        );
        // Running 5 CPUs, no cheaper type holds them.
        put(&mut c, 0, 0, 2);
        c.t = 600;
        assert_eq!(underutilized(&c, &pools), None);
    }

    #[test]
    fn nothing_is_consolidated_while_pods_are_pending_and_expiry_ignores_budgets() {
        let (mut c, mut pools) = setup(vec![shape(1000, 1)]);
        c.add_node(2, 0);
        put(&mut c, 0, 0, 3);
        c.create_pods(0, 1, Pod::PENDING);
        c.t = 300;
        assert_eq!(underutilized(&c, &pools), None);
        pools[0].spec.expire_after_s = Some(3600);
        pools[0].spec.budgets[0].nodes = BudgetNodes::Count(0);
        assert!(expired(&c, &pools).is_empty());
        c.t = 3600;
        assert_eq!(expired(&c, &pools), [0]);
    }
}
