//! The eksctl `ClusterConfig` (`eksctl.io/v1alpha5`): metadata, OIDC, zones, the EKS add-ons
//! the stack's volumes and HPAs need, and one managed node group per planned group, tagged for
//! the cluster-autoscaler's auto-discovery and granted the IAM add-on policies the stack uses.

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
}

/// The IAM add-on policies every node group gets: autoScaler always (the generated
/// autoscaler runs on the nodes), the others when the stack uses them.
pub fn addon_policies(usage: &Usage) -> Map<String, Value> {
    let mut p = Map::new();
    p.insert("autoScaler".into(), json!(true));
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
    let policies = addon_policies(input.usage);
    let groups: Vec<Value> = input
        .groups
        .iter()
        .map(|g| {
            let mut tags = Map::new();
            tags.insert(ENABLED_TAG.into(), json!("true"));
            tags.insert(cluster_tag(input.name), json!("owned"));
            let mut ng = Map::new();
            ng.insert("name".into(), json!(g.name));
            ng.insert("instanceType".into(), json!(g.instance_type));
            if let Some(zone) = &g.zone {
                ng.insert("availabilityZones".into(), json!([zone]));
                tags.insert(
                    format!("{NODE_TEMPLATE_LABEL}topology.kubernetes.io/zone"),
                    json!(zone),
                );
            }
            ng.insert("minSize".into(), json!(g.min));
            ng.insert("maxSize".into(), json!(g.max));
            ng.insert("desiredCapacity".into(), json!(g.min));
            if !g.labels.is_empty() {
                ng.insert("labels".into(), json!(g.labels));
                for (k, v) in &g.labels {
                    tags.insert(format!("{NODE_TEMPLATE_LABEL}{k}"), json!(v));
                }
            }
            ng.insert("privateNetworking".into(), json!(true));
            ng.insert("propagateASGTags".into(), json!(true));
            ng.insert("tags".into(), Value::Object(tags));
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
    c.insert(
        "metadata".into(),
        json!({"name": input.name, "region": input.region, "version": input.version,
               "tags": {"berth.dev/stack": input.stack}}),
    );
    c.insert("iam".into(), json!({"withOIDC": true}));
    if !input.zones.is_empty() {
        c.insert("availabilityZones".into(), json!(input.zones));
    }
    let addons = addons(input.usage);
    if !addons.is_empty() {
        c.insert("addons".into(), Value::Array(addons));
    }
    c.insert("managedNodeGroups".into(), Value::Array(groups));
    Value::Object(c)
}
