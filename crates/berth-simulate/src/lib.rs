//! `berth simulate`: how a stack's HorizontalPodAutoscalers and its node autoscaler (the
//! cluster-autoscaler, or Karpenter) behave over a load curve — pods, nodes, time pods wait for
//! a node, node-hours and cost, flapping, and the scale-downs and evictions that lose data on
//! workloads holding queues.
//!
//! [`simulate`] is pure: it reads a rendered [`Stack`] and a [`Load`] and returns a
//! [`Report`]; it touches no cluster and no file. The pipeline inside:
//! [`inputs`] reads the stack (workloads, HPAs, node groups, autoscaler flags, and through
//! [`nodepools`] Karpenter's NodePools), [`hpa`] is the HPA controller, `engine` runs the
//! workload controllers, scheduler and node autoscaler step by step, and [`report`] holds the
//! outcome, which [`plot`] draws as SVG or PNG. [`compare`] runs both node autoscalers on the
//! same load; [`observed`] sets a run against a timeline sampled from a real cluster.
//!
//! What is modelled and what is not is written at the top of each module; in short: requests
//! decide scheduling (no affinity, taints or topology spread; node selectors only choose
//! NodePools), load spreads evenly over ready pods, metrics have no lag, nodes always arrive
//! after the start-up delay.

pub mod compare;
pub mod files;
pub mod hpa;
pub mod inputs;
pub mod instances;
pub mod load;
pub mod nodepools;
pub mod observed;
pub mod plot;
pub mod report;

mod engine;

use std::path::PathBuf;

use berth_model::{NodeMode, Profile, Stack};

pub use inputs::{AutoscalerConfig, Expander, HOLDS_QUEUE};
pub use instances::{Catalog, InstanceType, PriceFileError};
pub use load::{Load, LoadError, Series, WorkloadLoad};
pub use report::{
    DataLossEvent, NodeGroupReport, Report, ScaleEvent, Scaled, Summary, Timeline, WorkloadReport,
};

use engine::{Engine, Params};

/// How a simulation runs. `Default` is one week in 15-second steps.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// Simulated time, seconds.
    pub duration_s: u64,
    /// Step length, seconds (the HPA and autoscaler act on the first step at or after their
    /// period).
    pub step_s: u64,
    /// `--horizontal-pod-autoscaler-sync-period` (default 15 s).
    pub hpa_sync_s: u64,
    /// From a pod's placement on a node to Ready (image pull, start, readiness probe).
    pub pod_ready_s: u64,
    /// From a scale-up to the new node being Ready; None takes the profile's default
    /// ([`default_node_startup_s`]).
    pub node_startup_s: Option<u64>,
    /// A scale in the opposite direction within this time of the previous one is a flap.
    pub flap_window_s: u64,
    /// Instance types and prices (the built-in table, plus a price file if given).
    pub catalog: Catalog,
    /// What scales the nodes; None takes the stack's `cluster.nodes` (the cluster-autoscaler
    /// when it has none).
    pub nodes: Option<NodeMode>,
    /// NodePools the cluster has besides the stack's own (as `berth cluster config` writes
    /// them), for Karpenter.
    pub nodepools: Vec<serde_json::Value>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            duration_s: 7 * 86400,
            step_s: 15,
            hpa_sync_s: 15,
            pod_ready_s: 30,
            node_startup_s: None,
            flap_window_s: 600,
            catalog: Catalog::default(),
            nodes: None,
            nodepools: Vec::new(),
        }
    }
}

/// Longest run accepted, in steps (a year of 15 s steps is about 2.1 million).
pub const MAX_STEPS: u64 = 5_000_000;

/// Seconds from a cluster-autoscaler scale-up to a Ready node, by profile. These are
/// estimates, not measurements: on EKS an EC2 instance boots the EKS AMI, joins and gets
/// its VPC CNI ready in roughly 1.5–3 minutes (AWS's own comparison of Cluster Autoscaler
/// and Karpenter quotes 3–5 minutes from pending pod to running pod, which includes the
/// autoscaler's scan and the pod start); AKS VM scale sets are a little slower, GKE
/// slightly faster; `local` nodes are kwok nodes, which register at once. Override with
/// `--node-startup`.
pub fn default_node_startup_s(profile: Profile) -> u64 {
    match profile {
        Profile::Eks => 120,
        Profile::Aks => 180,
        Profile::Gke => 90,
        Profile::Local => 5,
    }
}

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A value in a manifest the simulation needs is malformed.
    #[error("{}:{line}:{column}: {message}", file.display())]
    Manifest {
        file: PathBuf,
        line: u32,
        column: u32,
        message: String,
    },
    /// The load names a workload the stack does not have.
    #[error(
        "{origin}: the load names workload `{name}`, which is not a Deployment or StatefulSet of the stack (known: {known})"
    )]
    UnknownWorkload {
        name: String,
        origin: String,
        known: String,
    },
    /// A load file or shape is malformed.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The stack has no `cluster.nodeGroups`.
    #[error(
        "the stack has no node groups: add `cluster:` with `nodeGroups` to berth.yaml (e.g. `- {{ name: workers, instanceType: m5.large, min: 1, max: 10, perZone: true }}`)"
    )]
    NoNodeGroups,
    /// A node group names an instance type that is neither built in nor in the price file.
    #[error(
        "node group `{group}`: unknown instance type `{name}`; add it to a price file (`{name},USD_PER_HOUR,VCPU,MEMORY_GIB`) or use one of: {known}"
    )]
    UnknownInstanceType {
        group: String,
        name: String,
        known: String,
    },
    /// The options make no sense (a zero step, a run too long).
    #[error("{0}")]
    Options(String),
}

/// Gives each workload the series of `load` that name it (`name`, or `namespace/name`), in the
/// order of `workloads`; a series naming no workload is an error.
fn assign(
    workloads: &[inputs::WorkloadSpec],
    labels: &[String],
    load: &Load,
) -> Result<Vec<WorkloadLoad>, SimError> {
    let mut loads = vec![WorkloadLoad::default(); workloads.len()];
    for s in &load.series {
        let Some(i) = (0..workloads.len()).find(|&i| {
            let w = &workloads[i];
            labels[i] == s.workload || format!("{}/{}", w.namespace, w.name) == s.workload
        }) else {
            return Err(SimError::UnknownWorkload {
                name: s.workload.clone(),
                origin: s.origin.clone(),
                known: labels.join(", "),
            });
        };
        loads[i].curves.push(s.curve.clone());
    }
    Ok(loads)
}

/// A workload of the stack that a load drives, for drivers outside the simulator (`berth
/// local load` sets its pods' usage on the local cluster).
#[derive(Clone, Debug)]
pub struct DrivenWorkload {
    /// `Deployment` or `StatefulSet`.
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// How the load names it (`name`, or `namespace/name` when two share a name).
    pub label: String,
    /// Its total demand over time.
    pub load: WorkloadLoad,
}

/// The workloads of `stack` that `load` gives demand to, matched by the same rule as
/// [`simulate`], so a load file means the same to both. Needs no node groups.
pub fn driven_workloads(stack: &Stack, load: &Load) -> Result<Vec<DrivenWorkload>, SimError> {
    let workloads = inputs::workloads(stack)?;
    let labels = inputs::workload_labels(&workloads);
    let loads = assign(&workloads, &labels, load)?;
    Ok(workloads
        .into_iter()
        .zip(labels)
        .zip(loads)
        .filter(|(_, l)| !l.curves.is_empty())
        .map(|((w, label), load)| DrivenWorkload {
            kind: w.kind,
            namespace: w.namespace,
            name: w.name,
            label,
            load,
        })
        .collect())
}

/// The node autoscaler a run of `stack` with `opts` models.
pub fn node_mode(stack: &Stack, opts: &SimOptions) -> NodeMode {
    opts.nodes
        .or(stack.cluster.as_ref().and_then(|c| c.nodes))
        .unwrap_or_default()
}

/// Simulates `stack` under `load`: see the crate documentation.
pub fn simulate(stack: &Stack, load: &Load, opts: &SimOptions) -> Result<Report, SimError> {
    if opts.step_s == 0 {
        return Err(SimError::Options("the step must be at least 1s".into()));
    }
    if opts.duration_s < opts.step_s {
        return Err(SimError::Options(
            "the duration must be at least one step".into(),
        ));
    }
    if opts.duration_s / opts.step_s > MAX_STEPS {
        return Err(SimError::Options(format!(
            "{} steps is too many (at most {MAX_STEPS}): use a longer --step or a shorter --duration",
            opts.duration_s / opts.step_s
        )));
    }
    let mode = node_mode(stack, opts);
    let inp = inputs::read_for(stack, &opts.catalog, mode, &opts.nodepools)?;
    let labels = inputs::workload_labels(&inp.workloads);
    let loads = assign(&inp.workloads, &labels, load)?;
    let mut notes = inp.notes.clone();
    for (w, spec) in inp.workloads.iter().enumerate() {
        let fits_somewhere = inp.groups.iter().any(|g| {
            spec.cpu_m + inp.ds_cpu_m <= g.instance.allocatable_cpu_m()
                && spec.mem_b + inp.ds_mem_b <= g.instance.allocatable_mem_b()
        });
        if !fits_somewhere {
            notes.push(format!(
                "a pod of `{}` ({}m CPU, {} MiB) fits on no node of any group: its pods stay pending",
                labels[w],
                spec.cpu_m,
                spec.mem_b / instances::MIB
            ));
        }
    }
    for h in &inp.hpas {
        let w = h.target;
        if loads[w].curves.is_empty() {
            notes.push(format!(
                "{}: the load gives no demand for `{}`, so it stays near its minimum",
                h.name, labels[w]
            ));
        } else if h
            .metrics
            .iter()
            .any(|m| m.resource == inputs::Resource::Memory)
            && loads[w].at(0.0).mem_mib.is_none()
        {
            notes.push(format!(
                "{}: the load gives no memory for `{}`; its memory metric is not simulated",
                h.name, labels[w]
            ));
        }
    }
    let params = Params {
        duration_s: opts.duration_s,
        step_s: opts.step_s,
        hpa_sync_s: opts.hpa_sync_s.max(1),
        pod_ready_s: opts.pod_ready_s,
        node_startup_s: opts
            .node_startup_s
            .unwrap_or_else(|| default_node_startup_s(stack.profile)),
        flap_window_s: opts.flap_window_s,
    };
    if !mode.is_karpenter() && params.node_startup_s > inp.autoscaler.max_node_provision_time_s {
        notes.push(format!(
            "node start-up ({}s) is longer than --max-node-provision-time ({}s): a real autoscaler would give up on those nodes",
            params.node_startup_s, inp.autoscaler.max_node_provision_time_s
        ));
    }
    let mut report = Engine::new(&inp, &params, labels, loads).run();
    report.notes = notes;
    report.advice = report.derive_advice();
    Ok(report)
}
