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
    /// Also show notes (files and documents the loader skipped): the global `-v`.
    #[arg(skip)]
    pub verbose: bool,
}

/// Print the rendered objects (Secret values redacted) to stdout and findings to stderr.
/// Exit 2 when the stack cannot be loaded, 1 when it loads with error findings.
pub fn run(args: RenderArgs) -> anyhow::Result<Exit> {
    let prepared = args.stack.prepare(Checks::LoadOnly);
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
