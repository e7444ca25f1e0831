//! `berth status [STACK]`: each owned object's health, its drift, and the revision.

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
    /// Exit 1 when someone changed fields berth applied (drift), even when all is healthy:
    /// for a CI job that must notice changes made behind berth's back.
    #[arg(long)]
    pub fail_on_drift: bool,
}

/// Exit 0 only when every object is Current (and, with `--fail-on-drift`, nothing drifted).
/// Drift alone is reported but does not fail by default: like Argo CD's sync status beside
/// its health, it says the cluster differs from the last `up`, not that the stack is broken
/// (an operator's `kubectl scale` during an incident is deliberate), and a status check that
/// failed on it would page people for that.
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
                println!("{}", serde_json::json!({"object": o.object, "state": o.state.as_str(), "message": o.message, "revision": report.revision, "drift": o.drift}));
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
            print_drift(&report);
        }
        let failed = !report.all_current() || (args.fail_on_drift && report.drifted());
        Ok(if failed { Exit::Failed } else { Exit::Ok })
    })
}

/// The DRIFT section: one line per changed field, with who changed it and how; nothing when
/// no field drifted.
fn print_drift(report: &berth_apply::status::StatusReport) {
    if !report.drifted() {
        return;
    }
    println!(
        "\nDRIFT: fields berth applied that others changed since (`berth plan` shows them; `berth up --force-conflicts` takes them back, a plain `up` stops at the conflict)"
    );
    for o in report.objects.iter().filter(|o| !o.drift.is_empty()) {
        println!("  {}", o.object);
        for d in &o.drift {
            let via = match &d.subresource {
                Some(s) => format!("{} via {s}", d.operation),
                None => d.operation.clone(),
            };
            let when = d
                .time
                .as_deref()
                .map(|t| format!(", {t}"))
                .unwrap_or_default();
            println!("    {}  by {} ({via}{when})", d.path, d.manager);
        }
    }
}
