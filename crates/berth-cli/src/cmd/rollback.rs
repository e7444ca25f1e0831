//! `berth rollback REV [STACK]`: re-applies a stored revision as a new one.

use berth_apply::UpOptions;
use clap::Args;

use crate::deploy::{self, DeployArgs, Format};
use crate::exit::Exit;
use crate::live::Printer;
use crate::stack::StackArgs;

#[derive(Args)]
pub struct RollbackArgs {
    /// The revision to go back to (see `berth history`).
    pub revision: u64,
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub deploy: DeployArgs,
    /// Go ahead without asking.
    #[arg(long, short)]
    pub yes: bool,
}

pub fn run(mut args: RollbackArgs) -> anyhow::Result<Exit> {
    args.stack
        .default_profile_for_local(args.deploy.cluster.local);
    let stack = deploy::load_checked(&args.stack)?;
    let rt = deploy::runtime()?;
    rt.block_on(async {
        let cluster = deploy::connect(&args.deploy.cluster).await?;
        let question = format!(
            "roll stack `{}` on {} back to revision {}?",
            stack.name, cluster.server, args.revision
        );
        if !deploy::confirm(&question, args.yes)? {
            return Ok(Exit::Failed);
        }
        let printer = Printer::new(args.deploy.format);
        let sink = |e| printer.event(e);
        let rules = berth_ops::health_rules(stack.profile);
        let opts = UpOptions {
            timeout: args.deploy.timeout,
            interrupt: Some(deploy::interrupt_on_signals(
                "stopping and releasing the stack lock",
            )),
            ..UpOptions::default()
        };
        let inv = berth_apply::Inventory::new(&stack.name, &stack.namespace);
        match berth_apply::up::rollback(
            &cluster,
            &inv,
            stack.profile,
            args.revision,
            &opts,
            &rules,
            &sink,
        )
        .await
        {
            Ok(report) => {
                printer.finish();
                if args.deploy.format == Format::Json {
                    println!("{}", serde_json::json!({"event": "done", "report": report}));
                } else {
                    eprintln!(
                        "stack `{}` is back at revision {} (as revision {})",
                        stack.name, args.revision, report.revision
                    );
                }
                Ok(Exit::Ok)
            }
            Err(e) => {
                printer.finish();
                Err(deploy::apply_error(e))
            }
        }
    })
}
