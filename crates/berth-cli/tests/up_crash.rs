//! `berth up` killed with SIGKILL in the middle of applying, then run again (with a stack that
//! lost some objects meanwhile), converges: exit 0, every object of the new stack there, the
//! objects the killed run created that left the stack pruned, and an inventory that lists
//! exactly the new stack. Runs the real binary against the shared local test cluster.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

fn berth() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
    c.env("KUBECONFIG", berth_local::testing::kubeconfig());
    c
}

fn write_stack(dir: &Path, ns: &str, configmaps: usize, deployments: usize) {
    std::fs::create_dir_all(dir.join("app")).unwrap();
    std::fs::write(dir.join("berth.yaml"), format!("stack: crash\nnamespace: {ns}\nprofile: local\ncomponents:\n  app: {{manifests: app/}}\n")).unwrap();
    let mut docs = vec![format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n"
    )];
    for i in 0..configmaps {
        docs.push(format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}}}\ndata: {{i: \"{i}\"}}\n"
        ));
    }
    for i in 0..deployments {
        docs.push(format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d-{i}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: d-{i}}}}}\n  template:\n    metadata: {{labels: {{app: d-{i}}}}}\n    spec:\n      containers: [{{name: c, image: \"nginx:1.27.1\", envFrom: [{{configMapRef: {{name: cm-{i}}}}}]}}]\n"
        ));
    }
    std::fs::write(dir.join("app/objects.yaml"), docs.join("---\n")).unwrap();
}

#[test]
fn sigkill_mid_apply_then_rerun_converges_with_a_correct_inventory() {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        % 0xfffff;
    let ns = format!("crash-{n:x}");
    let dir = std::env::temp_dir().join(format!("berth-crash-{n:x}"));
    write_stack(&dir, &ns, 300, 30);

    // Start `up` and kill it while the ConfigMaps (after the Namespace) are being applied.
    let mut child = berth()
        .args(["up", "--yes", "--format", "json", "--concurrency", "4"])
        .arg(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start berth up");
    let stdout = child.stdout.take().unwrap();
    let mut configmaps_applied = 0;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        let event: serde_json::Value = serde_json::from_str(&line).unwrap();
        if event["event"] == "applied" && event["object"]["kind"] == "ConfigMap" {
            configmaps_applied += 1;
        }
        if configmaps_applied >= 20 {
            break;
        }
    }
    assert!(
        configmaps_applied >= 20,
        "the run ended before it could be killed while applying"
    );
    child.kill().expect("SIGKILL");
    let _ = child.wait();

    // The stack changes meanwhile: 100 ConfigMaps and 10 Deployments leave it.
    write_stack(&dir, &ns, 200, 20);
    let out = berth()
        .args(["up", "--yes", "--format", "json", "--timeout", "3m"])
        .arg(&dir)
        .output()
        .expect("re-run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "re-run failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pruned: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "pruned")
        .collect();
    // The killed run created at least the first 20 ConfigMaps of wave 2; of those that left the
    // stack (cm-200.. are in wave 2 as well) every one that exists must have been pruned.
    assert!(
        pruned.iter().all(|e| {
            let name = e["object"]["name"].as_str().unwrap_or("");
            name.strip_prefix("cm-")
                .and_then(|i| i.parse::<usize>().ok())
                .is_some_and(|i| i >= 200)
                || name
                    .strip_prefix("d-")
                    .and_then(|i| i.parse::<usize>().ok())
                    .is_some_and(|i| i >= 20)
        }),
        "pruned something that is still in the stack: {pruned:?}"
    );

    // status: exactly the new stack, all Current.
    let status = berth()
        .args(["status", "--format", "json"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        status.status.success(),
        "status not all Current:\n{}",
        String::from_utf8_lossy(&status.stdout)
    );
    let rows: Vec<serde_json::Value> = String::from_utf8_lossy(&status.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(
        rows.len(),
        1 + 200 + 20,
        "inventory does not list exactly the new stack"
    );
    assert!(rows.iter().all(|r| r["state"] == "Current"));
    let leftovers: Vec<&serde_json::Value> = rows
        .iter()
        .filter(|r| {
            let name = r["object"]["name"].as_str().unwrap_or("");
            name.strip_prefix("cm-")
                .and_then(|i| i.parse::<usize>().ok())
                .is_some_and(|i| i >= 200)
        })
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // One revision: the killed run recorded none.
    let history = berth()
        .args(["history", "--format", "json"])
        .arg(&dir)
        .output()
        .unwrap();
    let revisions = String::from_utf8_lossy(&history.stdout).lines().count();
    assert_eq!(revisions, 1);

    let down = berth()
        .args(["down", "--yes", "--purge", "--timeout", "2m"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    std::thread::sleep(Duration::from_millis(10));
}
