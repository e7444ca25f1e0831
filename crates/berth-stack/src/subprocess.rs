//! Running a tool berth renders with (helm, kustomize) as a child process: found on `PATH`,
//! fed on stdin, both outputs read to the end on their own threads (so a full pipe never
//! blocks the child), and killed when it outlives its timeout.
//!
//! Waiting is on the end of the child's stdout, not a polling loop, so a fast tool costs only
//! its own run time.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// What a finished child printed, and how it ended.
pub(crate) struct Output {
    pub status: ExitStatus,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a child gave no [`Output`].
#[derive(Debug)]
pub(crate) enum RunError {
    /// It could not be started (not found, not executable).
    Spawn(std::io::Error),
    /// It ran longer than the timeout and was killed.
    Timeout,
    /// Waiting for it failed.
    Wait(std::io::Error),
}

/// Run `cmd` with `stdin` (or an empty stdin) and wait at most `timeout` for it to finish.
pub(crate) fn run(
    mut cmd: Command,
    stdin: Option<Vec<u8>>,
    timeout: Duration,
) -> Result<Output, RunError> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(RunError::Spawn)?;
    if let (Some(mut pipe), Some(bytes)) = (child.stdin.take(), stdin) {
        std::thread::spawn(move || {
            let _ = pipe.write_all(&bytes);
        });
    }
    let (tx, rx) = mpsc::channel();
    let mut stdout = child.stdout.take();
    std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(o) = stdout.as_mut() {
            let _ = o.read_to_end(&mut s);
        }
        let _ = tx.send(s);
    });
    let mut stderr = child.stderr.take();
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        if let Some(e) = stderr.as_mut() {
            let _ = e.read_to_end(&mut s);
        }
        s
    });
    let stdout = match rx.recv_timeout(timeout) {
        Ok(s) => s,
        Err(_) => {
            // The reader threads end when the pipes close; a grandchild that keeps them open
            // must not keep berth waiting, so they are not joined here.
            let _ = child.kill();
            let _ = child.wait();
            return Err(RunError::Timeout);
        }
    };
    let status = child.wait().map_err(RunError::Wait)?;
    let stderr = err_reader.join().unwrap_or_default();
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// The first program `name` in a folder of `PATH`.
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    find_on_path(name, std::env::var_os("PATH").as_deref())
}

/// The first executable file `program` (with the platform's suffix, `.exe` on Windows) in the
/// folders of `path` (a `PATH` value). Every tool berth runs (helm, kustomize, kubectl,
/// eksctl) is looked up here.
pub fn find_on_path(program: &str, path: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let file = format!("{program}{}", std::env::consts::EXE_SUFFIX);
    std::env::split_paths(path?)
        .map(|dir| dir.join(&file))
        .find(|p| is_executable(p))
}

#[cfg(unix)]
fn is_executable(p: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Windows has no executable bit: the suffix says it.
#[cfg(not(unix))]
fn is_executable(p: &std::path::Path) -> bool {
    p.is_file()
}
