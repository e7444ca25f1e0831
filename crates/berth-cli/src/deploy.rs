//! What the cluster commands (`plan`, `up`, `status`, `down`, `history`, `rollback`) share:
//! connecting, loading the stack with its secret values, asking before changes, and printing
//! progress (a line per wave on a terminal, one JSON object per event with `--format json`).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_apply::{Cluster, ConnectOptions, Error as ApplyError, ErrorClass, Event};
use berth_model::{Object, Origin, Profile, Stack};
use berth_stack::{Loaded, SecretMode};
use berth_stack::{SecretSource, SecretValue};
use clap::{Args, ValueEnum};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::args::{ClusterArgs, parse_duration};
use crate::exit::{Exit, fail};
use crate::stack::{StackArgs, print_findings};

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

/// Connects as the arguments say; `--local` starts the local cluster when needed.
pub async fn connect(args: &ClusterArgs) -> anyhow::Result<Cluster> {
    let mut opts = ConnectOptions {
        kubeconfig: args.kubeconfig.clone(),
        context: args.context.clone(),
    };
    if args.local {
        // `BERTH_LOCAL_NAME` picks the cluster, as it does for `berth local`.
        let opts_local = berth_local::Options {
            name: std::env::var("BERTH_LOCAL_NAME")
                .ok()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "default".into()),
            ..berth_local::Options::default()
        };
        let status = berth_local::up(&opts_local).await.map_err(|e| {
            fail(
                Exit::Cluster,
                format!("the local cluster could not be started: {e}"),
            )
        })?;
        for moved in &status.moved {
            eprintln!("berth: local cluster `{}`: {moved}", status.name);
        }
        opts = ConnectOptions {
            kubeconfig: Some(status.kubeconfig),
            context: None,
        };
    }
    let mut cluster = Cluster::connect(&opts).await.map_err(apply_error)?;
    if let Some(grace) = args.outage_grace {
        cluster.outage_grace = grace;
    }
    Ok(cluster)
}

/// Turns a library error into an error with the right exit code.
pub fn apply_error(e: ApplyError) -> anyhow::Error {
    let exit = match e.class() {
        ErrorClass::Cluster => Exit::Cluster,
        ErrorClass::BadInput => Exit::BadInput,
        ErrorClass::Failed => Exit::Failed,
    };
    fail(exit, e.to_string())
}

/// berth's health rules (berth-health) for `profile`: LoadBalancer Services wait for an
/// address only where the profile has a load-balancer controller.
pub fn rules(profile: Profile) -> berth_apply::BerthHealth {
    berth_apply::BerthHealth {
        load_balancer_controller: profile != Profile::Local,
    }
}

/// Loads and checks the stack without secret values: exit 2 on bad input, 1 on error
/// findings (nothing is applied then).
pub fn load_checked(stack: &StackArgs) -> anyhow::Result<Stack> {
    let loaded = stack.load(SecretMode::Redact);
    print_findings(&loaded.findings, false);
    gate(loaded).map(|(s, _)| s)
}

/// Loads the stack and runs every check (`berth check`), as `up` does first: error findings
/// stop it before the first write (exit 1; exit 2 for bad input). Warnings are counted only.
pub fn load_and_check(stack: &StackArgs) -> anyhow::Result<Stack> {
    let mut loaded = stack.load(SecretMode::Redact);
    if let Some(s) = &loaded.stack
        && !loaded.is_bad_input()
    {
        loaded.findings.extend(berth_check::check(s));
    }
    let errors: Vec<_> = loaded
        .findings
        .iter()
        .filter(|f| f.severity == berth_model::Severity::Error)
        .cloned()
        .collect();
    print_findings(&errors, false);
    let warnings = loaded.findings.len() - errors.len();
    if warnings > 0 && errors.is_empty() {
        eprintln!("{warnings} warning(s) from the checks (see `berth check`)");
    }
    gate(loaded).map(|(s, _)| s)
}

fn gate(loaded: Loaded) -> anyhow::Result<(Stack, Loaded)> {
    if loaded.is_bad_input() {
        let n = loaded.findings.iter().filter(|f| f.is_bad_input()).count();
        return Err(fail(
            Exit::BadInput,
            format!("the stack cannot be loaded ({n} problem(s) above); nothing was applied"),
        ));
    }
    if loaded.has_errors() {
        return Err(fail(
            Exit::Failed,
            "the stack has error findings (above); nothing was applied",
        ));
    }
    let mut loaded = loaded;
    let stack = loaded
        .stack
        .take()
        .ok_or_else(|| fail(Exit::BadInput, "no stack"))?;
    Ok((stack, loaded))
}

/// Secret values from the cluster: what `generate:` values keep across runs.
struct ClusterSecrets {
    values: HashMap<(String, String, String), SecretValue>,
}

impl SecretSource for ClusterSecrets {
    fn existing(&self, namespace: &str, secret: &str, key: &str) -> Option<SecretValue> {
        self.values
            .get(&(namespace.into(), secret.into(), key.into()))
            .cloned()
    }
}

/// Loads the stack with its secret values (generated ones read back from the cluster), and
/// returns it with the objects as they must be sent (values filled in). Never print them.
pub async fn load_for_apply(
    stack_args: &StackArgs,
    cluster: &Cluster,
    redacted: &Stack,
) -> anyhow::Result<(Stack, Vec<Object>)> {
    let mut values = HashMap::new();
    for o in redacted
        .objects
        .iter()
        .filter(|o| o.origin == Origin::StackSecret)
    {
        let ns = o.namespace().unwrap_or(&redacted.namespace).to_string();
        if let Some(data) = cluster
            .secret_data(&ns, o.name())
            .await
            .map_err(apply_error)?
        {
            for (k, v) in data {
                values.insert((ns.clone(), o.name().to_string(), k), SecretValue::new(v));
            }
        }
    }
    let mut options = stack_args.options(SecretMode::Strict);
    options.secret_source = Some(Arc::new(ClusterSecrets { values }));
    let loaded = berth_stack::load(&stack_args.path, &options);
    print_findings(&loaded.findings, false);
    let (stack, loaded) = gate(loaded)?;
    let objects = stack
        .objects
        .iter()
        .map(|o| Object {
            value: loaded.secrets.materialize(o),
            ..o.clone()
        })
        .collect();
    Ok((stack, objects))
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
