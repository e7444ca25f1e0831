//! `berth`: takes a stack of services onto Kubernetes in one command.
//!
//! This crate only parses the command line and hands each command to the library crate that
//! does the work; it turns their typed errors into messages and exit codes. One file per
//! command lives in `cmd/`; options shared by several commands live in `args.rs`.

mod args;
mod asker;
mod cmd;
mod deploy;
mod exit;
mod live;
mod stack;
mod term;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// berth's allocator: mimalloc 2 (see the workspace's Cargo.toml for its features). A check
/// of 10,000 objects keeps about a million small maps and strings, made on two threads; on
/// `benches/check`, against glibc's malloc, it took 15% less time and 5 MB less peak memory
/// (no header per allocation, size classes from 8 bytes).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Memory mimalloc no longer uses goes back to the system at once, not 10 ms (100 ms for
/// whole arena chunks) later: a check frees each file's text and the YAML reader's
/// scratch while it loads, and peak RSS on `benches/check` was 82 MB against 86.
#[allow(unsafe_code)]
fn tune_allocator() {
    /// `mi_option_purge_delay` in mimalloc 2's `mimalloc.h` (the bindings do not name it).
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: sets one of mimalloc's global options, which it reads when it next purges.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) };
}

/// berth takes a stack of services onto Kubernetes in the right order, waits until each part
/// is really healthy, explains what is wrong when it is not, and takes it down again without
/// losing data.
#[derive(Parser)]
#[command(name = "berth", version, propagate_version = true)]
struct Cli {
    /// Show more: notes of `check` and `render`, and berth's own log on stderr (`-v` debug,
    /// `-vv` trace; `RUST_LOG` overrides).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Load, render and check a stack: findings with file:line:col, rule, why and fix.
    Check(cmd::check::CheckArgs),
    /// The long explanation of a check (what it finds, why, example, fix); without RULE, the list.
    Explain(cmd::explain::ExplainArgs),
    /// A local Kubernetes control plane on 127.0.0.1 (etcd, kube-apiserver, controller-manager,
    /// scheduler and kwok nodes in three zones), built from source on first use; no Docker.
    #[command(subcommand)]
    Local(cmd::local::LocalCommand),
    /// Why what is not healthy is not healthy: cause, evidence (event, log line, condition) and
    /// fix, pointing at the manifest line.
    Doctor(cmd::doctor::DoctorArgs),
    /// The exact objects berth would apply, in apply order, as YAML (secrets redacted).
    Render(cmd::render::RenderArgs),
    /// What `up` would change, wave by wave: create, update (diff), prune; from a server-side
    /// dry run, secrets masked.
    Plan(cmd::plan::PlanArgs),
    /// Check, then apply each object (server-side apply) as soon as what it needs is healthy,
    /// wait for health, prune what left the stack, record the revision.
    Up(cmd::up::UpArgs),
    /// Each owned object's health (Current, InProgress, Failed, NotFound) and the revision.
    Status(cmd::status::StatusArgs),
    /// Remove the stack in reverse order, load balancers first; keep PVCs, PVs, namespaces and
    /// CRDs unless --purge.
    Down(cmd::down::DownArgs),
    /// The revisions stored in the cluster.
    History(cmd::history::HistoryArgs),
    /// Go back to an earlier revision (applied as a new revision).
    Rollback(cmd::rollback::RollbackArgs),
    /// HPA and cluster-autoscaler behaviour over a load curve: pods, nodes, pending time,
    /// cost and data-loss events, as a table, JSON and charts. Needs no cluster. Exits 1 when
    /// a workload marked `berth.dev/holds-queue` is scaled down (data loss).
    Simulate(cmd::simulate::SimulateArgs),
    /// The eksctl ClusterConfig and cluster-autoscaler manifest the stack needs (`config`), and
    /// creating the cluster with eksctl (`up`).
    #[command(subcommand)]
    Cluster(cmd::cluster::ClusterCommand),
    /// Shell completions (bash, zsh, fish, powershell, elvish) on stdout.
    Completions(cmd::completions::CompletionsArgs),
    /// berth's manual page (roff) on stdout: `berth man > berth.1`.
    Man,
}

fn main() -> ExitCode {
    tune_allocator();
    berth_local::install_crypto_provider();
    let cli = Cli::parse();
    if cli.verbose > 0 || std::env::var_os("RUST_LOG").is_some() {
        let level = if cli.verbose > 1 { "trace" } else { "debug" };
        let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            let crates = [
                "berth_apply",
                "berth_local",
                "berth_doctor",
                "berth_stack",
                "berth",
            ];
            let directives: Vec<String> = crates.iter().map(|c| format!("{c}={level}")).collect();
            tracing_subscriber::EnvFilter::new(format!("warn,{}", directives.join(",")))
        });
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    let result = match cli.command {
        Command::Check(mut a) => {
            a.verbose = cli.verbose > 0;
            cmd::check::run(a)
        }
        Command::Explain(a) => cmd::explain::run(a),
        Command::Local(c) => cmd::local::run(c),
        Command::Render(mut a) => {
            a.verbose = cli.verbose > 0;
            cmd::render::run(a)
        }
        Command::Doctor(a) => cmd::doctor::run(a),
        Command::Plan(a) => cmd::plan::run(a),
        Command::Up(a) => cmd::up::run(a),
        Command::Status(a) => cmd::status::run(a),
        Command::Down(a) => cmd::down::run(a),
        Command::History(a) => cmd::history::run(a),
        Command::Rollback(a) => cmd::rollback::run(a),
        Command::Simulate(a) => cmd::simulate::run(a),
        Command::Cluster(c) => cmd::cluster::run(c),
        Command::Completions(a) => cmd::completions::completions(a, Cli::command()),
        Command::Man => cmd::completions::man(Cli::command()),
    };
    exit::finish(result)
}
