//! The cluster-autoscaler: scale-up for pods that fit nowhere, scale-down of underused nodes.
//!
//! Each scan (every `--scan-interval`, default 10 s):
//! - pods that fit on no node and on no node still starting trigger a **scale-up**, sized by
//!   bin-packing them onto template nodes of each group and chosen by the expanders
//!   (least-waste by default), spread over similar groups with
//!   `--balance-similar-node-groups`, within the group's max and `--max-nodes-total`. New nodes
//!   are Ready `node_startup_s` later.
//! - If it did not scale up, nodes whose requested CPU and memory are both under
//!   `--scale-down-utilization-threshold` for `--scale-down-unneeded-time` are **removed**
//!   (not within `--scale-down-delay-after-add` of a scale-up, nor
//!   `--scale-down-delay-after-delete` of a removal): empty ones in bulk (up to
//!   `--max-empty-bulk-delete`), else one whose pods all fit on other nodes and may be
//!   evicted; its pods are placed again and restart. No group goes below its minimum.

use crate::inputs::{AutoscalerConfig, Expander};
use crate::report::Scaled;

use super::cluster::{Cluster, Room, first_fit, first_fit_where};
use super::recorder::Recorder;
use super::scheduler;
use super::scheduler::Need;

/// What adding nodes of one group would do for the pods in need.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Estimate {
    nodes: u32,
    /// Pods that would find room on them.
    pods: i64,
    /// Requests of those pods.
    cpu_m: i64,
    mem_b: i64,
}

/// A group the expanders may choose for a scale-up.
#[derive(Clone, Copy, Debug)]
struct ScaleUpOption {
    group: usize,
    estimate: Estimate,
}

/// The state a scale-up attempt that added nothing was made in: the same attempt in the same
/// state would add nothing again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stuck {
    epoch: u64,
    pending: u64,
    nodes: u32,
}

pub(super) struct Autoscaler {
    cfg: AutoscalerConfig,
    node_startup_s: u64,
    last_scale_up: Option<u64>,
    last_scale_down: Option<u64>,
    stuck: Option<Stuck>,
    /// [`Cluster::usage_epoch`] at which nodes were last checked for being unneeded.
    checked_epoch: u64,
    /// Nothing for scale-down to do before this time unless usage changes.
    idle_until: u64,
}

impl Autoscaler {
    pub fn new(cfg: AutoscalerConfig, node_startup_s: u64) -> Autoscaler {
        Autoscaler {
            cfg,
            node_startup_s,
            last_scale_up: None,
            last_scale_down: None,
            stuck: None,
            checked_epoch: 0,
            idle_until: 0,
        }
    }

    /// One scan: a scale-up if pods need one, else a scale-down if nodes are unneeded.
    pub fn scan(&mut self, c: &mut Cluster, rec: &mut Recorder) {
        if !self.scale_up(c, rec, false) {
            self.scale_down(c, rec);
        }
    }

    /// Nodes of group `g` needed for `need` (first fit, largest pods first), at most `limit`.
    fn estimate(c: &Cluster, g: usize, need: &[Need], limit: u32) -> Estimate {
        let gr = &c.groups[g];
        let empty = c.empty_room(g);
        let mut order: Vec<Need> = need.to_vec();
        let size = |w: usize| {
            let r = c.shapes[w].requests;
            r.cpu_m as f64 / gr.allocatable.cpu_m as f64
                + r.mem_b as f64 / gr.allocatable.mem_b as f64
        };
        order.sort_by(|a, b| size(b.workload).total_cmp(&size(a.workload)));
        let mut bins: Vec<Room> = Vec::new();
        let mut est = Estimate {
            nodes: 0,
            pods: 0,
            cpu_m: 0,
            mem_b: 0,
        };
        for Need { workload, pods } in order {
            let r = c.shapes[workload].requests;
            if empty.count_fit(r) == 0 || !c.admits(workload, g) {
                continue; // never fits (or may not run on) a node of this group
            }
            let mut left = first_fit(&mut bins, r, pods);
            while left > 0 && (bins.len() as u32) < limit {
                let mut bin = empty;
                left -= bin.fill(r, left);
                bins.push(bin);
            }
            let placed = pods - left;
            est.pods += placed;
            est.cpu_m += placed * r.cpu_m;
            est.mem_b += placed * r.mem_b;
        }
        est.nodes = bins.len() as u32;
        est
    }

    /// One scale-up attempt; true when nodes were added. `warm` (the settled start) adds
    /// nodes that are Ready at once, and records no event.
    pub fn scale_up(&mut self, c: &mut Cluster, rec: &mut Recorder, warm: bool) -> bool {
        let need = scheduler::unschedulable(c);
        if need.is_empty() {
            return false;
        }
        let pending: i64 = need.iter().map(|n| n.pods).sum();
        let key = Stuck {
            epoch: c.epoch,
            pending: pending as u64,
            nodes: c.total_nodes(),
        };
        if !warm && self.stuck == Some(key) {
            return false;
        }
        let cfg = &self.cfg;
        let total_room = cfg
            .max_nodes_total
            .map_or(u32::MAX, |m| m.saturating_sub(c.total_nodes()));
        let mut options = Vec::new();
        for g in 0..c.groups.len() {
            let room = c.groups[g]
                .max
                .saturating_sub(c.group_size[g])
                .min(total_room);
            if room == 0 {
                continue;
            }
            let estimate = Self::estimate(c, g, &need, room);
            if estimate.nodes > 0 && estimate.pods > 0 {
                options.push(ScaleUpOption { group: g, estimate });
            }
        }
        if options.is_empty() {
            self.stuck = Some(key);
            return false;
        }
        for e in &cfg.expander {
            if options.len() <= 1 {
                break;
            }
            let score = |o: &ScaleUpOption| -> f64 {
                let g = &c.groups[o.group];
                let est = &o.estimate;
                let n = est.nodes as f64;
                match e {
                    // waste.go: (capacity × n − requested) / (capacity × n), CPU plus memory.
                    Expander::LeastWaste => {
                        (g.capacity.cpu_m as f64 * n - est.cpu_m as f64)
                            / (g.capacity.cpu_m as f64 * n)
                            + (g.capacity.mem_b as f64 * n - est.mem_b as f64)
                                / (g.capacity.mem_b as f64 * n)
                    }
                    Expander::MostPods => -(est.pods as f64),
                    Expander::LeastNodes => n,
                    Expander::Price => g.usd_per_hour * n / est.pods as f64,
                    Expander::First => 0.0,
                }
            };
            let best = options.iter().map(score).fold(f64::INFINITY, f64::min);
            options.retain(|o| (score(o) - best).abs() <= 1e-12);
        }
        let chosen = options[0];
        let mut add = vec![0u32; c.groups.len()];
        let mut total = chosen.estimate.nodes.min(total_room);
        if cfg.balance_similar_node_groups {
            // Spread over similar groups, filling the smallest first (BalanceScaleUpBetweenGroups).
            let key = &c.groups[chosen.group].similarity;
            let similar: Vec<usize> = (0..c.groups.len())
                .filter(|&g| &c.groups[g].similarity == key && c.group_size[g] < c.groups[g].max)
                .collect();
            while total > 0 {
                let pick = similar
                    .iter()
                    .copied()
                    .filter(|&g| c.group_size[g] + add[g] < c.groups[g].max)
                    .min_by_key(|&g| (c.group_size[g] + add[g], g));
                match pick {
                    Some(g) => {
                        add[g] += 1;
                        total -= 1;
                    }
                    None => break,
                }
            }
        } else {
            add[chosen.group] = total;
        }
        let ready_at = if warm { c.t } else { c.t + self.node_startup_s };
        for (g, &n) in add.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let from = c.group_size[g];
            for _ in 0..n {
                c.add_node(g, ready_at);
            }
            if !warm {
                rec.scaled(c.t, Scaled::NodeGroup, g, from, from + n);
            }
        }
        if !warm {
            self.last_scale_up = Some(c.t);
        }
        self.stuck = None;
        true
    }

    /// One scale-down pass.
    pub fn scale_down(&mut self, c: &mut Cluster, rec: &mut Recorder) {
        let cfg = &self.cfg;
        if !cfg.scale_down_enabled {
            return;
        }
        let t = c.t;
        let ds = if cfg.ignore_daemonsets_utilization {
            c.daemonsets.requests
        } else {
            Default::default()
        };
        if self.checked_epoch != c.usage_epoch {
            for n in c.nodes.iter_mut().filter(|n| n.alive && n.ready) {
                let g = &c.groups[n.group];
                let util = ((n.used.cpu_m - ds.cpu_m) as f64 / g.allocatable.cpu_m as f64)
                    .max((n.used.mem_b - ds.mem_b) as f64 / g.allocatable.mem_b as f64);
                if util < cfg.scale_down_utilization_threshold {
                    n.unneeded_since.get_or_insert(t);
                } else {
                    n.unneeded_since = None;
                }
            }
            self.checked_epoch = c.usage_epoch;
            self.idle_until = 0;
        }
        if self
            .last_scale_up
            .is_some_and(|s| t < s + cfg.scale_down_delay_after_add_s)
            || self
                .last_scale_down
                .is_some_and(|s| t < s + cfg.scale_down_delay_after_delete_s)
        {
            return;
        }
        if t < self.idle_until {
            return; // nothing changed and no unneeded node has come due
        }
        // (utilisation, node), emptiest first.
        let mut candidates: Vec<(f64, u32)> = Vec::new();
        let mut next_due = u64::MAX;
        for (id, n) in c.nodes.iter().enumerate() {
            if let Some(s) = n.unneeded_since.filter(|_| n.alive && n.ready) {
                let due_at = s + cfg.scale_down_unneeded_time_s;
                if due_at > t {
                    next_due = next_due.min(due_at);
                }
            }
            let due = n
                .unneeded_since
                .is_some_and(|s| t >= s + cfg.scale_down_unneeded_time_s);
            if n.alive && n.ready && due {
                let g = &c.groups[n.group];
                let util = (n.used.cpu_m as f64 / g.allocatable.cpu_m as f64)
                    .max(n.used.mem_b as f64 / g.allocatable.mem_b as f64);
                candidates.push((util, id as u32));
            }
        }
        // If this pass removes nothing, the next one can only differ once usage changes (which
        // resets this) or another node comes due.
        self.idle_until = next_due;
        if candidates.is_empty() {
            return;
        }
        candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        // Nodes removed per group, in the order of the first removal.
        let mut removed: Vec<(usize, u32)> = Vec::new();
        let mut bulk = 0;
        for &(_, id) in &candidates {
            let n = &c.nodes[id as usize];
            if n.pods > c.daemonsets.pods || bulk >= cfg.max_empty_bulk_delete {
                continue;
            }
            let g = n.group;
            if c.group_size[g] <= c.groups[g].min {
                continue;
            }
            c.remove_node(id);
            bulk += 1;
            match removed.iter_mut().find(|r| r.0 == g) {
                Some(r) => r.1 += 1,
                None => removed.push((g, 1)),
            }
        }
        if removed.is_empty() {
            for &(_, id) in &candidates {
                let n = &c.nodes[id as usize];
                let g = n.group;
                if n.pods <= c.daemonsets.pods
                    || n.unevictable > 0
                    || c.group_size[g] <= c.groups[g].min
                    || n.drain_failed_epoch == c.epoch
                {
                    continue;
                }
                if Self::drain(c, id, rec) {
                    removed.push((g, 1));
                    break;
                }
                c.nodes[id as usize].drain_failed_epoch = c.epoch;
            }
        }
        for (g, k) in removed {
            let from = c.group_size[g] + k;
            rec.scaled(t, Scaled::NodeGroup, g, from, from - k);
            self.last_scale_down = Some(t);
        }
    }

    /// Moves the pods of node `id` elsewhere and removes it, if they all fit on other nodes.
    fn drain(c: &mut Cluster, id: u32, rec: &mut Recorder) -> bool {
        let on_node = c.pods_on(id);
        let others: Vec<u32> = (0..c.nodes.len() as u32)
            .filter(|&i| i != id && c.nodes[i as usize].alive && c.nodes[i as usize].ready)
            .collect();
        let mut room: Vec<Room> = others.iter().map(|&i| c.room(i)).collect();
        for &(w, count) in &on_node {
            let admitted = |k: usize| c.admits_on(w, others[k]);
            if first_fit_where(&mut room, c.shapes[w].requests, count, admitted) > 0 {
                return false;
            }
        }
        for (w, k) in c.evict_and_remove(id) {
            rec.evicted(w, k as u32);
        }
        scheduler::schedule(c);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::super::cluster::tests::{group, shape};
    use super::super::cluster::{DaemonSets, NodeGroup, Pod, PodShape};
    use super::*;

    const STARTUP: u64 = 120;

    fn setup(groups: Vec<NodeGroup>, shapes: Vec<PodShape>, cfg: AutoscalerConfig) -> Parts {
        let names = (0..groups.len()).map(|g| format!("g{g}")).collect();
        let workloads = (0..shapes.len()).map(|w| format!("w{w}")).collect();
        Parts {
            c: Cluster::new(groups, shapes, DaemonSets::default(), 30),
            ca: Autoscaler::new(cfg, STARTUP),
            rec: Recorder::new(workloads, names, 600, 15, 1),
        }
    }

    struct Parts {
        c: Cluster,
        ca: Autoscaler,
        rec: Recorder,
    }

    impl Parts {
        fn pending(&mut self, w: usize, n: usize) {
            self.c.create_pods(w, n, Pod::PENDING);
            scheduler::schedule(&mut self.c);
        }

        fn at(&mut self, t: u64) {
            self.c.t = t;
            self.c.nodes_ready();
            scheduler::schedule(&mut self.c);
        }
    }

    #[test]
    fn a_pending_pod_that_fits_nowhere_scales_up_and_its_node_arrives_later() {
        let mut s = setup(
            vec![group(1, 5)],
            vec![shape(1500, 1)],
            AutoscalerConfig::default(),
        );
        s.c.add_node(0, 0);
        s.pending(0, 3); // one fits the node, two need one node each
        assert_eq!(s.c.unplaced[0], 2);
        assert!(s.ca.scale_up(&mut s.c, &mut s.rec, false));
        assert_eq!(s.c.group_size[0], 3);
        assert_eq!(s.c.group_ready[0], 1, "new nodes start");
        let e = &s.rec.events[0];
        assert_eq!((e.name.as_str(), e.from, e.to, e.time_s), ("g0", 1, 3, 0));
        // The pods wait for the nodes, and another scan does not add more for them.
        assert!(!s.ca.scale_up(&mut s.c, &mut s.rec, false));
        s.at(STARTUP);
        assert_eq!(s.c.unplaced[0], 0, "placed once the nodes are Ready");
    }

    #[test]
    fn nothing_pending_scales_nothing_up() {
        let mut s = setup(
            vec![group(1, 5)],
            vec![shape(500, 1)],
            AutoscalerConfig::default(),
        );
        s.c.add_node(0, 0);
        s.pending(0, 3);
        assert_eq!(s.c.unplaced[0], 0);
        assert!(!s.ca.scale_up(&mut s.c, &mut s.rec, false));
        assert_eq!(s.c.group_size[0], 1);
        assert!(s.rec.events.is_empty());
    }

    #[test]
    fn no_scale_up_beyond_the_group_maximum_or_max_nodes_total() {
        let mut s = setup(
            vec![group(1, 2)],
            vec![shape(1500, 1)],
            AutoscalerConfig::default(),
        );
        s.c.add_node(0, 0);
        s.c.add_node(0, 0);
        s.pending(0, 3);
        assert_eq!(s.c.unplaced[0], 1);
        assert!(
            !s.ca.scale_up(&mut s.c, &mut s.rec, false),
            "group at its max"
        );
        assert_eq!(s.c.group_size[0], 2);

        let cfg = AutoscalerConfig {
            max_nodes_total: Some(3),
            ..AutoscalerConfig::default()
        };
        let mut s = setup(vec![group(1, 10)], vec![shape(1500, 1)], cfg);
        s.c.add_node(0, 0);
        s.pending(0, 6);
        assert!(s.ca.scale_up(&mut s.c, &mut s.rec, false));
        assert_eq!(s.c.group_size[0], 3, "five needed, two allowed");
        assert!(!s.ca.scale_up(&mut s.c, &mut s.rec, false));
    }

    #[test]
    fn a_pod_too_big_for_every_group_scales_nothing_up() {
        let mut s = setup(
            vec![group(0, 5)],
            vec![shape(4000, 1)],
            AutoscalerConfig::default(),
        );
        s.pending(0, 1);
        assert!(!s.ca.scale_up(&mut s.c, &mut s.rec, false));
        assert_eq!(s.c.total_nodes(), 0);
    }

    #[test]
    fn least_waste_picks_the_group_the_pods_fill_best() {
        let mut big = group(0, 5);
        big.allocatable.cpu_m = 8000;
        big.capacity.cpu_m = 8000;
        let mut s = setup(
            vec![big, group(0, 5)],
            vec![shape(1500, 1)],
            AutoscalerConfig::default(),
        );
        s.pending(0, 1);
        assert!(s.ca.scale_up(&mut s.c, &mut s.rec, false));
        assert_eq!(
            s.c.group_size,
            [0, 1],
            "1.5 of 2 CPUs wastes less than 1.5 of 8"
        );
    }

    #[test]
    fn balance_similar_node_groups_spreads_a_scale_up() {
        let cfg = AutoscalerConfig {
            balance_similar_node_groups: true,
            ..AutoscalerConfig::default()
        };
        let mut s = setup(
            vec![group(0, 5), group(0, 5), group(0, 5)],
            vec![shape(1500, 1)],
            cfg,
        );
        s.pending(0, 4);
        assert!(s.ca.scale_up(&mut s.c, &mut s.rec, false));
        assert_eq!(s.c.group_size, [2, 1, 1]);
    }

    /// Two Ready nodes, one running a small pod, the other empty; a scale-up at 0 s.
    fn underused(cfg: AutoscalerConfig) -> Parts {
        let mut s = setup(vec![group(1, 5)], vec![shape(200, 1)], cfg);
        s.c.add_node(0, 0);
        s.pending(0, 1);
        s.c.add_node(0, 0);
        s.ca.last_scale_up = Some(0);
        s
    }

    #[test]
    fn scale_down_waits_for_the_delay_after_add_and_the_unneeded_time() {
        let cfg = AutoscalerConfig {
            scale_down_delay_after_add_s: 600,
            scale_down_unneeded_time_s: 300,
            ..AutoscalerConfig::default()
        };
        let mut s = underused(cfg);
        s.at(100);
        s.ca.scale_down(&mut s.c, &mut s.rec);
        assert_eq!(s.c.group_size[0], 2, "unneeded from 100 s, not long enough");
        s.at(450);
        s.ca.scale_down(&mut s.c, &mut s.rec);
        assert_eq!(
            s.c.group_size[0], 2,
            "unneeded long enough, but within the delay after add"
        );
        s.at(600);
        s.ca.scale_down(&mut s.c, &mut s.rec);
        assert_eq!(s.c.group_size[0], 1, "the empty node goes");
        assert!(
            s.c.pods[0][0].placed(),
            "the pod's node stays: the group is at its min"
        );
        let e = s.rec.events.last().unwrap();
        assert_eq!((e.from, e.to, e.time_s), (2, 1, 600));
    }

    #[test]
    fn a_node_above_the_threshold_is_not_unneeded() {
        let cfg = AutoscalerConfig {
            scale_down_delay_after_add_s: 0,
            scale_down_unneeded_time_s: 0,
            ..AutoscalerConfig::default()
        };
        let mut s = setup(vec![group(0, 5)], vec![shape(1200, 1)], cfg);
        s.c.add_node(0, 0);
        s.pending(0, 1); // 60% of the node's CPU
        s.at(1000);
        s.ca.scale_down(&mut s.c, &mut s.rec);
        assert_eq!(s.c.group_size[0], 1);
        assert!(s.rec.events.is_empty());
    }

    /// Node 0 runs a pod of workload 0 (200m, evictable or not), node 1 one of workload 1
    /// (`big_cpu_m`, above the utilisation threshold); scale-down acts at once.
    fn drain_setup(evictable: bool, big_cpu_m: i64) -> Parts {
        let cfg = AutoscalerConfig {
            scale_down_delay_after_add_s: 0,
            scale_down_unneeded_time_s: 0,
            ..AutoscalerConfig::default()
        };
        let mut small = shape(200, 1);
        small.evictable = evictable;
        let mut s = setup(vec![group(0, 5)], vec![small, shape(big_cpu_m, 1)], cfg);
        s.c.add_node(0, 0);
        s.c.add_node(0, 0);
        s.c.create_pods(0, 1, Pod::PENDING);
        s.c.place(0, 0, 0);
        s.c.create_pods(1, 1, Pod::PENDING);
        s.c.place(1, 0, 1);
        s.at(10);
        s
    }

    #[test]
    fn an_underused_node_is_drained_when_its_pods_fit_elsewhere() {
        let mut s = drain_setup(true, 1200);
        s.ca.scale_down(&mut s.c, &mut s.rec);
        assert_eq!(s.c.total_nodes(), 1);
        assert!(!s.c.nodes[0].alive, "the underused node went");
        assert_eq!(s.c.pods[0][0].node, 1, "its pod moved");
        assert_eq!(s.c.pods[0][0].ready_at, 10 + 30, "and restarted");
        let e = &s.rec.events[0];
        assert_eq!((e.from, e.to), (2, 1));
    }

    #[test]
    fn no_drain_when_the_pods_fit_nowhere_else_or_may_not_be_evicted() {
        let mut s = drain_setup(true, 1900);
        s.ca.scale_down(&mut s.c, &mut s.rec);
        assert_eq!(
            s.c.total_nodes(),
            2,
            "200m does not fit in the 100m left on node 1"
        );
        assert_eq!(
            s.c.nodes[0].drain_failed_epoch, s.c.epoch,
            "not tried again until room frees"
        );

        let mut s = drain_setup(false, 1200);
        s.ca.scale_down(&mut s.c, &mut s.rec);
        assert_eq!(s.c.total_nodes(), 2, "safe-to-evict: false keeps the node");
        assert!(s.rec.events.is_empty());
    }

    #[test]
    fn scale_down_disabled_removes_nothing() {
        let mut s = drain_setup(true, 1200);
        s.ca.cfg.scale_down_enabled = false;
        s.c.add_node(0, 10); // empty as well
        s.ca.scale_down(&mut s.c, &mut s.rec);
        assert_eq!(s.c.total_nodes(), 3);
    }
}
