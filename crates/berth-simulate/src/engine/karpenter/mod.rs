//! Karpenter as the node autoscaler (`simulate --nodes karpenter`): the [`provisioner`]
//! launches nodes for pods that fit nowhere, the [`disruption`] controller expires, empties
//! and consolidates them within the NodePools' [`budgets`].
//!
//! Every step the provisioner looks at the pending pods (Karpenter batches them for 1–10 s,
//! less than a step); every 10 s the disruption controller runs one pass, and one
//! replacement at a time is in flight: its candidate is cordoned, and removed once the
//! replacement is Ready. The NodePools' nodes are groups of the [`Cluster`], one per pool and
//! instance type; the stack's node groups, if any, stay at their size.

mod budgets;
mod disruption;
mod provisioner;

use crate::inputs::Inputs;
use crate::nodepools::NodePool;
use crate::report::Scaled;

use super::cluster::Cluster;
use super::recorder::Recorder;
use super::scheduler;
use disruption::Command;

/// How often the disruption controller runs (Karpenter's polling period).
const DISRUPTION_PERIOD_S: u64 = 10;

/// A NodePool and the cluster groups that stand for its instance types, cheapest first.
#[derive(Clone, Debug)]
pub(super) struct Pool {
    pub spec: NodePool,
    pub groups: Vec<usize>,
}

/// A consolidation replacement in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Replacement {
    old: u32,
    new: u32,
}

/// The state a provisioning attempt that launched nothing was made in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stuck {
    epoch: u64,
    pending: u64,
    nodes: u32,
}

pub(super) struct Karpenter {
    pools: Vec<Pool>,
    node_startup_s: u64,
    next_disruption: u64,
    replacing: Option<Replacement>,
    stuck: Option<Stuck>,
    /// The cluster state as consolidation sees it (pods placed or removed, nodes added,
    /// removed or Ready: [`Cluster::usage_epoch`] and the node count), and since when it has
    /// not changed (reset every [`RECHECK_S`], as Karpenter's `ConsolidationState` is).
    state: ((u64, u32), u64),
    /// The state in which the last consolidation pass found nothing to do. Karpenter does not
    /// look again until the state changes (`IsConsolidated`): a node whose `consolidateAfter`
    /// runs out meanwhile waits for the next change (a pod placed or removed, and
    /// [`POD_GONE_S`] after a node's last pod change), or for the five-minute recheck.
    consolidated: Option<(u64, u32)>,
}

/// Karpenter looks at an unchanged cluster again after this long (`ConsolidationState` resets
/// five minutes after the last change).
const RECHECK_S: u64 = 300;

/// A deleted pod stays (terminating) for its grace period, 30 s by default, and its going away
/// is one more change; the simulation removes pods at once, so it counts this change then.
/// Nodes keep only the time of their last pod change, placement or removal alike, so a
/// placement counts once more too: an extra look that can only find what one after the
/// placement would.
const POD_GONE_S: u64 = 30;

impl Karpenter {
    pub fn new(inp: &Inputs, node_startup_s: u64) -> Karpenter {
        let pools: Vec<Pool> = inp
            .pools
            .iter()
            .enumerate()
            .map(|(p, spec)| Pool {
                spec: spec.clone(),
                groups: (0..inp.groups.len())
                    .filter(|&g| inp.groups[g].pool == Some(p))
                    .collect(),
            })
            .collect();
        Karpenter {
            pools,
            node_startup_s,
            next_disruption: 0,
            replacing: None,
            stuck: None,
            state: ((0, 0), 0),
            consolidated: None,
        }
    }

    /// One step: provisioning, and a disruption pass when one is due.
    pub fn step(&mut self, c: &mut Cluster, rec: &mut Recorder) {
        self.provision(c, rec, false);
        if c.t >= self.next_disruption {
            self.disrupt(c, rec);
            while self.next_disruption <= c.t {
                self.next_disruption += DISRUPTION_PERIOD_S;
            }
        }
    }

    /// Launches nodes for the pods that fit nowhere; true when it launched any. `warm` (the
    /// settled start) launches nodes that are Ready at once, and records no event.
    pub fn provision(&mut self, c: &mut Cluster, rec: &mut Recorder, warm: bool) -> bool {
        let need = scheduler::unschedulable(c);
        if need.is_empty() {
            return false;
        }
        let key = Stuck {
            epoch: c.epoch,
            pending: need.iter().map(|n| n.pods as u64).sum(),
            nodes: c.total_nodes(),
        };
        if !warm && self.stuck == Some(key) {
            return false;
        }
        let launches = provisioner::plan(c, &self.pools, &need);
        if launches.is_empty() {
            self.stuck = Some(key);
            return false;
        }
        let ready_at = if warm { c.t } else { c.t + self.node_startup_s };
        let mut per_group: Vec<(usize, u32)> = Vec::new();
        for l in &launches {
            match per_group.iter_mut().find(|(g, _)| *g == l.group) {
                Some((_, k)) => *k += 1,
                None => per_group.push((l.group, 1)),
            }
        }
        for (g, k) in per_group {
            let from = c.group_size[g];
            for _ in 0..k {
                c.add_node(g, ready_at);
            }
            if !warm {
                rec.scaled(c.t, Scaled::NodeGroup, g, from, from + k);
            }
        }
        self.stuck = None;
        true
    }

    /// Evicts the pods of `ids` and removes the nodes, recording one scale-down per group.
    fn remove(c: &mut Cluster, rec: &mut Recorder, ids: &[u32]) {
        let mut per_group: Vec<(usize, u32, u32)> = Vec::new();
        for &id in ids {
            let g = c.nodes[id as usize].group;
            match per_group.iter_mut().find(|(pg, _, _)| *pg == g) {
                Some((_, _, k)) => *k += 1,
                None => per_group.push((g, c.group_size[g], 1)),
            }
            for (w, k) in c.evict_and_remove(id) {
                rec.evicted(w, k as u32);
            }
        }
        for (g, from, k) in per_group {
            rec.scaled(c.t, Scaled::NodeGroup, g, from, from - k);
        }
        scheduler::schedule(c);
    }

    /// One pass of the disruption controller (see [`disruption`]).
    fn disrupt(&mut self, c: &mut Cluster, rec: &mut Recorder) {
        if let Some(r) = self.replacing {
            if !c.nodes[r.new as usize].alive {
                // The replacement went (it expired): keep the old node.
                c.nodes[r.old as usize].cordoned = false;
                self.replacing = None;
            } else if c.nodes[r.new as usize].ready {
                self.replacing = None;
                Self::remove(c, rec, &[r.old]);
                return;
            } else {
                return; // Karpenter waits for the replacement before it disrupts more
            }
        }
        let expired = disruption::expired(c, &self.pools);
        if !expired.is_empty() {
            Self::remove(c, rec, &expired);
            return;
        }
        let now = (c.usage_epoch, c.total_nodes());
        // A pod removed at t is gone from the API at t + its grace period: a change again (see
        // POD_GONE_S for placements).
        let gone = c
            .nodes
            .iter()
            .filter(|n| n.alive)
            .map(|n| n.pod_event_at + POD_GONE_S)
            .filter(|&at| at <= c.t)
            .max()
            .unwrap_or(0);
        if now != self.state.0 || c.t >= self.state.1 + RECHECK_S || gone > self.state.1 {
            self.state = (now, c.t);
            self.consolidated = None;
        }
        if self.consolidated == Some(now) {
            return; // nothing changed since a pass found nothing
        }
        let empty = disruption::empty(c, &self.pools);
        if !empty.is_empty() {
            Self::remove(c, rec, &empty);
            return;
        }
        match disruption::underutilized(c, &self.pools) {
            Some(Command::Delete(ids)) => Self::remove(c, rec, &ids),
            Some(Command::Replace { node, group }) => {
                c.nodes[node as usize].cordoned = true;
                let from = c.group_size[group];
                let new = c.add_node(group, c.t + self.node_startup_s);
                rec.scaled(c.t, Scaled::NodeGroup, group, from, from + 1);
                self.replacing = Some(Replacement { old: node, new });
            }
            // With pods pending Karpenter does not consolidate, and their placement is a change.
            None if c.unplaced.iter().all(|&u| u == 0) => self.consolidated = Some(now),
            None => {}
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::cluster::tests::{GIB, group, shape};
    use super::super::cluster::{DaemonSets, NodeGroup, Pod, PodShape, Resources};
    use super::*;
    use crate::nodepools::{Budget, BudgetNodes, ConsolidationPolicy};

    /// A pool over `groups` with Karpenter's defaults but `consolidateAfter: 0s` and
    /// `expireAfter: Never`.
    pub fn pool(groups: Vec<usize>) -> Pool {
        Pool {
            spec: NodePool {
                name: "p".into(),
                requirements: Vec::new(),
                weight: 0,
                cpu_limit_m: None,
                memory_limit_b: None,
                consolidation_policy: ConsolidationPolicy::WhenEmptyOrUnderutilized,
                consolidate_after_s: Some(0),
                budgets: vec![Budget {
                    nodes: BudgetNodes::Percent(10),
                    reasons: vec![],
                    scheduled: false,
                }],
                expire_after_s: None,
                instance_types: Vec::new(),
            },
            groups,
        }
    }

    const STARTUP: u64 = 60;

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

    struct Parts {
        c: Cluster,
        k: Karpenter,
        rec: Recorder,
    }

    fn setup(shapes: Vec<PodShape>) -> Parts {
        let groups = vec![sized(2, 0.1), sized(4, 0.2)];
        let names = vec!["p/small".into(), "p/large".into()];
        let workloads = (0..shapes.len()).map(|w| format!("w{w}")).collect();
        Parts {
            c: Cluster::new(groups, shapes, DaemonSets::default(), 30),
            k: Karpenter {
                pools: vec![pool(vec![0, 1])],
                node_startup_s: STARTUP,
                next_disruption: 0,
                replacing: None,
                stuck: None,
                state: ((0, 0), 0),
                consolidated: None,
            },
            rec: Recorder::new(workloads, names, 600, 15, 1),
        }
    }

    impl Parts {
        fn at(&mut self, t: u64) {
            self.c.t = t;
            self.c.nodes_ready();
            scheduler::schedule(&mut self.c);
            self.k.step(&mut self.c, &mut self.rec);
        }
    }

    #[test]
    fn pending_pods_get_a_node_that_is_removed_once_they_go() {
        let mut s = setup(vec![shape(1000, 1)]);
        s.c.create_pods(0, 3, Pod::PENDING);
        s.at(0);
        assert_eq!(s.c.group_size, [0, 1], "one 4-CPU node for three pods");
        s.at(15);
        assert_eq!(
            s.c.group_size,
            [0, 1],
            "no second node while the first starts"
        );
        s.at(STARTUP);
        assert_eq!(s.c.unplaced[0], 0);
        // The pods go: the empty node is removed at the next pass.
        for _ in 0..3 {
            s.c.delete_pod(0, 0);
        }
        s.at(STARTUP + 10);
        assert_eq!(s.c.group_size, [0, 0]);
        let e: Vec<(u32, u32)> = s.rec.events.iter().map(|e| (e.from, e.to)).collect();
        assert_eq!(e, [(0, 1), (1, 0)]);
    }

    #[test]
    fn a_replacement_goes_in_only_once_ready_and_queue_holders_count_their_evictions() {
        let mut s = setup(vec![shape(1000, 1)]);
        s.c.add_node(1, 0);
        let first = s.c.pods[0].len();
        s.c.create_pods(0, 1, Pod::PENDING);
        s.c.place(0, first, 0);
        s.at(10);
        // One 1-CPU pod on a 4-CPU node: a 2-CPU node is cheaper.
        assert_eq!(s.c.group_size, [1, 1]);
        assert!(s.c.nodes[0].cordoned);
        s.at(30);
        assert_eq!(
            s.c.pods[0][0].node, 0,
            "the pod stays until the replacement is Ready"
        );
        s.at(10 + STARTUP);
        assert_eq!(s.c.group_size, [1, 0]);
        assert_eq!(s.c.pods[0][0].node, 1, "moved to the replacement");
        assert_eq!(s.rec.workloads[0].evicted_pods, 1);
    }
}
