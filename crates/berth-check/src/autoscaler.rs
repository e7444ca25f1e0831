//! What the `ca-*` rules read: the cluster-autoscaler containers of the stack, their flags, and
//! the cluster they must agree with (berth.yaml `cluster:`, or an eksctl ClusterConfig among the
//! manifests).

use berth_model::ValueExt;
use berth_model::autoscaler_flags::{AutoscalerFlags, is_cluster_autoscaler};
use serde_json::Value;

use crate::context::{Container, Context};

/// A cluster-autoscaler container, with its workload and flags.
pub struct Autoscaler<'s> {
    pub object: usize,
    pub container: Container<'s>,
    /// Its command line, read as the autoscaler reads it (`berth_model::autoscaler_flags`).
    pub flags: AutoscalerFlags,
}

impl Autoscaler<'_> {
    /// The value of `--name` that counts (its last occurrence), with the pointer of the item
    /// holding it.
    pub fn flag(&self, name: &str) -> Option<(String, &str)> {
        self.flags
            .last(name)
            .map(|f| (f.pointer(&self.container.pointer()), f.value()))
    }

    /// Every value of a repeated flag (`--node-group-auto-discovery`), in order, with pointers.
    pub fn flag_values<'a>(&'a self, name: &'a str) -> Vec<(String, &'a str)> {
        self.flags
            .all(name)
            .map(|f| (f.pointer(&self.container.pointer()), f.value()))
            .collect()
    }

    /// The container's image.
    pub fn image(&self) -> &str {
        self.container
            .value
            .member("image")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// Every cluster-autoscaler container in the stack.
pub fn autoscalers<'s>(ctx: &Context<'s>) -> Vec<Autoscaler<'s>> {
    let mut out = Vec::new();
    for t in &ctx.pod_templates {
        for c in t.containers() {
            if c.init || !is_cluster_autoscaler(c.value) {
                continue;
            }
            out.push(Autoscaler {
                object: t.object,
                flags: AutoscalerFlags::of_container(c.value),
                container: c,
            });
        }
    }
    out
}

/// The cluster the autoscaler runs in, as far as the stack says.
pub struct ClusterFacts {
    pub name: Option<String>,
    /// Sum of the node groups' maximum sizes, when known.
    pub max_nodes: Option<u64>,
    /// Where the numbers come from, for messages.
    pub source: String,
}

/// Reads `cluster:` from berth.yaml, or an eksctl ClusterConfig in the manifests.
pub fn cluster_facts(ctx: &Context<'_>) -> Option<ClusterFacts> {
    if let Some(c) = &ctx.stack.cluster {
        let zones = c.zones.len().max(1) as u64;
        let max = c
            .node_groups
            .iter()
            .map(|g| u64::from(g.max) * if g.per_zone { zones } else { 1 })
            .sum();
        return Some(ClusterFacts {
            name: Some(c.name.clone()),
            max_nodes: Some(max),
            source: "berth.yaml cluster:".into(),
        });
    }
    let i = ctx
        .of_kind("ClusterConfig")
        .iter()
        .copied()
        .find(|&i| ctx.object(i).group() == "eksctl.io")?;
    let v = &ctx.object(i).value;
    let mut max = 0;
    let mut known = false;
    for field in ["nodeGroups", "managedNodeGroups"] {
        for g in v.get(field).and_then(Value::as_array).into_iter().flatten() {
            if let Some(m) = g.member("maxSize").and_then(Value::as_u64) {
                max += m;
                known = true;
            }
        }
    }
    Some(ClusterFacts {
        name: v
            .at("/metadata/name")
            .and_then(Value::as_str)
            .map(str::to_string),
        max_nodes: known.then_some(max),
        source: format!(
            "eksctl ClusterConfig in {}",
            ctx.object(i).file.path.display()
        ),
    })
}
