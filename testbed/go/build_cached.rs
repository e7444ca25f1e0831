//! Builds a program of a `testbed/go/` module once per version of its sources into
//! `~/.cache/berth/<name>-<hash>` (the hash covers `files`), for tests that run it: berth-yaml's
//! kubectl differential test (`yamljson`) and berth-stack's chart tests (`registry`). Included
//! by path (`#[path]`) from each, since they share no test-support crate. A missing `go` or a
//! failed build panics with what to install: such a test never skips.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The built program `name` from `package` of the module in `src`; `purpose` says what the
/// test needs it for, in the panic message.
pub fn build_cached(
    src: &Path,
    files: &[&str],
    package: &str,
    name: &str,
    purpose: &str,
) -> PathBuf {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325; // FNV-1a
    for file in files {
        let bytes = std::fs::read(src.join(file))
            .unwrap_or_else(|e| panic!("{}: {e}", src.join(file).display()));
        for b in file.bytes().chain(bytes) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    let home = std::env::var_os("HOME").map_or_else(std::env::temp_dir, PathBuf::from);
    let dir = home.join(".cache/berth");
    let exe = dir.join(format!("{name}-{hash:016x}"));
    if exe.exists() {
        return exe;
    }
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    // Built under a unique name, then renamed: parallel test runs never see half a binary.
    let tmp = dir.join(format!("{name}-{hash:016x}.{}.tmp", std::process::id()));
    let built = Command::new("go")
        .args(["build", "-o"])
        .arg(&tmp)
        .arg(package)
        .current_dir(src)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=readonly -buildvcs=false")
        .output();
    let module = src.display();
    match built {
        Err(e) => panic!(
            "{purpose}, built from {module}, and cannot run `go` ({e}): install Go 1.26 or \
             newer (https://go.dev/dl/, or the golang package) and put it on PATH"
        ),
        Ok(out) if !out.status.success() => panic!(
            "building {module} failed (it needs Go 1.26 or newer and its modules from the Go \
             module proxy):\n{}",
            String::from_utf8_lossy(&out.stderr)
        ),
        Ok(_) => {}
    }
    std::fs::rename(&tmp, &exe).unwrap_or_else(|e| panic!("{}: {e}", exe.display()));
    exe
}
