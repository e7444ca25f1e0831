//! `berth down [STACK]`: removes the stack in reverse order, load balancers first; keeps PVCs,
//! PVs, Namespaces and CRDs unless `--purge`, and lists what it kept.

use berth_apply::down::DownOptions;
use clap::Args;

use crate::deploy::{self, DeployArgs, Format};
use crate::exit::Exit;
use crate::live::Printer;
use crate::stack::StackArgs;

#[derive(Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub deploy: DeployArgs,
    /// Go ahead without asking.
    #[arg(long, short)]
    pub yes: bool,
    /// Also delete PVCs (including StatefulSet volume claims), PVs, Namespaces and CRDs.
    #[arg(long)]
    pub purge: bool,
}

pub fn run(mut args: DownArgs) -> anyhow::Result<Exit> {
    args.stack
        .default_profile_for_local(args.deploy.cluster.local);
    let stack = deploy::load_checked(&args.stack)?;
    let rt = deploy::runtime()?;
    rt.block_on(async {
        let cluster = deploy::connect(&args.deploy.cluster).await?;
        let inv = berth_apply::Inventory::new(&stack.name, &stack.namespace);
        let preview = berth_apply::down::preview(&cluster, &inv, args.purge, args.deploy.timeout)
            .await
            .map_err(deploy::apply_error)?;
        if preview.delete.is_empty() && preview.keep.is_empty() {
            eprintln!("stack `{}` owns nothing on this cluster", stack.name);
            return Ok(Exit::Ok);
        }
        if args.deploy.format == Format::Human {
            eprintln!(
                "will delete {} objects (load balancers first):",
                preview.delete.len()
            );
            for k in &preview.delete {
                eprintln!("  - {k}");
            }
            if !preview.keep.is_empty() {
                eprintln!("will keep (use --purge to delete them too):");
                for k in &preview.keep {
                    eprintln!("  = {k}");
                }
            }
        }
        let question = if args.purge {
            format!(
                "delete stack `{}` from {} INCLUDING its data (PVCs, PVs, namespaces, CRDs)?",
                stack.name, cluster.server
            )
        } else {
            format!("delete stack `{}` from {}?", stack.name, cluster.server)
        };
        if !deploy::confirm(&question, args.yes)? {
            return Ok(Exit::Failed);
        }
        let printer = Printer::new(args.deploy.format);
        let sink = |e| printer.event(e);
        let opts = DownOptions {
            purge: args.purge,
            timeout: args.deploy.timeout,
            concurrency: 32,
        };
        let report = berth_apply::down::down(&cluster, &inv, &opts, &sink).await;
        printer.finish();
        let report = report.map_err(deploy::apply_error)?;
        if args.deploy.format == Format::Json {
            println!("{}", serde_json::json!({"event": "done", "report": report}));
        } else {
            eprintln!("deleted {} objects", report.delete.len());
            if !report.keep.is_empty() {
                eprintln!("kept {} objects:", report.keep.len());
                for k in &report.keep {
                    eprintln!("  {k}");
                }
            }
        }
        Ok(Exit::Ok)
    })
}
