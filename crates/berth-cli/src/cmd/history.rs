//! `berth history [STACK]`: the revisions stored in the cluster.

use clap::Args;

use crate::deploy::{self, DeployArgs, Format};
use crate::exit::Exit;
use crate::stack::StackArgs;

#[derive(Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub deploy: DeployArgs,
}

pub fn run(args: HistoryArgs) -> anyhow::Result<Exit> {
    let stack = deploy::load_checked(&args.stack)?;
    let rt = deploy::runtime()?;
    rt.block_on(async {
        let cluster = deploy::connect(&args.deploy.cluster).await?;
        let inv = berth_apply::Inventory::new(&stack.name, &stack.namespace);
        let deadline = tokio::time::Instant::now() + args.deploy.timeout;
        let history = inv
            .history(&cluster, deadline)
            .await
            .map_err(deploy::apply_error)?;
        if args.deploy.format == Format::Json {
            for h in &history {
                println!("{}", serde_json::to_string(h)?);
            }
        } else if history.is_empty() {
            println!("stack `{}` has no revisions on this cluster", stack.name);
        } else {
            println!(
                "{:>8}  {:30}  {:>7}  OUTCOME",
                "REVISION", "TIME", "OBJECTS"
            );
            for h in &history {
                let note = h
                    .rollback_of
                    .map(|r| format!(" (rollback to {r})"))
                    .unwrap_or_default();
                let outcome: String = h
                    .outcome
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(100)
                    .collect();
                println!(
                    "{:>8}  {:30}  {:>7}  {outcome}{note}",
                    h.revision, h.time, h.objects
                );
            }
        }
        Ok(Exit::Ok)
    })
}
