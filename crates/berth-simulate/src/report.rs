//! What a simulation produced: a summary (peaks, pending time, node-hours and cost, scale
//! events and flaps, data-loss events), per-workload and per-node-group figures, and a
//! timeline with one row per step (written as CSV, drawn by [`crate::plot`]).

use std::fmt::Write as _;
use std::io;

use serde::Serialize;

use crate::inputs::AutoscalerConfig;
use crate::nodepools::NodePool;
use berth_model::NodeMode;
use berth_model::duration::format_seconds as format_duration;

/// The outcome of [`crate::simulate`]. Serialises to the stable `--format json` output
/// (the timeline is left out; it is written as CSV).
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub summary: Summary,
    pub workloads: Vec<WorkloadReport>,
    pub node_groups: Vec<NodeGroupReport>,
    /// Scale-downs of workloads marked `berth.dev/holds-queue: "true"`.
    pub data_loss: Vec<DataLossEvent>,
    /// Every change of a workload's replicas (by its HPA) or of a node group's size.
    pub events: Vec<ScaleEvent>,
    pub settings: Settings,
    /// Assumptions made and inputs left out (metric types not simulated, defaults assumed).
    pub notes: Vec<String>,
    /// What to change, derived from the outcome (data loss, groups at their maximum, flaps).
    pub advice: Vec<String>,
    #[serde(skip)]
    pub timeline: Timeline,
}

/// Totals over the whole run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Summary {
    pub duration_s: u64,
    pub step_s: u64,
    /// Sum over steps of pods waiting for a node, × step length.
    pub pending_pod_seconds: u64,
    pub peak_pods: u32,
    pub peak_nodes: u32,
    pub node_hours: f64,
    pub cost_usd: f64,
    pub scale_up_events: u32,
    pub scale_down_events: u32,
    /// Direction reversals of one workload or node group within the flap window.
    pub flaps: u32,
    pub data_loss_events: u32,
    pub replicas_lost: u32,
    /// Pods evicted because the node autoscaler removed (or replaced) their node.
    pub evicted_pods: u32,
    /// Of those, pods of workloads that hold queues (`berth.dev/holds-queue`): each is a
    /// disruption that strands the messages on the pod's volume until it is back.
    pub queue_holder_evictions: u32,
}

/// One workload over the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkloadReport {
    /// `name` or `namespace/name` (as load files name it).
    pub name: String,
    pub kind: String,
    pub namespace: String,
    pub hpa: Option<String>,
    pub min_replicas: u32,
    pub max_replicas: u32,
    pub peak_replicas: u32,
    pub peak_demand_cpu_m: f64,
    pub pending_pod_seconds: u64,
    pub scale_ups: u32,
    pub scale_downs: u32,
    pub flaps: u32,
    pub holds_queue: bool,
    /// Pods evicted because their node was removed.
    pub evicted_pods: u32,
    /// Requests of one pod.
    pub pod_cpu_m: i64,
    pub pod_memory_mib: f64,
}

/// One node group (after per-zone expansion) over the run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodeGroupReport {
    pub name: String,
    pub zone: Option<String>,
    pub instance_type: String,
    pub usd_per_hour: f64,
    pub allocatable_cpu_m: i64,
    pub allocatable_memory_mib: f64,
    pub min: u32,
    /// 4294967295 for a NodePool's instance type (its limits cap the pool, not the type).
    pub max: u32,
    pub start_nodes: u32,
    pub peak_nodes: u32,
    pub node_hours: f64,
    pub cost_usd: f64,
    pub scale_ups: u32,
    pub scale_downs: u32,
    pub flaps: u32,
    /// Seconds during which pods were pending while this group was at its maximum.
    pub seconds_at_max_with_pending: u64,
}

/// A scale-down of a workload whose pods keep messages on their volumes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DataLossEvent {
    pub time_s: u64,
    pub workload: String,
    pub from: u32,
    pub to: u32,
    pub replicas_removed: u32,
}

/// What was scaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scaled {
    /// A Deployment or StatefulSet, by its HPA.
    Workload,
    /// A node group, by the cluster-autoscaler.
    NodeGroup,
}

/// One change of replicas or nodes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ScaleEvent {
    pub time_s: u64,
    pub target: Scaled,
    pub name: String,
    pub from: u32,
    pub to: u32,
}

/// The settings the run used, for the record.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
    pub hpa_sync_s: u64,
    pub pod_ready_s: u64,
    pub node_startup_s: u64,
    pub flap_window_s: u64,
    pub daemonset_cpu_m: i64,
    pub daemonset_memory_mib: f64,
    /// What scaled the nodes: `cluster-autoscaler`, `karpenter` or `auto-mode`.
    pub nodes: NodeMode,
    /// The cluster-autoscaler's settings (its defaults under Karpenter, where they are unused).
    pub autoscaler: AutoscalerConfig,
    /// Karpenter's NodePools (empty for the cluster-autoscaler).
    pub nodepools: Vec<NodePool>,
}

/// Values at every step, column by column.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timeline {
    pub time_s: Vec<u64>,
    /// Per workload (in [`Report::workloads`] order).
    pub demand_cpu_m: Vec<Vec<f32>>,
    pub replicas: Vec<Vec<u32>>,
    pub ready: Vec<Vec<u32>>,
    pub pending: Vec<Vec<u32>>,
    /// Per node group (in [`Report::node_groups`] order): nodes launched (starting or ready).
    pub nodes: Vec<Vec<u32>>,
    pub ready_nodes: Vec<Vec<u32>>,
}

impl Report {
    /// Keeps the node groups (and their timeline columns) where `keep` is true.
    pub fn retain_node_groups(&mut self, keep: &[bool]) {
        let mut i = 0;
        self.node_groups.retain(|_| {
            i += 1;
            keep[i - 1]
        });
        for col in [&mut self.timeline.nodes, &mut self.timeline.ready_nodes] {
            let mut i = 0;
            col.retain(|_| {
                i += 1;
                keep[i - 1]
            });
        }
    }

    /// Advice that follows from the outcome: queue holders scaled down, node groups that hit
    /// their maximum with pods pending, workloads and groups that flapped.
    pub fn derive_advice(&self) -> Vec<String> {
        let mut advice = Vec::new();
        for w in self
            .workloads
            .iter()
            .filter(|w| w.holds_queue && w.scale_downs > 0)
        {
            let lost: u32 = self
                .data_loss
                .iter()
                .filter(|d| d.workload == w.name)
                .map(|d| d.replicas_removed)
                .sum();
            advice.push(format!(
                "`{}` holds queues and was scaled down {} ({lost} replicas removed): disable its HPA's scale-down \
                 (`behavior.scaleDown.selectPolicy: Disabled`) or drain the queue in a preStop hook that \
                 terminationGracePeriodSeconds covers",
                w.name,
                times(w.scale_downs)
            ));
        }
        let limit = self.settings.autoscaler.max_nodes_total;
        for g in self
            .node_groups
            .iter()
            .filter(|g| g.seconds_at_max_with_pending > 0)
        {
            advice.push(format!(
                "`{}` was at its maximum ({} nodes) while pods were pending for {}: raise its `max` in `cluster.nodeGroups`",
                g.name,
                g.max,
                format_duration(g.seconds_at_max_with_pending)
            ));
        }
        if let Some(limit) =
            limit.filter(|l| self.summary.peak_nodes >= *l && self.summary.pending_pod_seconds > 0)
        {
            advice.push(format!(
                "the cluster reached --max-nodes-total={limit} with pods pending: raise it (and the groups' maxima)"
            ));
        }
        for w in self.workloads.iter().filter(|w| w.flaps > 0) {
            advice.push(format!(
                "`{}` reversed direction {} within {}: lengthen `behavior.scaleDown.stabilizationWindowSeconds`",
                w.name,
                times(w.flaps),
                format_duration(self.settings.flap_window_s)
            ));
        }
        advice
    }

    /// Writes the timeline as CSV: `time_s`, then per workload `<w>:demand_cpu_m`,
    /// `<w>:replicas`, `<w>:ready`, `<w>:pending`, then per group `<g>:nodes`,
    /// `<g>:ready_nodes`, then `nodes_total`.
    pub fn write_timeline_csv(&self, mut out: impl io::Write) -> io::Result<()> {
        let tl = &self.timeline;
        let mut line = String::from("time_s");
        for w in &self.workloads {
            for col in ["demand_cpu_m", "replicas", "ready", "pending"] {
                let _ = write!(line, ",{}:{col}", w.name);
            }
        }
        for g in &self.node_groups {
            let _ = write!(line, ",{}:nodes,{}:ready_nodes", g.name, g.name);
        }
        line.push_str(",nodes_total\n");
        out.write_all(line.as_bytes())?;
        for (i, t) in tl.time_s.iter().enumerate() {
            line.clear();
            let _ = write!(line, "{t}");
            for w in 0..self.workloads.len() {
                let _ = write!(
                    line,
                    ",{},{},{},{}",
                    tl.demand_cpu_m[w][i].round(),
                    tl.replicas[w][i],
                    tl.ready[w][i],
                    tl.pending[w][i]
                );
            }
            let mut total = 0;
            for g in 0..self.node_groups.len() {
                total += tl.nodes[g][i];
                let _ = write!(line, ",{},{}", tl.nodes[g][i], tl.ready_nodes[g][i]);
            }
            let _ = writeln!(line, ",{total}");
            out.write_all(line.as_bytes())?;
        }
        Ok(())
    }

    /// The report for a person: summary, workloads, node groups, data-loss events, notes.
    pub fn to_human(&self) -> String {
        let s = &self.summary;
        let mut o = String::new();
        let _ = writeln!(
            o,
            "Simulated {} in {} steps: {} node-hours, ${:.2}; peak {} pods on {} nodes.",
            format_duration(s.duration_s),
            format_duration(s.step_s),
            (s.node_hours * 10.0).round() / 10.0,
            s.cost_usd,
            s.peak_pods,
            s.peak_nodes
        );
        let _ = writeln!(
            o,
            "Pods waited {} pod-seconds for a node. {} scale-ups, {} scale-downs, {} flaps.",
            s.pending_pod_seconds, s.scale_up_events, s.scale_down_events, s.flaps
        );
        if s.evicted_pods > 0 {
            let _ = writeln!(
                o,
                "{} pods were evicted to remove their nodes ({} of them holding queues).",
                s.evicted_pods, s.queue_holder_evictions
            );
        }
        if self.settings.nodes.is_karpenter() {
            let _ = writeln!(o, "Nodes by Karpenter ({}):", self.settings.nodes);
            for p in &self.settings.nodepools {
                let after = |v: Option<u64>| v.map_or("Never".to_string(), format_duration);
                let budgets: Vec<String> = p
                    .budgets
                    .iter()
                    .map(|b| match b.nodes {
                        crate::nodepools::BudgetNodes::Percent(n) => format!("{n}%"),
                        crate::nodepools::BudgetNodes::Count(n) => n.to_string(),
                    })
                    .collect();
                let _ = writeln!(
                    o,
                    "  NodePool {}: {:?} after {}, budgets {}, expireAfter {}, {} instance types",
                    p.name,
                    p.consolidation_policy,
                    after(p.consolidate_after_s),
                    budgets.join(", "),
                    after(p.expire_after_s),
                    p.instance_types.len()
                );
            }
        }
        let _ = writeln!(o, "\nWorkloads:");
        let wl = self
            .workloads
            .iter()
            .map(|w| w.name.len())
            .max()
            .unwrap_or(4)
            .max(8);
        let _ = writeln!(
            o,
            "  {:wl$}  {:>9}  {:>5}  {:>9}  {:>8}  {:>6}  {:>5}",
            "name", "min..max", "peak", "pending s", "up/down", "flaps", "queue"
        );
        for w in &self.workloads {
            let range = if w.hpa.is_some() {
                format!("{}..{}", w.min_replicas, w.max_replicas)
            } else {
                format!("{} (fixed)", w.min_replicas)
            };
            let _ = writeln!(
                o,
                "  {:wl$}  {:>9}  {:>5}  {:>9}  {:>8}  {:>6}  {:>5}",
                w.name,
                range,
                w.peak_replicas,
                w.pending_pod_seconds,
                format!("{}/{}", w.scale_ups, w.scale_downs),
                w.flaps,
                if w.holds_queue { "yes" } else { "" }
            );
        }
        let _ = writeln!(o, "\nNode groups:");
        let gl = self
            .node_groups
            .iter()
            .map(|g| g.name.len())
            .max()
            .unwrap_or(4)
            .max(8);
        let _ = writeln!(
            o,
            "  {:gl$}  {:12}  {:>9}  {:>5}  {:>10}  {:>10}  {:>8}",
            "name", "instance", "min..max", "peak", "node-hours", "cost $", "up/down"
        );
        for g in &self.node_groups {
            let _ = writeln!(
                o,
                "  {:gl$}  {:12}  {:>9}  {:>5}  {:>10.1}  {:>10.2}  {:>8}",
                g.name,
                g.instance_type,
                if g.max == u32::MAX {
                    format!("{}..", g.min)
                } else {
                    format!("{}..{}", g.min, g.max)
                },
                g.peak_nodes,
                g.node_hours,
                g.cost_usd,
                format!("{}/{}", g.scale_ups, g.scale_downs)
            );
        }
        for g in self
            .node_groups
            .iter()
            .filter(|g| g.seconds_at_max_with_pending > 0)
        {
            let _ = writeln!(
                o,
                "  ! {} was at its maximum ({}) with pods pending for {}",
                g.name,
                g.max,
                format_duration(g.seconds_at_max_with_pending)
            );
        }
        if self.data_loss.is_empty() {
            let _ = writeln!(o, "\nNo data-loss events.");
        } else {
            let _ = writeln!(
                o,
                "\nData-loss events ({}; {} replicas holding queues removed):",
                s.data_loss_events, s.replicas_lost
            );
            for d in self.data_loss.iter().take(20) {
                let _ = writeln!(
                    o,
                    "  {:>8}  {}: {} -> {} (-{})",
                    format_duration(d.time_s),
                    d.workload,
                    d.from,
                    d.to,
                    d.replicas_removed
                );
            }
            if self.data_loss.len() > 20 {
                let _ = writeln!(
                    o,
                    "  ... and {} more (see --format json)",
                    self.data_loss.len() - 20
                );
            }
        }
        if !self.advice.is_empty() {
            let _ = writeln!(o, "\nAdvice:");
            for a in &self.advice {
                let _ = writeln!(o, "  - {a}");
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(o, "\nNotes:");
            for n in &self.notes {
                let _ = writeln!(o, "  - {n}");
            }
        }
        o.lines()
            .map(str::trim_end)
            .fold(String::new(), |acc, l| acc + l + "\n")
    }
}

fn times(n: u32) -> String {
    if n == 1 {
        "once".into()
    } else {
        format!("{n} times")
    }
}
