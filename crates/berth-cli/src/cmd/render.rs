//! `berth render [STACK]`: the exact objects berth would apply, in apply order (the waves of
//! `berth-plan`), as YAML.

use berth_ops::Checks;
use clap::Args;

use crate::exit::Exit;
use crate::stack::{StackArgs, print_findings, refused};

#[derive(Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Fill the values only the cloud knows: the ids of `cluster.fileSystems`, read from AWS
    /// (EKS). Without it render stays offline and `${efs.<name>}` is left as written.
    #[arg(long)]
    pub cloud_values: bool,
    /// Also show notes (files and documents the loader skipped): the global `-v`.
    #[arg(skip)]
    pub verbose: bool,
}

/// Print the rendered objects (Secret values redacted) to stdout and findings to stderr.
/// Exit 2 when the stack cannot be loaded, 1 when it loads with error findings.
pub fn run(args: RenderArgs) -> anyhow::Result<Exit> {
    let prepared = if args.cloud_values {
        args.stack.prepare_for_cluster(Checks::LoadOnly)
    } else {
        args.stack.prepare(Checks::LoadOnly)
    };
    print_findings(&prepared.findings, args.verbose);
    // Apply order: the waves `up` would apply, in order. A dependency cycle is bad input.
    let ordered = prepared.ordered().map_err(refused)?;
    print!("{}", berth_stack::output::render_yaml(ordered));
    Ok(if prepared.has_errors() {
        Exit::Failed
    } else {
        Exit::Ok
    })
}
