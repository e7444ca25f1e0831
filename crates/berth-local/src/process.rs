//! The control-plane processes: started detached (each its own session and process group, so
//! the cluster outlives the `berth local up` that started it and a Ctrl-C in the terminal does
//! not reach it), recorded by pid, recognised again by their executable, and stopped with
//! SIGTERM to the whole group, then SIGKILL after a grace period.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use crate::Error;

/// A running (or once running) control-plane process.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Proc {
    /// etcd, kube-apiserver, kube-controller-manager, kube-scheduler or kwok.
    pub name: String,
    pub pid: i32,
    pub binary: PathBuf,
    /// The port it serves on 127.0.0.1 (the client port for etcd).
    pub port: u16,
    /// Other ports it listens on (etcd's peer port).
    #[serde(default)]
    pub other_ports: Vec<u16>,
    pub log: PathBuf,
}

/// Starts `binary args...` detached, with stdout and stderr appended to `log`.
pub fn spawn(
    name: &str,
    binary: &Path,
    args: &[String],
    port: u16,
    log: &Path,
) -> Result<Proc, Error> {
    let out = File::options()
        .create(true)
        .append(true)
        .open(log)
        .map_err(Error::io(log))?;
    let err = out.try_clone().map_err(Error::io(log))?;
    let mut cmd = Command::new(binary);
    cmd.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::Start(format!("{name} ({}): {e}", binary.display())))?;
    let pid = child.id() as i32;
    // Reap the child when it exits while this process still runs (tests, a long `berth up
    // --local`), so it does not linger as a zombie; a finished CLI hands it to init instead.
    std::thread::spawn(move || child.wait());
    Ok(Proc {
        name: name.to_string(),
        pid,
        binary: binary.to_path_buf(),
        port,
        other_ports: Vec::new(),
        log: log.to_path_buf(),
    })
}

impl Proc {
    /// True when the pid is alive and still runs our binary (a recycled pid does not count).
    pub fn alive(&self) -> bool {
        let exe = std::fs::read_link(format!("/proc/{}/exe", self.pid));
        match exe {
            Ok(p) => {
                let p = p
                    .to_string_lossy()
                    .trim_end_matches(" (deleted)")
                    .to_string();
                Path::new(&p) == self.binary && !is_zombie(self.pid)
            }
            Err(_) => false,
        }
    }

    /// SIGTERM to the process group, SIGKILL after `grace` if anything of it still runs.
    /// Returns once the process is gone.
    pub fn stop(&self, grace: Duration) {
        if !self.alive() {
            return;
        }
        let group = Pid::from_raw(self.pid);
        let _ = killpg(group, Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !self.alive() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The group may hold helpers even when the leader exited; kill what is left.
        let _ = killpg(group, Signal::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The last `n` lines of the process's log, for error messages.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

fn is_zombie(pid: i32) -> bool {
    // /proc/PID/stat: "pid (comm) S ..." — the state follows the last ')'.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// `N` distinct free TCP ports on 127.0.0.1, chosen by the OS and all held at once while
/// choosing, so none repeats. They are released before use, so a race with another process is
/// possible and shows up as a start failure with the log naming the port.
pub fn free_ports<const N: usize>() -> Result<[u16; N], Error> {
    let mut held = Vec::with_capacity(N);
    let mut ports = [0u16; N];
    for p in ports.iter_mut() {
        let l = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| Error::Start(format!("no free port on 127.0.0.1: {e}")))?;
        *p = l
            .local_addr()
            .map_err(|e| Error::Start(e.to_string()))?
            .port();
        held.push(l);
    }
    Ok(ports)
}

/// True when something accepts connections on 127.0.0.1:port.
pub fn listening(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Waits until `proc` listens on its port; fails at once if it exits, with its log's tail.
pub fn wait_listening(proc: &Proc, timeout: Duration) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    loop {
        if listening(proc.port) {
            return Ok(());
        }
        if !proc.alive() {
            return Err(Error::Start(format!(
                "{} exited while starting; last lines of {}:\n{}",
                proc.name,
                proc.log.display(),
                proc.log_tail(15)
            )));
        }
        if Instant::now() > deadline {
            return Err(Error::Start(format!(
                "{} did not listen on 127.0.0.1:{} within {timeout:?}; last lines of {}:\n{}",
                proc.name,
                proc.port,
                proc.log.display(),
                proc.log_tail(15)
            )));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
