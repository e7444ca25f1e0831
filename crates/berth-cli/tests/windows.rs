//! berth's Windows binary (x86_64-pc-windows-gnu, cross-built with mingw-w64) run under wine:
//! it must give the Linux binary's answers — the same JSON from `check` and `simulate`, the
//! same YAML from `render`, on the blueprints and on a stack with findings written with CRLF
//! line ends as Windows editors save them — and take a small stack up, report its status and
//! take it down again on the local cluster (run by the Linux side, reached on 127.0.0.1), and
//! say clearly that `berth local` is for Linux.
//!
//! `scripts/test.sh` builds the Windows binary and installs wine; without either these tests
//! fail and say how to get them (a skipped platform test would prove nothing).
//! `BERTH_WINDOWS_EXE` points at another build of `berth.exe`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn linux_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_berth"))
}

/// The cross-built `berth.exe` of this build's profile, beside the Linux one.
fn windows_exe() -> PathBuf {
    if let Some(p) = std::env::var_os("BERTH_WINDOWS_EXE") {
        return PathBuf::from(p);
    }
    let linux = linux_exe();
    let profile_dir = linux.parent().expect("binary folder");
    let profile = profile_dir.file_name().expect("profile name");
    let target_dir = profile_dir.parent().expect("target folder");
    let exe = target_dir
        .join("x86_64-pc-windows-gnu")
        .join(profile)
        .join("berth.exe");
    assert!(
        exe.is_file(),
        "the Windows binary {} is missing: build it with `rustup target add x86_64-pc-windows-gnu && \
         cargo build --target x86_64-pc-windows-gnu -p berth-cli` (needs Debian's mingw-w64; scripts/test.sh does both)",
        exe.display()
    );
    exe
}

/// wine's prefix, created once per machine outside the repository (about 10 s the first time).
fn wine_prefix() -> PathBuf {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX
        .get_or_init(|| {
            let home = std::env::var_os("HOME").expect("HOME is set");
            let prefix = Path::new(&home).join(".cache/berth/wine");
            std::fs::create_dir_all(&prefix).expect("wine prefix folder");
            // Initialise it before the tests run berth.exe in parallel: concurrent first runs
            // would each try to create the prefix.
            let out = Command::new("wine")
                .args(["cmd", "/c", "ver"])
                .env("WINEPREFIX", &prefix)
                .env("WINEDEBUG", "-all")
                .output()
                .unwrap_or_else(|e| {
                    panic!(
                        "wine is needed to run berth's Windows binary ({e}): \
                         apt-get install wine64 (scripts/test.sh installs it)"
                    )
                });
            assert!(
                out.status.success(),
                "wine could not set up {}: {}",
                prefix.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            install_process_prng(&prefix);
            prefix
        })
        .clone()
}

/// Builds the stand-in `bcryptprimitives.dll` (tests/wine/bcryptprimitives.c) into the prefix:
/// wine 8 lacks the DLL that Rust's standard library gets random numbers from on Windows 10
/// and later, and without it berth.exe does not start (status c0000135). Windows has the real
/// one; nothing of this reaches the binary under test.
fn install_process_prng(prefix: &Path) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/wine/bcryptprimitives.c");
    let dll = prefix.join("drive_c/windows/system32/bcryptprimitives.dll");
    let out = Command::new("x86_64-w64-mingw32-gcc")
        .args(["-shared", "-O2", "-o"])
        .arg(&dll)
        .arg(&source)
        .arg("-ladvapi32")
        .output()
        .unwrap_or_else(|e| {
            panic!("mingw-w64's gcc builds the wine stand-in DLL ({e}): apt-get install mingw-w64")
        });
    assert!(
        out.status.success(),
        "building {}: {}",
        dll.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `berth.exe args` under wine, in `cwd`, with `KUBECONFIG` when given.
fn windows(cwd: &Path, args: &[&str], kubeconfig: Option<&Path>) -> Output {
    let mut cmd = Command::new("wine");
    cmd.arg(windows_exe())
        .args(args)
        .current_dir(cwd)
        .env("WINEPREFIX", wine_prefix())
        .env("WINEDEBUG", "-all")
        .env("NO_COLOR", "1");
    if let Some(k) = kubeconfig {
        cmd.env("KUBECONFIG", k);
    }
    cmd.output().expect("wine runs berth.exe")
}

fn linux(cwd: &Path, args: &[&str], kubeconfig: Option<&Path>) -> Output {
    let mut cmd = Command::new(linux_exe());
    cmd.args(args).current_dir(cwd).env("NO_COLOR", "1");
    if let Some(k) = kubeconfig {
        cmd.env("KUBECONFIG", k);
    }
    cmd.output().expect("berth runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Both binaries on the same command line in the same folder: same exit code, same stdout.
fn assert_same(cwd: &Path, args: &[&str]) -> Output {
    let l = linux(cwd, args, None);
    let w = windows(cwd, args, None);
    assert_eq!(
        w.status.code(),
        l.status.code(),
        "exit code of `berth {}` differs; Windows stderr: {}",
        args.join(" "),
        text(&w.stderr)
    );
    assert!(
        w.stdout == l.stdout,
        "`berth {}` printed something else on Windows:\n--- Linux\n{}\n--- Windows\n{}",
        args.join(" "),
        text(&l.stdout),
        text(&w.stdout)
    );
    assert!(
        !l.stdout.is_empty(),
        "`berth {}` printed nothing: {}",
        args.join(" "),
        text(&l.stderr)
    );
    w
}

#[test]
fn check_render_and_simulate_answer_as_on_linux_on_the_blueprints() {
    let repo = repo();
    for blueprint in ["boomi-flow", "boomi-molecule", "openremote", "cauchy"] {
        let stack = format!("blueprints/{blueprint}");
        assert_same(&repo, &["check", &stack, "--format", "json"]);
        assert_same(&repo, &["render", &stack]);
    }
    // simulate: the fixture's queue-holding Molecule loses messages, so both exit 1.
    let w = assert_same(
        &repo,
        &[
            "simulate",
            "crates/berth-cli/tests/fixtures/simulate/queue",
            "--load",
            "crates/berth-cli/tests/fixtures/simulate/queue/load.csv",
            "--duration",
            "2h",
            "--format",
            "json",
        ],
    );
    assert_eq!(w.status.code(), Some(1));
}

const STACK: &str =
    "stack: winapp\nnamespace: NS\nprofile: local\ncomponents:\n  app: {manifests: manifests/}\n";

const WITH_FINDINGS: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx:latest
          env:
            - {name: DB_PASSWORD, value: hunter2}
          volumeMounts: [{name: cfg, mountPath: /etc/web}]
      volumes: [{name: cfg, configMap: {name: web-config}}]
";

fn write_stack(dir: &Path, ns: &str, manifest: &str, crlf: bool) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("manifests")).unwrap();
    let eol = |s: &str| {
        if crlf {
            s.replace('\n', "\r\n")
        } else {
            s.to_string()
        }
    };
    std::fs::write(dir.join("berth.yaml"), eol(&STACK.replace("NS", ns))).unwrap();
    std::fs::write(dir.join("manifests/app.yaml"), eol(manifest)).unwrap();
}

fn tempdir(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("berth-windows-{name}-{}", std::process::id()))
}

#[test]
fn findings_in_crlf_manifests_point_where_they_do_in_lf_ones() {
    let lf = tempdir("lf");
    let crlf = tempdir("crlf");
    write_stack(&lf, "win", WITH_FINDINGS, false);
    write_stack(&crlf, "win", WITH_FINDINGS, true);
    let args = ["check", ".", "--format", "json"];
    let lf_out = assert_same(&lf, &args);
    let crlf_out = assert_same(&crlf, &args);
    assert_eq!(
        lf_out.status.code(),
        Some(1),
        "the plaintext env var is an error"
    );
    assert_eq!(
        text(&crlf_out.stdout),
        text(&lf_out.stdout),
        "CRLF changed the findings"
    );
    let report: serde_json::Value = serde_json::from_slice(&crlf_out.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let image = findings
        .iter()
        .find(|f| f["rule"] == "mutable-image")
        .expect("the `latest` tag is found");
    assert_eq!(
        (image["line"].as_u64(), image["column"].as_u64()),
        (Some(13), Some(11))
    );
    assert_eq!(image["file"], "manifests/app.yaml");
    // The human form names the file, line and column too.
    let human = windows(&crlf, &["check", "."], None);
    let stderr = text(&human.stderr) + &text(&human.stdout);
    assert!(stderr.contains("manifests/app.yaml:13:11"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the password is printed: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&lf);
    let _ = std::fs::remove_dir_all(&crlf);
}

const HEALTHY: &str = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: web-config}
data: {greeting: hello}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx:1.27.1
          readinessProbe: {httpGet: {path: /, port: 80}}
          resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 64Mi}}
          volumeMounts: [{name: cfg, mountPath: /etc/web}]
      volumes: [{name: cfg, configMap: {name: web-config}}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
";

#[test]
fn up_status_and_down_of_a_small_stack_on_the_local_cluster() {
    let kubeconfig = berth_local::testing::kubeconfig();
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        % 0xfffff;
    let ns = format!("win-{n:x}");
    let dir = tempdir("up");
    write_stack(&dir, &ns, HEALTHY, true);
    let k = Some(kubeconfig.as_path());

    let up = windows(&dir, &["up", ".", "--yes", "--format", "json"], k);
    assert_eq!(
        up.status.code(),
        Some(0),
        "up under wine: {}{}",
        text(&up.stdout),
        text(&up.stderr)
    );
    let events: Vec<serde_json::Value> = text(&up.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON event per line"))
        .collect();
    assert!(
        events.iter().any(|e| e["event"] == "applied"
            && e["object"]["kind"] == "Deployment"
            && e["object"]["name"] == "web"),
        "{events:?}"
    );

    // What the Windows binary applied, the Linux binary sees as its own and healthy.
    let status = windows(&dir, &["status", ".", "--format", "json"], k);
    assert_eq!(status.status.code(), Some(0), "{}", text(&status.stderr));
    let linux_status = linux(&dir, &["status", ".", "--format", "json"], k);
    assert_eq!(
        linux_status.status.code(),
        Some(0),
        "{}",
        text(&linux_status.stderr)
    );
    let healthy = |out: &Output| {
        text(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|e| e["state"] == "Current")
            .count()
    };
    assert!(healthy(&status) >= 3, "{}", text(&status.stdout));
    assert_eq!(healthy(&status), healthy(&linux_status));

    let down = windows(&dir, &["down", ".", "--yes", "--format", "json"], k);
    assert_eq!(down.status.code(), Some(0), "{}", text(&down.stderr));
    let after = linux(&dir, &["status", ".", "--format", "json"], k);
    assert_eq!(
        healthy(&after),
        0,
        "objects left after down: {}",
        text(&after.stdout)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn berth_local_says_it_runs_on_linux() {
    let dir = tempdir("local");
    write_stack(&dir, "win-local", HEALTHY, false);
    for args in [
        &["local", "up"][..],
        &["local", "status"],
        &["up", "--local", "--yes", "."],
    ] {
        let out = windows(&dir, args, None);
        assert_eq!(
            out.status.code(),
            Some(2),
            "`berth {}` on Windows: {}",
            args.join(" "),
            text(&out.stderr)
        );
        assert!(
            text(&out.stderr).contains("the local cluster runs on Linux only"),
            "`berth {}`: {}",
            args.join(" "),
            text(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
