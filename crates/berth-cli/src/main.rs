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
    /// Load, render and check a stack: findings with file:line:col, rule, why and fix.
    Check(cmd::check::CheckArgs),
    /// The long explanation of a check (what it finds, why, example, fix); without RULE, the list.
    Explain(cmd::explain::ExplainArgs),
    /// A local Kubernetes control plane on 127.0.0.1 (etcd, kube-apiserver, controller-manager,
    /// scheduler and kwok nodes in three zones), built from source on first use; no Docker.
    #[command(subcommand)]
    Local(cmd::local::LocalCommand),
    /// The exact objects berth would apply, in apply order, as YAML (secrets redacted).
    Render(cmd::render::RenderArgs),
}

fn main() -> ExitCode {
    berth_local::install_crypto_provider();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check(a) => cmd::check::run(a),
        Command::Explain(a) => cmd::explain::run(a),
        Command::Local(c) => cmd::local::run(c),
        Command::Render(a) => cmd::render::run(a),
    };
    exit::finish(result)
}
