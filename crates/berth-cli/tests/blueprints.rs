//! The reference blueprints in `blueprints/`: each one checks clean (no error-level finding)
//! under every profile, comes up healthy on the local cluster, and `berth down` keeps its data
//! volumes and lists them.
//!
//! The check tests need no cluster. The `up`/`down` tests run the real binary against the
//! shared local test cluster (`berth_local::testing`), with `--local` and `BERTH_LOCAL_NAME`
//! naming that cluster; the secrets the blueprints read from the environment are given here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use berth_model::{Profile, Severity};
use berth_stack::{LoadOptions, load};

/// The blueprints, by folder name.
const BLUEPRINTS: &[&str] = &["boomi-flow", "boomi-molecule", "openremote", "cauchy"];

fn blueprint(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../blueprints")
        .join(name)
}

/// Values a blueprint needs on a cloud and cannot default (ids of the user's own account).
fn cloud_values(name: &str, profile: Profile) -> Vec<String> {
    match (name, profile) {
        ("boomi-molecule", Profile::Eks) => vec![
            "efsFileSystemId=fs-0123456789abcdef0".into(),
            "clusterAutoscalerRoleArn=arn:aws:iam::111122223333:role/ca".into(),
        ],
        _ => Vec::new(),
    }
}

/// Secrets the blueprints take from the environment; test values only.
const SECRET_ENV: &[(&str, &str)] = &[
    ("BOOMI_ACCOUNTID", "test-account-1234"),
    ("BOOMI_USERNAME", "berth-test@example.com"),
    ("BOOMI_TOKEN", "test-installer-token"),
    ("FLOW_INSTALLATION_TOKEN", "test-flow-token"),
    ("FLOW_DB_USERNAME", "flow"),
    ("FLOW_DB_PASSWORD", "test-db-password"),
    ("REGISTRY_SERVER", "registry.example.com"),
    ("REGISTRY_USERNAME", "berth-test"),
    ("REGISTRY_PASSWORD", "test-registry-password"),
];

/// Findings of a chart component that could not be rendered because its repository is out of
/// reach (an offline machine), as berth-stack recognises them. Anything else about a chart (a
/// wrong version, a missing chart, a bad value) is a real finding and fails the test.
fn chart_unreachable(f: &berth_model::Finding) -> bool {
    berth_stack::helm::is_network_failure(f)
}

#[test]
fn every_blueprint_checks_clean_under_every_profile() {
    let mut errors = Vec::new();
    let mut skipped = 0;
    // Each blueprint as it comes, and the choices its values offer.
    let mut cases: Vec<(&str, Vec<String>)> = BLUEPRINTS.iter().map(|b| (*b, Vec::new())).collect();
    cases.push(("openremote", vec!["exposure=ingress".into()]));
    cases.push(("boomi-flow", vec!["database=in-stack".into()]));
    for (name, extra) in &cases {
        for profile in Profile::ALL {
            let mut set = cloud_values(name, profile);
            set.extend(extra.iter().cloned());
            let options = LoadOptions {
                profile: Some(profile),
                set,
                ..LoadOptions::default()
            };
            let loaded = load(&blueprint(name), &options);
            let Some(stack) = &loaded.stack else {
                errors.push(format!(
                    "{name} ({}): no stack: {:?}",
                    profile.as_str(),
                    loaded.findings
                ));
                continue;
            };
            assert!(
                !stack.objects.is_empty(),
                "{name} renders no objects under {}",
                profile.as_str()
            );
            let mut findings = loaded.findings.clone();
            findings.extend(berth_check::check(stack));
            // Secrets from the environment are only keys here (values are not needed to check).
            for f in findings
                .iter()
                .filter(|f| f.severity == Severity::Warning && f.rule != "secret-source")
            {
                eprintln!(
                    "warning: {name} {extra:?} ({}): {}:{}:{}: [{}] {}",
                    profile.as_str(),
                    f.file.display(),
                    f.line,
                    f.column,
                    f.rule,
                    f.message
                );
            }
            // Without the charts, the custom resources whose CRDs they bring cannot be
            // validated either (cauchy's ClusterIssuer needs cert-manager's CRDs).
            let charts_missing = findings.iter().any(chart_unreachable);
            for f in findings.iter().filter(|f| f.severity == Severity::Error) {
                let crd_in_missing_chart = charts_missing
                    && f.rule == "schema"
                    && f.message
                        .contains("no CustomResourceDefinition in the stack defines it");
                if chart_unreachable(f) || crd_in_missing_chart {
                    skipped += 1;
                    continue;
                }
                errors.push(format!(
                    "{name} {extra:?} ({}): {}:{}:{}: [{}] {}",
                    profile.as_str(),
                    f.file.display(),
                    f.line,
                    f.column,
                    f.rule,
                    f.message
                ));
            }
        }
    }
    if skipped > 0 {
        eprintln!(
            "{skipped} finding(s) skipped: chart repositories unreachable (charts not rendered)"
        );
    }
    assert!(errors.is_empty(), "error findings:\n{}", errors.join("\n"));
}

#[test]
fn chart_components_are_off_on_the_local_profile() {
    let options = LoadOptions {
        profile: Some(Profile::Local),
        ..LoadOptions::default()
    };
    let loaded = load(&blueprint("cauchy"), &options);
    let stack = loaded.stack.expect("cauchy loads");
    let charts = ["ingress-nginx", "cert-manager", "spark-operator", "sentry"];
    for c in &stack.components {
        if charts.contains(&c.name.as_str()) {
            assert!(c.disabled, "{} is rendered on the local profile", c.name);
            assert!(stack.objects.iter().all(|o| o.component != c.name));
        }
    }
    assert!(
        loaded.findings.iter().all(|f| f.rule != "helm"),
        "helm was run on the local profile"
    );
}

fn berth() -> Command {
    // Starts the shared test cluster (or reuses it); `--local` then finds it by name.
    berth_local::testing::kubeconfig();
    let mut c = Command::new(env!("CARGO_BIN_EXE_berth"));
    c.env("BERTH_LOCAL_NAME", berth_local::testing::cluster_name())
        .env_remove("KUBECONFIG");
    for (k, v) in SECRET_ENV {
        c.env(k, v);
    }
    c
}

fn run(args: &[&str], stack: &Path) -> Output {
    let out = berth().args(args).arg(stack).output().expect("run berth");
    eprintln!(
        "$ berth {} {}\n{}{}",
        args.join(" "),
        stack.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `up --local --yes` ends healthy; `down --yes` keeps and lists the PVCs, which are still on
/// the cluster afterwards; `down --purge --yes` then cleans up.
fn up_healthy_down_keeps_volumes(name: &str, volumes: &[&str]) {
    let stack = blueprint(name);
    let up = run(&["up", "--local", "--yes", "--timeout", "5m"], &stack);
    assert_eq!(
        up.status.code(),
        Some(0),
        "berth up {name} did not end healthy"
    );

    let down = run(&["down", "--local", "--yes"], &stack);
    assert_eq!(down.status.code(), Some(0), "berth down {name} failed");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&down.stdout),
        String::from_utf8_lossy(&down.stderr)
    );
    for v in volumes {
        assert!(
            said.lines()
                .any(|l| l.contains("PersistentVolumeClaim") && l.contains(v)),
            "berth down {name} did not list the kept volume {v}"
        );
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let client = berth_local::testing::client().await;
        for v in volumes {
            let (ns, claim) = v.split_once('/').expect("namespace/claim");
            let resource = kube::api::ApiResource {
                group: String::new(),
                version: "v1".into(),
                api_version: "v1".into(),
                kind: "PersistentVolumeClaim".into(),
                plural: "persistentvolumeclaims".into(),
            };
            let api: kube::Api<kube::api::DynamicObject> =
                kube::Api::namespaced_with(client.clone(), ns, &resource);
            let pvc = api.get_opt(claim).await.expect("read claim");
            assert!(pvc.is_some(), "{v} was deleted by berth down");
        }
    });

    let purge = run(&["down", "--local", "--yes", "--purge"], &stack);
    assert_eq!(
        purge.status.code(),
        Some(0),
        "berth down --purge {name} failed"
    );
}

#[test]
fn boomi_molecule_up_and_down_on_the_local_cluster() {
    up_healthy_down_keeps_volumes("boomi-molecule", &["boomi/molecule-storage"]);
}

#[test]
fn boomi_flow_up_and_down_on_the_local_cluster() {
    up_healthy_down_keeps_volumes("boomi-flow", &["boomi-flow/data-postgres-0"]);
}

#[test]
fn openremote_up_and_down_on_the_local_cluster() {
    up_healthy_down_keeps_volumes(
        "openremote",
        &["openremote/data-postgresql-0", "openremote/data-manager-0"],
    );
}

#[test]
fn cauchy_up_and_down_on_the_local_cluster() {
    up_healthy_down_keeps_volumes(
        "cauchy",
        &[
            "kafka/data-zookeeper-0",
            "kafka/data-kafka-0",
            "minio/data-minio-0",
        ],
    );
}
