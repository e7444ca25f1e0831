//! Options shared by several commands.

#![allow(dead_code)] // filled in as the commands that share them arrive

use std::path::PathBuf;

use clap::Args;

/// How to reach the cluster: kubectl's rules (`KUBECONFIG`, `--kubeconfig`, `--context`), or
/// `--local` for berth's own local cluster.
#[derive(Args, Clone, Debug, Default)]
pub struct ClusterArgs {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, env = "KUBECONFIG", value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context to use (default: its current context).
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,
    /// Use berth's local cluster, starting it if it is not running.
    #[arg(long, global = true)]
    pub local: bool,
}
