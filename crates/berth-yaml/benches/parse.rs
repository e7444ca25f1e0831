//! YAML reader speed on a generated 3 MB stream of 10,000 manifest documents: the event parser
//! alone (the floor), and the full reader (values, positions, scalar resolution).
//! `cargo bench -p berth-yaml --bench parse`; best of 5 runs is printed.

use std::time::{Duration, Instant};

fn doc(i: usize) -> String {
    format!(
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  labels: {{app: app-{i}, tier: web}}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: app-{i}}}\n  template:\n    metadata:\n      labels: {{app: app-{i}}}\n    spec:\n      containers:\n        - name: app\n          image: example/app:1.{i}.0\n          ports: [{{containerPort: 8080}}]\n          env:\n            - {{name: MODE, value: production}}\n            - {{name: THREADS, value: \"8\"}}\n          resources:\n            requests: {{cpu: 100m, memory: 128Mi}}\n            limits: {{memory: 256Mi}}\n          readinessProbe:\n            httpGet: {{path: /health, port: 8080}}\n"
    )
}

fn best(name: &str, bytes: usize, mut f: impl FnMut() -> usize) {
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    times.sort();
    let s = times[0].as_secs_f64();
    println!(
        "{name}: best {:.1} ms, {:.1} MB/s",
        s * 1e3,
        bytes as f64 / s / 1e6
    );
}

fn main() {
    let text: String = (0..10_000).map(doc).collect();
    println!("input: 10000 documents, {} bytes", text.len());
    best("granit-parser events only", text.len(), || {
        let mut options = granit_parser::Options::default();
        options.emit_comments = false;
        granit_parser::Parser::new_from_str_with_options(&text, options).count()
    });
    best("berth_yaml::parse", text.len(), || {
        berth_yaml::parse(&text).documents.len()
    });
}
