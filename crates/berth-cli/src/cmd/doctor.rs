//! `berth doctor [STACK]`: why what is not healthy is not healthy. Loads the stack, reads what
//! the cluster has of it and prints the diagnoses of `berth-doctor`.

use std::time::Duration;

use berth_model::Severity;
use berth_ops::Checks;
use clap::{Args, ValueEnum};

use crate::args::ClusterArgs;
use crate::exit::{Exit, fail};
use crate::stack::{StackArgs, print_findings, refused};

/// How the diagnoses are printed.
#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub enum Format {
    /// Like compiler errors: cause, manifest location, evidence, fix.
    #[default]
    Human,
    /// One JSON object per diagnosis and line (`id`, `severity`, `object`, `file`, `line`,
    /// `column`, `cause`, `evidence`, `fix`).
    Json,
}

#[derive(Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Give up on an unresponsive cluster after this long.
    #[arg(long, default_value = "60s", value_parser = crate::args::parse_duration)]
    pub timeout: Duration,
}

/// Exit 0 when nothing is wrong (warnings are printed but do not fail), 1 when a diagnosis is
/// at error level, 2 when the stack cannot be loaded, 3 when the cluster cannot be read.
pub fn run(mut args: DoctorArgs) -> anyhow::Result<Exit> {
    args.stack.default_profile_for_local(args.cluster.local);
    // The doctor never needs secret values: live Secrets are read for their keys only.
    let prepared = args.stack.prepare_for_cluster(Checks::LoadOnly);
    let stack = prepared.loadable().map_err(|r| {
        print_findings(&prepared.findings, false);
        refused(r)
    })?;
    let rt = tokio::runtime::Runtime::new()?;
    let diagnoses = rt.block_on(async {
        let client = crate::deploy::connect(&args.cluster).await?.client;
        match tokio::time::timeout(
            args.timeout,
            berth_doctor::diagnose_with(
                &client,
                &stack.objects,
                &berth_doctor::Options {
                    load_balancer_controller: stack.profile != berth_model::Profile::Local,
                },
            ),
        )
        .await
        {
            Ok(Ok(d)) => Ok(d),
            Ok(Err(e)) => Err(fail(Exit::Cluster, e.to_string())),
            Err(_) => Err(fail(
                Exit::Cluster,
                format!("the cluster did not answer within {:?}", args.timeout),
            )),
        }
    })?;
    for d in &diagnoses {
        match args.format {
            Format::Human => println!("{}", d.render()),
            Format::Json => println!("{}", serde_json::to_string(d)?),
        }
    }
    if matches!(args.format, Format::Human) {
        let errors = diagnoses
            .iter()
            .filter(|d| d.severity == Severity::Error)
            .count();
        if diagnoses.is_empty() {
            eprintln!(
                "berth: {} objects checked, nothing to report",
                stack.objects.len()
            );
        } else {
            eprintln!("berth: {} diagnoses ({errors} errors)", diagnoses.len());
        }
    }
    Ok(if diagnoses.iter().any(|d| d.severity == Severity::Error) {
        Exit::Failed
    } else {
        Exit::Ok
    })
}
