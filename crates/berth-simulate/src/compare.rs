//! Both node autoscalers on the same stack and load (`berth simulate --nodes compare`): the
//! figures that tell them apart, side by side — node-hours, cost, time pods waited for a node,
//! pods evicted to remove nodes and how many of them held queues, data-loss scale-downs.

use std::fmt::Write as _;

use berth_model::{NodeMode, Stack};
use serde::Serialize;

use crate::load::Load;
use crate::report::Report;
use crate::{SimError, SimOptions, simulate};

/// One node autoscaler's outcome.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelFigures {
    pub nodes: NodeMode,
    pub node_hours: f64,
    pub cost_usd: f64,
    pub pending_pod_seconds: u64,
    pub peak_nodes: u32,
    /// Node scale-ups and scale-downs (HPA events left out).
    pub node_scale_ups: u32,
    pub node_scale_downs: u32,
    /// Pods evicted to remove or replace their node.
    pub evicted_pods: u32,
    /// Of those, pods of workloads that hold queues.
    pub queue_holder_evictions: u32,
    /// HPA scale-downs of queue holders (the same HPAs act under both, on different timing).
    pub data_loss_events: u32,
}

impl ModelFigures {
    fn of(nodes: NodeMode, r: &Report) -> ModelFigures {
        let node_events = r
            .events
            .iter()
            .filter(|e| e.target == crate::Scaled::NodeGroup);
        let (ups, downs) = node_events.fold((0, 0), |(u, d), e| {
            if e.to > e.from {
                (u + 1, d)
            } else {
                (u, d + 1)
            }
        });
        let s = &r.summary;
        ModelFigures {
            nodes,
            node_hours: s.node_hours,
            cost_usd: s.cost_usd,
            pending_pod_seconds: s.pending_pod_seconds,
            peak_nodes: s.peak_nodes,
            node_scale_ups: ups,
            node_scale_downs: downs,
            evicted_pods: s.evicted_pods,
            queue_holder_evictions: s.queue_holder_evictions,
            data_loss_events: s.data_loss_events,
        }
    }
}

/// The two runs and their figures.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub models: Vec<ModelFigures>,
    #[serde(skip)]
    pub reports: Vec<Report>,
}

/// The node modes a comparison runs, in its column order.
pub const COMPARED: [NodeMode; 2] = [NodeMode::ClusterAutoscaler, NodeMode::Karpenter];

/// Runs `stack` under `load` with each node autoscaler of [`COMPARED`] (`opts.nodes` is
/// ignored). The cluster-autoscaler run needs `cluster.nodeGroups`; under Karpenter those
/// groups stay at their minimum beside the NodePools.
pub fn compare(stack: &Stack, load: &Load, opts: &SimOptions) -> Result<Comparison, SimError> {
    let mut models = Vec::new();
    let mut reports = Vec::new();
    for nodes in COMPARED {
        let o = SimOptions {
            nodes: Some(nodes),
            ..opts.clone()
        };
        let r = simulate(stack, load, &o)?;
        models.push(ModelFigures::of(nodes, &r));
        reports.push(r);
    }
    Ok(Comparison { models, reports })
}

impl Comparison {
    /// The side-by-side table for a person.
    pub fn to_human(&self) -> String {
        let mut o = String::new();
        let _ = write!(o, "{:32}", "");
        for m in &self.models {
            let _ = write!(o, "  {:>18}", m.nodes.as_str());
        }
        o.push('\n');
        type Cell = fn(&ModelFigures) -> String;
        let rows: [(&str, Cell); 8] = [
            ("node-hours", |m| format!("{:.1}", m.node_hours)),
            ("cost $", |m| format!("{:.2}", m.cost_usd)),
            ("pending pod-seconds", |m| m.pending_pod_seconds.to_string()),
            ("peak nodes", |m| m.peak_nodes.to_string()),
            ("node scale-ups / downs", |m| {
                format!("{} / {}", m.node_scale_ups, m.node_scale_downs)
            }),
            ("pods evicted by node removal", |m| {
                m.evicted_pods.to_string()
            }),
            ("  of them holding queues", |m| {
                m.queue_holder_evictions.to_string()
            }),
            ("queue holders scaled down (HPA)", |m| {
                m.data_loss_events.to_string()
            }),
        ];
        for (label, cell) in &rows {
            let _ = write!(o, "{label:32}");
            for m in &self.models {
                let _ = write!(o, "  {:>18}", cell(m));
            }
            o.push('\n');
        }
        for (m, r) in self.models.iter().zip(&self.reports) {
            for n in &r.notes {
                let _ = writeln!(o, "note ({}): {n}", m.nodes);
            }
        }
        o
    }
}
