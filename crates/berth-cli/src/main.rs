//! `berth`: takes a stack of services onto Kubernetes in one command.
//!
//! This crate only parses the command line and hands each command to the library crate that
//! does the work; it turns their typed errors into messages and exit codes. One file per
//! command lives in `cmd/`; options shared by several commands live in `args.rs`.

mod args;
mod cmd;
mod exit;
mod stack;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// berth takes a stack of services onto Kubernetes in the right order, waits until each part
/// is really healthy, explains what is wrong when it is not, and takes it down again without
/// losing data.
#[derive(Parser)]
#[command(name = "berth", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A local Kubernetes control plane on 127.0.0.1 (etcd, kube-apiserver, controller-manager,
    /// scheduler and kwok nodes in three zones), built from source on first use; no Docker.
    #[command(subcommand)]
    Local(cmd::local::LocalCommand),
    /// The exact objects berth would apply, in apply order, as YAML (secrets redacted).
    Render(cmd::render::RenderArgs),
    /// HPA and cluster-autoscaler behaviour over a load curve: pods, nodes, pending time,
    /// cost and data-loss events, as a table, JSON and charts. Needs no cluster. Exits 1 when
    /// a workload marked `berth.dev/holds-queue` is scaled down (data loss).
    Simulate(cmd::simulate::SimulateArgs),
}

fn main() -> ExitCode {
    berth_local::install_crypto_provider();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Local(c) => cmd::local::run(c),
        Command::Render(a) => cmd::render::run(a),
        Command::Simulate(a) => cmd::simulate::run(a),
    };
    exit::finish(result)
}
