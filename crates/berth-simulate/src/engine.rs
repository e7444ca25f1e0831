//! The simulation loop: workload controllers, scheduler and cluster-autoscaler over discrete
//! time steps, with the HPA controller of [`crate::hpa`].
//!
//! Each step at time `t`, in this order:
//! 1. nodes whose start-up delay has passed become Ready;
//! 2. HPAs sync (every `hpa_sync_s`), reading the load at `t` spread over ready pods;
//! 3. workload controllers create or delete pods to match `spec.replicas` (a Deployment
//!    deletes pending, then not-ready, then the newest pods first; a StatefulSet removes its
//!    highest ordinals, and with `OrderedReady` creates and deletes one pod at a time);
//! 4. the scheduler places pending pods: first fit by CPU, memory and pod count, preferring
//!    the most-allocated node (like the `MostAllocated` scoring strategy; the default
//!    scheduler spreads pods instead, which leaves nodes emptier but needs the same number
//!    of nodes as long as requests decide). Taints, affinity and topology spread are not
//!    modelled. A pod is ready `pod_ready_s` after it is placed;
//! 5. the cluster-autoscaler runs (every `--scan-interval`, default 10 s): pods that fit
//!    on no node and on no node still starting trigger a scale-up, sized by bin-packing onto
//!    template nodes of each group and chosen by the expanders (least-waste by default),
//!    spread over similar groups with `--balance-similar-node-groups`, within group max and
//!    `--max-nodes-total`. New nodes are Ready `node_startup_s` later. If it did not scale
//!    up, nodes whose requested CPU and memory are both under
//!    `--scale-down-utilization-threshold` for `--scale-down-unneeded-time` are removed
//!    (not within `--scale-down-delay-after-add` of a scale-up): empty ones in bulk, else one
//!    whose pods all fit on other nodes and may be evicted; its pods are placed again and
//!    restart.
//!
//! The run starts from a settled cluster: every workload at its replicas (clamped to its
//! HPA's range), all pods ready, each group at its minimum or at as many nodes as those pods
//! need.

use crate::hpa::{HpaState, Observed};
use crate::inputs::{Expander, Inputs};
use crate::instances::MIB;
use crate::load::Curve;
use crate::report::{
    DataLossEvent, NodeGroupReport, Report, ScaleEvent, Scaled, Settings, Summary, Timeline,
    WorkloadReport,
};

const NONE: u32 = u32::MAX;

#[derive(Clone, Debug)]
struct Node {
    group: usize,
    alive: bool,
    ready: bool,
    ready_at: u64,
    used_cpu: i64,
    used_mem: i64,
    pods: u32,
    unevictable: u32,
    unneeded_since: Option<u64>,
    /// Capacity epoch at which a drain check last failed.
    drain_failed_epoch: u64,
}

#[derive(Clone, Copy, Debug)]
struct Pod {
    node: u32,
    ready_at: u64,
    /// Capacity epoch at which scheduling last failed.
    fail_epoch: u64,
}

/// Ready and starting pods of a workload, valid until `valid_until` unless `dirty`.
#[derive(Clone, Copy, Debug, Default)]
struct Counts {
    ready: u32,
    starting: u32,
    valid_until: u64,
    dirty: bool,
}

/// Per-group constants.
#[derive(Clone, Debug)]
struct Group {
    alloc_cpu: i64,
    alloc_mem: i64,
    cap_cpu: i64,
    cap_mem: i64,
    max_pods: u32,
    price: f64,
    min: u32,
    max: u32,
}

/// Demand of one workload, resolved from the load series.
pub(crate) struct WorkloadLoad {
    pub curves: Vec<Curve>,
}

impl WorkloadLoad {
    pub fn at(&self, t: f64) -> (f64, Option<f64>) {
        let mut cpu = 0.0;
        let mut mem = Some(0.0);
        for c in &self.curves {
            let d = c.at(t);
            cpu += d.cpu_m;
            mem = match (mem, d.mem_mib) {
                (Some(a), Some(b)) => Some(a + b),
                _ => None,
            };
        }
        if self.curves.is_empty() {
            mem = None;
        }
        (cpu, mem)
    }
}

/// Last scale direction of a workload or group, for flap counting.
#[derive(Clone, Copy, Debug, Default)]
struct Last {
    time: u64,
    up: Option<bool>,
}

pub(crate) struct Params {
    pub duration_s: u64,
    pub step_s: u64,
    pub hpa_sync_s: u64,
    pub pod_ready_s: u64,
    pub node_startup_s: u64,
    pub flap_window_s: u64,
}

pub(crate) struct Engine<'a> {
    inp: &'a Inputs,
    p: &'a Params,
    labels: Vec<String>,
    loads: Vec<WorkloadLoad>,
    groups: Vec<Group>,
    /// Workload index → HPA index.
    hpa_of: Vec<Option<usize>>,
    t: u64,
    epoch: u64,
    nodes: Vec<Node>,
    free_slots: Vec<u32>,
    starting: Vec<u32>,
    group_size: Vec<u32>,
    group_ready: Vec<u32>,
    pods: Vec<Vec<Pod>>,
    replicas: Vec<u32>,
    hpa_state: Vec<HpaState>,
    next_hpa: u64,
    next_ca: u64,
    last_scale_up: Option<u64>,
    last_scale_down: Option<u64>,
    /// (epoch, pending pods, launched nodes) of the last scale-up attempt that added nothing.
    ca_stuck: Option<(u64, u64, u32)>,
    ds_pods: u32,
    // Results.
    events: Vec<ScaleEvent>,
    data_loss: Vec<DataLossEvent>,
    last_w: Vec<Last>,
    last_g: Vec<Last>,
    w_ups: Vec<u32>,
    w_downs: Vec<u32>,
    w_flaps: Vec<u32>,
    g_ups: Vec<u32>,
    g_downs: Vec<u32>,
    g_flaps: Vec<u32>,
    w_peak: Vec<u32>,
    w_peak_demand: Vec<f64>,
    w_pending_s: Vec<u64>,
    g_peak: Vec<u32>,
    g_node_s: Vec<u64>,
    g_at_max_pending_s: Vec<u64>,
    g_start: Vec<u32>,
    peak_pods: u32,
    peak_nodes: u32,
    timeline: Timeline,
    /// Pods not placed on a node, per workload.
    unplaced: Vec<u32>,
    /// Demand per workload at the current step (CPU millicores, memory MiB).
    demand: Vec<(f64, Option<f64>)>,
    counts: Vec<Counts>,
    /// Bumped whenever a node's requests, readiness or existence change: the autoscaler's
    /// scale-down pass recomputes utilisation only then.
    usage_epoch: u64,
    sd_epoch: u64,
    /// Nothing for scale-down to do before this time unless usage changes.
    sd_idle_until: u64,
}

impl<'a> Engine<'a> {
    pub fn new(
        inp: &'a Inputs,
        p: &'a Params,
        labels: Vec<String>,
        loads: Vec<WorkloadLoad>,
    ) -> Engine<'a> {
        let nw = inp.workloads.len();
        let ng = inp.groups.len();
        let groups = inp
            .groups
            .iter()
            .map(|g| Group {
                alloc_cpu: g.instance.allocatable_cpu_m(),
                alloc_mem: g.instance.allocatable_mem_b(),
                cap_cpu: g.instance.capacity_cpu_m(),
                cap_mem: g.instance.capacity_mem_b(),
                max_pods: g.instance.max_pods,
                price: g.instance.usd_per_hour,
                min: g.min,
                max: g.max,
            })
            .collect();
        let mut hpa_of = vec![None; nw];
        for (i, h) in inp.hpas.iter().enumerate() {
            hpa_of[h.target] = Some(i);
        }
        let replicas = inp
            .workloads
            .iter()
            .enumerate()
            .map(|(w, spec)| match hpa_of[w] {
                Some(h) => spec
                    .replicas
                    .clamp(inp.hpas[h].min, inp.hpas[h].max.max(inp.hpas[h].min)),
                None => spec.replicas,
            })
            .collect();
        let steps = (p.duration_s / p.step_s + 1) as usize;
        let series = |n: usize| {
            (0..n)
                .map(|_| Vec::with_capacity(steps))
                .collect::<Vec<_>>()
        };
        let timeline = Timeline {
            time_s: Vec::with_capacity(steps),
            demand_cpu_m: (0..nw).map(|_| Vec::with_capacity(steps)).collect(),
            replicas: series(nw),
            ready: series(nw),
            pending: series(nw),
            nodes: series(ng),
            ready_nodes: series(ng),
        };
        let ds_pods = inp.ds_pods;
        Engine {
            inp,
            p,
            labels,
            loads,
            groups,
            hpa_of,
            t: 0,
            epoch: 1,
            nodes: Vec::new(),
            free_slots: Vec::new(),
            starting: Vec::new(),
            group_size: vec![0; ng],
            group_ready: vec![0; ng],
            pods: vec![Vec::new(); nw],
            replicas,
            hpa_state: vec![HpaState::default(); inp.hpas.len()],
            next_hpa: 0,
            next_ca: 0,
            last_scale_up: None,
            last_scale_down: None,
            ca_stuck: None,
            ds_pods,
            events: Vec::new(),
            data_loss: Vec::new(),
            last_w: vec![Last::default(); nw],
            last_g: vec![Last::default(); ng],
            w_ups: vec![0; nw],
            w_downs: vec![0; nw],
            w_flaps: vec![0; nw],
            g_ups: vec![0; ng],
            g_downs: vec![0; ng],
            g_flaps: vec![0; ng],
            w_peak: vec![0; nw],
            w_peak_demand: vec![0.0; nw],
            w_pending_s: vec![0; nw],
            g_peak: vec![0; ng],
            g_node_s: vec![0; ng],
            g_at_max_pending_s: vec![0; ng],
            g_start: vec![0; ng],
            peak_pods: 0,
            peak_nodes: 0,
            timeline,
            unplaced: vec![0; nw],
            demand: vec![(0.0, None); nw],
            counts: vec![
                Counts {
                    dirty: true,
                    ..Counts::default()
                };
                nw
            ],
            usage_epoch: 1,
            sd_epoch: 0,
            sd_idle_until: 0,
        }
    }

    fn total_nodes(&self) -> u32 {
        self.group_size.iter().sum()
    }

    fn add_node(&mut self, group: usize, ready_at: u64) {
        let node = Node {
            group,
            alive: true,
            ready: ready_at <= self.t,
            ready_at,
            used_cpu: self.inp.ds_cpu_m,
            used_mem: self.inp.ds_mem_b,
            pods: self.ds_pods,
            unevictable: 0,
            unneeded_since: None,
            drain_failed_epoch: 0,
        };
        let id = match self.free_slots.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        self.group_size[group] += 1;
        self.usage_epoch += 1;
        if ready_at <= self.t {
            self.group_ready[group] += 1;
            self.epoch += 1;
        } else {
            self.starting.push(id);
        }
    }

    fn fits(&self, n: &Node, cpu: i64, mem: i64) -> bool {
        let g = &self.groups[n.group];
        n.used_cpu + cpu <= g.alloc_cpu && n.used_mem + mem <= g.alloc_mem && n.pods < g.max_pods
    }

    /// How many pods of (cpu, mem) fit into free room (cpu, mem, pods).
    fn count_fit(free: (i64, i64, i64), cpu: i64, mem: i64) -> i64 {
        let by_cpu = if cpu > 0 { free.0 / cpu } else { i64::MAX };
        let by_mem = if mem > 0 { free.1 / mem } else { i64::MAX };
        by_cpu.min(by_mem).min(free.2).max(0)
    }

    fn place(&mut self, w: usize, i: usize, node: u32) {
        let spec = &self.inp.workloads[w];
        let n = &mut self.nodes[node as usize];
        n.used_cpu += spec.cpu_m;
        n.used_mem += spec.mem_b;
        n.pods += 1;
        if !spec.evictable {
            n.unevictable += 1;
        }
        self.unplaced[w] -= 1;
        self.counts[w].dirty = true;
        self.usage_epoch += 1;
        let pod = &mut self.pods[w][i];
        pod.node = node;
        pod.ready_at = self.t + self.p.pod_ready_s;
    }

    fn unplace(&mut self, w: usize, pod: Pod) {
        if pod.node == NONE {
            return;
        }
        let spec = &self.inp.workloads[w];
        let n = &mut self.nodes[pod.node as usize];
        n.used_cpu -= spec.cpu_m;
        n.used_mem -= spec.mem_b;
        n.pods -= 1;
        if !spec.evictable {
            n.unevictable -= 1;
        }
        self.epoch += 1;
        self.usage_epoch += 1;
        self.counts[w].dirty = true;
    }

    /// The most-allocated ready node the pod fits on.
    fn best_node(&self, cpu: i64, mem: i64, exclude: u32) -> Option<u32> {
        let mut best: Option<(f64, u32)> = None;
        for (id, n) in self.nodes.iter().enumerate() {
            if !n.alive || !n.ready || id as u32 == exclude || !self.fits(n, cpu, mem) {
                continue;
            }
            let g = &self.groups[n.group];
            let score = (n.used_cpu + cpu) as f64 / g.alloc_cpu as f64
                + (n.used_mem + mem) as f64 / g.alloc_mem as f64;
            if best.is_none_or(|b| score > b.0) {
                best = Some((score, id as u32));
            }
        }
        best.map(|b| b.1)
    }

    /// Places pending pods; counts what stays pending.
    fn schedule(&mut self) {
        for w in 0..self.pods.len() {
            let (cpu, mem) = (self.inp.workloads[w].cpu_m, self.inp.workloads[w].mem_b);
            if self.unplaced[w] == 0 {
                continue;
            }
            let mut failed = false;
            for i in 0..self.pods[w].len() {
                let pod = self.pods[w][i];
                if pod.node != NONE {
                    continue;
                }
                if failed || pod.fail_epoch == self.epoch {
                    // Same requests as a pod that just failed, or nothing freed since it failed.
                    self.pods[w][i].fail_epoch = self.epoch;
                    continue;
                }
                match self.best_node(cpu, mem, NONE) {
                    Some(node) => self.place(w, i, node),
                    None => {
                        failed = true;
                        self.pods[w][i].fail_epoch = self.epoch;
                    }
                }
            }
        }
    }

    fn record_event(&mut self, target: Scaled, idx: usize, from: u32, to: u32) {
        let name = match target {
            Scaled::Workload => self.labels[idx].clone(),
            Scaled::NodeGroup => self.inp.groups[idx].name.clone(),
        };
        self.events.push(ScaleEvent {
            time_s: self.t,
            target,
            name,
            from,
            to,
        });
        let up = to > from;
        let (last, ups, downs, flaps) = match target {
            Scaled::Workload => (
                &mut self.last_w[idx],
                &mut self.w_ups[idx],
                &mut self.w_downs[idx],
                &mut self.w_flaps[idx],
            ),
            Scaled::NodeGroup => (
                &mut self.last_g[idx],
                &mut self.g_ups[idx],
                &mut self.g_downs[idx],
                &mut self.g_flaps[idx],
            ),
        };
        if up {
            *ups += 1;
        } else {
            *downs += 1;
        }
        if last.up.is_some_and(|prev| prev != up) && self.t - last.time <= self.p.flap_window_s {
            *flaps += 1;
        }
        *last = Last {
            time: self.t,
            up: Some(up),
        };
    }

    /// Counts (ready, starting) pods of a workload.
    /// Cached until a pod of the workload is placed or removed, or the next one becomes ready.
    fn pod_counts(&mut self, w: usize) -> (u32, u32) {
        let c = &self.counts[w];
        if !c.dirty && self.t < c.valid_until {
            return (c.ready, c.starting);
        }
        let (mut ready, mut starting, mut next) = (0, 0, u64::MAX);
        for p in &self.pods[w] {
            if p.node != NONE {
                if p.ready_at <= self.t {
                    ready += 1;
                } else {
                    starting += 1;
                    next = next.min(p.ready_at);
                }
            }
        }
        self.counts[w] = Counts {
            ready,
            starting,
            valid_until: next,
            dirty: false,
        };
        (ready, starting)
    }

    fn sync_hpas(&mut self) {
        let inp = self.inp;
        for h in 0..inp.hpas.len() {
            let hpa = &inp.hpas[h];
            let w = hpa.target;
            let spec = &inp.workloads[w];
            let (ready, starting) = self.pod_counts(w);
            let (cpu_m, mem_mib) = self.demand[w];
            let obs = Observed {
                current: self.replicas[w],
                ready,
                starting,
                cpu_m,
                mem_b: mem_mib.map(|m| m * MIB as f64),
                req_cpu_m: spec.cpu_m,
                req_mem_b: spec.mem_b,
            };
            if let Ok(desired) = self.hpa_state[h].sync(hpa, &obs, self.t as i64) {
                let current = self.replicas[w];
                if desired != current {
                    self.replicas[w] = desired;
                    self.record_event(Scaled::Workload, w, current, desired);
                    if desired < current && spec.holds_queue {
                        self.data_loss.push(DataLossEvent {
                            time_s: self.t,
                            workload: self.labels[w].clone(),
                            from: current,
                            to: desired,
                            replicas_removed: current - desired,
                        });
                    }
                }
            }
        }
    }

    /// Creates or deletes pods to match `spec.replicas`.
    fn reconcile_workloads(&mut self) {
        let inp = self.inp;
        for w in 0..self.pods.len() {
            let spec = &inp.workloads[w];
            let want = self.replicas[w] as usize;
            let have = self.pods[w].len();
            let new_pod = Pod {
                node: NONE,
                ready_at: u64::MAX,
                fail_epoch: 0,
            };
            if have < want {
                if spec.ordered {
                    // OrderedReady: the next ordinal only once all existing pods are ready.
                    if self.pods[w]
                        .iter()
                        .all(|p| p.node != NONE && p.ready_at <= self.t)
                    {
                        self.pods[w].push(new_pod);
                        self.unplaced[w] += 1;
                    }
                } else {
                    self.pods[w].resize(want, new_pod);
                    self.unplaced[w] += (want - have) as u32;
                }
            } else if have > want {
                let remove = if spec.ordered { 1 } else { have - want };
                for _ in 0..remove {
                    let idx = if spec.kind == "StatefulSet" {
                        self.pods[w].len() - 1
                    } else {
                        self.deletion_candidate(w)
                    };
                    let pod = self.pods[w].remove(idx);
                    if pod.node == NONE {
                        self.unplaced[w] -= 1;
                    }
                    self.unplace(w, pod);
                }
            }
        }
    }

    /// The pod a ReplicaSet deletes first: unscheduled, then not ready, then ready; newest first.
    fn deletion_candidate(&self, w: usize) -> usize {
        let rank = |p: &Pod| {
            if p.node == NONE {
                0
            } else if p.ready_at > self.t {
                1
            } else {
                2
            }
        };
        let pods = &self.pods[w];
        let mut best = pods.len() - 1;
        for i in (0..pods.len()).rev() {
            if rank(&pods[i]) < rank(&pods[best]) {
                best = i;
            }
        }
        best
    }

    fn nodes_ready(&mut self) {
        let t = self.t;
        let mut i = 0;
        while i < self.starting.len() {
            let id = self.starting[i] as usize;
            if self.nodes[id].ready_at <= t {
                self.nodes[id].ready = true;
                self.group_ready[self.nodes[id].group] += 1;
                self.epoch += 1;
                self.usage_epoch += 1;
                self.starting.swap_remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// Pending pods per workload that fit on no node still starting.
    fn unschedulable(&self) -> Vec<(usize, i64)> {
        let mut room: Vec<(i64, i64, i64)> = self
            .starting
            .iter()
            .map(|&id| {
                let n = &self.nodes[id as usize];
                let g = &self.groups[n.group];
                (
                    g.alloc_cpu - n.used_cpu,
                    g.alloc_mem - n.used_mem,
                    g.max_pods as i64 - n.pods as i64,
                )
            })
            .collect();
        let mut out = Vec::new();
        for w in 0..self.pods.len() {
            let mut left = self.unplaced[w] as i64;
            if left == 0 {
                continue;
            }
            let (cpu, mem) = (self.inp.workloads[w].cpu_m, self.inp.workloads[w].mem_b);
            for r in room.iter_mut() {
                let k = Self::count_fit(*r, cpu, mem).min(left);
                *r = (r.0 - k * cpu, r.1 - k * mem, r.2 - k);
                left -= k;
                if left == 0 {
                    break;
                }
            }
            if left > 0 {
                out.push((w, left));
            }
        }
        out
    }

    /// Nodes of group `g` needed for `need` (first fit, largest pods first), at most `limit`:
    /// (nodes, pods helped, CPU and memory of those pods).
    fn estimate(&self, g: usize, need: &[(usize, i64)], limit: u32) -> (u32, i64, i64, i64) {
        let gr = &self.groups[g];
        let empty = (
            gr.alloc_cpu - self.inp.ds_cpu_m,
            gr.alloc_mem - self.inp.ds_mem_b,
            gr.max_pods as i64 - self.ds_pods as i64,
        );
        let mut order: Vec<(usize, i64)> = need.to_vec();
        let size = |w: usize| {
            let s = &self.inp.workloads[w];
            s.cpu_m as f64 / gr.alloc_cpu as f64 + s.mem_b as f64 / gr.alloc_mem as f64
        };
        order.sort_by(|a, b| size(b.0).total_cmp(&size(a.0)));
        let mut bins: Vec<(i64, i64, i64)> = Vec::new();
        let (mut pods, mut cpu_sum, mut mem_sum) = (0, 0, 0);
        for (w, count) in order {
            let (cpu, mem) = (self.inp.workloads[w].cpu_m, self.inp.workloads[w].mem_b);
            if Self::count_fit(empty, cpu, mem) == 0 {
                continue; // never fits a node of this group
            }
            let mut left = count;
            for b in bins.iter_mut() {
                let k = Self::count_fit(*b, cpu, mem).min(left);
                *b = (b.0 - k * cpu, b.1 - k * mem, b.2 - k);
                left -= k;
                if left == 0 {
                    break;
                }
            }
            while left > 0 && (bins.len() as u32) < limit {
                let k = Self::count_fit(empty, cpu, mem).min(left);
                bins.push((empty.0 - k * cpu, empty.1 - k * mem, empty.2 - k));
                left -= k;
            }
            let placed = count - left;
            pods += placed;
            cpu_sum += placed * cpu;
            mem_sum += placed * mem;
        }
        (bins.len() as u32, pods, cpu_sum, mem_sum)
    }

    /// One cluster-autoscaler scale-up attempt; true when nodes were added.
    fn scale_up(&mut self, warm: bool) -> bool {
        let need = self.unschedulable();
        if need.is_empty() {
            return false;
        }
        let pending: i64 = need.iter().map(|n| n.1).sum();
        let key = (self.epoch, pending as u64, self.total_nodes());
        if !warm && self.ca_stuck == Some(key) {
            return false;
        }
        let inp = self.inp;
        let cfg = &inp.autoscaler;
        let total_room = cfg
            .max_nodes_total
            .map_or(u32::MAX, |m| m.saturating_sub(self.total_nodes()));
        // (group, nodes, pods, cpu, mem)
        let mut options = Vec::new();
        for g in 0..self.groups.len() {
            let room = self.groups[g]
                .max
                .saturating_sub(self.group_size[g])
                .min(total_room);
            if room == 0 {
                continue;
            }
            let (nodes, pods, cpu, mem) = self.estimate(g, &need, room);
            if nodes > 0 && pods > 0 {
                options.push((g, nodes, pods, cpu, mem));
            }
        }
        if options.is_empty() {
            self.ca_stuck = Some(key);
            return false;
        }
        for e in &cfg.expander {
            if options.len() <= 1 {
                break;
            }
            let score = |o: &(usize, u32, i64, i64, i64)| -> f64 {
                let g = &self.groups[o.0];
                let n = o.1 as f64;
                match e {
                    // waste.go: (capacity × n − requested) / (capacity × n), CPU plus memory.
                    Expander::LeastWaste => {
                        (g.cap_cpu as f64 * n - o.3 as f64) / (g.cap_cpu as f64 * n)
                            + (g.cap_mem as f64 * n - o.4 as f64) / (g.cap_mem as f64 * n)
                    }
                    Expander::MostPods => -(o.2 as f64),
                    Expander::LeastNodes => n,
                    Expander::Price => g.price * n / o.2 as f64,
                    Expander::First => 0.0,
                }
            };
            let best = options.iter().map(score).fold(f64::INFINITY, f64::min);
            options.retain(|o| (score(o) - best).abs() <= 1e-12);
        }
        let (chosen, nodes, ..) = options[0];
        let mut add = vec![0u32; self.groups.len()];
        let mut total = nodes.min(total_room);
        if cfg.balance_similar_node_groups {
            // Spread over similar groups, filling the smallest first (BalanceScaleUpBetweenGroups).
            let key = &self.inp.groups[chosen].similarity;
            let similar: Vec<usize> = (0..self.groups.len())
                .filter(|&g| {
                    &self.inp.groups[g].similarity == key && self.group_size[g] < self.groups[g].max
                })
                .collect();
            while total > 0 {
                let pick = similar
                    .iter()
                    .copied()
                    .filter(|&g| self.group_size[g] + add[g] < self.groups[g].max)
                    .min_by_key(|&g| (self.group_size[g] + add[g], g));
                match pick {
                    Some(g) => {
                        add[g] += 1;
                        total -= 1;
                    }
                    None => break,
                }
            }
        } else {
            add[chosen] = total;
        }
        let ready_at = if warm {
            self.t
        } else {
            self.t + self.p.node_startup_s
        };
        for (g, &n) in add.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let from = self.group_size[g];
            for _ in 0..n {
                self.add_node(g, ready_at);
            }
            if !warm {
                self.record_event(Scaled::NodeGroup, g, from, from + n);
            }
        }
        if !warm {
            self.last_scale_up = Some(self.t);
        }
        self.ca_stuck = None;
        true
    }

    fn scale_down(&mut self) {
        let inp = self.inp;
        let cfg = &inp.autoscaler;
        if !cfg.scale_down_enabled {
            return;
        }
        let t = self.t;
        let (ds_cpu, ds_mem) = if cfg.ignore_daemonsets_utilization {
            (self.inp.ds_cpu_m, self.inp.ds_mem_b)
        } else {
            (0, 0)
        };
        if self.sd_epoch != self.usage_epoch {
            for n in self.nodes.iter_mut().filter(|n| n.alive && n.ready) {
                let g = &self.groups[n.group];
                let util = ((n.used_cpu - ds_cpu) as f64 / g.alloc_cpu as f64)
                    .max((n.used_mem - ds_mem) as f64 / g.alloc_mem as f64);
                if util < cfg.scale_down_utilization_threshold {
                    n.unneeded_since.get_or_insert(t);
                } else {
                    n.unneeded_since = None;
                }
            }
            self.sd_epoch = self.usage_epoch;
            self.sd_idle_until = 0;
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
        if t < self.sd_idle_until {
            return; // nothing changed and no unneeded node has come due
        }
        let mut candidates: Vec<(f64, u32)> = Vec::new();
        let mut next_due = u64::MAX;
        for (id, n) in self.nodes.iter().enumerate() {
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
                let g = &self.groups[n.group];
                let util = (n.used_cpu as f64 / g.alloc_cpu as f64)
                    .max(n.used_mem as f64 / g.alloc_mem as f64);
                candidates.push((util, id as u32));
            }
        }
        // If this pass removes nothing, the next one can only differ once usage changes (which
        // resets this) or another node comes due.
        self.sd_idle_until = next_due;
        if candidates.is_empty() {
            return;
        }
        candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let mut removed: Vec<(usize, u32)> = Vec::new(); // (group, count)
        let mut bulk = 0;
        for &(_, id) in &candidates {
            let n = &self.nodes[id as usize];
            if n.pods > self.ds_pods || bulk >= cfg.max_empty_bulk_delete {
                continue;
            }
            let g = n.group;
            if self.group_size[g] <= self.groups[g].min {
                continue;
            }
            self.remove_node(id);
            bulk += 1;
            match removed.iter_mut().find(|r| r.0 == g) {
                Some(r) => r.1 += 1,
                None => removed.push((g, 1)),
            }
        }
        if removed.is_empty() {
            for &(_, id) in &candidates {
                let n = &self.nodes[id as usize];
                let g = n.group;
                if n.pods <= self.ds_pods
                    || n.unevictable > 0
                    || self.group_size[g] <= self.groups[g].min
                    || n.drain_failed_epoch == self.epoch
                {
                    continue;
                }
                if self.drain(id) {
                    removed.push((g, 1));
                    break;
                }
                self.nodes[id as usize].drain_failed_epoch = self.epoch;
            }
        }
        for (g, k) in removed {
            let from = self.group_size[g] + k;
            self.record_event(Scaled::NodeGroup, g, from, from - k);
            self.last_scale_down = Some(t);
        }
    }

    fn remove_node(&mut self, id: u32) {
        let n = &mut self.nodes[id as usize];
        n.alive = false;
        n.ready = false;
        self.group_size[n.group] -= 1;
        self.usage_epoch += 1;
        self.group_ready[n.group] -= 1;
        self.free_slots.push(id);
    }

    /// Moves the pods of node `id` elsewhere and removes it, if they all fit on other nodes.
    fn drain(&mut self, id: u32) -> bool {
        let mut on_node: Vec<(usize, i64)> = Vec::new();
        for (w, pods) in self.pods.iter().enumerate() {
            let k = pods.iter().filter(|p| p.node == id).count() as i64;
            if k > 0 {
                on_node.push((w, k));
            }
        }
        let mut room: Vec<(i64, i64, i64)> = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| n.alive && n.ready && *i as u32 != id)
            .map(|(_, n)| {
                let g = &self.groups[n.group];
                (
                    g.alloc_cpu - n.used_cpu,
                    g.alloc_mem - n.used_mem,
                    g.max_pods as i64 - n.pods as i64,
                )
            })
            .collect();
        for &(w, count) in &on_node {
            let (cpu, mem) = (self.inp.workloads[w].cpu_m, self.inp.workloads[w].mem_b);
            let mut left = count;
            for r in room.iter_mut() {
                let k = Self::count_fit(*r, cpu, mem).min(left);
                *r = (r.0 - k * cpu, r.1 - k * mem, r.2 - k);
                left -= k;
                if left == 0 {
                    break;
                }
            }
            if left > 0 {
                return false;
            }
        }
        // Evict: the pods are re-created and placed again, and restart.
        for (w, _) in on_node {
            for i in 0..self.pods[w].len() {
                let pod = self.pods[w][i];
                if pod.node == id {
                    self.unplace(w, pod);
                    self.pods[w][i] = Pod {
                        node: NONE,
                        ready_at: u64::MAX,
                        fail_epoch: 0,
                    };
                    self.unplaced[w] += 1;
                }
            }
        }
        self.remove_node(id);
        self.schedule();
        true
    }

    fn record(&mut self) {
        let t = self.t;
        let step = self.p.step_s;
        self.timeline.time_s.push(t);
        let mut total_pods = 0;
        let mut any_pending = false;
        for w in 0..self.pods.len() {
            let (ready, _) = self.pod_counts(w);
            let (cpu, _) = self.demand[w];
            let pending = self.unplaced[w];
            any_pending |= pending > 0;
            total_pods += self.pods[w].len() as u32;
            self.timeline.demand_cpu_m[w].push(cpu as f32);
            self.timeline.replicas[w].push(self.replicas[w]);
            self.timeline.ready[w].push(ready);
            self.timeline.pending[w].push(pending);
            self.w_peak[w] = self.w_peak[w].max(self.replicas[w]);
            self.w_peak_demand[w] = self.w_peak_demand[w].max(cpu);
            self.w_pending_s[w] += pending as u64 * step;
        }
        let mut total_nodes = 0;
        for g in 0..self.groups.len() {
            let size = self.group_size[g];
            total_nodes += size;
            self.timeline.nodes[g].push(size);
            self.timeline.ready_nodes[g].push(self.group_ready[g]);
            self.g_peak[g] = self.g_peak[g].max(size);
            self.g_node_s[g] += size as u64 * step;
            if any_pending && size >= self.groups[g].max {
                self.g_at_max_pending_s[g] += step;
            }
        }
        self.peak_pods = self.peak_pods.max(total_pods);
        self.peak_nodes = self.peak_nodes.max(total_nodes);
    }

    fn warm_start(&mut self) {
        for g in 0..self.groups.len() {
            for _ in 0..self.groups[g].min {
                self.add_node(g, 0);
            }
        }
        for w in 0..self.pods.len() {
            let n = self.replicas[w] as usize;
            self.pods[w] = vec![
                Pod {
                    node: NONE,
                    ready_at: 0,
                    fail_epoch: 0
                };
                n
            ];
            self.unplaced[w] = n as u32;
        }
        loop {
            self.schedule();
            if !self.scale_up(true) {
                break;
            }
        }
        for pods in &mut self.pods {
            for p in pods.iter_mut().filter(|p| p.node != NONE) {
                p.ready_at = 0;
            }
        }
        self.g_start = self.group_size.clone();
    }

    pub fn run(mut self) -> Report {
        self.warm_start();
        let p = self.p;
        let scan = self.inp.autoscaler.scan_interval_s.max(1);
        let mut t = 0;
        loop {
            self.t = t;
            for w in 0..self.loads.len() {
                self.demand[w] = self.loads[w].at(t as f64);
            }
            self.nodes_ready();
            if t >= self.next_hpa {
                self.sync_hpas();
                self.next_hpa += p.hpa_sync_s.max(1);
            }
            self.reconcile_workloads();
            self.schedule();
            if t >= self.next_ca {
                if !self.scale_up(false) {
                    self.scale_down();
                }
                while self.next_ca <= t {
                    self.next_ca += scan;
                }
            }
            self.record();
            if t + p.step_s > p.duration_s {
                break;
            }
            t += p.step_s;
        }
        self.finish()
    }

    fn finish(self) -> Report {
        let p = self.p;
        let inp = self.inp;
        let workloads: Vec<WorkloadReport> = inp
            .workloads
            .iter()
            .enumerate()
            .map(|(w, s)| {
                let hpa = self.hpa_of[w].map(|h| &inp.hpas[h]);
                WorkloadReport {
                    name: self.labels[w].clone(),
                    kind: s.kind.clone(),
                    namespace: s.namespace.clone(),
                    hpa: hpa.map(|h| h.name.clone()),
                    min_replicas: hpa.map_or(s.replicas, |h| h.min),
                    max_replicas: hpa.map_or(s.replicas, |h| h.max),
                    peak_replicas: self.w_peak[w],
                    peak_demand_cpu_m: self.w_peak_demand[w],
                    pending_pod_seconds: self.w_pending_s[w],
                    scale_ups: self.w_ups[w],
                    scale_downs: self.w_downs[w],
                    flaps: self.w_flaps[w],
                    holds_queue: s.holds_queue,
                    pod_cpu_m: s.cpu_m,
                    pod_memory_mib: s.mem_b as f64 / MIB as f64,
                }
            })
            .collect();
        let node_groups: Vec<NodeGroupReport> = inp
            .groups
            .iter()
            .enumerate()
            .map(|(g, s)| {
                let hours = self.g_node_s[g] as f64 / 3600.0;
                NodeGroupReport {
                    name: s.name.clone(),
                    zone: s.zone.clone(),
                    instance_type: s.instance.name.clone(),
                    usd_per_hour: s.instance.usd_per_hour,
                    allocatable_cpu_m: self.groups[g].alloc_cpu,
                    allocatable_memory_mib: self.groups[g].alloc_mem as f64 / MIB as f64,
                    min: s.min,
                    max: s.max,
                    start_nodes: self.g_start[g],
                    peak_nodes: self.g_peak[g],
                    node_hours: hours,
                    cost_usd: hours * s.instance.usd_per_hour,
                    scale_ups: self.g_ups[g],
                    scale_downs: self.g_downs[g],
                    flaps: self.g_flaps[g],
                    seconds_at_max_with_pending: self.g_at_max_pending_s[g],
                }
            })
            .collect();
        let summary = Summary {
            duration_s: p.duration_s,
            step_s: p.step_s,
            pending_pod_seconds: self.w_pending_s.iter().sum(),
            peak_pods: self.peak_pods,
            peak_nodes: self.peak_nodes,
            node_hours: node_groups.iter().map(|g| g.node_hours).sum(),
            cost_usd: node_groups.iter().map(|g| g.cost_usd).sum(),
            scale_up_events: self.events.iter().filter(|e| e.to > e.from).count() as u32,
            scale_down_events: self.events.iter().filter(|e| e.to < e.from).count() as u32,
            flaps: self.w_flaps.iter().chain(&self.g_flaps).sum(),
            data_loss_events: self.data_loss.len() as u32,
            replicas_lost: self.data_loss.iter().map(|d| d.replicas_removed).sum(),
        };
        let settings = Settings {
            hpa_sync_s: p.hpa_sync_s,
            pod_ready_s: p.pod_ready_s,
            node_startup_s: p.node_startup_s,
            flap_window_s: p.flap_window_s,
            daemonset_cpu_m: inp.ds_cpu_m,
            daemonset_memory_mib: inp.ds_mem_b as f64 / MIB as f64,
            autoscaler: inp.autoscaler.clone(),
        };

        Report {
            summary,
            workloads,
            node_groups,
            data_loss: self.data_loss,
            events: self.events,
            settings,
            notes: Vec::new(),
            advice: Vec::new(),
            timeline: self.timeline,
        }
    }
}
