//! The simulation loop: the parts of a cluster that scale a stack, stepped over discrete time.
//!
//! The parts, one module each, share the [`cluster`] state (nodes and pods):
//! - [`controllers`]: HPAs (through [`crate::hpa`]) and the Deployment / StatefulSet
//!   controllers that create and delete pods;
//! - [`scheduler`]: places pending pods on Ready nodes by their requests;
//! - [`autoscaler`]: the cluster-autoscaler's scale-up and scale-down;
//! - [`karpenter`]: or Karpenter's provisioning and disruption, when it scales the nodes;
//! - [`recorder`]: the events, timeline and totals the [`Report`] is made of.
//!
//! Each step at time `t`, in this order:
//! 1. nodes whose start-up delay has passed become Ready;
//! 2. HPAs sync (every `hpa_sync_s`), reading the load at `t` spread over ready pods;
//! 3. workload controllers create or delete pods to match `spec.replicas`;
//! 4. the scheduler places pending pods;
//! 5. the cluster-autoscaler scans (every `--scan-interval`, default 10 s), or Karpenter
//!    provisions (every step) and disrupts (every 10 s);
//! 6. the recorder takes the step's sample.
//!
//! The run starts from a settled cluster: every workload at its replicas (clamped to its
//! HPA's range), all pods ready, each group at its minimum or at as many nodes as those pods
//! need.

mod autoscaler;
mod cluster;
mod controllers;
mod karpenter;
mod recorder;
mod scheduler;

use crate::inputs::Inputs;
use crate::load::Demand;
use crate::report::Report;

use autoscaler::Autoscaler;
use cluster::{Cluster, Pod};
use controllers::Controllers;
use karpenter::Karpenter;
use recorder::{GroupSample, Recorder, WorkloadSample};

pub(crate) use crate::load::WorkloadLoad;

/// How the run is stepped and timed (see [`crate::SimOptions`]).
pub(crate) struct Params {
    pub duration_s: u64,
    pub step_s: u64,
    pub hpa_sync_s: u64,
    pub pod_ready_s: u64,
    pub node_startup_s: u64,
    pub flap_window_s: u64,
}

/// What adds and removes nodes.
enum NodeScaler {
    ClusterAutoscaler(Autoscaler),
    Karpenter(Box<Karpenter>),
}

impl NodeScaler {
    /// One scale-up attempt (see [`Autoscaler::scale_up`] and [`Karpenter::provision`]).
    fn scale_up(&mut self, c: &mut Cluster, rec: &mut Recorder, warm: bool) -> bool {
        match self {
            NodeScaler::ClusterAutoscaler(a) => a.scale_up(c, rec, warm),
            NodeScaler::Karpenter(k) => k.provision(c, rec, warm),
        }
    }
}

pub(crate) struct Engine<'a> {
    inp: &'a Inputs,
    p: &'a Params,
    loads: Vec<WorkloadLoad>,
    /// Demand per workload at the current step.
    demand: Vec<Demand>,
    cluster: Cluster,
    controllers: Controllers,
    nodes: NodeScaler,
    recorder: Recorder,
    next_hpa: u64,
    next_ca: u64,
}

impl<'a> Engine<'a> {
    /// An engine for the stack read into `inp`; `labels` name the workloads in the report.
    pub fn new(
        inp: &'a Inputs,
        p: &'a Params,
        labels: Vec<String>,
        loads: Vec<WorkloadLoad>,
    ) -> Engine<'a> {
        let steps = (p.duration_s / p.step_s + 1) as usize;
        let group_names = inp.groups.iter().map(|g| g.name.clone()).collect();
        Engine {
            inp,
            p,
            demand: vec![
                Demand {
                    cpu_m: 0.0,
                    mem_mib: None
                };
                loads.len()
            ],
            loads,
            cluster: Cluster::from_inputs(inp, p.pod_ready_s),
            controllers: Controllers::new(inp),
            nodes: if inp.mode.is_karpenter() {
                NodeScaler::Karpenter(Box::new(Karpenter::new(inp, p.node_startup_s)))
            } else {
                NodeScaler::ClusterAutoscaler(Autoscaler::new(
                    inp.autoscaler.clone(),
                    p.node_startup_s,
                ))
            },
            recorder: Recorder::new(labels, group_names, p.flap_window_s, p.step_s, steps),
            next_hpa: 0,
            next_ca: 0,
        }
    }

    /// Brings the cluster to the settled start: groups at their minimum, every workload's
    /// pods placed and ready, nodes added (Ready at once) for those that do not fit.
    fn warm_start(&mut self) {
        let c = &mut self.cluster;
        for g in 0..c.groups.len() {
            for _ in 0..c.groups[g].min {
                c.add_node(g, 0);
            }
        }
        for (w, &n) in self.controllers.replicas.iter().enumerate() {
            let pod = Pod {
                ready_at: 0,
                ..Pod::PENDING
            };
            c.pods[w].clear();
            c.unplaced[w] = 0;
            c.create_pods(w, n as usize, pod);
        }
        loop {
            scheduler::schedule(c);
            if !self.nodes.scale_up(c, &mut self.recorder, true) {
                break;
            }
        }
        for pods in &mut c.pods {
            for p in pods.iter_mut().filter(|p| p.placed()) {
                p.ready_at = 0;
            }
        }
        for (g, stats) in self.recorder.groups.iter_mut().enumerate() {
            stats.start_nodes = c.group_size[g];
        }
    }

    pub fn run(mut self) -> Report {
        self.warm_start();
        let p = self.p;
        let scan = self.inp.autoscaler.scan_interval_s.max(1);
        let mut t = 0;
        loop {
            self.cluster.t = t;
            for (d, load) in self.demand.iter_mut().zip(&self.loads) {
                *d = load.at(t as f64);
            }
            self.cluster.nodes_ready();
            if t >= self.next_hpa {
                self.controllers.sync_hpas(
                    self.inp,
                    &mut self.cluster,
                    &self.demand,
                    &mut self.recorder,
                );
                self.next_hpa += p.hpa_sync_s.max(1);
            }
            self.controllers.reconcile(self.inp, &mut self.cluster);
            scheduler::schedule(&mut self.cluster);
            match &mut self.nodes {
                NodeScaler::ClusterAutoscaler(a) if t >= self.next_ca => {
                    a.scan(&mut self.cluster, &mut self.recorder);
                    while self.next_ca <= t {
                        self.next_ca += scan;
                    }
                }
                NodeScaler::ClusterAutoscaler(_) => {}
                NodeScaler::Karpenter(k) => k.step(&mut self.cluster, &mut self.recorder),
            }
            self.record();
            if t + p.step_s > p.duration_s {
                break;
            }
            t += p.step_s;
        }
        let mut report =
            self.recorder
                .report(self.inp, p, &self.controllers.hpa_of, &self.cluster.groups);
        // A NodePool's instance types that never had a node say nothing.
        let keep: Vec<bool> = (0..self.inp.groups.len())
            .map(|g| {
                let r = &report.node_groups[g];
                self.inp.groups[g].pool.is_none() || r.peak_nodes > 0 || r.start_nodes > 0
            })
            .collect();
        report.retain_node_groups(&keep);
        report
    }

    /// Hands the step's state to the recorder.
    fn record(&mut self) {
        let c = &mut self.cluster;
        let workloads: Vec<WorkloadSample> = (0..c.pods.len())
            .map(|w| WorkloadSample {
                demand_cpu_m: self.demand[w].cpu_m,
                replicas: self.controllers.replicas[w],
                ready: c.readiness(w).ready,
                pending: c.unplaced[w],
                pods: c.pods[w].len() as u32,
            })
            .collect();
        let groups: Vec<GroupSample> = (0..c.groups.len())
            .map(|g| GroupSample {
                nodes: c.group_size[g],
                ready_nodes: c.group_ready[g],
                // Under Karpenter the node groups are fixed and the pools have no maximum.
                at_max: !self.inp.mode.is_karpenter() && c.group_size[g] >= c.groups[g].max,
            })
            .collect();
        self.recorder.sample(c.t, &workloads, &groups);
    }
}
