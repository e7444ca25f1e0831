//! Load speed of a large kustomize tree: where the time goes, kustomize or berth.
//!
//! Input (generated in a temp folder): one base of 20 objects (8 Deployments, 8 Services,
//! 4 ConfigMaps in three files) and 50 overlays that use it, each with its own `namespace`,
//! `namePrefix`, an `images` override and a strategic-merge patch: 50 roots, 1,000 objects.
//!
//! Method: each measurement runs 5 times; best and median wall time are printed.
//! - `load`: `berth_stack::load` of the folder (finds the roots, builds the 50 overlays in
//!   parallel, maps every object back to its source, renders);
//! - `builds only, parallel`: the same 50 `kustomize::build_all` subprocess runs alone;
//! - `builds only, one by one`: the 50 builds in sequence (what one subprocess per root costs
//!   without the threads).
//!
//! Wall time on a shared machine is noisy, so each run also reports CPU time split between
//! berth's process and the kustomize children it waited for (Linux: `/proc/self/stat` utime +
//! stime vs cutime + cstime, 10 ms ticks): berth's own share is its own CPU time.
//! `cargo bench -p berth-stack --bench kustomize` (needs kustomize or kubectl on PATH).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use berth_stack::kustomize;

/// CPU seconds of this process and of its waited-for children, when /proc tells.
fn cpu() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name in parentheses; utime is field 14 (1-based).
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<f64> = rest
        .split(' ')
        .skip(11)
        .take(4)
        .filter_map(|x| x.parse().ok())
        .collect();
    (f.len() == 4).then(|| ((f[0] + f[1]) / 100.0, (f[2] + f[3]) / 100.0))
}

fn measure(name: &str, mut f: impl FnMut() -> usize) {
    let runs = 5;
    let before = cpu();
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let n = f();
            assert!(n > 0);
            start.elapsed()
        })
        .collect();
    let after = cpu();
    times.sort();
    let cpu = match (before, after) {
        (Some(b), Some(a)) => format!(
            "; CPU per run: berth {:.0} ms, kustomize children {:.0} ms",
            (a.0 - b.0) * 1e3 / runs as f64,
            (a.1 - b.1) * 1e3 / runs as f64
        ),
        _ => String::new(),
    };
    println!(
        "{name}: wall best {:.0} ms, median {:.0} ms{cpu}",
        times[0].as_secs_f64() * 1e3,
        times[2].as_secs_f64() * 1e3
    );
}

fn main() {
    let Some(tool) = kustomize::find(None) else {
        eprintln!("no kustomize or kubectl on PATH: nothing measured");
        return;
    };
    println!("tool: {tool:?}");
    let dir = tempfile::tempdir().expect("temp dir");
    let base = dir.path().join("base");
    std::fs::create_dir_all(&base).expect("base");
    let (mut deployments, mut services, mut configs) =
        (String::new(), String::new(), String::new());
    for i in 0..8 {
        deployments.push_str(&format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: app-{i}}}\n  template:\n    metadata:\n      labels: {{app: app-{i}}}\n    spec:\n      containers:\n        - name: app\n          image: example/app:1.0.{i}\n          envFrom: [{{configMapRef: {{name: conf-{}}}}}]\n          resources:\n            requests: {{cpu: 100m, memory: 128Mi}}\n",
            i % 4
        ));
        services.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app-{i}\nspec:\n  selector: {{app: app-{i}}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"
        ));
    }
    for i in 0..4 {
        configs.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: conf-{i}\ndata:\n  mode: standard\n"
        ));
    }
    for (file, text) in [
        ("deployments.yaml", &deployments),
        ("services.yaml", &services),
        ("configs.yaml", &configs),
    ] {
        std::fs::write(base.join(file), text).expect("write");
    }
    std::fs::write(
        base.join("kustomization.yaml"),
        "resources: [deployments.yaml, services.yaml, configs.yaml]\n",
    )
    .expect("write");
    let mut roots: Vec<PathBuf> = Vec::new();
    for o in 0..50 {
        let overlay = dir.path().join(format!("overlays/o{o:02}"));
        std::fs::create_dir_all(&overlay).expect("overlay");
        std::fs::write(
            overlay.join("kustomization.yaml"),
            format!(
                "namespace: team-{o}\nnamePrefix: t{o}-\nresources: [../../base]\nimages:\n  - {{name: example/app, newTag: \"2.{o}.0\"}}\npatches:\n  - path: replicas.yaml\n    target: {{kind: Deployment}}\n"
            ),
        )
        .expect("write");
        std::fs::write(
            overlay.join("replicas.yaml"),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: any\nspec:\n  replicas: 2\n",
        )
        .expect("write");
        roots.push(overlay);
    }
    let options = berth_stack::LoadOptions {
        kustomize: Some(tool.clone()),
        ..Default::default()
    };
    measure("load (50 overlays x 20 objects)", || {
        let loaded = berth_stack::load(dir.path(), &options);
        assert!(!loaded.has_errors(), "{:?}", loaded.findings);
        let n = loaded.stack.map_or(0, |s| s.objects.len());
        assert_eq!(n, 1000);
        n
    });
    measure("builds only, parallel", || {
        kustomize::build_all(&tool, &roots)
            .iter()
            .filter(|r| r.is_ok())
            .count()
    });
    measure("builds only, one by one", || {
        roots
            .iter()
            .filter(|r| kustomize::build(&tool, r).is_ok())
            .count()
    });
}
