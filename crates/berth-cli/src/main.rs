//! `berth`: takes a stack of services onto Kubernetes in one command.
//!
//! This crate only parses the command line and hands each command to the library crate that
//! does the work; it turns their typed errors into messages and exit codes.

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
enum Command {}

fn main() {
    let _cli = Cli::parse();
}
