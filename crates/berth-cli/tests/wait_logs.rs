//! While `up` waits for a workload longer than 10 s, it shows the last log lines of one of its
//! pods that is not ready, with the stack's secret values redacted; a pod that is ready shows
//! none. On the local test cluster, where kwok serves the log lines a test writes (playing the
//! container, `berth_local::testing::serve_logs`).

use std::process::Command;

const TOKEN: &str = "wait-logs-token-8841";

#[tokio::test]
async fn an_unready_pods_last_log_lines_show_with_secrets_redacted() {
    let client = berth_local::testing::client().await;
    let ns = berth_local::testing::namespace(&client, "waitlogs").await;
    for pod in ["api", "ok"] {
        berth_local::testing::serve_logs(
            &client,
            &ns,
            pod,
            "app",
            &[
                "starting",
                &format!("connecting with token {TOKEN}"),
                "upstream not reachable yet, retrying",
            ],
        )
        .await;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("berth.yaml"),
        format!(
            "stack: waitlogs\nnamespace: {ns}\nprofile: local\ncomponents:\n  app: {{manifests: pods.yaml}}\nsecrets:\n  api:\n    data:\n      token: {{ env: BERTH_WAIT_LOGS_TOKEN }}\n"
        ),
    )
    .unwrap();
    let pod = |name: &str, annotations: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  annotations: {{{annotations}}}\nspec:\n  containers:\n    - name: app\n      image: registry.example.com/api:1.0.0\n      envFrom: [{{secretRef: {{name: api}}}}]\n      resources: {{requests: {{cpu: 10m, memory: 16Mi}}, limits: {{memory: 16Mi}}}}\n"
        )
    };
    std::fs::write(
        dir.path().join("pods.yaml"),
        format!(
            "{}---\n{}",
            pod("api", "berth.dev/test-state: not-ready"),
            pod("ok", "")
        ),
    )
    .unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["up", "--yes", "--format", "json", "--timeout", "20s"])
        .arg(dir.path())
        .env("KUBECONFIG", berth_local::testing::kubeconfig())
        .env("BERTH_WAIT_LOGS_TOKEN", TOKEN)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "a secret value was printed:\n{stdout}\n{stderr}"
    );
    let logs: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "logs")
        .collect();
    assert_eq!(
        logs.len(),
        1,
        "one log tail, for the unready pod only:\n{stdout}"
    );
    assert_eq!(logs[0]["object"]["name"], "api");
    assert_eq!(logs[0]["pod"], "api");
    let lines: Vec<&str> = logs[0]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    assert_eq!(
        lines,
        [
            "starting",
            "connecting with token <redacted>",
            "upstream not reachable yet, retrying"
        ]
    );
}
