//! The Karpenter objects of `--nodes karpenter` and `--nodes auto-mode`: NodePools sized from
//! the same demand as the cluster-autoscaler's node groups (`sizing`), and, for self-managed
//! Karpenter, the EC2NodeClass that finds the cluster's subnets and security groups by its
//! discovery tag.
//!
//! A pool's requirements admit the instance types that fit the stack's largest pod (vCPU and
//! memory floors from berth's instance table), only the stack's zones, and on-demand capacity;
//! its limits are the capacity of the nodes sizing packs the peak onto, with headroom, so a
//! runaway HPA cannot buy more than the stack was sized for. Workloads that hold a queue and
//! whose pods do not carry `karpenter.sh/do-not-disrupt` get their own pool that only removes
//! empty nodes: consolidation would otherwise move them and strand the queue.

use berth_model::NodeMode;
use berth_model::karpenter::{
    AUTO_MODE_NODE_CLASS_GROUP, DISCOVERY_TAG, EC2_NODE_CLASS_API_VERSION, NODEPOOL_API_VERSION,
    ZONE_LABEL,
};
use berth_simulate::Catalog;
use berth_simulate::instances::MIB;
use serde_json::{Value, json};

use crate::sizing::{self, Demand, Fit, cpu, mem};

/// Label of the nodes of the queue holders' pool; queue holders select it.
pub const POOL_LABEL: &str = "berth.dev/node-pool";
/// Name of the queue holders' pool.
pub const QUEUE_POOL: &str = "queue-holders";
/// The NodeClass every generated pool uses (Auto Mode's built-in one has this name too).
pub const NODE_CLASS: &str = "default";

/// What the pools are written from.
pub struct Input<'a> {
    pub mode: NodeMode,
    pub cluster: &'a str,
    pub zones: &'a [String],
    /// The stack has zonal volumes (EBS): its nodes must stay in the listed zones.
    pub zonal: bool,
    pub demand: &'a Demand,
    pub catalog: &'a Catalog,
    pub headroom: u32,
}

/// The objects, in apply order, and what to say about them.
#[derive(Clone, Debug, Default)]
pub struct Pools {
    pub objects: Vec<Value>,
    pub lines: Vec<String>,
    pub warnings: Vec<String>,
}

/// The label prefix of instance attributes: Karpenter's AWS provider and Auto Mode name them
/// differently.
fn attribute(mode: NodeMode, name: &str) -> String {
    match mode {
        NodeMode::AutoMode => format!("{AUTO_MODE_NODE_CLASS_GROUP}/{name}"),
        _ => format!("karpenter.k8s.aws/{name}"),
    }
}

/// Smallest vCPU count and memory (MiB) of a table type on which the largest pod fits after the
/// per-node pods: each checked on its own, so a type meeting both floors fits the pod.
fn floors(input: &Input<'_>, demand: &Demand) -> Option<(u32, u64)> {
    let (ds_cpu, ds_mem, _) = input.demand.per_node_total();
    let big_cpu = demand.workloads.iter().map(|w| w.cpu_m).max()?;
    let big_mem = demand.workloads.iter().map(|w| w.mem_b).max()?;
    let types = sizing::candidates(input.catalog);
    let vcpu = types
        .iter()
        .filter(|t| t.allocatable_cpu_m() - ds_cpu >= big_cpu)
        .map(|t| t.vcpu)
        .min()?;
    let memory = types
        .iter()
        .filter(|t| t.allocatable_mem_b() - ds_mem >= big_mem)
        .map(|t| t.memory_mib)
        .min()?;
    Some((vcpu, memory))
}

/// `64Gi` when whole, else `1536Mi`.
fn mib_quantity(mib: u64) -> String {
    if mib.is_multiple_of(1024) {
        format!("{}Gi", mib / 1024)
    } else {
        format!("{mib}Mi")
    }
}

/// One NodePool for `demand` (a part of the stack's), or None when it has no pods.
fn pool(
    input: &Input<'_>,
    name: &str,
    demand: &Demand,
    queue: bool,
    out: &mut Pools,
) -> Option<Value> {
    if demand.workloads.iter().all(|w| w.peak == 0) {
        return None;
    }
    let best: Option<Fit> = sizing::cheapest(input.catalog, demand, input.headroom)
        .into_iter()
        .next();
    let Some(best) = best else {
        out.warnings.push(format!(
            "NodePool `{name}`: no instance type in berth's table fits its largest pod, so it has no limits; set them by hand"
        ));
        return None;
    };
    let mode = input.mode;
    let mut requirements = vec![
        json!({"key": attribute(mode, "instance-category"), "operator": "In", "values": ["c", "m", "r"]}),
        json!({"key": attribute(mode, "instance-generation"), "operator": "Gt", "values": ["4"]}),
        json!({"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}),
        json!({"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]}),
    ];
    if let Some((vcpu, memory)) = floors(input, demand) {
        requirements.push(
            json!({"key": attribute(mode, "instance-cpu"), "operator": "Gt",
            "values": [vcpu.saturating_sub(1).to_string()]}),
        );
        requirements.push(
            json!({"key": attribute(mode, "instance-memory"), "operator": "Gt",
            "values": [memory.saturating_sub(1).to_string()]}),
        );
        out.lines.push(format!(
            "NodePool {name}: instance types with at least {vcpu} vCPU and {} (the smallest in berth's table on which its largest pod fits after the per-node pods), categories c/m/r, generation 5 or later, amd64, on-demand.",
            mem(i64::try_from(memory).unwrap_or(i64::MAX).saturating_mul(MIB))
        ));
    }
    if !input.zones.is_empty() {
        requirements.push(json!({"key": ZONE_LABEL, "operator": "In", "values": input.zones}));
        if input.zonal {
            out.lines.push(format!(
                "NodePool {name}: zones {} only, where the stack's zonal volumes are created, so a pod can always get a node beside its volume.",
                input.zones.join(", ")
            ));
        }
    }
    let t = &best.instance;
    let cpu_limit = u64::from(best.max_nodes) * u64::from(t.vcpu);
    let mem_limit = u64::from(best.max_nodes) * t.memory_mib;
    let sized = demand
        .workloads
        .iter()
        .map(|w| format!("{} {}", w.name, w.why))
        .collect::<Vec<_>>()
        .join(", ");
    out.lines.push(format!(
        "NodePool {name}: limits cpu {cpu_limit}, memory {}: the peak of {sized} packs onto {} {} nodes ({} CPU, {} each after the per-node pods), {} with {}% headroom, × {} vCPU / {} MiB.",
        mib_quantity(mem_limit),
        best.peak_nodes,
        t.name,
        cpu(best.cpu_m),
        mem(best.mem_b),
        best.max_nodes,
        input.headroom,
        t.vcpu,
        t.memory_mib
    ));
    let node_class = match mode {
        NodeMode::AutoMode => {
            json!({"group": AUTO_MODE_NODE_CLASS_GROUP, "kind": "NodeClass", "name": NODE_CLASS})
        }
        _ => json!({"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": NODE_CLASS}),
    };
    // Auto Mode replaces its nodes after 14 days by default and at most after 21; Karpenter's
    // default is 30 days. Both keep new AMIs rolling in.
    let expire = match mode {
        NodeMode::AutoMode => "336h",
        _ => "720h",
    };
    let mut template = json!({
        "metadata": {"labels": {"berth.dev/stack-pool": name}},
        "spec": {
            "nodeClassRef": node_class,
            "requirements": requirements,
            "expireAfter": expire,
        }
    });
    let disruption = if queue {
        template["metadata"]["labels"][POOL_LABEL] = json!(name);
        out.lines.push(format!(
            "NodePool {name}: consolidationPolicy WhenEmpty: a node is removed only when no pod runs on it, so queue holders are never moved to save cost; their pods select it with nodeSelector {POOL_LABEL}: {name}."
        ));
        json!({"consolidationPolicy": "WhenEmpty", "consolidateAfter": "10m",
            "budgets": [{"nodes": "1"}]})
    } else {
        json!({"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "5m",
            "budgets": [{"nodes": "10%"}]})
    };
    Some(json!({
        "apiVersion": NODEPOOL_API_VERSION,
        "kind": "NodePool",
        "metadata": {"name": name},
        "spec": {
            "template": template,
            "disruption": disruption,
            "limits": {"cpu": cpu_limit.to_string(), "memory": mib_quantity(mem_limit)},
            // Above Auto Mode's built-in pools (weight 0): the stack's pods land here first.
            "weight": 10,
        }
    }))
}

/// Whether Auto Mode's built-in pools serve the stack as it is: they take any C/M/R type of
/// generation 5 or later in every zone and consolidate underutilized nodes.
fn builtin_enough(input: &Input<'_>, queue: bool) -> bool {
    !queue && !input.zonal
}

/// The Karpenter objects for `input` (none for the cluster-autoscaler mode).
pub fn pools(input: &Input<'_>) -> Pools {
    let mut out = Pools::default();
    if input.mode == NodeMode::ClusterAutoscaler {
        return out;
    }
    let (queue, rest): (Vec<_>, Vec<_>) = input
        .demand
        .workloads
        .iter()
        .cloned()
        .partition(|w| w.queue);
    if input.mode == NodeMode::AutoMode && builtin_enough(input, !queue.is_empty()) {
        out.lines.push(
            "Auto Mode's built-in pools (general-purpose, system) serve the stack: no zonal volumes, and no queue holder without `karpenter.sh/do-not-disrupt` to keep from consolidation.".into(),
        );
        return out;
    }
    let part = |workloads| Demand {
        workloads,
        per_node: input.demand.per_node.clone(),
    };
    let general = format!("{}-workloads", input.cluster);
    let mut objects: Vec<Value> = Vec::new();
    objects.extend(pool(input, &general, &part(rest), false, &mut out));
    if !queue.is_empty() {
        let names: Vec<&str> = queue.iter().map(|w| w.name.as_str()).collect();
        out.warnings.push(format!(
            "{} hold{} a queue and {} no `karpenter.sh/do-not-disrupt: \"true\"` on {} pods: add it, or select the `{QUEUE_POOL}` NodePool with `nodeSelector: {{{POOL_LABEL}: {QUEUE_POOL}}}`; otherwise consolidation moves them",
            names.join(", "),
            if names.len() == 1 { "s" } else { "" },
            if names.len() == 1 { "has" } else { "have" },
            if names.len() == 1 { "its" } else { "their" },
        ));
        objects.extend(pool(input, QUEUE_POOL, &part(queue), true, &mut out));
    }
    if input.mode == NodeMode::Karpenter {
        let selector = json!([{"tags": {DISCOVERY_TAG: input.cluster}}]);
        objects.push(json!({
            "apiVersion": EC2_NODE_CLASS_API_VERSION,
            "kind": "EC2NodeClass",
            "metadata": {"name": NODE_CLASS},
            "spec": {
                // The node role eksctl creates with `karpenter:`.
                "role": format!("eksctl-KarpenterNodeRole-{}", input.cluster),
                "amiSelectorTerms": [{"alias": "al2023@latest"}],
                "subnetSelectorTerms": selector,
                "securityGroupSelectorTerms": selector,
                "tags": {DISCOVERY_TAG: input.cluster},
            }
        }));
        out.lines.push(format!(
            "EC2NodeClass {NODE_CLASS}: subnets and security groups tagged {DISCOVERY_TAG}: {} (eksctl tags what it creates with metadata.tags), AMI alias al2023@latest, node role eksctl-KarpenterNodeRole-{}.",
            input.cluster, input.cluster
        ));
    }
    out.objects = objects;
    out
}
