//! The live view of `berth up` in a real terminal (tmux: `send-keys`, then `capture-pane`),
//! while one Deployment never becomes ready (kwok reports its readiness probe failing): the
//! table names the object, its ready/desired count and the reason, and it updates (its
//! elapsed time moves between two captures). Ctrl-C then stops the run.
//!
//! Needs tmux (`scripts/test.sh` installs it); fails, not skips, without it.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// A tmux server on a socket of this test's own (`tmux -L`), killed when dropped, also when
/// the test fails.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(width: u16, height: u16) -> Tmux {
        let found = Command::new("tmux").arg("-V").output();
        assert!(
            found.as_ref().is_ok_and(|o| o.status.success()),
            "this test needs tmux on PATH: `apt-get install tmux` (scripts/test.sh installs it): {found:?}"
        );
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmux = Tmux {
            socket: format!("berth-live-{}-{nanos:x}", std::process::id()),
        };
        let (w, h) = (width.to_string(), height.to_string());
        tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "live",
            "-x",
            &w,
            "-y",
            &h,
            "/bin/sh",
        ]);
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        out
    }

    /// Types `keys` into the session (tmux key names such as `Enter`, `C-c` are keys).
    fn send(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "live"];
        args.extend(keys);
        self.run(&args);
    }

    /// What the pane shows now.
    fn capture(&self) -> String {
        String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "live"]).stdout)
            .into_owned()
    }

    /// Captures until `done` holds, for at most `limit`; panics with the last capture.
    fn wait_for(&self, limit: Duration, what: &str, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.capture();
            if done(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < limit,
                "the pane never showed {what}:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn write_stack(dir: &Path, ns: &str) {
    std::fs::write(
        dir.join("berth.yaml"),
        format!("stack: live\nnamespace: {ns}\nprofile: local\ncomponents:\n  app: {{manifests: app.yaml}}\n"),
    )
    .unwrap();
    // kwok keeps the pod Running and not Ready, with the kubelet's Warning event.
    std::fs::write(
        dir.join("app.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: stuck}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: stuck}}\n  template:\n    metadata:\n      labels: {app: stuck}\n      annotations: {berth.dev/test-state: readiness-failing}\n    spec:\n      containers:\n        - name: app\n          image: registry.example.com/stuck:1.0.0\n          readinessProbe: {httpGet: {path: /ready, port: 8080}}\n          resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {memory: 16Mi}}\n",
    )
    .unwrap();
}

/// The exit code the shell printed after berth (`berth-exit=N`; the typed command line shows
/// `berth-exit=$?`, which is not one).
fn exit_code(screen: &str) -> Option<&str> {
    screen.split("berth-exit=").skip(1).find_map(|rest| {
        let n = rest.split(|c: char| !c.is_ascii_digit()).next()?;
        (!n.is_empty()).then_some(n)
    })
}

/// The table's line for the stuck Deployment. Its reason is the kubelet's Warning event
/// (`Unhealthy: Readiness probe failed: ...`); the table cuts lines at a fixed width, so only
/// the event's reason is sure to be on screen.
fn row<'a>(screen: &'a str, object: &str) -> Option<&'a str> {
    screen.lines().find(|l| l.contains(object))
}

#[test]
fn the_live_table_names_a_stuck_deployment_with_its_count_and_reason_and_updates() {
    let kubeconfig = berth_local::testing::kubeconfig();
    let dir = tempfile::tempdir().unwrap();
    let ns = format!("live-{}", std::process::id());
    write_stack(dir.path(), &ns);
    let tmux = Tmux::start(160, 40);
    let command = format!(
        "KUBECONFIG='{}' '{}' up --yes --timeout 5m '{}'; echo berth-exit=$?",
        kubeconfig.display(),
        env!("CARGO_BIN_EXE_berth"),
        dir.path().display()
    );
    tmux.send(&[&command, "Enter"]);

    let object = format!("Deployment/{ns}/stuck");
    let shown =
        |s: &str| row(s, &object).is_some_and(|r| r.contains("0/1") && r.contains("Unhealthy"));
    let first = tmux.wait_for(
        Duration::from_secs(90),
        "the stuck Deployment with its reason",
        shown,
    );
    std::thread::sleep(Duration::from_secs(3));
    let second = tmux.wait_for(Duration::from_secs(10), "the row again", shown);
    let (a, b) = (row(&first, &object), row(&second, &object));
    assert_ne!(
        a, b,
        "the row did not change in 3 s (elapsed time frozen):\n{first}\n---\n{second}"
    );
    assert_eq!(exit_code(&second), None, "berth ended early:\n{second}");

    // Ctrl-C stops the run, with an exit code that is not success.
    tmux.send(&["C-c"]);
    let end = tmux.wait_for(Duration::from_secs(30), "berth's exit", |s| {
        exit_code(s).is_some()
    });
    assert_ne!(
        exit_code(&end),
        Some("0"),
        "an interrupted, unhealthy up exited 0:\n{end}"
    );
    drop(tmux);

    let _ = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["down", "--purge", "--yes"])
        .arg(dir.path())
        .env("KUBECONFIG", &kubeconfig)
        .output();
}
