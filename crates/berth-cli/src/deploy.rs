//! What the cluster commands (`plan`, `up`, `status`, `down`, `history`, `rollback`) share:
//! their arguments, the pipeline's gates (`berth-ops`), asking before changes, and printing
//! progress (a live table on a terminal, one JSON object per event with `--format json`).

use std::io::IsTerminal;
use std::time::Duration;

use berth_apply::{Cluster, Error as ApplyError};
use berth_model::Stack;
use berth_ops::{Checks, Ready};
use clap::{Args, ValueEnum};

use crate::args::{ClusterArgs, parse_duration};
use crate::exit::{Exit, fail};
use crate::stack::{StackArgs, exit_of, ops_error, print_errors, print_findings, refused};

/// Output format of the cluster commands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[default]
    Human,
    /// One JSON object per line: per event (`up`, `down`, `rollback`) or per object (`status`).
    Json,
}

/// Options of every cluster command.
#[derive(Args, Clone, Debug)]
pub struct DeployArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Bounds the whole run (`90s`, `5m`).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub timeout: Duration,
    /// `human` or `json`.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

/// Connects as the arguments say; `--local` starts the local cluster when needed
/// (`BERTH_LOCAL_NAME` picks it, as it does for `berth local`).
pub async fn connect(args: &ClusterArgs) -> anyhow::Result<Cluster> {
    let choice = berth_ops::ClusterChoice {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
        local: args.local.then(|| {
            std::env::var("BERTH_LOCAL_NAME")
                .ok()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "default".into())
        }),
        outage_grace: args.outage_grace,
    };
    berth_ops::connect(&choice, &|note| eprintln!("berth: {note}"))
        .await
        .map_err(ops_error)
}

/// Turns a library error into an error with the right exit code.
pub fn apply_error(e: ApplyError) -> anyhow::Error {
    fail(exit_of(e.class()), e.to_string())
}

/// The stack of a command that takes it from the cluster by name (`down`, `status`,
/// `history`, `rollback`): loaded once without secret values, its findings printed; exit 2 on
/// bad input, 1 on error findings (nothing is changed then).
pub fn load_checked(stack: &StackArgs) -> anyhow::Result<Stack> {
    let prepared = stack.prepare_for_cluster(Checks::LoadOnly);
    print_findings(&prepared.findings, false);
    prepared.checked().map_err(refused)
}

/// The stack of `up` and `plan`: loaded once and checked as `berth check` does (error
/// findings printed, warnings counted), and planned once; exit 2 on bad input or a
/// dependency cycle, 1 on error findings, before anything connects.
pub fn load_and_check(stack: &StackArgs) -> anyhow::Result<Ready> {
    let prepared = stack.prepare_for_cluster(Checks::All);
    print_errors(&prepared.findings);
    prepared.ready().map_err(refused)
}

/// Asks `question` on a terminal; `--yes` answers yes; without a terminal it refuses (exit 2).
pub fn confirm(question: &str, yes: bool) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Err(fail(
            Exit::BadInput,
            "no terminal to ask on: pass --yes to go ahead",
        ));
    }
    eprint!("{question} [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

/// A receiver that becomes `true` on Ctrl-C or SIGTERM, so a running `up` stops applying and
/// releases its lock (a `local load` deletes its usage objects) before berth exits; `doing`
/// says what is stopped, for the message. Call inside the runtime.
pub fn interrupt_on_signals(doing: &'static str) -> tokio::sync::watch::Receiver<bool> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let Ok(mut term) = signal(SignalKind::terminate()) else {
                let _ = tokio::signal::ctrl_c().await;
                let _ = tx.send(true);
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        eprintln!("interrupted: {doing}");
        let _ = tx.send(true);
    });
    rx
}

/// A small runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?)
}
