//! Options shared by several commands.

#![allow(dead_code)] // some options wait for the commands that share them

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
    /// How long the API server may stay unreachable before the command gives up (exit 3);
    /// shorter outages are ridden out (`30s`).
    #[arg(long, global = true, value_parser = parse_duration, value_name = "DURATION")]
    pub outage_grace: Option<std::time::Duration>,
}

/// Parses a duration option (`90s`, `5m`, `1h30m`, `500ms`, `1.5s`, `1d`): the grammar of
/// `berth_model::duration`, the one every berth option and `berth simulate` read.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    berth_model::duration::parse(s).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        // What `berth simulate --duration` always took: the same parser now.
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in ["", "5", "m", "5x", "-1s", "1.5"] {
            assert!(parse_duration(bad).is_err(), "{bad} accepted");
        }
    }
}
