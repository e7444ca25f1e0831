//! berth-yaml's reading speed on files given on the command line, for `benches/yaml/run.sh`,
//! which runs libyaml (PyYAML's CSafeLoader) on the same files in the same run.
//!
//!   cargo run --release -p berth-yaml --example yaml_mbps -- [--rounds N] FILE...
//!
//! The files are read into memory first; each round parses every file once on one thread
//! (as libyaml does) and the median round is reported, twice: granit-parser's events alone
//! (the floor, comparable to `yaml.parse`) and the full reader (JSON values with positions
//! and kubectl's scalar rules, comparable to `yaml.load_all`).

use std::time::Instant;

fn main() {
    let mut rounds = 5usize;
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--rounds" {
            rounds = args.next().and_then(|n| n.parse().ok()).unwrap_or(rounds);
        } else {
            paths.push(a);
        }
    }
    if paths.is_empty() {
        eprintln!("usage: yaml_mbps [--rounds N] FILE...");
        std::process::exit(2);
    }
    let texts: Vec<String> = paths
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p}: {e}")))
        .collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let docs: usize = texts
        .iter()
        .map(|t| berth_yaml::parse(t).documents.len())
        .sum();
    println!(
        "input: {} files, {docs} documents, {:.1} MB",
        texts.len(),
        bytes as f64 / 1e6
    );
    median("berth-yaml events (granit-parser)", bytes, rounds, || {
        texts
            .iter()
            .map(|t| {
                let mut options = granit_parser::Options::default();
                options.emit_comments = false;
                granit_parser::Parser::new_from_str_with_options(t, options).count()
            })
            .sum()
    });
    median("berth-yaml full (berth_yaml::parse)", bytes, rounds, || {
        texts
            .iter()
            .map(|t| berth_yaml::parse(t).documents.len())
            .sum()
    });
}

/// Runs `f` `rounds` times and prints the median round's time and throughput.
fn median(name: &str, bytes: usize, rounds: usize, mut f: impl FnMut() -> usize) {
    let mut secs: Vec<f64> = (0..rounds.max(1))
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64()
        })
        .collect();
    secs.sort_by(f64::total_cmp);
    let s = secs[secs.len() / 2];
    println!(
        "{name:<40} median {:8.1} ms  {:6.1} MB/s",
        s * 1e3,
        bytes as f64 / s / 1e6
    );
}
