//! `berth simulate` end to end: the binary on a fixture stack.

use std::path::PathBuf;
use std::process::{Command, Output};

fn fixture(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/simulate")
        .join(path)
}

fn berth(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(args)
        .output()
        .expect("berth runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn json_report_with_data_loss_exits_1() {
    let stack = fixture("queue");
    let load = fixture("queue/load.csv");
    let out = berth(&[
        "simulate",
        stack.to_str().unwrap(),
        "--load",
        load.to_str().unwrap(),
        "--duration",
        "2h",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(report["summary"]["duration_s"], 7200);
    assert!(report["summary"]["data_loss_events"].as_u64().unwrap() > 0);
    assert_eq!(report["data_loss"][0]["workload"], "molecule");
    let groups: Vec<&str> = report["node_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        groups,
        [
            "workers-us-east-1a",
            "workers-us-east-1b",
            "workers-us-east-1c"
        ]
    );
    assert_eq!(
        report["settings"]["autoscaler"]["balance_similar_node_groups"],
        true
    );
}

#[test]
fn out_dir_gets_timeline_report_and_charts() {
    let dir = std::env::temp_dir().join(format!("berth-simulate-test-{}", std::process::id()));
    let stack = fixture("queue");
    let out = berth(&[
        "simulate",
        stack.to_str().unwrap(),
        "--load",
        "const:molecule:1000/2000",
        "--duration",
        "30m",
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("Simulated 30m in 15s steps"));
    let csv = std::fs::read_to_string(dir.join("timeline.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 121);
    assert!(dir.join("report.json").is_file());
    // Charts need a font (fonts-dejavu-core in CI); without one they are skipped with a warning.
    if dir.join("chart.png").is_file() {
        assert!(dir.join("chart.svg").is_file());
    } else {
        assert!(
            text(&out.stderr).contains("warning: no chart"),
            "{}",
            text(&out.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_exits_2_with_file_line_and_column() {
    let stack = fixture("queue");
    let bad = fixture("queue/bad-load.csv");
    let out = berth(&[
        "simulate",
        stack.to_str().unwrap(),
        "--load",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("bad-load.csv:3:14: cpu_millicores `lots` is not a non-negative number"),
        "{err}"
    );

    let out = berth(&[
        "simulate",
        stack.to_str().unwrap(),
        "--load",
        "step:nobody:1:2:1h",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("workload `nobody`"),
        "{}",
        text(&out.stderr)
    );

    let out = berth(&[
        "simulate",
        stack.to_str().unwrap(),
        "--load",
        "stepp:molecule:1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--load:1:1: unknown load shape `stepp`"),
        "{}",
        text(&out.stderr)
    );

    let out = berth(&[
        "simulate",
        stack.to_str().unwrap(),
        "--load",
        "const:molecule:1",
        "--step",
        "0s",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn compare_runs_both_node_models_side_by_side() {
    let stack = fixture("queue");
    let load = fixture("queue/load.csv");
    let args = [
        "simulate",
        stack.to_str().unwrap(),
        "--load",
        load.to_str().unwrap(),
        "--duration",
        "2h",
        "--nodes",
        "compare",
    ];
    let out = berth(&[&args[..], &["--format", "json"]].concat());
    // The queue holder's HPA scales it down under both models: data loss, exit 1.
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    let cmp: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let models: Vec<&str> = cmp["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["nodes"].as_str().unwrap())
        .collect();
    assert_eq!(models, ["cluster-autoscaler", "karpenter"]);
    for m in cmp["models"].as_array().unwrap() {
        assert!(m["node_hours"].as_f64().unwrap() > 0.0, "{m}");
        assert!(m["queue_holder_evictions"].is_u64(), "{m}");
        assert!(m["pending_pod_seconds"].is_u64(), "{m}");
    }
    let human = berth(&args);
    let t = text(&human.stdout);
    assert!(
        t.contains("cluster-autoscaler") && t.contains("karpenter"),
        "{t}"
    );
    assert!(t.contains("of them holding queues"), "{t}");
}

#[test]
fn karpenter_on_an_eks_stack_without_nodepools_uses_the_ones_cluster_config_writes() {
    let stack = fixture("queue");
    let out = berth(&[
        "simulate",
        stack.to_str().unwrap(),
        "--load",
        "const:molecule:1000/2000",
        "--duration",
        "30m",
        "--nodes",
        "karpenter",
        "--format",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["settings"]["nodes"], "karpenter");
    // `berth cluster config` gives the queue holder its own pool that only removes empty nodes.
    let pools = report["settings"]["nodepools"].as_array().unwrap();
    assert!(
        pools
            .iter()
            .any(|p| p["name"] == "queue-holders" && p["consolidation_policy"] == "WhenEmpty"),
        "{pools:?}"
    );
}

#[test]
fn observed_timelines_are_compared_and_a_bad_one_exits_2() {
    let dir = std::env::temp_dir().join(format!("berth-simulate-observed-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let stack = fixture("queue");
    let csv = dir.join("observed.csv");
    // molecule held at its minimum of 3, then 4 from 5 minutes on; three nodes throughout.
    let mut rows = String::from("time_s,molecule:replicas,nodes_total\n");
    for t in (0..=600).step_by(10) {
        rows.push_str(&format!("{t},{},3\n", if t < 300 { 3 } else { 4 }));
    }
    std::fs::write(&csv, rows).unwrap();
    let out = berth(&[
        "simulate",
        stack.to_str().unwrap(),
        "--load",
        "const:molecule:100",
        "--duration",
        "10m",
        "--observed",
        csv.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let t = text(&out.stdout);
    assert!(t.contains("Simulated vs observed over 10m"), "{t}");
    // Simulated at 3 throughout: one replica apart once the observed side settled at 4.
    let row = t
        .split("Simulated vs observed")
        .nth(1)
        .and_then(|part| {
            part.lines()
                .find(|l| l.trim_start().starts_with("molecule"))
        })
        .unwrap();
    assert!(row.contains(" 3/4 ") && row.contains("1 at 330s"), "{t}");
    assert!(
        t.contains("node-hours: simulated 0.500, observed 0.500"),
        "{t}"
    );
    let agreement: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("observed.json")).unwrap()).unwrap();
    assert_eq!(agreement["workloads"][0]["max_settled_difference"], 1);
    assert!(dir.join("observed.png").is_file() || text(&out.stderr).contains("no chart"));

    std::fs::write(&csv, "time_s,molecule:replicas\n0,3\n10,three\n").unwrap();
    let out = berth(&[
        "simulate",
        stack.to_str().unwrap(),
        "--load",
        "const:molecule:100",
        "--duration",
        "10m",
        "--observed",
        csv.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("observed.csv:3:1: `three` in column `molecule:replicas`"),
        "{}",
        text(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
