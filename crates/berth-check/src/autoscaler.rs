//! What the `ca-*` rules read: the cluster-autoscaler containers of the stack, their flags, and
//! the cluster they must agree with (berth.yaml `cluster:`, or an eksctl ClusterConfig among the
//! manifests).

use serde_json::Value;

use crate::context::{Container, Context};

/// A cluster-autoscaler container, with its workload and flags.
pub struct Autoscaler<'s> {
    pub object: usize,
    pub container: Container<'s>,
    /// `--name=value` flags with where they are: (pointer, flag name, value).
    pub flags: Vec<(String, String, String)>,
}

impl Autoscaler<'_> {
    /// The first value of `--name`, with its pointer.
    pub fn flag(&self, name: &str) -> Option<(&str, &str)> {
        self.flags
            .iter()
            .find(|(_, n, _)| n == name)
            .map(|(p, _, v)| (p.as_str(), v.as_str()))
    }

    /// The container's image.
    pub fn image(&self) -> &str {
        self.container
            .value
            .get("image")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// Every cluster-autoscaler container in the stack.
pub fn autoscalers<'s>(ctx: &Context<'s>) -> Vec<Autoscaler<'s>> {
    let mut out = Vec::new();
    for t in &ctx.pod_templates {
        for c in t.containers() {
            let image = c.value.get("image").and_then(Value::as_str).unwrap_or("");
            if !image.contains("cluster-autoscaler") {
                continue;
            }
            let mut flags = Vec::new();
            for field in ["command", "args"] {
                for (n, a) in c
                    .value
                    .get(field)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let Some(a) = a.as_str() else { continue };
                    if let Some((name, value)) = a.trim_start_matches('-').split_once('=')
                        && a.starts_with("--")
                    {
                        flags.push((
                            format!("{}/{field}/{n}", c.pointer),
                            name.to_string(),
                            value.to_string(),
                        ));
                    }
                }
            }
            out.push(Autoscaler {
                object: t.object,
                container: c,
                flags,
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
            if let Some(m) = g.get("maxSize").and_then(Value::as_u64) {
                max += m;
                known = true;
            }
        }
    }
    Some(ClusterFacts {
        name: v
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .map(str::to_string),
        max_nodes: known.then_some(max),
        source: format!(
            "eksctl ClusterConfig in {}",
            ctx.object(i).file.path.display()
        ),
    })
}
