//! The recorder: what the other parts did, as the report and the plot read it — scale events
//! with flap counts, data-loss events, the per-step [`Timeline`], and peaks and totals —
//! turned into a [`Report`] at the end.
//!
//! It observes only: nothing here feeds back into the simulation.

use crate::inputs::Inputs;
use crate::instances::MIB;
use crate::report::{
    DataLossEvent, NodeGroupReport, Report, ScaleEvent, Scaled, Settings, Summary, Timeline,
    WorkloadReport,
};

use super::Params;
use super::cluster::NodeGroup;

/// The last scale of a workload or group, for flap counting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LastScale {
    time_s: u64,
    up: bool,
}

/// Scale events of one workload or group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct ScaleCounts {
    pub ups: u32,
    pub downs: u32,
    /// Scales in the opposite direction of the previous one, within the flap window.
    pub flaps: u32,
    last: Option<LastScale>,
}

#[derive(Clone, Debug, Default)]
pub(super) struct WorkloadStats {
    pub scales: ScaleCounts,
    pub peak_replicas: u32,
    pub peak_demand_cpu_m: f64,
    pub pending_pod_s: u64,
    /// Pods evicted because their node was removed.
    pub evicted_pods: u32,
}

#[derive(Clone, Debug, Default)]
pub(super) struct GroupStats {
    pub scales: ScaleCounts,
    /// Nodes after the warm start.
    pub start_nodes: u32,
    pub peak_nodes: u32,
    pub node_s: u64,
    /// Time at its maximum while pods were pending.
    pub at_max_pending_s: u64,
}

/// A workload at one step.
#[derive(Clone, Copy, Debug)]
pub(super) struct WorkloadSample {
    pub demand_cpu_m: f64,
    /// `spec.replicas`.
    pub replicas: u32,
    pub ready: u32,
    pub pending: u32,
    /// Pods that exist, placed or not.
    pub pods: u32,
}

/// A node group at one step.
#[derive(Clone, Copy, Debug)]
pub(super) struct GroupSample {
    pub nodes: u32,
    pub ready_nodes: u32,
    pub at_max: bool,
}

pub(super) struct Recorder {
    /// Names in events: workload labels and node group names.
    workload_names: Vec<String>,
    group_names: Vec<String>,
    flap_window_s: u64,
    step_s: u64,
    pub events: Vec<ScaleEvent>,
    pub data_loss: Vec<DataLossEvent>,
    pub workloads: Vec<WorkloadStats>,
    pub groups: Vec<GroupStats>,
    pub peak_pods: u32,
    pub peak_nodes: u32,
    pub timeline: Timeline,
}

impl Recorder {
    /// A recorder for a run of `steps` steps (the timeline's capacity).
    pub fn new(
        workload_names: Vec<String>,
        group_names: Vec<String>,
        flap_window_s: u64,
        step_s: u64,
        steps: usize,
    ) -> Recorder {
        let (nw, ng) = (workload_names.len(), group_names.len());
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
        Recorder {
            workload_names,
            group_names,
            flap_window_s,
            step_s,
            events: Vec::new(),
            data_loss: Vec::new(),
            workloads: vec![WorkloadStats::default(); nw],
            groups: vec![GroupStats::default(); ng],
            peak_pods: 0,
            peak_nodes: 0,
            timeline,
        }
    }

    /// Workload or group `idx` went from `from` to `to` at `t`.
    pub fn scaled(&mut self, t: u64, target: Scaled, idx: usize, from: u32, to: u32) {
        let (name, counts) = match target {
            Scaled::Workload => (&self.workload_names[idx], &mut self.workloads[idx].scales),
            Scaled::NodeGroup => (&self.group_names[idx], &mut self.groups[idx].scales),
        };
        self.events.push(ScaleEvent {
            time_s: t,
            target,
            name: name.clone(),
            from,
            to,
        });
        let up = to > from;
        if up {
            counts.ups += 1;
        } else {
            counts.downs += 1;
        }
        if counts
            .last
            .is_some_and(|l| l.up != up && t - l.time_s <= self.flap_window_s)
        {
            counts.flaps += 1;
        }
        counts.last = Some(LastScale { time_s: t, up });
    }

    /// `pods` pods of workload `w` were evicted to remove their node.
    pub fn evicted(&mut self, w: usize, pods: u32) {
        self.workloads[w].evicted_pods += pods;
    }

    /// Workload `w`, which holds a queue, was scaled down from `from` to `to` at `t`.
    pub fn data_loss(&mut self, t: u64, w: usize, from: u32, to: u32) {
        self.data_loss.push(DataLossEvent {
            time_s: t,
            workload: self.workload_names[w].clone(),
            from,
            to,
            replicas_removed: from - to,
        });
    }

    /// Records the step at `t`: one sample per workload and per group, in their order.
    pub fn sample(&mut self, t: u64, workloads: &[WorkloadSample], groups: &[GroupSample]) {
        let step = self.step_s;
        self.timeline.time_s.push(t);
        let mut total_pods = 0;
        let mut any_pending = false;
        for (w, s) in workloads.iter().enumerate() {
            any_pending |= s.pending > 0;
            total_pods += s.pods;
            self.timeline.demand_cpu_m[w].push(s.demand_cpu_m as f32);
            self.timeline.replicas[w].push(s.replicas);
            self.timeline.ready[w].push(s.ready);
            self.timeline.pending[w].push(s.pending);
            let stats = &mut self.workloads[w];
            stats.peak_replicas = stats.peak_replicas.max(s.replicas);
            stats.peak_demand_cpu_m = stats.peak_demand_cpu_m.max(s.demand_cpu_m);
            stats.pending_pod_s += s.pending as u64 * step;
        }
        let mut total_nodes = 0;
        for (g, s) in groups.iter().enumerate() {
            total_nodes += s.nodes;
            self.timeline.nodes[g].push(s.nodes);
            self.timeline.ready_nodes[g].push(s.ready_nodes);
            let stats = &mut self.groups[g];
            stats.peak_nodes = stats.peak_nodes.max(s.nodes);
            stats.node_s += s.nodes as u64 * step;
            if any_pending && s.at_max {
                stats.at_max_pending_s += step;
            }
        }
        self.peak_pods = self.peak_pods.max(total_pods);
        self.peak_nodes = self.peak_nodes.max(total_nodes);
    }

    /// The report of the run: `hpa_of` maps a workload to its HPA.
    pub fn report(
        self,
        inp: &Inputs,
        p: &Params,
        hpa_of: &[Option<usize>],
        node_groups: &[NodeGroup],
    ) -> Report {
        let workloads: Vec<WorkloadReport> = inp
            .workloads
            .iter()
            .enumerate()
            .map(|(w, s)| {
                let hpa = hpa_of[w].map(|h| &inp.hpas[h]);
                let stats = &self.workloads[w];
                WorkloadReport {
                    name: self.workload_names[w].clone(),
                    kind: s.kind.clone(),
                    namespace: s.namespace.clone(),
                    hpa: hpa.map(|h| h.name.clone()),
                    min_replicas: hpa.map_or(s.replicas, |h| h.min),
                    max_replicas: hpa.map_or(s.replicas, |h| h.max),
                    peak_replicas: stats.peak_replicas,
                    peak_demand_cpu_m: stats.peak_demand_cpu_m,
                    pending_pod_seconds: stats.pending_pod_s,
                    scale_ups: stats.scales.ups,
                    scale_downs: stats.scales.downs,
                    flaps: stats.scales.flaps,
                    holds_queue: s.holds_queue,
                    evicted_pods: stats.evicted_pods,
                    pod_cpu_m: s.cpu_m,
                    pod_memory_mib: s.mem_b as f64 / MIB as f64,
                }
            })
            .collect();
        let group_reports: Vec<NodeGroupReport> = inp
            .groups
            .iter()
            .enumerate()
            .map(|(g, s)| {
                let stats = &self.groups[g];
                let hours = stats.node_s as f64 / 3600.0;
                NodeGroupReport {
                    name: s.name.clone(),
                    zone: s.zone.clone(),
                    instance_type: s.instance.name.clone(),
                    usd_per_hour: s.instance.usd_per_hour,
                    allocatable_cpu_m: node_groups[g].allocatable.cpu_m,
                    allocatable_memory_mib: node_groups[g].allocatable.mem_b as f64 / MIB as f64,
                    min: s.min,
                    max: s.max,
                    start_nodes: stats.start_nodes,
                    peak_nodes: stats.peak_nodes,
                    node_hours: hours,
                    cost_usd: hours * s.instance.usd_per_hour,
                    scale_ups: stats.scales.ups,
                    scale_downs: stats.scales.downs,
                    flaps: stats.scales.flaps,
                    seconds_at_max_with_pending: stats.at_max_pending_s,
                }
            })
            .collect();
        let summary = Summary {
            duration_s: p.duration_s,
            step_s: p.step_s,
            pending_pod_seconds: self.workloads.iter().map(|w| w.pending_pod_s).sum(),
            peak_pods: self.peak_pods,
            peak_nodes: self.peak_nodes,
            node_hours: group_reports.iter().map(|g| g.node_hours).sum(),
            cost_usd: group_reports.iter().map(|g| g.cost_usd).sum(),
            scale_up_events: self.events.iter().filter(|e| e.to > e.from).count() as u32,
            scale_down_events: self.events.iter().filter(|e| e.to < e.from).count() as u32,
            flaps: self
                .workloads
                .iter()
                .map(|w| &w.scales)
                .chain(self.groups.iter().map(|g| &g.scales))
                .map(|s| s.flaps)
                .sum(),
            data_loss_events: self.data_loss.len() as u32,
            replicas_lost: self.data_loss.iter().map(|d| d.replicas_removed).sum(),
            evicted_pods: self.workloads.iter().map(|w| w.evicted_pods).sum(),
            queue_holder_evictions: inp
                .workloads
                .iter()
                .zip(&self.workloads)
                .filter(|(s, _)| s.holds_queue)
                .map(|(_, w)| w.evicted_pods)
                .sum(),
        };
        let settings = Settings {
            hpa_sync_s: p.hpa_sync_s,
            pod_ready_s: p.pod_ready_s,
            node_startup_s: p.node_startup_s,
            flap_window_s: p.flap_window_s,
            daemonset_cpu_m: inp.ds_cpu_m,
            daemonset_memory_mib: inp.ds_mem_b as f64 / MIB as f64,
            nodes: inp.mode,
            autoscaler: inp.autoscaler.clone(),
            nodepools: inp.pools.clone(),
        };
        Report {
            summary,
            workloads,
            node_groups: group_reports,
            data_loss: self.data_loss,
            events: self.events,
            settings,
            notes: Vec::new(),
            advice: Vec::new(),
            timeline: self.timeline,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder() -> Recorder {
        Recorder::new(vec!["web".into()], vec!["workers".into()], 600, 15, 4)
    }

    #[test]
    fn scale_events_count_ups_downs_and_flaps_within_the_window() {
        let mut r = recorder();
        r.scaled(0, Scaled::Workload, 0, 2, 4);
        r.scaled(300, Scaled::Workload, 0, 4, 2); // opposite within 600 s: a flap
        r.scaled(1000, Scaled::Workload, 0, 2, 1); // same direction: not a flap
        r.scaled(2000, Scaled::Workload, 0, 1, 3); // opposite, but 1000 s later
        r.scaled(2000, Scaled::NodeGroup, 0, 1, 2);
        let s = r.workloads[0].scales;
        assert_eq!((s.ups, s.downs, s.flaps), (2, 2, 1));
        assert_eq!(r.groups[0].scales.ups, 1);
        assert_eq!(
            r.groups[0].scales.flaps, 0,
            "groups count apart from workloads"
        );
        let names: Vec<(&str, u32, u32)> = r
            .events
            .iter()
            .map(|e| (e.name.as_str(), e.from, e.to))
            .collect();
        assert_eq!(names[0], ("web", 2, 4));
        assert_eq!(names[4], ("workers", 1, 2));
    }

    #[test]
    fn samples_become_the_timeline_peaks_and_totals() {
        let mut r = recorder();
        let w = |demand_cpu_m, replicas, ready, pending| WorkloadSample {
            demand_cpu_m,
            replicas,
            ready,
            pending,
            pods: replicas,
        };
        let g = |nodes, at_max| GroupSample {
            nodes,
            ready_nodes: nodes,
            at_max,
        };
        r.sample(0, &[w(100.0, 2, 2, 0)], &[g(1, false)]);
        r.sample(15, &[w(900.0, 5, 2, 3)], &[g(2, true)]);
        r.sample(30, &[w(400.0, 3, 3, 0)], &[g(2, true)]);
        assert_eq!(r.timeline.time_s, [0, 15, 30]);
        assert_eq!(r.timeline.replicas[0], [2, 5, 3]);
        assert_eq!(r.timeline.pending[0], [0, 3, 0]);
        assert_eq!(r.timeline.demand_cpu_m[0], [100.0, 900.0, 400.0]);
        assert_eq!(r.timeline.nodes[0], [1, 2, 2]);
        let ws = &r.workloads[0];
        assert_eq!((ws.peak_replicas, ws.peak_demand_cpu_m), (5, 900.0));
        assert_eq!(ws.pending_pod_s, 3 * 15);
        let gs = &r.groups[0];
        assert_eq!((gs.peak_nodes, gs.node_s), (2, 5 * 15));
        assert_eq!(
            gs.at_max_pending_s, 15,
            "at its maximum with pods pending in one step only"
        );
        assert_eq!((r.peak_pods, r.peak_nodes), (5, 2));
    }

    #[test]
    fn data_loss_names_the_workload_and_the_replicas_removed() {
        let mut r = recorder();
        r.data_loss(60, 0, 5, 2);
        assert_eq!(r.data_loss[0].workload, "web");
        assert_eq!(r.data_loss[0].replicas_removed, 3);
    }
}
