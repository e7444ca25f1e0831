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
