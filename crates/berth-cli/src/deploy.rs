//! What the cluster commands (`plan`, `up`, `status`, `down`, `history`, `rollback`) share:
//! their arguments, the pipeline's gates (`berth-ops`), asking before changes, and printing
//! progress (a line per wave on a terminal, one JSON object per event with `--format json`).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use berth_apply::{Cluster, Error as ApplyError, Event};
use berth_model::Stack;
use berth_ops::{Checks, Ready};
use clap::{Args, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

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
    /// Bounds the whole run and each wave (`90s`, `5m`).
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
    let prepared = stack.prepare(Checks::LoadOnly);
    print_findings(&prepared.findings, false);
    prepared.checked().map_err(refused)
}

/// The stack of `up` and `plan`: loaded once and checked as `berth check` does (error
/// findings printed, warnings counted), and planned once; exit 2 on bad input or a
/// dependency cycle, 1 on error findings, before anything connects.
pub fn load_and_check(stack: &StackArgs) -> anyhow::Result<Ready> {
    let prepared = stack.prepare(Checks::All);
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

/// Prints events: JSON lines, or a line per wave with progress on a terminal.
pub struct Printer {
    format: Format,
    bars: MultiProgress,
    state: Mutex<PrinterState>,
}

#[derive(Default)]
struct PrinterState {
    wave: Option<(ProgressBar, usize)>,
    healthy: usize,
}

impl Printer {
    pub fn new(format: Format) -> Printer {
        Printer {
            format,
            bars: MultiProgress::new(),
            state: Mutex::new(PrinterState::default()),
        }
    }

    /// Handles one event.
    pub fn event(&self, e: Event) {
        if self.format == Format::Json {
            if let Ok(line) = serde_json::to_string(&e) {
                println!("{line}");
            }
            return;
        }
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        match e {
            Event::WaveStarted {
                wave,
                waves,
                objects,
            } => {
                let bar = self.bars.add(ProgressBar::new(objects.len() as u64));
                bar.set_style(
                    ProgressStyle::with_template("{prefix} {bar:30} {pos}/{len} {msg}")
                        .unwrap_or_else(|_| ProgressStyle::default_bar()),
                );
                bar.set_prefix(format!("wave {wave}/{waves}"));
                bar.set_message("applying");
                st.wave = Some((bar, objects.len()));
                st.healthy = 0;
            }
            Event::Applied { .. } => {
                if let Some((bar, _)) = &st.wave {
                    bar.inc(1);
                }
            }
            Event::Health {
                object,
                state,
                message,
            } => {
                if let Some((bar, _)) = &st.wave {
                    bar.set_message(format!("{object}: {state} {message}"));
                }
            }
            Event::Waiting { object, message } => {
                if let Some((bar, _)) = &st.wave {
                    bar.set_message(format!("{object}: {message}"));
                }
                if self.bars.is_hidden() {
                    eprintln!("{object}: {message}");
                }
            }
            Event::Unreachable {
                server, seconds, ..
            } => self.line(format!(
                "API server {server} unreachable for {seconds}s, retrying"
            )),
            Event::WaveHealthy { wave, millis } => {
                if let Some((bar, n)) = st.wave.take() {
                    bar.finish_with_message(format!(
                        "{n} healthy in {:.1}s",
                        millis as f64 / 1000.0
                    ));
                    if bar.is_hidden() {
                        eprintln!(
                            "wave {wave}: {n} objects healthy in {:.1}s",
                            millis as f64 / 1000.0
                        );
                    }
                }
            }
            Event::Pruned { object } => self.line(format!("pruned {object}")),
            Event::Kept { object, reason } => self.line(format!("kept {object} ({reason})")),
            Event::Deleting { object } => {
                self.line(format!("deleting {object} (waiting for finalizers)"))
            }
            Event::Deleted { object } => self.line(format!("deleted {object}")),
            Event::WaitingForLock { holder } => {
                self.line(format!("waiting for the lock held by {holder}"))
            }
            Event::Revision { revision, outcome } => {
                self.line(format!("revision {revision}: {outcome}"))
            }
        }
    }

    fn line(&self, s: String) {
        let _ = self.bars.println(&s);
        if self.bars.is_hidden() {
            eprintln!("{s}");
        }
    }
}

/// Stops the progress display of a failed wave with the reason.
pub fn abandon(printer: &Printer) {
    if let Ok(mut st) = printer.state.lock()
        && let Some((bar, _)) = st.wave.take()
    {
        bar.abandon();
    }
}

/// A receiver that becomes `true` on Ctrl-C or SIGTERM, so a running `up` stops applying and
/// releases its lock before berth exits. Call inside the runtime.
pub fn interrupt_on_signals() -> tokio::sync::watch::Receiver<bool> {
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
        eprintln!("interrupted: stopping and releasing the stack lock");
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
