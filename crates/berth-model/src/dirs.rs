//! Folders berth shares between its crates.

use std::path::PathBuf;

/// Where the local cluster's binaries are built and kept (kube-apiserver, kubectl, helm, ...):
/// `$BERTH_LOCAL_CACHE`, else `$XDG_CACHE_HOME/berth/local`, else `~/.cache/berth/local`
/// (`/tmp/.cache/berth/local` without a home). Shared by every cluster of the user, and where
/// the loader finds helm when it is not on `PATH`.
pub fn local_cache_root() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_LOCAL_CACHE") {
        return PathBuf::from(p);
    }
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/tmp"))
                .join(".cache")
        })
        .join("berth/local")
}
