//! `berth cluster config` on whole stacks: snapshots of the generated files and explanation,
//! schema validation of every generated ClusterConfig, and agreement of the autoscaler with
//! the cluster file as berth-check's `ca-*` rules see it.

mod common;

use std::path::Path;

use berth_cluster::{ClusterError, ClusterFiles, Options, config, schema};
use berth_model::{NodeMode, Profile, Severity, Stack};
use serde_json::{Value, json};

use common::{blueprint, load_stack};

fn load(dir: &str) -> Stack {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(dir);
    load_stack(&path, None)
}

fn report(files: &ClusterFiles) -> String {
    let mut out = String::new();
    out.push_str("## cluster.yaml\n");
    out.push_str(&files.cluster_yaml());
    for (name, text) in files.manifests() {
        out.push_str(&format!("## {name}\n"));
        out.push_str(&text);
    }
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

/// The real Boomi Molecule blueprint: per-zone groups, EFS, and an autoscaler in the stack
/// that agrees with the generated one (tag, cap, version), so the files are consistent.
#[test]
fn boomi_molecule_blueprint() {
    let stack = molecule_blueprint();
    let files = config(&stack, &Options::default()).unwrap();
    assert_eq!(
        files.nodes,
        NodeMode::ClusterAutoscaler,
        "berth.yaml says so"
    );
    assert_eq!(schema::validate(&files.cluster_config), Ok(()));
    assert!(files.differences.is_empty(), "{:#?}", files.differences);
    assert!(ca_findings(&as_stack(&stack, &files)).is_empty());
}

/// The real OpenRemote blueprint: zonal EBS volumes, so one node group per zone with the EBS
/// driver.
#[test]
fn openremote_blueprint() {
    let stack = blueprint("openremote", &[]);
    let files = files_for(&stack, NodeMode::ClusterAutoscaler);
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
}

/// The files for `stack` with `--nodes mode`, every one checked against its schema.
fn files_for(stack: &Stack, mode: NodeMode) -> ClusterFiles {
    let options = Options {
        nodes: Some(mode),
        ..Options::default()
    };
    let files = config(stack, &options).unwrap();
    assert_eq!(files.nodes, mode);
    assert_eq!(schema::validate(&files.cluster_config), Ok(()));
    for o in &files.nodepools {
        assert_eq!(schema::validate_karpenter(o), Ok(()), "{o:#}");
    }
    files
}

fn kinds(files: &ClusterFiles) -> Vec<String> {
    files
        .nodepools
        .iter()
        .map(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect()
}

fn molecule_blueprint() -> Stack {
    blueprint(
        "boomi-molecule",
        &[
            "efsFileSystemId=fs-0123456789abcdef0",
            "clusterAutoscalerRoleArn=arn:aws:iam::123456789012:role/cluster-autoscaler",
        ],
    )
}

/// Every mode of both blueprints: snapshots of the files, each schema-valid.
#[test]
fn blueprints_in_every_mode() {
    for (name, stack) in [
        ("boomi_molecule", molecule_blueprint()),
        ("openremote", blueprint("openremote", &[])),
    ] {
        for mode in NodeMode::ALL {
            let files = files_for(&stack, mode);
            let snapshot = format!("{name}_{}", mode.as_str().replace('-', "_"));
            insta::assert_snapshot!(snapshot, report(&files));
        }
    }
}

/// The cluster-autoscaler mode says `autoModeConfig.enabled: false` itself, so eksctl's coming
/// default cannot turn the cluster into an Auto Mode one; it writes no NodePools.
#[test]
fn cluster_autoscaler_mode_disables_auto_mode_explicitly() {
    let files = files_for(&load("openremote"), NodeMode::ClusterAutoscaler);
    assert_eq!(
        files.cluster_config["autoModeConfig"],
        json!({"enabled": false})
    );
    assert!(files.cluster_config.get("karpenter").is_none());
    assert!(files.nodepools.is_empty());
    assert_eq!(files.autoscaler.len(), 6, "{:#?}", files.autoscaler);
    assert_eq!(
        files.manifests().iter().map(|m| m.0).collect::<Vec<_>>(),
        ["cluster-autoscaler.yaml"]
    );
}

#[test]
fn karpenter_mode_installs_karpenter_with_pools_that_find_the_cluster() {
    let stack = load("openremote");
    let files = files_for(&stack, NodeMode::Karpenter);
    let c = &files.cluster_config;
    assert_eq!(c["autoModeConfig"], json!({"enabled": false}));
    assert_eq!(
        c["karpenter"]["version"],
        json!(berth_model::karpenter::version())
    );
    assert_eq!(
        c["metadata"]["tags"]["karpenter.sh/discovery"],
        json!("openremote")
    );
    // One small group for Karpenter's controller, no autoscaler tags or policy.
    let groups = c["managedNodeGroups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0]["name"], json!("system"));
    assert!(groups[0]["minSize"].as_u64().unwrap() >= 2);
    assert!(groups[0].get("tags").is_none());
    assert!(
        groups[0]["iam"]["withAddonPolicies"]
            .get("autoScaler")
            .is_none()
    );
    assert!(files.autoscaler.is_empty());
    assert_eq!(
        kinds(&files),
        ["NodePool/openremote-workloads", "EC2NodeClass/default"]
    );
    let class = &files.nodepools[1]["spec"];
    for terms in ["subnetSelectorTerms", "securityGroupSelectorTerms"] {
        assert_eq!(
            class[terms],
            json!([{"tags": {"karpenter.sh/discovery": "openremote"}}])
        );
    }
    assert_eq!(
        class["amiSelectorTerms"],
        json!([{"alias": "al2023@latest"}])
    );
    let pool = &files.nodepools[0]["spec"];
    assert_eq!(pool["template"]["spec"]["expireAfter"], json!("720h"));
    assert_eq!(
        pool["template"]["spec"]["nodeClassRef"]["kind"],
        json!("EC2NodeClass")
    );
    assert!(
        pool["disruption"]["budgets"]
            .as_array()
            .is_some_and(|b| !b.is_empty())
    );
    // Zonal EBS volumes: the pool stays in the stack's zones.
    let zones = pool["template"]["spec"]["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == json!("topology.kubernetes.io/zone"))
        .unwrap();
    assert_eq!(
        zones["values"],
        json!(stack.cluster.as_ref().unwrap().zones)
    );
    // The limits hold the HPA maxima × requests (the same packing as the autoscaler's groups).
    let (cpu_limit, mem_limit) = berth_model::karpenter::limits(&files.nodepools[0]);
    let demand =
        berth_cluster::sizing::demand(&stack, &berth_cluster::usage::detect(&stack), false)
            .unwrap();
    let peak_cpu: i64 = demand
        .workloads
        .iter()
        .map(|w| w.cpu_m * i64::from(w.peak))
        .sum();
    let peak_mem: i64 = demand
        .workloads
        .iter()
        .map(|w| w.mem_b * i64::from(w.peak))
        .sum();
    assert!(cpu_limit.unwrap() >= peak_cpu, "{cpu_limit:?} < {peak_cpu}");
    assert!(mem_limit.unwrap() >= peak_mem, "{mem_limit:?} < {peak_mem}");
}

#[test]
fn auto_mode_writes_pools_only_when_the_built_in_ones_are_not_enough() {
    // Zonal volumes: a pool in the stack's zones, on Auto Mode's NodeClass.
    let files = files_for(&load("openremote"), NodeMode::AutoMode);
    let c = &files.cluster_config;
    assert_eq!(
        c["autoModeConfig"],
        json!({"enabled": true, "nodePools": ["general-purpose", "system"]})
    );
    assert!(c.get("managedNodeGroups").is_none());
    assert!(c.get("karpenter").is_none());
    assert!(files.autoscaler.is_empty());
    assert_eq!(kinds(&files), ["NodePool/openremote-workloads"]);
    let spec = &files.nodepools[0]["spec"]["template"]["spec"];
    assert_eq!(
        spec["nodeClassRef"],
        json!({"group": "eks.amazonaws.com", "kind": "NodeClass", "name": "default"})
    );
    assert!(
        spec["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["key"] == json!("eks.amazonaws.com/instance-cpu"))
    );
    assert!(
        files
            .warnings
            .iter()
            .any(|w| w.contains("ebs.csi.eks.amazonaws.com"))
    );

    // A queue holder without do-not-disrupt: its own pool that only removes empty nodes.
    let mut stack = molecule_blueprint();
    do_not_disrupt(&mut stack, false);
    let files = files_for(&stack, NodeMode::AutoMode);
    assert!(
        kinds(&files).contains(&"NodePool/queue-holders".to_string()),
        "{:?}",
        kinds(&files)
    );
    let queue = files
        .nodepools
        .iter()
        .find(|o| o["metadata"]["name"] == json!("queue-holders"))
        .unwrap();
    assert_eq!(
        queue["spec"]["disruption"]["consolidationPolicy"],
        json!("WhenEmpty")
    );
    assert!(
        files
            .warnings
            .iter()
            .any(|w| w.contains("karpenter.sh/do-not-disrupt"))
    );
    // The stack's own cluster-autoscaler does not belong on an Auto Mode cluster.
    assert!(
        files
            .warnings
            .iter()
            .any(|w| w.contains("the stack runs a cluster-autoscaler"))
    );

    // Its pods marked do-not-disrupt, no zonal volumes: the built-in pools are enough.
    do_not_disrupt(&mut stack, true);
    let files = files_for(&stack, NodeMode::AutoMode);
    assert!(files.nodepools.is_empty(), "{:?}", kinds(&files));
    assert!(files.manifests().is_empty());
}

#[test]
fn the_mode_comes_from_berth_yaml_unless_given() {
    // The blueprint says `nodes: karpenter` and keeps its node groups for the other mode.
    let mut stack = blueprint("openremote", &[]);
    assert_eq!(
        stack.cluster.as_ref().unwrap().nodes,
        Some(NodeMode::Karpenter)
    );
    let files = config(&stack, &Options::default()).unwrap();
    assert_eq!(files.nodes, NodeMode::Karpenter);
    // cluster.nodeGroups belong to the cluster-autoscaler: said, not written.
    assert!(
        files
            .explanation
            .iter()
            .any(|w| w.contains("`cluster.nodeGroups` are for the cluster-autoscaler"))
    );
    let options = Options {
        nodes: Some(NodeMode::ClusterAutoscaler),
        ..Options::default()
    };
    assert_eq!(
        config(&stack, &options).unwrap().nodes,
        NodeMode::ClusterAutoscaler
    );
    stack.cluster.as_mut().unwrap().nodes = None;
    assert_eq!(
        config(&stack, &Options::default()).unwrap().nodes,
        NodeMode::ClusterAutoscaler
    );
}

/// The stack's own objects plus the generated files, as if the user kept them in the stack.
fn with_generated(base: &Stack, files: &ClusterFiles) -> Stack {
    let mut stack = base.clone();
    stack.cluster = None; // the ClusterConfig is the only source of the cluster's facts
    let mut texts = vec![("cluster.yaml", files.cluster_yaml())];
    texts.extend(files.manifests());
    for (name, text) in texts {
        let parsed = berth_stack::parse_manifest_str(Path::new(name), &text, "cluster");
        assert!(parsed.1.is_empty(), "{:#?}", parsed.1);
        stack.objects.extend(parsed.0);
    }
    stack
}

fn karpenter_findings(stack: &Stack) -> Vec<String> {
    let rules = berth_check::select(&[
        "schema",
        "karpenter-do-not-disrupt",
        "karpenter-discovery-tag",
        "nodepool-limits",
        "nodepool-zones",
        "nodepool-requirements",
    ])
    .unwrap();
    berth_check::check_rules(stack, &rules)
        .into_iter()
        .filter(|f| f.severity != Severity::Info)
        .map(|f| format!("{}: {}", f.rule, f.message))
        .collect()
}

fn pool_mut<'a>(files: &'a mut ClusterFiles, kind: &str) -> &'a mut Value {
    files
        .nodepools
        .iter_mut()
        .find(|o| o["kind"] == json!(kind))
        .unwrap()
}

/// The generated Karpenter files pass `berth check`, and each single inconsistency made in
/// them (or in the stack) is found by its rule.
#[test]
fn generated_pools_pass_the_checks_and_drift_is_caught() {
    // openremote with a volume pinned to eu-west-1a, molecule's queue holder marked do-not-disrupt.
    let mut openremote = load("openremote");
    let pv = "apiVersion: v1\nkind: PersistentVolume\nmetadata: {name: pinned}\nspec:\n  capacity: {storage: 5Gi}\n  accessModes: [ReadWriteOnce]\n  csi: {driver: ebs.csi.aws.com, volumeHandle: vol-0abc}\n  nodeAffinity:\n    required:\n      nodeSelectorTerms:\n        - matchExpressions:\n            - {key: topology.kubernetes.io/zone, operator: In, values: [eu-west-1a]}\n";
    openremote
        .objects
        .extend(berth_stack::parse_manifest_str(Path::new("pv.yaml"), pv, "storage").0);
    let mut molecule = molecule_blueprint();
    do_not_disrupt(&mut molecule, true);
    for (name, base) in [("openremote", &openremote), ("molecule", &molecule)] {
        let files = files_for(base, NodeMode::Karpenter);
        assert_eq!(
            karpenter_findings(&with_generated(base, &files)),
            Vec::<String>::new(),
            "{name}"
        );
    }

    type Drift = (
        &'static str,
        &'static str,
        fn(&mut Stack, &mut ClusterFiles),
    );
    let drifts: [Drift; 4] = [
        ("limits", "nodepool-limits", |_, f| {
            pool_mut(f, "NodePool")["spec"]["limits"]["cpu"] = json!("1");
        }),
        ("zones", "nodepool-zones", |_, f| {
            let reqs = pool_mut(f, "NodePool")["spec"]["template"]["spec"]["requirements"]
                .as_array_mut()
                .unwrap();
            for r in reqs {
                if r["key"] == json!("topology.kubernetes.io/zone") {
                    r["values"] = json!(["eu-west-1b", "eu-west-1c"]);
                }
            }
        }),
        ("discovery tag", "karpenter-discovery-tag", |_, f| {
            pool_mut(f, "EC2NodeClass")["spec"]["subnetSelectorTerms"][0]["tags"]["karpenter.sh/discovery"] =
                json!("another-cluster");
        }),
        ("do-not-disrupt", "karpenter-do-not-disrupt", |s, _| {
            do_not_disrupt(s, false)
        }),
    ];
    for (what, rule, drift) in drifts {
        let base = if what == "do-not-disrupt" {
            &molecule
        } else {
            &openremote
        };
        let mut stack = base.clone();
        let mut files = files_for(base, NodeMode::Karpenter);
        drift(&mut stack, &mut files);
        let found = karpenter_findings(&with_generated(&stack, &files));
        assert_eq!(found.len(), 1, "{what}: {found:#?}");
        assert!(found[0].starts_with(rule), "{what}: {found:#?}");
    }
}

/// Marks the StatefulSets' pods `karpenter.sh/do-not-disrupt`, or removes the mark.
fn do_not_disrupt(stack: &mut Stack, on: bool) {
    for o in &mut stack.objects {
        if o.kind() == "StatefulSet" {
            let meta = &mut o.value["spec"]["template"]["metadata"];
            if on {
                meta["annotations"]["karpenter.sh/do-not-disrupt"] = json!("true");
            } else if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                a.remove("karpenter.sh/do-not-disrupt");
            }
        }
    }
}
