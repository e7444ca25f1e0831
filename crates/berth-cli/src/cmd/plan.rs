//! `berth plan [STACK]`: what `up` would change, wave by wave, from a server-side dry run.

use berth_apply::diff::Change;
use clap::Args;

use crate::deploy::{self, DeployArgs, Format};
use crate::exit::Exit;
use crate::stack::{StackArgs, ops_error};

#[derive(Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub deploy: DeployArgs,
    /// Plan pruning PVCs, PVs, Namespaces and CRDs that left the stack, as `up --prune-data`.
    #[arg(long)]
    pub prune_data: bool,
    /// Also write the plan to FILE, for `berth up --plan FILE` to apply exactly this plan
    /// (no secret value, nor anything derived from one, is written).
    #[arg(long, value_name = "FILE")]
    pub out: Option<std::path::PathBuf>,
}

/// Exit 0 whether or not there are changes; 1 when the dry run rejects an object.
pub fn run(mut args: PlanArgs) -> anyhow::Result<Exit> {
    args.stack
        .default_profile_for_local(args.deploy.cluster.local);
    let ready = deploy::load_and_check(&args.stack)?;
    let rt = deploy::runtime()?;
    rt.block_on(async {
        let cluster = deploy::connect(&args.deploy.cluster).await?;
        let report = ready
            .changes(
                &cluster,
                Some(std::sync::Arc::new(crate::asker::TerminalAsker)),
                args.prune_data,
                32,
                args.deploy.timeout,
            )
            .await
            .map_err(ops_error)?;
        if let Some(out) = &args.out {
            let saved = serde_json::to_string_pretty(&ready.save(&cluster, &report))?;
            std::fs::write(out, saved + "\n").map_err(|e| {
                crate::exit::fail(Exit::BadInput, format!("{}: {e}", out.display()))
            })?;
            eprintln!(
                "plan saved to {} (apply it with `berth up --plan {}`)",
                out.display(),
                out.display()
            );
        }
        if args.deploy.format == Format::Json {
            for change in report.waves.iter().flatten().chain(&report.prune) {
                println!("{}", serde_json::to_string(change)?);
            }
            return Ok(Exit::Ok);
        }
        if report.is_empty() {
            println!("no changes");
            return Ok(Exit::Ok);
        }
        let color = crate::term::colour(crate::term::Stream::Stdout);
        for (w, wave) in report.waves.iter().enumerate() {
            let changed: Vec<&Change> = wave
                .iter()
                .filter(|c| !matches!(c, Change::Unchanged { .. }))
                .collect();
            println!(
                "wave {}: {} objects, {} changing",
                w + 1,
                wave.len(),
                changed.len()
            );
            for c in changed {
                match c {
                    Change::Create { object, note, .. } => {
                        println!(
                            "  + create {object}{}",
                            note.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()
                        )
                    }
                    Change::Update {
                        object,
                        diff,
                        owned_by_others,
                        ..
                    } => {
                        println!("  ~ update {object}");
                        if !owned_by_others.is_empty() {
                            let fields: Vec<String> = owned_by_others
                                .iter()
                                .map(|d| format!("{} (by {})", d.path, d.manager))
                                .collect();
                            println!(
                                "      someone else changed {}: `berth up --force-conflicts` takes {} back (plain `up` stops on the conflict)",
                                fields.join(", "),
                                if fields.len() == 1 { "it" } else { "them" }
                            );
                        }
                        for line in diff.lines() {
                            let painted = match line.chars().next() {
                                Some('+') if color && !line.starts_with("+++") => {
                                    format!("\x1b[32m{line}\x1b[0m")
                                }
                                Some('-') if color && !line.starts_with("---") => {
                                    format!("\x1b[31m{line}\x1b[0m")
                                }
                                _ => line.to_string(),
                            };
                            println!("      {painted}");
                        }
                    }
                    _ => {}
                }
            }
        }
        for c in &report.prune {
            if let Change::Prune { object, kept } = c {
                if *kept {
                    println!(
                        "  = keep {object} (left the stack; data is kept unless --prune-data)"
                    );
                } else {
                    println!("  - prune {object}");
                }
            }
        }
        Ok(Exit::Ok)
    })
}
