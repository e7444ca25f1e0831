//! `berth local up | down | status | kubeconfig`.

use clap::Subcommand;

use crate::exit::Exit;

#[derive(Subcommand)]
pub enum LocalCommand {
    /// Start the local cluster (build its binaries from source first if needed).
    Up,
    /// Stop every process of the local cluster.
    Down,
    /// Say what runs where.
    Status,
    /// Print the path of the local cluster's kubeconfig.
    Kubeconfig,
}

pub fn run(_cmd: LocalCommand) -> anyhow::Result<Exit> {
    anyhow::bail!("berth local is being built")
}
