//! The control-plane processes: started detached (each its own session and process group, so
//! the cluster outlives the `berth local up` that started it and a Ctrl-C in the terminal does
//! not reach it), recorded by pid, recognised again by their executable, and stopped with
//! SIGTERM to the whole group, then SIGKILL after a grace period.

use std::fs::File;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    spawn_with_env(name, binary, args, &[], port, log)
}

/// [`spawn`] with environment variables set for the process (Karpenter reads its kubeconfig
/// from `KUBECONFIG` only: its flag set has no `--kubeconfig`).
pub fn spawn_with_env(
    name: &str,
    binary: &Path,
    args: &[String],
    env: &[(&str, String)],
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
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    os::detach(&mut cmd);
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
        os::runs(self.pid, &self.binary)
    }

    /// SIGTERM to the process group, SIGKILL after `grace` if anything of it still runs.
    /// Returns once the process is gone and its group too: a process this one started stays a
    /// zombie, its group still there, until the thread of [`spawn_with_env`] has reaped it.
    pub fn stop(&self, grace: Duration) {
        if !self.alive() {
            return;
        }
        os::terminate_group(self.pid);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if !self.alive() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // The group may hold helpers even when the leader exited; kill what is left.
        os::kill_group(self.pid);
        let deadline = Instant::now() + Duration::from_secs(5);
        while (self.alive() || os::group_exists(self.pid)) && Instant::now() < deadline {
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

/// What managing processes needs from the system: Linux's sessions, process groups and
/// `/proc`. Elsewhere the local cluster does not run ([`crate::supported`] refuses first), so
/// the other systems' versions only keep the crate building for the rest of berth.
#[cfg(target_os = "linux")]
mod os {
    use std::os::unix::process::CommandExt;
    use std::path::Path;
    use std::process::Command;

    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;

    /// Runs the child in a session of its own, so a Ctrl-C in berth's terminal never reaches it.
    pub fn detach(cmd: &mut Command) {
        // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
        #[allow(unsafe_code)]
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid()
                    .map(|_| ())
                    .map_err(std::io::Error::from)
            });
        }
    }

    /// True when `pid` is alive and runs `binary`.
    pub fn runs(pid: i32, binary: &Path) -> bool {
        match std::fs::read_link(format!("/proc/{pid}/exe")) {
            Ok(p) => {
                let p = p
                    .to_string_lossy()
                    .trim_end_matches(" (deleted)")
                    .to_string();
                Path::new(&p) == binary && !is_zombie(pid)
            }
            Err(_) => false,
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

    /// SIGTERM to the process group led by `pid`.
    pub fn terminate_group(pid: i32) {
        let group = Pid::from_raw(pid);
        let _ = killpg(group, Signal::SIGTERM);
        // A stopped (SIGSTOP, hung in a debugger) process only handles SIGTERM once continued.
        let _ = killpg(group, Signal::SIGCONT);
    }

    /// SIGKILL to the process group led by `pid`.
    pub fn kill_group(pid: i32) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }

    /// True while any process of the group led by `pid` exists, zombies included.
    pub fn group_exists(pid: i32) -> bool {
        killpg(Pid::from_raw(pid), None).is_ok()
    }
}

#[cfg(not(target_os = "linux"))]
mod os {
    use std::path::Path;
    use std::process::Command;

    pub fn detach(_cmd: &mut Command) {}

    /// Never started here, so never running.
    pub fn runs(_pid: i32, _binary: &Path) -> bool {
        false
    }

    pub fn terminate_group(_pid: i32) {}

    pub fn kill_group(_pid: i32) {}

    pub fn group_exists(_pid: i32) -> bool {
        false
    }
}

/// How long [`PortClaim::reclaim`] waits for a port to be let go of.
pub const RECLAIM_GRACE: Duration = Duration::from_secs(1);

/// Ports for components about to start, bound (held) here until each component is spawned, so
/// no other process takes them meanwhile and no two components get the same one.
///
/// A component gets its recorded port back when [`PortClaim::reclaim`] can bind it, else a
/// [`PortClaim::fresh`] one chosen by the OS. Reclaim every recorded port before asking for
/// fresh ones: a fresh port is never one that is held, so it cannot take away a port that
/// another component is still to reclaim. A port is released just before its component binds
/// it; a race with another process in that moment shows up as a start failure whose log names
/// the port. While held, a port takes connections into its backlog without answering them;
/// they are reset on release, and clients retry.
#[derive(Debug, Default)]
pub struct PortClaim {
    held: Vec<TcpListener>,
}

impl PortClaim {
    /// Binds 127.0.0.1:`port` and holds it; false when another process has it (or `port` is 0).
    ///
    /// Tries for up to [`RECLAIM_GRACE`]: a process that was just killed still holds its
    /// listening socket for a moment after [`Proc::alive`] says it is gone (its main thread
    /// exits before the others, and the sockets close with the last one; tens of
    /// milliseconds were seen on a busy machine).
    pub fn reclaim(&mut self, port: u16) -> bool {
        if port == 0 {
            return false;
        }
        let deadline = Instant::now() + RECLAIM_GRACE;
        loop {
            if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
                self.held.push(l);
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A free port on 127.0.0.1 chosen by the OS, distinct from every port held, and held.
    pub fn fresh(&mut self) -> Result<u16, Error> {
        let l = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| Error::Start(format!("no free port on 127.0.0.1: {e}")))?;
        let port = l
            .local_addr()
            .map_err(|e| Error::Start(e.to_string()))?
            .port();
        self.held.push(l);
        Ok(port)
    }

    /// Stops holding `ports`, so their component can bind them.
    pub fn release(&mut self, ports: &[u16]) {
        self.held
            .retain(|l| l.local_addr().map_or(true, |a| !ports.contains(&a.port())));
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_gets_a_free_port_back_and_not_a_taken_one() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let taken_port = taken.local_addr().unwrap().port();
        let mut claim = PortClaim::default();
        assert!(!claim.reclaim(taken_port), "another process listens there");
        assert!(!claim.reclaim(0));

        let free_port = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        assert!(claim.reclaim(free_port));
        // Held: nobody else can bind it, and a fresh port is never it.
        assert!(TcpListener::bind(("127.0.0.1", free_port)).is_err());
        let fresh: Vec<u16> = (0..20).map(|_| claim.fresh().unwrap()).collect();
        assert!(!fresh.contains(&free_port) && !fresh.contains(&taken_port));
        let mut distinct = fresh.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), fresh.len());

        // Released just before its component binds it.
        claim.release(&[free_port]);
        assert!(TcpListener::bind(("127.0.0.1", free_port)).is_ok());
        assert!(TcpListener::bind(("127.0.0.1", fresh[0])).is_err());
    }
}
