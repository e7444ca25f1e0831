//! `berth simulate`: how the stack's HPAs and the cluster-autoscaler behave over a load curve.
//! Loads the stack (`berth-stack`), runs `berth_simulate::simulate`, prints the report and
//! writes the timeline, JSON report and charts with `--out`.

use std::path::PathBuf;

use berth_model::duration;
use berth_ops::Checks;
use berth_simulate::{SimError, SimOptions, files};
use clap::{Args, ValueEnum};

use crate::exit::{Exit, fail};
use crate::stack::{StackArgs, print_errors, refused};

/// Output format of `berth simulate`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// A duration option in whole seconds (rounded up), the simulator's unit of time.
fn seconds(s: &str) -> Result<u64, String> {
    crate::args::parse_duration(s).map(duration::whole_seconds)
}

/// Simulate HPA and cluster-autoscaler behaviour over a load curve: pods, nodes, pending
/// time, cost and data-loss events (scale-downs of workloads marked
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
    let opts = SimOptions {
        duration_s: args.duration,
        step_s: args.step,
        pod_ready_s: args.pod_ready,
        node_startup_s: args.node_startup,
        catalog: files::read_catalog(args.prices.as_deref()).map_err(bad)?,
        ..SimOptions::default()
    };
    let report = berth_simulate::simulate(stack, &load, &opts)
        .map_err(|e: SimError| fail(Exit::BadInput, e.to_string()))?;
    match args.format {
        Format::Human => print!("{}", report.to_human()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report)?),
    }
    if let Some(dir) = &args.out {
        let written =
            files::write_outputs(&report, dir).map_err(|e| fail(Exit::BadInput, e.to_string()))?;
        for f in &written.files {
            eprintln!("wrote {}", f.display());
        }
        if let Some(why) = written.chart_skipped {
            eprintln!("warning: no chart: {why}");
        }
    }
    Ok(if report.data_loss.is_empty() {
        Exit::Ok
    } else {
        Exit::Failed
    })
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
