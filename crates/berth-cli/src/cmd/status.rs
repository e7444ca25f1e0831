//! `berth status [STACK]`: each owned object's health and the revision.

use clap::Args;

use crate::deploy::{self, DeployArgs, Format};
use crate::exit::Exit;
use crate::stack::StackArgs;

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    #[command(flatten)]
    pub deploy: DeployArgs,
}

/// Exit 0 only when every object is Current.
pub fn run(mut args: StatusArgs) -> anyhow::Result<Exit> {
    args.stack
        .default_profile_for_local(args.deploy.cluster.local);
    let stack = deploy::load_checked(&args.stack)?;
    let rt = deploy::runtime()?;
    rt.block_on(async {
        let cluster = deploy::connect(&args.deploy.cluster).await?;
        let inv = berth_apply::Inventory::new(&stack.name, &stack.namespace);
        let rules = berth_ops::health_rules(stack.profile);
        let report = berth_apply::status::status(&cluster, &inv, &rules, args.deploy.timeout).await.map_err(deploy::apply_error)?;
        if args.deploy.format == Format::Json {
            for o in &report.objects {
                println!("{}", serde_json::json!({"object": o.object, "state": o.state.as_str(), "message": o.message, "revision": report.revision}));
            }
        } else {
            match report.revision {
                Some(r) => println!("stack `{}` revision {r} ({})", stack.name, report.outcome.as_deref().unwrap_or("")),
                None => println!("stack `{}` has not been applied to this cluster", stack.name),
            }
            let width = report.objects.iter().map(|o| o.object.to_string().len()).max().unwrap_or(6).max(6);
            println!("{:width$}  {:10}  MESSAGE", "OBJECT", "STATE");
            for o in &report.objects {
                println!("{:width$}  {:10}  {}", o.object.to_string(), o.state.as_str(), o.message);
            }
        }
        Ok(if report.all_current() { Exit::Ok } else { Exit::Failed })
    })
}
