//! `berth up [STACK]`: check, then apply each object once what it needs is healthy, prune, record.

use std::time::Duration;

use berth_apply::UpOptions;
use berth_apply::apply::ApplyOptions;
use clap::Args;

use crate::deploy::{self, DeployArgs};
use crate::exit::Exit;
use crate::live::Printer;
use crate::stack::{StackArgs, ops_error};

#[derive(Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub deploy: DeployArgs,
    /// Go ahead without asking.
    #[arg(long, short)]
    pub yes: bool,
    /// Take over fields that other field managers own.
    #[arg(long)]
    pub force_conflicts: bool,
    /// Also prune PVCs, PVs, Namespaces and CRDs that left the stack.
    #[arg(long)]
    pub prune_data: bool,
    /// How many apply requests run at once.
    #[arg(long, default_value_t = 32)]
    pub concurrency: usize,
    /// Wait this long for another run's lock instead of refusing at once (`30s`).
    #[arg(long, default_value = "0s", value_parser = crate::args::parse_duration)]
    pub lock_wait: Duration,
    /// How long an unschedulable pod waits for a node autoscaler (cluster-autoscaler,
    /// Karpenter) to answer before `up` fails (`30s`). Without an autoscaler it fails at once.
    #[arg(long, default_value = "30s", value_parser = crate::args::parse_duration)]
    pub autoscaler_grace: Duration,
    /// Apply exactly the plan `berth plan --out FILE` saved: refused when the stack renders
    /// other objects (exit 2) or the cluster changed those objects since (exit 1).
    #[arg(long, value_name = "FILE")]
    pub plan: Option<std::path::PathBuf>,
}

pub fn run(mut args: UpArgs) -> anyhow::Result<Exit> {
    args.stack
        .default_profile_for_local(args.deploy.cluster.local);
    // Loaded, checked and planned once; a cycle is bad input, found before connecting.
    let ready = deploy::load_and_check(&args.stack)?;
    let saved = args.plan.as_deref().map(read_saved).transpose()?;
    let rt = deploy::runtime()?;
    rt.block_on(async {
        let cluster = deploy::connect(&args.deploy.cluster).await?;
        if let Some(saved) = &saved {
            ready
                .check_saved(&cluster, saved, args.deploy.timeout)
                .await
                .map_err(ops_error)?;
        }
        let stack = &ready.stack;
        let question = format!(
            "apply stack `{}` ({} objects, {} levels deep) to {} and prune what left it?",
            stack.name,
            stack.objects.len(),
            ready.plan.waves.len(),
            cluster.server
        );
        if !deploy::confirm(&question, args.yes)? {
            return Ok(Exit::Failed);
        }
        let opts = UpOptions {
            apply: ApplyOptions {
                force_conflicts: args.force_conflicts,
                dry_run: false,
                concurrency: args.concurrency,
            },
            timeout: args.deploy.timeout,
            prune_data: args.prune_data,
            lock_wait: args.lock_wait,
            rollback_of: None,
            autoscaler_grace: args.autoscaler_grace,
            interrupt: Some(deploy::interrupt_on_signals("stopping and releasing the stack lock")),
        };
        let printer = Printer::new(args.deploy.format);
        // What this run applied: an object it never reached is not diagnosed as missing.
        let applied = std::sync::Mutex::new(std::collections::HashSet::new());
        let sink = |e: berth_apply::Event| {
            if let berth_apply::Event::Applied { object, .. } = &e
                && let Ok(mut a) = applied.lock()
            {
                a.insert(object.to_string());
            }
            printer.event(e)
        };
        let rules = berth_ops::health_rules(stack.profile);
        let asker = std::sync::Arc::new(crate::asker::TerminalAsker);
        match ready.up(&cluster, Some(asker), &opts, &rules, &sink).await {
            Ok(report) => {
                printer.finish();
                if args.deploy.format == deploy::Format::Json {
                    println!("{}", serde_json::json!({"event": "done", "report": report}));
                } else {
                    eprintln!(
                        "stack `{}` is healthy: revision {}, {} created, {} configured, {} unchanged, {} pruned, {} kept",
                        stack.name,
                        report.revision,
                        report.created,
                        report.configured,
                        report.unchanged,
                        report.pruned.len(),
                        report.kept.len()
                    );
                }
                Ok(Exit::Ok)
            }
            Err(e) => {
                printer.finish();
                if matches!(
                    e,
                    berth_ops::Error::Apply(
                        berth_apply::Error::Unhealthy { .. } | berth_apply::Error::Timeout { .. }
                    )
                ) {
                    // Say why, not only that: the doctor's diagnoses of what is not healthy. An
                    // object the run never reached is missing because it waits, not a fault.
                    let applied = applied.lock().map(|a| a.clone()).unwrap_or_default();
                    let (waiting, diagnoses): (Vec<_>, Vec<_>) =
                        berth_ops::diagnose_failure(&cluster, stack)
                            .await
                            .into_iter()
                            .partition(|d| d.id == "not-found" && !applied.contains(&d.object));
                    if !waiting.is_empty() && args.deploy.format == deploy::Format::Json {
                        let objects: Vec<&str> = waiting.iter().map(|d| d.object.as_str()).collect();
                        println!("{}", serde_json::json!({"event": "not-applied", "objects": objects}));
                    } else if !waiting.is_empty() {
                        eprintln!(
                            "{} not applied: {} on what did not become healthy (`berth up` again applies {})",
                            match waiting.len() {
                                1 => format!("1 object ({}) was", waiting[0].object),
                                n => format!("{n} objects were"),
                            },
                            if waiting.len() == 1 { "it waits" } else { "they wait" },
                            if waiting.len() == 1 { "it" } else { "them" },
                        );
                    }
                    for d in diagnoses {
                        if args.deploy.format == deploy::Format::Json {
                            println!(
                                "{}",
                                serde_json::json!({"event": "diagnosis", "diagnosis": d})
                            );
                        } else {
                            eprintln!("{}", d.render());
                        }
                    }
                }
                Err(ops_error(e))
            }
        }
    })
}

/// A plan file of `berth plan --out`; exit 2 when it cannot be read.
fn read_saved(path: &std::path::Path) -> anyhow::Result<berth_ops::saved::SavedPlan> {
    let bad = |e: String| crate::exit::fail(Exit::BadInput, format!("{}: {e}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| bad(format!("not a berth plan: {e}")))
}
