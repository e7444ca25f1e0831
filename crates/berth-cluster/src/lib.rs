//! `berth cluster config`: the eksctl `ClusterConfig` and what scales the cluster's nodes —
//! EKS Auto Mode, Karpenter or the cluster-autoscaler ([`NodeMode`]) — written from the same
//! numbers so they cannot disagree.
//!
//! [`config`] reads a rendered [`Stack`] (EKS profile) and its `cluster:` section:
//! [`usage`] finds what the stack uses from AWS (EBS, EFS, load balancers, CloudWatch,
//! metrics), [`sizing`] turns requests and HPA maxima into instance type and node counts,
//! [`eksctl`] writes the ClusterConfig, [`autoscaler`] the autoscaler manifest (and compares it
//! with one the stack already has), [`nodepools`] the Karpenter NodePools and EC2NodeClass,
//! [`schema`] validates every generated file against eksctl's published JSON schema and
//! Karpenter's CRD schemas, [`versions`] maps Kubernetes minors to autoscaler releases, and
//! [`up`] lists the commands `berth cluster up` runs, and [`file_systems`] says what it creates
//! for `cluster.fileSystems` (berth-aws creates it). Nothing here needs a cluster.

pub mod autoscaler;
pub mod eksctl;
pub mod file_systems;
pub mod nodepools;
pub mod schema;
pub mod sizing;
pub mod up;
pub mod usage;
pub mod versions;

use std::path::{Path, PathBuf};

use berth_model::{ClusterSpec, FileSystemSpec, NodeMode, Profile, Stack};
use berth_simulate::{Catalog, SimError};
use serde_json::Value;

/// Why no cluster files could be made from a stack.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The stack was rendered for another cloud.
    #[error(
        "`berth cluster config` writes an EKS cluster (eksctl), but the stack is rendered for the `{0}` profile; use `--profile eks`"
    )]
    Profile(Profile),
    /// `cluster.region` is missing.
    #[error(
        "the cluster has no region: set `cluster.region` in berth.yaml (e.g. `region: us-east-1`)"
    )]
    NoRegion,
    /// The cluster name is not one EKS accepts.
    #[error(
        "`{0}` is not a valid EKS cluster name: use 1 to 100 letters, digits and hyphens, starting with a letter"
    )]
    BadName(String),
    /// The target Kubernetes version is not `1.MINOR`.
    #[error("`kubernetes: {0}` in berth.yaml is not a Kubernetes version like \"1.33\"")]
    BadVersion(String),
    /// A group must be split per zone but no zones are given.
    #[error(
        "node group `{group}` needs one group per zone (perZone, or zonal EBS volumes in the stack), but `cluster.zones` is empty: list the zones, e.g. `zones: [us-east-1a, us-east-1b, us-east-1c]`"
    )]
    NoZones { group: String },
    /// min above max.
    #[error("node group `{group}` has min {min} above max {max}")]
    MinAboveMax { group: String, min: u32, max: u32 },
    /// The stack does not fit on the named instance type.
    #[error("the stack does not fit on {instance}: {detail}; use a larger instance type")]
    DoesNotFit { instance: String, detail: String },
    /// No instance type of the table fits the largest pod.
    #[error(
        "no instance type in berth's table fits every pod (largest: {workload}); name one in `cluster.nodeGroups`"
    )]
    NothingFits { workload: String },
    /// A manifest value sizing needs is malformed.
    #[error(transparent)]
    Manifest(#[from] SimError),
    /// The generated ClusterConfig does not pass eksctl's schema (a bug in berth).
    #[error("the generated ClusterConfig does not pass eksctl's schema (please report this):\n  {}", .0.join("\n  "))]
    Schema(Vec<String>),
    /// A generated NodePool or EC2NodeClass does not pass Karpenter's CRD schema (a bug in
    /// berth).
    #[error("the generated {what} does not pass Karpenter's CRD schema (please report this):\n  {}", .errors.join("\n  "))]
    KarpenterSchema { what: String, errors: Vec<String> },
}

/// Knobs of [`config`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Instance types: capacity, allocatable, pods per node, price.
    pub catalog: Catalog,
    /// Nodes added on top of the peak, in percent.
    pub headroom_percent: u32,
    /// What scales the nodes (`--nodes`); None: `cluster.nodes` of berth.yaml, else
    /// [`NodeMode::default`].
    pub nodes: Option<NodeMode>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            catalog: Catalog::default(),
            headroom_percent: 25,
            nodes: None,
        }
    }
}

/// The files `berth cluster config` writes, and what it has to say about them.
#[derive(Clone, Debug)]
pub struct ClusterFiles {
    /// The EKS cluster name.
    pub name: String,
    /// What scales the nodes.
    pub nodes: NodeMode,
    /// The eksctl ClusterConfig (already validated against eksctl's schema).
    pub cluster_config: Value,
    /// The autoscaler objects, in apply order (cluster-autoscaler mode only).
    pub autoscaler: Vec<Value>,
    /// NodePools and EC2NodeClass, in apply order (Karpenter and Auto Mode), each validated
    /// against its CRD schema.
    pub nodepools: Vec<Value>,
    /// The arithmetic and the evidence behind every number and add-on (`--explain`).
    pub explanation: Vec<String>,
    /// What the user should look at.
    pub warnings: Vec<String>,
    /// Where a cluster-autoscaler of the stack disagrees with the generated one.
    pub differences: Vec<autoscaler::Difference>,
    /// The cluster's region.
    pub region: String,
    /// `cluster.fileSystems`: what `berth cluster up` creates after the cluster.
    pub file_systems: Vec<FileSystemSpec>,
}

/// File name of the ClusterConfig.
pub const CLUSTER_FILE: &str = "cluster.yaml";
/// File name of the autoscaler manifest.
pub const AUTOSCALER_FILE: &str = "cluster-autoscaler.yaml";
/// File name of the Karpenter objects.
pub const NODEPOOLS_FILE: &str = "nodepools.yaml";

fn documents(header: String, objects: &[Value]) -> String {
    let mut out = header;
    for (i, o) in objects.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&berth_yaml::to_yaml(o));
    }
    out
}

impl ClusterFiles {
    /// The ClusterConfig as YAML.
    pub fn cluster_yaml(&self) -> String {
        format!(
            "# Generated by `berth cluster config` for stack `{}`; create with: eksctl create cluster -f {CLUSTER_FILE}\n{}",
            self.cluster_config
                .pointer("/metadata/tags/berth.dev~1stack")
                .and_then(Value::as_str)
                .unwrap_or(&self.name),
            berth_yaml::to_yaml(&self.cluster_config)
        )
    }

    /// The autoscaler manifest as multi-document YAML.
    pub fn autoscaler_yaml(&self) -> String {
        documents(
            format!(
                "# Generated by `berth cluster config` for cluster `{}`; matches {CLUSTER_FILE}\n",
                self.name
            ),
            &self.autoscaler,
        )
    }

    /// The NodePools (and EC2NodeClass) as multi-document YAML.
    pub fn nodepools_yaml(&self) -> String {
        documents(
            format!(
                "# Generated by `berth cluster config` for cluster `{}` (nodes: {}); apply once the cluster is ready\n",
                self.name, self.nodes
            ),
            &self.nodepools,
        )
    }

    /// The files this mode writes besides the ClusterConfig: (file name, text), in the order
    /// they are applied after the cluster exists.
    pub fn manifests(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !self.autoscaler.is_empty() {
            out.push((AUTOSCALER_FILE, self.autoscaler_yaml()));
        }
        if !self.nodepools.is_empty() {
            out.push((NODEPOOLS_FILE, self.nodepools_yaml()));
        }
        out
    }

    /// Writes the ClusterConfig and [`Self::manifests`] into `dir` (created when missing);
    /// the ClusterConfig's path and the manifests' paths.
    pub fn write(&self, dir: &Path) -> std::io::Result<(PathBuf, Vec<PathBuf>)> {
        std::fs::create_dir_all(dir)?;
        let cluster = dir.join(CLUSTER_FILE);
        std::fs::write(&cluster, self.cluster_yaml())?;
        let mut written = Vec::new();
        for (name, text) in self.manifests() {
            let path = dir.join(name);
            std::fs::write(&path, text)?;
            written.push(path);
        }
        Ok((cluster, written))
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 100
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// The cluster files for `stack`.
pub fn config(stack: &Stack, options: &Options) -> Result<ClusterFiles, ClusterError> {
    if stack.profile != Profile::Eks {
        return Err(ClusterError::Profile(stack.profile));
    }
    let spec = stack.cluster.clone().unwrap_or_else(|| ClusterSpec {
        nodes: None,
        file_systems: Vec::new(),
        name: stack.name.clone(),
        region: None,
        zones: Vec::new(),
        node_groups: Vec::new(),
    });
    if !valid_name(&spec.name) {
        return Err(ClusterError::BadName(spec.name));
    }
    let region = spec.region.clone().ok_or(ClusterError::NoRegion)?;
    let minor = versions::minor_of(&stack.kubernetes)
        .ok_or_else(|| ClusterError::BadVersion(stack.kubernetes.clone()))?;
    let nodes = options.nodes.or(spec.nodes).unwrap_or_default();
    let usage = usage::detect(stack);
    let demand = sizing::demand(stack, &usage, nodes == NodeMode::ClusterAutoscaler)?;
    let plan = match nodes {
        NodeMode::ClusterAutoscaler => sizing::plan(
            &spec,
            &demand,
            usage.zonal_volumes(),
            &options.catalog,
            options.headroom_percent,
        )?,
        NodeMode::Karpenter | NodeMode::AutoMode => {
            let mut plan = sizing::Plan::default();
            sizing::describe_demand(&demand, &mut plan.lines);
            if !spec.node_groups.is_empty() {
                plan.lines.push(format!(
                    "`cluster.nodeGroups` are for the cluster-autoscaler (`--nodes cluster-autoscaler`); with `nodes: {nodes}` they are not written: NodePools are sized from the stack instead."
                ));
            }
            if nodes == NodeMode::Karpenter {
                plan.groups
                    .push(karpenter_group(&demand, options, &mut plan.lines)?);
            }
            plan
        }
    };
    let mut explanation = plan.lines;
    let mut warnings = plan.warnings;
    explanation.extend(file_systems::explain(&spec));

    let cluster_config = eksctl::cluster_config(&eksctl::Input {
        stack: &stack.name,
        name: &spec.name,
        region: &region,
        version: format!("1.{minor}"),
        zones: &spec.zones,
        groups: &plan.groups,
        usage: &usage,
        nodes,
    });
    schema::validate(&cluster_config).map_err(ClusterError::Schema)?;
    if spec.zones.len() == 1 {
        warnings.push(
            "EKS needs subnets in at least two zones: list two or more in `cluster.zones`".into(),
        );
    }
    if nodes != NodeMode::ClusterAutoscaler {
        let pools = karpenter_pools(stack, &spec, nodes, demand, &usage, options)?;
        explanation.extend(pools.lines);
        warnings.extend(pools.warnings);
        describe_usage(&usage, nodes, &mut explanation, &mut warnings);
        return Ok(ClusterFiles {
            name: spec.name,
            nodes,
            cluster_config,
            autoscaler: Vec::new(),
            nodepools: pools.objects,
            explanation,
            warnings,
            differences: Vec::new(),
            region,
            file_systems: spec.file_systems,
        });
    }

    let similar = |a: &sizing::Group, b: &sizing::Group| {
        a.instance_type == b.instance_type && a.labels == b.labels
    };
    let balance = plan
        .groups
        .iter()
        .enumerate()
        .any(|(i, a)| plan.groups[i + 1..].iter().any(|b| similar(a, b)));
    let settings = autoscaler::Settings {
        cluster: spec.name.clone(),
        minor,
        max_nodes_total: plan.groups.iter().map(|g| u64::from(g.max)).sum(),
        balance,
    };
    let (tag, known) = versions::tag(minor);
    explanation.push(if known {
        format!("cluster-autoscaler {tag}: the latest release berth knows for Kubernetes 1.{minor}.")
    } else {
        format!("cluster-autoscaler {tag}: Kubernetes 1.{minor} is not in berth's table; check for a newer v1.{minor}.x patch release.")
    });
    if balance {
        explanation.push("--balance-similar-node-groups=true: the per-zone groups are alike, so scale-ups spread over the zones.".into());
    }
    explanation
        .push("autoScaler policy: the generated cluster-autoscaler runs on the nodes.".into());
    describe_usage(&usage, nodes, &mut explanation, &mut warnings);
    let autoscaler = autoscaler::manifest(&settings);
    let differences = autoscaler::compare(stack, &settings);
    Ok(ClusterFiles {
        name: spec.name,
        nodes,
        cluster_config,
        autoscaler,
        nodepools: Vec::new(),
        explanation,
        warnings,
        differences,
        region,
        file_systems: spec.file_systems,
    })
}

/// Why each IAM policy and add-on is there (`--explain`), and the AWS Load Balancer Controller
/// the stack's load balancers need (Auto Mode runs AWS's load balancing itself).
fn describe_usage(
    usage: &usage::Usage,
    nodes: NodeMode,
    explanation: &mut Vec<String>,
    warnings: &mut Vec<String>,
) {
    let evidence = [
        ("ebs policy, aws-ebs-csi-driver add-on", &usage.ebs),
        ("efs policy, aws-efs-csi-driver add-on", &usage.efs),
        (
            "awsLoadBalancerController policy",
            &usage.load_balancer_controller,
        ),
        ("cloudWatch policy", &usage.cloudwatch),
        ("metrics-server add-on", &usage.metrics_server),
    ];
    for (what, why) in evidence {
        for w in why {
            explanation.push(format!("{what}: {w}"));
        }
    }
    if !usage.load_balancer_controller.is_empty() && nodes != NodeMode::AutoMode {
        warnings.push("the stack's load balancers need the AWS Load Balancer Controller: install its Helm chart (eks/aws-load-balancer-controller) after the cluster".into());
    }
}

/// Requests of one Karpenter controller replica (the Helm chart's defaults) and its replicas.
pub const KARPENTER_CONTROLLER: (i64, i64, u32) = (1000, 1024 * berth_simulate::instances::MIB, 2);

/// The managed node group Karpenter's controller runs on: it cannot run on nodes it manages.
/// Sized like any group, for its replicas and CoreDNS, at least two nodes (one per replica).
fn karpenter_group(
    demand: &sizing::Demand,
    options: &Options,
    lines: &mut Vec<String>,
) -> Result<sizing::Group, ClusterError> {
    let (cpu_m, mem_b, replicas) = KARPENTER_CONTROLLER;
    let mut workloads = vec![sizing::Workload {
        name: "Deployment/karpenter/karpenter".into(),
        cpu_m,
        mem_b,
        min: replicas,
        peak: replicas,
        why: "Helm chart defaults".into(),
        queue: false,
    }];
    workloads.extend(demand.workloads.iter().filter(|w| is_coredns(w)).cloned());
    let system = sizing::Demand {
        workloads,
        per_node: demand.per_node.clone(),
    };
    let Some(best) = sizing::cheapest(&options.catalog, &system, options.headroom_percent)
        .into_iter()
        .next()
    else {
        return Err(ClusterError::NothingFits {
            workload: "Deployment/karpenter/karpenter".into(),
        });
    };
    let min = best.min_nodes.max(replicas);
    let max = best.max_nodes.max(min);
    lines.push(format!(
        "Managed node group `system` ({} × {}..{}): Karpenter's controller cannot run on nodes it launches; it holds its {replicas} replicas ({} CPU, {} each) and CoreDNS.",
        best.instance.name,
        min,
        max,
        sizing::cpu(cpu_m),
        sizing::mem(mem_b)
    ));
    Ok(sizing::Group {
        name: "system".into(),
        instance_type: best.instance.name.clone(),
        zone: None,
        min,
        max,
        labels: Default::default(),
    })
}

fn is_coredns(w: &sizing::Workload) -> bool {
    w.name == "Deployment/kube-system/coredns"
}

/// What Karpenter and Auto Mode get instead of the autoscaler manifest: NodePools (validated
/// against their CRD schemas), what they are made of, and what to say about the stack.
fn karpenter_pools(
    stack: &Stack,
    spec: &ClusterSpec,
    nodes: NodeMode,
    demand: sizing::Demand,
    usage: &usage::Usage,
    options: &Options,
) -> Result<nodepools::Pools, ClusterError> {
    // CoreDNS runs on the system group (Karpenter) or inside Auto Mode's nodes.
    let demand = sizing::Demand {
        workloads: demand
            .workloads
            .into_iter()
            .filter(|w| !is_coredns(w))
            .collect(),
        per_node: demand.per_node,
    };
    let mut pools = nodepools::pools(&nodepools::Input {
        mode: nodes,
        cluster: &spec.name,
        zones: &spec.zones,
        zonal: usage.zonal_volumes(),
        demand: &demand,
        catalog: &options.catalog,
        headroom: options.headroom_percent,
    });
    for o in &pools.objects {
        schema::validate_karpenter(o).map_err(|e| {
            let what = format!(
                "{} {}",
                o["kind"].as_str().unwrap_or("object"),
                o["metadata"]["name"].as_str().unwrap_or("")
            );
            ClusterError::KarpenterSchema { what, errors: e }
        })?;
    }
    if nodes == NodeMode::AutoMode && !usage.ebs.is_empty() {
        pools.warnings.push("Auto Mode provisions EBS volumes with its own driver, `ebs.csi.eks.amazonaws.com`: StorageClasses with `ebs.csi.aws.com` rely on the aws-ebs-csi-driver add-on written here; switch their provisioner to use Auto Mode's".into());
    }
    for o in &stack.objects {
        let is_ca = o.kind() == "Deployment"
            && o.value
                .pointer("/spec/template/spec/containers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(berth_model::autoscaler_flags::is_cluster_autoscaler);
        if is_ca {
            let pos = o.pos("");
            pools.warnings.push(format!(
                "{}:{}: the stack runs a cluster-autoscaler, but the cluster's nodes are scaled by {}: leave it out under this mode (`profiles:` or `when:` on its component)",
                o.file.path.display(),
                pos.line,
                if nodes == NodeMode::AutoMode { "EKS Auto Mode" } else { "Karpenter" }
            ));
        }
    }
    Ok(pools)
}
