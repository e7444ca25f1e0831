//! The eksctl `ClusterConfig` (`eksctl.io/v1alpha5`): metadata, OIDC, zones, the EKS add-ons
//! the stack's volumes and HPAs need, what scales the nodes, and one managed node group per
//! planned group, granted the IAM add-on policies the stack uses.
//!
//! `autoModeConfig` is always written, `enabled: false` included: eksctl announces that Auto
//! Mode becomes its default, and a file that says nothing would then create another cluster.
//! With the cluster-autoscaler the groups are tagged for its auto-discovery; with Karpenter the
//! `karpenter:` section has eksctl install it, and the cluster's tags carry
//! `karpenter.sh/discovery` so the EC2NodeClass finds its subnets and security groups.

use berth_model::NodeMode;
use berth_model::karpenter::DISCOVERY_TAG;
use serde_json::{Map, Value, json};

use crate::autoscaler::{ENABLED_TAG, cluster_tag};
use crate::sizing::Group;
use crate::usage::Usage;

/// Tag prefix with which the autoscaler learns a group's node labels before it has a node
/// (scale from zero, and zone-aware scale-up for per-zone groups).
pub const NODE_TEMPLATE_LABEL: &str = "k8s.io/cluster-autoscaler/node-template/label/";

/// What the ClusterConfig is written from.
pub struct Input<'a> {
    pub stack: &'a str,
    pub name: &'a str,
    pub region: &'a str,
    pub version: String,
    pub zones: &'a [String],
    pub groups: &'a [Group],
    pub usage: &'a Usage,
    pub nodes: NodeMode,
}

/// Auto Mode's built-in NodePools, both enabled.
pub const AUTO_MODE_POOLS: [&str; 2] = ["general-purpose", "system"];

/// The IAM add-on policies every node group gets: autoScaler with the cluster-autoscaler (the
/// generated autoscaler runs on the nodes), the others when the stack uses them.
pub fn addon_policies(usage: &Usage, autoscaler: bool) -> Map<String, Value> {
    let mut p = Map::new();
    if autoscaler {
        p.insert("autoScaler".into(), json!(true));
    }
    if !usage.ebs.is_empty() {
        p.insert("ebs".into(), json!(true));
    }
    if !usage.efs.is_empty() {
        p.insert("efs".into(), json!(true));
    }
    if !usage.load_balancer_controller.is_empty() {
        p.insert("awsLoadBalancerController".into(), json!(true));
    }
    if !usage.cloudwatch.is_empty() {
        p.insert("cloudWatch".into(), json!(true));
    }
    p
}

/// The EKS add-ons the stack needs.
pub fn addons(usage: &Usage) -> Vec<Value> {
    let mut a = Vec::new();
    if !usage.ebs.is_empty() {
        a.push(
            json!({"name": "aws-ebs-csi-driver", "wellKnownPolicies": {"ebsCSIController": true}}),
        );
    }
    if !usage.efs.is_empty() {
        a.push(
            json!({"name": "aws-efs-csi-driver", "wellKnownPolicies": {"efsCSIController": true}}),
        );
    }
    if !usage.metrics_server.is_empty() {
        a.push(json!({"name": "metrics-server"}));
    }
    a
}

/// The ClusterConfig document.
pub fn cluster_config(input: &Input<'_>) -> Value {
    let autoscaler = input.nodes == NodeMode::ClusterAutoscaler;
    let policies = addon_policies(input.usage, autoscaler);
    let groups: Vec<Value> = input
        .groups
        .iter()
        .map(|g| {
            let mut tags = Map::new();
            if autoscaler {
                tags.insert(ENABLED_TAG.into(), json!("true"));
                tags.insert(cluster_tag(input.name), json!("owned"));
            }
            let mut ng = Map::new();
            ng.insert("name".into(), json!(g.name));
            ng.insert("instanceType".into(), json!(g.instance_type));
            if let Some(zone) = &g.zone {
                ng.insert("availabilityZones".into(), json!([zone]));
                if autoscaler {
                    tags.insert(
                        format!("{NODE_TEMPLATE_LABEL}topology.kubernetes.io/zone"),
                        json!(zone),
                    );
                }
            }
            ng.insert("minSize".into(), json!(g.min));
            ng.insert("maxSize".into(), json!(g.max));
            ng.insert("desiredCapacity".into(), json!(g.min));
            if !g.labels.is_empty() {
                ng.insert("labels".into(), json!(g.labels));
                if autoscaler {
                    for (k, v) in &g.labels {
                        tags.insert(format!("{NODE_TEMPLATE_LABEL}{k}"), json!(v));
                    }
                }
            }
            ng.insert("privateNetworking".into(), json!(true));
            if autoscaler {
                ng.insert("propagateASGTags".into(), json!(true));
            }
            if !tags.is_empty() {
                ng.insert("tags".into(), Value::Object(tags));
            }
            ng.insert(
                "iam".into(),
                json!({"withAddonPolicies": Value::Object(policies.clone())}),
            );
            Value::Object(ng)
        })
        .collect();
    let mut c = Map::new();
    c.insert("apiVersion".into(), json!("eksctl.io/v1alpha5"));
    c.insert("kind".into(), json!("ClusterConfig"));
    let mut tags = Map::new();
    tags.insert("berth.dev/stack".into(), json!(input.stack));
    if input.nodes == NodeMode::Karpenter {
        tags.insert(DISCOVERY_TAG.into(), json!(input.name));
    }
    c.insert(
        "metadata".into(),
        json!({"name": input.name, "region": input.region, "version": input.version,
               "tags": tags}),
    );
    c.insert(
        "autoModeConfig".into(),
        match input.nodes {
            NodeMode::AutoMode => json!({"enabled": true, "nodePools": AUTO_MODE_POOLS}),
            _ => json!({"enabled": false}),
        },
    );
    c.insert("iam".into(), json!({"withOIDC": true}));
    if !input.zones.is_empty() {
        c.insert("availabilityZones".into(), json!(input.zones));
    }
    let addons = addons(input.usage);
    if !addons.is_empty() {
        c.insert("addons".into(), Value::Array(addons));
    }
    if !groups.is_empty() {
        c.insert("managedNodeGroups".into(), Value::Array(groups));
    }
    if input.nodes == NodeMode::Karpenter {
        c.insert(
            "karpenter".into(),
            json!({"version": berth_model::karpenter::version(), "createServiceAccount": true,
                   "withSpotInterruptionQueue": true}),
        );
    }
    Value::Object(c)
}
