//! Which helm renders a chart component when helm is not on `PATH`: the newest one `berth
//! local up` built into its cache, found where `$BERTH_LOCAL_CACHE` (or `$XDG_CACHE_HOME`)
//! puts that cache, as `berth local` itself finds it. `$BERTH_HELM` comes first.
//!
//! The helms are stand-in scripts that print a ConfigMap naming themselves, so `berth render`
//! shows which one ran.

#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// A stand-in helm at `path` whose `helm template` prints ConfigMap `name`.
fn fake_helm(path: &Path, name: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(
        path,
        format!("#!/bin/sh\nprintf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: {name}\\ndata: {{a: b}}\\n'\n"),
    )
    .unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// `berth render` of `stack` with only `env` set (and an empty `PATH`); its stdout.
fn render(stack: &Path, env: &[(&str, &Path)]) -> String {
    let empty = stack.join("no-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.arg("render").arg(stack).env_clear().env("PATH", &empty);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_chart_is_rendered_by_the_newest_helm_of_the_cache_berth_local_cache_names() {
    let dir = tempfile::tempdir().unwrap();
    let stack = dir.path().join("stack");
    std::fs::create_dir_all(stack.join("charts/web/templates")).unwrap();
    std::fs::write(
        stack.join("berth.yaml"),
        "stack: web\nnamespace: web\nprofile: local\ncomponents:\n  web:\n    chart: {path: charts/web}\n",
    )
    .unwrap();
    std::fs::write(
        stack.join("charts/web/Chart.yaml"),
        "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    )
    .unwrap();
    let cache = dir.path().join("cache");
    fake_helm(&cache.join("helm-v3.9.0/helm"), "from-v3-9");
    fake_helm(&cache.join("helm-v3.22.0/helm"), "from-v3-22");
    fake_helm(&cache.join("helm-v4.0.0.tmp/helm"), "from-unfinished-build");
    let home = dir.path().join("home");
    fake_helm(
        &home.join(".cache/berth/local/helm-v9.0.0/helm"),
        "from-home",
    );

    // The newest by version (3.22 after 3.9, which text order would reverse), in the cache
    // BERTH_LOCAL_CACHE names, not in ~/.cache; never an unfinished `.tmp` build.
    let out = render(&stack, &[("BERTH_LOCAL_CACHE", &cache), ("HOME", &home)]);
    assert!(out.contains("name: from-v3-22"), "{out}");

    // XDG_CACHE_HOME moves the cache as it does for `berth local`.
    let xdg = dir.path().join("xdg");
    fake_helm(&xdg.join("berth/local/helm-v3.1.0/helm"), "from-xdg");
    let out = render(&stack, &[("XDG_CACHE_HOME", &xdg), ("HOME", &home)]);
    assert!(out.contains("name: from-xdg"), "{out}");

    // Must not: BERTH_HELM comes before any cache.
    let chosen = cache.join("helm-v3.9.0/helm");
    let out = render(
        &stack,
        &[
            ("BERTH_LOCAL_CACHE", &cache),
            ("HOME", &home),
            ("BERTH_HELM", &chosen),
        ],
    );
    assert!(out.contains("name: from-v3-9"), "{out}");
}
