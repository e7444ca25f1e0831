//! Where the local cluster keeps its binaries (cache) and its clusters (state).

use std::path::PathBuf;

fn home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/tmp"))
}

/// Built binaries: `$BERTH_LOCAL_CACHE`, else `$XDG_CACHE_HOME/berth/local`, else
/// `~/.cache/berth/local`. Shared by every cluster of the user
/// ([`berth_model::dirs::local_cache_root`], where the loader looks for helm too).
pub fn cache_root() -> PathBuf {
    berth_model::dirs::local_cache_root()
}

/// Cluster state (PKI, etcd data, logs, kubeconfig): `$BERTH_LOCAL_STATE`, else
/// `$XDG_STATE_HOME/berth/local`, else `~/.local/state/berth/local`; one folder per cluster name.
pub fn state_root() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_LOCAL_STATE") {
        return PathBuf::from(p);
    }
    std::env::var_os("XDG_STATE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".local/state"))
        .join("berth/local")
}
