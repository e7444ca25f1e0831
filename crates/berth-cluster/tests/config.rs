//! `berth cluster config` on whole stacks: snapshots of the generated files and explanation,
//! schema validation of every generated ClusterConfig, and agreement of the autoscaler with
//! the cluster file as berth-check's `ca-*` rules see it.

use std::path::Path;

use berth_cluster::{ClusterError, ClusterFiles, Options, config, schema};
use berth_model::{Profile, Severity, Stack};
use berth_stack::{LoadOptions, SecretMode};
use serde_json::{Value, json};

fn load(dir: &str) -> Stack {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    let loaded = berth_stack::load(
        &path,
        &LoadOptions {
            secret_mode: SecretMode::Redact,
            ..LoadOptions::default()
        },
    );
    let errors: Vec<_> = loaded
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    loaded.stack.expect("fixture loads")
}

fn report(files: &ClusterFiles) -> String {
    let mut out = String::new();
    out.push_str("## cluster.yaml\n");
    out.push_str(&files.cluster_yaml());
    out.push_str("## cluster-autoscaler.yaml\n");
    out.push_str(&files.autoscaler_yaml());
    out.push_str("## explanation\n");
    for l in &files.explanation {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str("## warnings\n");
    for w in &files.warnings {
        out.push_str(w);
        out.push('\n');
    }
    out.push_str("## differences\n");
    for d in &files.differences {
        out.push_str(&d.to_string());
        out.push('\n');
    }
    out
}

/// The generated files as a stack of objects (as if the user kept them in the stack), for
/// berth-check.
fn as_stack(base: &Stack, files: &ClusterFiles) -> Stack {
    let mut stack = base.clone();
    stack.cluster = None; // the ClusterConfig is the only source of the cluster's facts
    let mut objects = Vec::new();
    for (name, text) in [
        ("cluster.yaml", files.cluster_yaml()),
        ("cluster-autoscaler.yaml", files.autoscaler_yaml()),
    ] {
        let parsed = berth_stack::parse_manifest_str(Path::new(name), &text, "cluster");
        assert!(parsed.1.is_empty(), "{:#?}", parsed.1);
        objects.extend(parsed.0);
    }
    stack.objects = objects;
    stack
}

fn ca_findings(stack: &Stack) -> Vec<String> {
    let rules =
        berth_check::select(&["ca-discovery-tag", "ca-max-nodes", "ca-version-skew"]).unwrap();
    berth_check::check_rules(stack, &rules)
        .into_iter()
        .map(|f| format!("{}: {}", f.rule, f.message))
        .collect()
}

#[test]
fn molecule_like_stack() {
    let stack = load("molecule");
    let files = config(&stack, &Options::default()).unwrap();
    assert_eq!(schema::validate(&files.cluster_config), Ok(()));
    insta::assert_snapshot!(report(&files));
    // Three per-zone groups of max 10, the same sum in the autoscaler.
    let groups = files.cluster_config["managedNodeGroups"]
        .as_array()
        .unwrap();
    assert_eq!(groups.len(), 3);
    // The stack's own autoscaler disagrees on image, tag and cap (and misses the balance flag).
    let settings: Vec<&str> = files
        .differences
        .iter()
        .map(|d| d.setting.as_str())
        .collect();
    assert_eq!(
        settings,
        [
            "image",
            "--node-group-auto-discovery",
            "--max-nodes-total",
            "--balance-similar-node-groups"
        ]
    );
    assert!(
        files
            .differences
            .iter()
            .all(|d| d.file.ends_with("autoscaler/cluster-autoscaler.yaml") && d.line > 1)
    );
}

#[test]
fn openremote_like_stack() {
    let stack = load("openremote");
    let files = config(&stack, &Options::default()).unwrap();
    assert_eq!(schema::validate(&files.cluster_config), Ok(()));
    insta::assert_snapshot!(report(&files));
    assert!(files.differences.is_empty());
    // EBS volumes are zonal: one group per zone, with the EBS driver and policy.
    let groups = files.cluster_config["managedNodeGroups"]
        .as_array()
        .unwrap();
    assert_eq!(groups.len(), 2);
    for g in groups {
        assert_eq!(g["iam"]["withAddonPolicies"]["ebs"], json!(true));
        assert_eq!(g["availabilityZones"].as_array().unwrap().len(), 1);
    }
    assert_eq!(
        files.cluster_config["addons"][0]["name"],
        json!("aws-ebs-csi-driver")
    );
}

#[test]
fn generated_files_pass_the_ca_rules_and_drift_is_caught() {
    /// (what drifts, how the generated manifest is edited, the rule that must find it)
    type Drift = (&'static str, fn(&str) -> String, &'static str);
    for fixture in ["molecule", "openremote"] {
        let base = load(fixture);
        let files = config(&base, &Options::default()).unwrap();
        let good = as_stack(&base, &files);
        assert_eq!(ca_findings(&good), Vec::<String>::new(), "{fixture}");

        // Each kind of drift, made in the generated autoscaler, is found by its rule.
        let drifts: [Drift; 3] = [
            (
                "discovery tag",
                |t| {
                    t.replace(
                        "k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/",
                        "k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/other-",
                    )
                },
                "ca-discovery-tag",
            ),
            (
                "max nodes",
                |t| {
                    let i = t.find("--max-nodes-total=").unwrap() + "--max-nodes-total=".len();
                    let end = i + t[i..].find('"').unwrap();
                    format!("{}1{}", &t[..i], &t[end..])
                },
                "ca-max-nodes",
            ),
            (
                "version",
                |t| t.replace("cluster-autoscaler:v1.", "cluster-autoscaler:v1.1"),
                "ca-version-skew",
            ),
        ];
        for (what, drift, rule) in drifts {
            let mut drifted = files.clone();
            let text = drift(&files.autoscaler_yaml());
            let parsed = berth_stack::parse_manifest_str(
                Path::new("cluster-autoscaler.yaml"),
                &text,
                "cluster",
            );
            assert!(parsed.1.is_empty(), "{:#?}", parsed.1);
            drifted.autoscaler = parsed.0.into_iter().map(|o| o.value).collect();
            let found = ca_findings(&as_stack(&base, &drifted));
            assert_eq!(found.len(), 1, "{fixture}, {what}: {found:#?}");
            assert!(found[0].starts_with(rule), "{fixture}, {what}: {found:#?}");
        }
    }
}

#[test]
fn a_stack_autoscaler_that_agrees_has_no_differences() {
    let mut stack = load("molecule");
    let files = config(&stack, &Options::default()).unwrap();
    // Replace the stack's autoscaler with the generated Deployment.
    let generated = as_stack(&stack, &files);
    stack.objects.retain(|o| o.component != "autoscaler");
    stack.objects.extend(
        generated
            .objects
            .into_iter()
            .filter(|o| o.kind() == "Deployment"),
    );
    assert_eq!(
        config(&stack, &Options::default()).unwrap().differences,
        vec![]
    );
}

/// `compare` reads the stack's autoscaler with `berth_model::autoscaler_flags`, as the `ca-*`
/// checks and `berth simulate` do: the generated flags respelled (`--k v`, `-k=v`, a bare
/// boolean) are the same flags.
#[test]
fn the_generated_flags_in_other_spellings_are_no_difference() {
    let mut stack = load("molecule");
    let files = config(&stack, &Options::default()).unwrap();
    let generated = as_stack(&stack, &files);
    stack.objects.retain(|o| o.component != "autoscaler");
    let mut deployment = generated
        .objects
        .into_iter()
        .find(|o| o.kind() == "Deployment")
        .unwrap();
    let command = deployment
        .value
        .pointer_mut("/spec/template/spec/containers/0/command")
        .unwrap();
    let respelled: Vec<Value> = command
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| {
            let a = a.as_str().unwrap();
            match a.split_once('=') {
                Some((k @ ("--max-nodes-total" | "--node-group-auto-discovery"), v)) => {
                    vec![json!(k), json!(v)]
                }
                Some(("--expander", v)) => vec![json!(format!("-expander={v}"))],
                Some(("--balance-similar-node-groups", "true")) => {
                    vec![json!("--balance-similar-node-groups")]
                }
                _ => vec![json!(a)],
            }
        })
        .collect();
    assert_eq!(respelled.len(), command.as_array().unwrap().len() + 2);
    assert!(respelled.contains(&json!("--balance-similar-node-groups")));
    *command = Value::Array(respelled);
    stack.objects.push(deployment);
    assert_eq!(
        config(&stack, &Options::default()).unwrap().differences,
        vec![]
    );
}

#[test]
fn errors_say_what_to_fix() {
    let mut stack = load("openremote");
    stack.profile = Profile::Gke;
    assert!(matches!(
        config(&stack, &Options::default()),
        Err(ClusterError::Profile(Profile::Gke))
    ));

    let mut stack = load("openremote");
    stack.cluster.as_mut().unwrap().zones.clear();
    let e = config(&stack, &Options::default()).unwrap_err();
    assert!(e.to_string().contains("`cluster.zones` is empty"), "{e}");

    let mut stack = load("openremote");
    stack.cluster.as_mut().unwrap().region = None;
    assert!(matches!(
        config(&stack, &Options::default()),
        Err(ClusterError::NoRegion)
    ));

    let mut stack = load("openremote");
    stack.cluster.as_mut().unwrap().name = "1-bad_name".into();
    assert!(matches!(
        config(&stack, &Options::default()),
        Err(ClusterError::BadName(_))
    ));

    let mut stack = load("openremote");
    stack.kubernetes = "latest".into();
    assert!(matches!(
        config(&stack, &Options::default()),
        Err(ClusterError::BadVersion(_))
    ));

    // A pod bigger than the named instance type.
    let mut stack = load("molecule");
    stack.cluster.as_mut().unwrap().node_groups[0].instance_type = "c5.large".into();
    for o in &mut stack.objects {
        if o.kind() == "StatefulSet" {
            o.value["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["memory"] =
                json!("6Gi");
        }
    }
    let e = config(&stack, &Options::default()).unwrap_err();
    assert!(e.to_string().contains("does not fit on c5.large"), "{e}");

    // A malformed quantity points at its file and line.
    let mut stack = load("molecule");
    for o in &mut stack.objects {
        if o.kind() == "StatefulSet" {
            o.value["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] =
                json!("lots");
        }
    }
    let e = config(&stack, &Options::default()).unwrap_err().to_string();
    assert!(e.starts_with("molecule/molecule.yaml:"), "{e}");
}

#[test]
fn too_small_node_groups_are_a_warning() {
    let mut stack = load("molecule");
    stack.cluster.as_mut().unwrap().node_groups[0].max = 1;
    let files = config(&stack, &Options::default()).unwrap();
    assert!(
        files.warnings.iter().any(|w| w.contains("raise `max`")),
        "{:#?}",
        files.warnings
    );
}

#[test]
fn usage_drives_policies_and_addons() {
    let stack = load("molecule");
    let files = config(&stack, &Options::default()).unwrap();
    let policies = &files.cluster_config["managedNodeGroups"][0]["iam"]["withAddonPolicies"];
    assert_eq!(
        policies,
        &json!({"autoScaler": true, "efs": true, "awsLoadBalancerController": true})
    );
    let addons: Vec<&Value> = files.cluster_config["addons"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["name"])
        .collect();
    assert_eq!(
        addons,
        [&json!("aws-efs-csi-driver"), &json!("metrics-server")]
    );
    let tags = &files.cluster_config["managedNodeGroups"][0]["tags"];
    assert_eq!(tags["k8s.io/cluster-autoscaler/enabled"], json!("true"));
    assert_eq!(
        tags["k8s.io/cluster-autoscaler/boomi-molecule"],
        json!("owned")
    );
    assert_eq!(files.cluster_config["iam"]["withOIDC"], json!(true));
}

/// A blueprint of the repository under the eks profile, with `set` values.
fn blueprint(name: &str, set: &[&str]) -> Stack {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../blueprints")
        .join(name);
    let loaded = berth_stack::load(
        &path,
        &LoadOptions {
            profile: Some(Profile::Eks),
            set: set.iter().map(|s| s.to_string()).collect(),
            secret_mode: SecretMode::Redact,
            ..LoadOptions::default()
        },
    );
    let errors: Vec<_> = loaded
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    loaded.stack.expect("blueprint loads")
}

/// The real Boomi Molecule blueprint: per-zone groups, EFS, and an autoscaler in the stack
/// that agrees with the generated one (tag, cap, version), so the files are consistent.
#[test]
fn boomi_molecule_blueprint() {
    let stack = blueprint(
        "boomi-molecule",
        &[
            "efsFileSystemId=fs-0123456789abcdef0",
            "clusterAutoscalerRoleArn=arn:aws:iam::123456789012:role/cluster-autoscaler",
        ],
    );
    let files = config(&stack, &Options::default()).unwrap();
    assert_eq!(schema::validate(&files.cluster_config), Ok(()));
    assert!(files.differences.is_empty(), "{:#?}", files.differences);
    assert!(ca_findings(&as_stack(&stack, &files)).is_empty());
    insta::assert_snapshot!(report(&files));
}

/// The real OpenRemote blueprint: zonal EBS volumes, so one node group per zone with the EBS
/// driver.
#[test]
fn openremote_blueprint() {
    let stack = blueprint("openremote", &[]);
    let files = config(&stack, &Options::default()).unwrap();
    assert_eq!(schema::validate(&files.cluster_config), Ok(()));
    let groups = files.cluster_config["managedNodeGroups"]
        .as_array()
        .unwrap();
    assert!(
        groups.len() > 1
            && groups
                .iter()
                .all(|g| g["availabilityZones"].as_array().unwrap().len() == 1)
    );
    assert!(ca_findings(&as_stack(&stack, &files)).is_empty());
    insta::assert_snapshot!(report(&files));
}
