//! Load speed: a generated plain folder of 10,000 objects (100 files × 100 documents of
//! Deployments, Services and ConfigMaps with placeholders-free realistic fields), loaded and
//! rendered by `berth_stack::load`, plus the YAML reader alone on the same text.
//!
//! Method: build the files once in a temp folder, run each measurement 5 times, print the best
//! and median wall time and objects per second. `cargo bench -p berth-stack --bench load`.

use std::time::{Duration, Instant};

fn deployment(i: usize) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  labels: {{app: app-{i}, tier: web}}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: app-{i}}}\n  template:\n    metadata:\n      labels: {{app: app-{i}}}\n    spec:\n      containers:\n        - name: app\n          image: example/app:1.{i}.0\n          ports: [{{containerPort: 8080}}]\n          env:\n            - {{name: MODE, value: production}}\n            - {{name: THREADS, value: \"8\"}}\n          resources:\n            requests: {{cpu: 100m, memory: 128Mi}}\n            limits: {{memory: 256Mi}}\n          readinessProbe:\n            httpGet: {{path: /health, port: 8080}}\n"
    )
}

fn service(i: usize) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: app-{i}\n  annotations:\n    berth.dev/load-balancer: internal\nspec:\n  selector: {{app: app-{i}}}\n  ports:\n    - port: 80\n      targetPort: 8080\n"
    )
}

fn config(i: usize) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{i}\ndata:\n  app.conf: |\n    listen 8080\n    workers 4\n  enabled: \"true\"\n"
    )
}

fn measure(name: &str, objects: usize, mut f: impl FnMut() -> usize) {
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let start = Instant::now();
            let n = f();
            assert_eq!(n, objects);
            start.elapsed()
        })
        .collect();
    times.sort();
    let best = times[0];
    println!(
        "{name}: {objects} objects, best {:.1} ms, median {:.1} ms, {:.0} objects/s",
        best.as_secs_f64() * 1e3,
        times[2].as_secs_f64() * 1e3,
        objects as f64 / best.as_secs_f64()
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut all = String::new();
    let mut n = 0;
    for f in 0..100 {
        let mut text = String::new();
        for d in 0..100 {
            let i = f * 100 + d;
            let doc = match d % 3 {
                0 => deployment(i),
                1 => service(i),
                _ => config(i),
            };
            text.push_str("---\n");
            text.push_str(&doc);
            n += 1;
        }
        std::fs::write(dir.path().join(format!("f{f:03}.yaml")), &text).expect("write");
        all.push_str(&text);
    }
    println!("input: {n} objects, {} bytes", all.len());
    measure("berth_yaml::parse", n, || {
        berth_yaml::parse(&all).documents.len()
    });
    measure("berth_stack::load (plain folder, profile eks)", n, || {
        let options = berth_stack::LoadOptions {
            profile: Some(berth_model::Profile::Eks),
            ..Default::default()
        };
        let loaded = berth_stack::load(dir.path(), &options);
        assert!(loaded.findings.is_empty());
        loaded.stack.map_or(0, |s| s.objects.len())
    });
    let loaded = berth_stack::load(dir.path(), &Default::default());
    let objects = loaded.stack.map(|s| s.objects).unwrap_or_default();
    measure("output::render_yaml", n, || {
        let text = berth_stack::output::render_yaml(&objects);
        text.matches("\n---\n").count() + 1
    });
}
