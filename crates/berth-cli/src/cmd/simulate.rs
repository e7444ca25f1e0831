//! `berth simulate`: how the stack's HPAs and the cluster-autoscaler behave over a load curve.
//! Loads the stack (`berth-stack`), runs `berth_simulate::simulate`, prints the report and
//! writes the timeline, JSON report and charts with `--out`.

use std::path::PathBuf;

use berth_model::karpenter;
use berth_model::{NodeMode, Profile, duration};
use berth_ops::Checks;
use berth_simulate::{SimError, SimOptions, compare, files, observed};
use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::exit::{Exit, fail};
use crate::stack::{StackArgs, print_errors, refused};

/// Output format of `berth simulate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// What scales the nodes in the simulation (`--nodes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Nodes {
    /// Node groups scaled by the cluster-autoscaler (`cluster.nodeGroups`).
    ClusterAutoscaler,
    /// Karpenter with the stack's NodePools (or those `berth cluster config` writes).
    Karpenter,
    /// EKS Auto Mode: Karpenter with the built-in pools unless the stack brings its own.
    AutoMode,
    /// Both the cluster-autoscaler and Karpenter, side by side.
    Compare,
}

impl Nodes {
    fn mode(self) -> Option<NodeMode> {
        match self {
            Nodes::ClusterAutoscaler => Some(NodeMode::ClusterAutoscaler),
            Nodes::Karpenter => Some(NodeMode::Karpenter),
            Nodes::AutoMode => Some(NodeMode::AutoMode),
            Nodes::Compare => None,
        }
    }
}

/// A duration option in whole seconds (rounded up), the simulator's unit of time.
fn seconds(s: &str) -> Result<u64, String> {
    crate::args::parse_duration(s).map(duration::whole_seconds)
}

/// Simulate HPA and node-autoscaler (cluster-autoscaler or Karpenter) behaviour over a load
/// curve: pods, nodes, pending time, cost and data-loss events (scale-downs of workloads marked
/// `berth.dev/holds-queue: "true"`). Needs no cluster. Exits 1 when there are data-loss events.
#[derive(Args, Debug)]
#[command(after_long_help = berth_simulate::load::SHAPE_HELP)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// The load: a CSV file (`time_s,workload,cpu_millicores[,memory_mib]`) or a shape like
    /// `step:web:500:4000:1h`; repeatable (see below).
    #[arg(long, required = true, value_name = "FILE|SHAPE")]
    pub load: Vec<String>,
    /// Simulated time.
    #[arg(long, default_value = "7d", value_parser = seconds, value_name = "DURATION")]
    pub duration: u64,
    /// Time step (the HPA syncs every 15s, the autoscaler scans every --scan-interval).
    #[arg(long, default_value = "15s", value_parser = seconds, value_name = "DURATION")]
    pub step: u64,
    /// Write timeline.csv, report.json, chart.svg and chart.png into this folder.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Output on stdout.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Instance prices: CSV `instance_type,usd_per_hour[,vcpu,memory_gib[,max_pods]]`.
    #[arg(long, value_name = "FILE")]
    pub prices: Option<PathBuf>,
    /// From a scale-up to a Ready node (default by profile: eks 2m, aks 3m, gke 90s, local 5s).
    #[arg(long, value_parser = seconds, value_name = "DURATION")]
    pub node_startup: Option<u64>,
    /// From a pod's placement to Ready.
    #[arg(long, default_value = "30s", value_parser = seconds, value_name = "DURATION")]
    pub pod_ready: u64,
    /// What scales the nodes; default: `cluster.nodes` of berth.yaml, else the
    /// cluster-autoscaler. `compare` runs the cluster-autoscaler and Karpenter side by side.
    #[arg(long, value_enum, value_name = "MODEL")]
    pub nodes: Option<Nodes>,
    /// The HPA controller's sync period (`--horizontal-pod-autoscaler-sync-period`; the local
    /// cluster runs it at 5s).
    #[arg(long, default_value = "15s", value_parser = seconds, value_name = "DURATION")]
    pub hpa_sync: u64,
    /// A timeline sampled from a real cluster under the same load (CSV `time_s`,
    /// `<workload>:replicas`..., `nodes_total`): prints the simulated and observed timelines
    /// side by side with their differences, and with --out writes observed.png.
    #[arg(long, value_name = "FILE", conflicts_with = "format")]
    pub observed: Option<PathBuf>,
    /// With --observed: a time counts as settled when neither side changed for this long.
    #[arg(long, default_value = "30s", value_parser = seconds, value_name = "DURATION")]
    pub settle: u64,
}

/// NodePools `berth cluster config` would write for a stack that brings none, so that
/// `--nodes karpenter` on an EKS stack simulates the pools berth would create; none when the
/// stack has its own, or when it is not an EKS stack `cluster config` can work from.
fn written_nodepools(stack: &berth_model::Stack, mode: NodeMode, opts: &SimOptions) -> Vec<Value> {
    let has_own = stack
        .objects
        .iter()
        .any(|o| karpenter::is_nodepool(&o.value));
    if has_own || !mode.is_karpenter() || stack.profile != Profile::Eks {
        return Vec::new();
    }
    let options = berth_cluster::Options {
        catalog: opts.catalog.clone(),
        nodes: Some(mode),
        ..berth_cluster::Options::default()
    };
    berth_cluster::config(stack, &options)
        .map(|files| files.nodepools)
        .unwrap_or_default()
}

pub fn run(args: SimulateArgs) -> anyhow::Result<Exit> {
    // Secret values are not needed: load in redacting mode, and show only errors (`check`
    // is the place for warnings).
    let prepared = args.stack.prepare(Checks::LoadOnly);
    print_errors(&prepared.findings);
    // The error findings are printed above; a refusal adds only its message.
    let stack = prepared.loadable().map_err(refused)?;
    let bad = |e: files::InputError| fail(Exit::BadInput, e.to_string());
    let mut load = berth_simulate::Load::default();
    for arg in &args.load {
        load.extend(files::read_load(arg).map_err(bad)?);
    }
    let mut opts = SimOptions {
        duration_s: args.duration,
        step_s: args.step,
        hpa_sync_s: args.hpa_sync,
        pod_ready_s: args.pod_ready,
        node_startup_s: args.node_startup,
        catalog: files::read_catalog(args.prices.as_deref()).map_err(bad)?,
        nodes: args.nodes.and_then(Nodes::mode),
        ..SimOptions::default()
    };
    let sim_err = |e: SimError| fail(Exit::BadInput, e.to_string());
    if args.nodes == Some(Nodes::Compare) {
        opts.nodepools = written_nodepools(stack, NodeMode::Karpenter, &opts);
        let cmp = compare::compare(stack, &load, &opts).map_err(sim_err)?;
        match args.format {
            Format::Human => print!("{}", cmp.to_human()),
            Format::Json => println!("{}", serde_json::to_string_pretty(&cmp)?),
        }
        if let Some(dir) = &args.out {
            for (m, report) in cmp.models.iter().zip(&cmp.reports) {
                write_outputs(report, &dir.join(m.nodes.as_str()))?;
            }
        }
        let loss = cmp.reports.iter().any(|r| !r.data_loss.is_empty());
        return Ok(if loss { Exit::Failed } else { Exit::Ok });
    }
    opts.nodepools = written_nodepools(stack, berth_simulate::node_mode(stack, &opts), &opts);
    let report = berth_simulate::simulate(stack, &load, &opts).map_err(sim_err)?;
    match args.format {
        Format::Human => print!("{}", report.to_human()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    if let Some(dir) = &args.out {
        write_outputs(&report, dir)?;
    }
    if let Some(path) = &args.observed {
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(Exit::BadInput, format!("{}: {e}", path.display())))?;
        let obs = observed::Observed::from_csv(&path.display().to_string(), &text)
            .map_err(|e| fail(Exit::BadInput, e.to_string()))?;
        let agreement = observed::compare(&report, &obs, args.settle);
        print!("{}", agreement.to_human());
        if let Some(dir) = &args.out {
            let json = dir.join("observed.json");
            std::fs::write(&json, serde_json::to_string_pretty(&agreement)?)?;
            eprintln!("wrote {}", json.display());
            match berth_simulate::plot::system_font()
                .ok_or(berth_simulate::plot::PlotError::NoFont)
                .and_then(berth_simulate::plot::use_font)
                .and_then(|()| observed::png(&report, &obs))
            {
                Ok(png) => {
                    let file = dir.join("observed.png");
                    std::fs::write(&file, png)?;
                    eprintln!("wrote {}", file.display());
                }
                Err(why) => eprintln!("warning: no chart: {why}"),
            }
        }
    }
    Ok(if report.data_loss.is_empty() {
        Exit::Ok
    } else {
        Exit::Failed
    })
}

/// Writes the timeline, JSON report and charts of `report` into `dir`, and says so.
fn write_outputs(report: &berth_simulate::Report, dir: &std::path::Path) -> anyhow::Result<()> {
    let written =
        files::write_outputs(report, dir).map_err(|e| fail(Exit::BadInput, e.to_string()))?;
    for f in &written.files {
        eprintln!("wrote {}", f.display());
    }
    if let Some(why) = written.chart_skipped {
        eprintln!("warning: no chart: {why}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::seconds;

    #[test]
    fn durations_are_the_shared_grammar_in_whole_seconds() {
        // `1d` and `1.5s` are read by `berth_model::duration`, like every other duration option
        // and the load shapes' times.
        assert_eq!(seconds("1d"), Ok(86_400));
        assert_eq!(seconds("7d"), Ok(604_800));
        assert_eq!(
            seconds("1.5s"),
            Ok(2),
            "rounded up to the next step of time"
        );
        assert_eq!(seconds("15s"), Ok(15));
        assert!(seconds("15").is_err());
    }
}
