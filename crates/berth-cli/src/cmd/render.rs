//! `berth render [STACK]`: the exact objects berth would apply, in apply order (the waves of
//! `berth-plan`), as YAML.

use berth_stack::SecretMode;
use clap::Args;

use crate::exit::{Exit, fail};
use crate::stack::{StackArgs, print_findings};

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
    let loaded = args.stack.load(SecretMode::Redact);
    print_findings(&loaded.findings, args.verbose);
    let stack = match &loaded.stack {
        Some(stack) if !loaded.is_bad_input() => stack,
        _ => {
            let n = loaded.findings.iter().filter(|f| f.is_bad_input()).count();
            return Err(fail(
                Exit::BadInput,
                format!("the stack cannot be loaded ({n} problem(s) above)"),
            ));
        }
    };
    // Apply order: the waves `up` would apply, in order. A dependency cycle is bad input.
    let plan = match berth_plan::plan(&stack.objects, &stack.components) {
        Ok(plan) => plan,
        Err(finding) => {
            print_findings(std::slice::from_ref(&*finding), false);
            return Err(fail(
                Exit::BadInput,
                "the stack's objects depend on each other in a cycle",
            ));
        }
    };
    let ordered: Vec<_> = plan.order().map(|i| stack.objects[i].clone()).collect();
    print!("{}", berth_stack::output::render_yaml(&ordered));
    Ok(if loaded.has_errors() {
        Exit::Failed
    } else {
        Exit::Ok
    })
}
