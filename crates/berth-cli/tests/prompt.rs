//! `{prompt: true}` secret values: `berth up` asks for them on its terminal, without echo, and
//! the Secret in the cluster holds what was typed; without a terminal it refuses before
//! applying anything. The terminal is a real pseudo-terminal made by util-linux `script`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;

const TYPED: &str = "typed-at-the-prompt-93";

fn write_stack(dir: &Path, ns: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("berth.yaml"),
        format!(
            "stack: prompted\nnamespace: {ns}\nprofile: local\ncomponents:\n  app: {{manifests: app.yaml}}\nsecrets:\n  db:\n    data:\n      password: {{ prompt: true }}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("app.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: fast}\n",
    )
    .unwrap();
}

async fn secret(ns: &str) -> Option<Secret> {
    let client = berth_local::testing::client().await;
    Api::<Secret>::namespaced(client, ns)
        .get_opt("db")
        .await
        .unwrap()
}

#[tokio::test]
async fn up_asks_for_a_prompted_value_on_its_terminal_and_only_there() {
    let script = Path::new("/usr/bin/script");
    assert!(
        script.is_file(),
        "this test needs util-linux `script` (Debian: bsdutils) for a pseudo-terminal"
    );
    let dir = tempfile::tempdir().unwrap();
    let ns = format!("prompted-{}", std::process::id());
    write_stack(dir.path(), &ns);
    let berth = env!("CARGO_BIN_EXE_berth");
    let kubeconfig = berth_local::testing::kubeconfig();

    // No terminal: nothing to ask on, nothing applied.
    let out = Command::new(berth)
        .args(["up", "--yes"])
        .arg(dir.path())
        .env("KUBECONFIG", &kubeconfig)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no terminal to ask on"), "{stderr}");
    assert!(secret(&ns).await.is_none(), "a Secret was applied");

    // A terminal: the value typed is the value stored, and it is not echoed.
    let command = format!("{berth} up --yes {}", dir.path().display());
    let mut child = Command::new(script)
        .args(["-qec", &command, "/dev/null"])
        .env("KUBECONFIG", &kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Typed once the question is on the screen, as a person would: typed earlier, the
    // terminal would echo it before berth could turn echo off.
    let mut stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut stdout, &mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut screen = Vec::new();
    let asked = "value of secret `db` key `password`";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !String::from_utf8_lossy(&screen).contains(asked) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(bytes) => screen.extend(bytes),
            Err(_) => panic!(
                "berth did not ask within 60 s: {}",
                String::from_utf8_lossy(&screen)
            ),
        }
    }
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(format!("{TYPED}\n").as_bytes()).unwrap();
    let status = child.wait().unwrap();
    drop(stdin);
    while let Ok(bytes) = rx.recv_timeout(std::time::Duration::from_secs(5)) {
        screen.extend(bytes);
    }
    let mut err = String::new();
    let _ = std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err);
    let screen = String::from_utf8_lossy(&screen).to_string() + &err;
    let stored = secret(&ns).await;
    let _ = Command::new(berth)
        .args(["down", "--yes", "--purge"])
        .arg(dir.path())
        .env("KUBECONFIG", &kubeconfig)
        .output();
    assert_eq!(status.code(), Some(0), "{screen}");
    assert!(
        !screen.contains(TYPED),
        "the typed value was echoed: {screen}"
    );
    let data = stored.expect("the Secret").data.expect("data");
    assert_eq!(data["password"].0, TYPED.as_bytes());
}
