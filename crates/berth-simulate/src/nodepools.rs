//! The Karpenter NodePools `simulate --nodes karpenter` models, as read from the stack (or
//! given by the caller, as `berth cluster config` writes them, or Karpenter's defaults when
//! there are none): requirements and limits through `berth_model::karpenter` (the one reader
//! of them that `berth check` and `berth cluster config` share), and the `disruption` block
//! (`consolidationPolicy`, `consolidateAfter`, `budgets`), `expireAfter` and `weight`, which
//! only the simulation acts on.
//!
//! Which instance types a pool may launch is decided here too: every type of the catalog of
//! the stack's cloud whose labels (`InstanceType::karpenter_labels`) meet the pool's
//! requirements on instance attributes; requirements on zones and on labels the pool only sets
//! on its nodes do not narrow the types (zones are not modelled).

use berth_model::duration;
use berth_model::karpenter::{self, Operator, Requirement};
use berth_model::{NodeMode, Object, Profile, Stack};
use serde::Serialize;
use serde_json::{Value, json};

use crate::SimError;
use crate::instances::{Catalog, Cloud, InstanceType};

/// `spec.disruption.consolidationPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ConsolidationPolicy {
    /// Only nodes without workload pods are removed.
    WhenEmpty,
    /// Empty nodes are removed, and nodes whose pods fit elsewhere (or on one cheaper node)
    /// are removed or replaced (the default).
    WhenEmptyOrUnderutilized,
}

/// Why Karpenter disrupts a node, as budgets name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Reason {
    Empty,
    Underutilized,
    Drifted,
}

/// How many nodes a budget lets be disrupted at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BudgetNodes {
    /// `"10%"` of the pool's nodes, rounded up.
    Percent(u32),
    /// `"3"` nodes.
    Count(u32),
}

/// One `spec.disruption.budgets[]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Budget {
    pub nodes: BudgetNodes,
    /// The reasons it limits; empty for all.
    pub reasons: Vec<Reason>,
    /// It has a `schedule`: the simulation takes it as always active (the stricter reading).
    pub scheduled: bool,
}

/// A NodePool as the simulation models it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NodePool {
    pub name: String,
    /// Template labels and `requirements` (`berth_model::karpenter::pool_requirements`).
    #[serde(skip)]
    pub requirements: Vec<Requirement>,
    /// Higher weights are tried first.
    pub weight: i64,
    /// `spec.limits` on CPU (millicores) and memory (bytes) of all its nodes' capacity.
    pub cpu_limit_m: Option<i64>,
    pub memory_limit_b: Option<i64>,
    pub consolidation_policy: ConsolidationPolicy,
    /// `consolidateAfter`; None for `Never`.
    pub consolidate_after_s: Option<u64>,
    pub budgets: Vec<Budget>,
    /// `template.spec.expireAfter`; None for `Never`.
    pub expire_after_s: Option<u64>,
    /// Instance types it may launch, cheapest first.
    pub instance_types: Vec<String>,
}

/// Karpenter's default `expireAfter` (720h).
pub const DEFAULT_EXPIRE_AFTER_S: u64 = 720 * 3600;

/// The cloud whose instance types a stack's nodes are (Karpenter on `local` is taken as EKS).
pub fn cloud_of(profile: Profile) -> Cloud {
    match profile {
        Profile::Aks => Cloud::Azure,
        Profile::Gke => Cloud::Gcp,
        Profile::Eks | Profile::Local => Cloud::Aws,
    }
}

/// Whether `value` (a node label's value, None when the node lacks it) meets `r`.
fn meets(r: &Requirement, value: Option<&str>) -> bool {
    let number = |s: &str| s.trim().parse::<i64>().ok();
    let bound = r.values.first().and_then(|v| number(v));
    match r.operator {
        Operator::In => value.is_some_and(|v| r.values.iter().any(|x| x == v)),
        Operator::NotIn => value.is_none_or(|v| !r.values.iter().any(|x| x == v)),
        Operator::Exists => value.is_some(),
        Operator::DoesNotExist => value.is_none(),
        Operator::Gt => matches!((value.and_then(number), bound), (Some(v), Some(b)) if v > b),
        Operator::Lt => matches!((value.and_then(number), bound), (Some(v), Some(b)) if v < b),
    }
}

/// Whether a pool with `requirements` can launch `t`: every requirement on a label that
/// describes the instance (well-known, other than where the node is or what it is called) is
/// met by the type's label.
pub fn offers(requirements: &[Requirement], t: &InstanceType) -> bool {
    const PLACEMENT: &[&str] = &[
        karpenter::ZONE_LABEL,
        "topology.kubernetes.io/region",
        "kubernetes.io/hostname",
        karpenter::NODEPOOL_LABEL,
    ];
    let labels = t.karpenter_labels();
    requirements
        .iter()
        .filter(|r| karpenter::is_well_known(&r.key) && !PLACEMENT.contains(&r.key.as_str()))
        .all(|r| {
            let value = labels
                .iter()
                .find(|(k, _)| *k == r.key)
                .map(|(_, v)| v.as_str());
            meets(r, value)
        })
}

/// A NodePool value and where its errors point: `obj` when it is in the stack.
struct Source<'a> {
    value: &'a Value,
    obj: Option<&'a Object>,
}

impl Source<'_> {
    fn err(&self, pointer: &str, message: String) -> SimError {
        match self.obj {
            Some(obj) => {
                let pos = obj.pos(pointer);
                SimError::Manifest {
                    file: obj.file.path.clone(),
                    line: pos.line,
                    column: pos.column,
                    message,
                }
            }
            None => SimError::Options(format!("NodePool: {message}")),
        }
    }

    fn str_at(&self, pointer: &str) -> Option<&str> {
        self.value.pointer(pointer).and_then(Value::as_str)
    }

    /// A duration field, or `Never` (None); `default` when absent.
    fn duration(&self, pointer: &str, default: Option<u64>) -> Result<Option<u64>, SimError> {
        match self.value.pointer(pointer) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::String(s)) if s == "Never" => Ok(None),
            Some(Value::String(s)) => duration::parse(s)
                .map(|d| Some(duration::whole_seconds(d)))
                .map_err(|e| {
                    self.err(
                        pointer,
                        format!("`{pointer}` is not a duration or `Never`: {e}"),
                    )
                }),
            Some(v) => Err(self.err(
                pointer,
                format!("`{pointer}` must be a duration such as `5m`, or `Never`; found {v}"),
            )),
        }
    }
}

/// Reads one NodePool; `types` are the catalog's types of the stack's cloud.
fn read_one(src: &Source<'_>, types: &[&InstanceType]) -> Result<NodePool, SimError> {
    let v = src.value;
    let name = src.str_at("/metadata/name").unwrap_or("").to_string();
    let policy = match src.str_at("/spec/disruption/consolidationPolicy") {
        None => ConsolidationPolicy::WhenEmptyOrUnderutilized,
        Some("WhenEmpty") => ConsolidationPolicy::WhenEmpty,
        Some("WhenEmptyOrUnderutilized") => ConsolidationPolicy::WhenEmptyOrUnderutilized,
        Some(other) => {
            return Err(src.err(
                "/spec/disruption/consolidationPolicy",
                format!(
                    "consolidationPolicy `{other}` is neither WhenEmpty nor WhenEmptyOrUnderutilized"
                ),
            ));
        }
    };
    let mut budgets = Vec::new();
    let list = v
        .pointer("/spec/disruption/budgets")
        .and_then(Value::as_array);
    for (i, b) in list.into_iter().flatten().enumerate() {
        let ptr = format!("/spec/disruption/budgets/{i}/nodes");
        let text = b.get("nodes").and_then(Value::as_str).unwrap_or("");
        let nodes = match text.strip_suffix('%') {
            Some(p) => p.trim().parse().ok().map(BudgetNodes::Percent),
            None => text.trim().parse().ok().map(BudgetNodes::Count),
        };
        let Some(nodes) = nodes else {
            return Err(src.err(
                &ptr,
                format!("budget nodes `{text}` is neither a count (`3`) nor a percentage (`10%`)"),
            ));
        };
        let mut reasons = Vec::new();
        for r in b
            .get("reasons")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            reasons.push(match r.as_str() {
                Some("Empty") => Reason::Empty,
                Some("Underutilized") => Reason::Underutilized,
                Some("Drifted") => Reason::Drifted,
                _ => {
                    return Err(src.err(
                        &format!("/spec/disruption/budgets/{i}/reasons"),
                        format!("budget reason {r} is not Empty, Underutilized or Drifted"),
                    ));
                }
            });
        }
        budgets.push(Budget {
            nodes,
            reasons,
            scheduled: b.get("schedule").is_some(),
        });
    }
    if list.is_none() {
        budgets.push(Budget {
            nodes: BudgetNodes::Percent(10),
            reasons: Vec::new(),
            scheduled: false,
        });
    }
    let (cpu_limit_m, memory_limit_b) = karpenter::limits(v);
    let requirements = karpenter::pool_requirements(v);
    let mut offered: Vec<&InstanceType> = types
        .iter()
        .copied()
        .filter(|t| offers(&requirements, t))
        .collect();
    offered.sort_by(|a, b| {
        a.usd_per_hour
            .total_cmp(&b.usd_per_hour)
            .then(a.name.cmp(&b.name))
    });
    Ok(NodePool {
        name,
        weight: v
            .pointer("/spec/weight")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        cpu_limit_m,
        memory_limit_b,
        consolidation_policy: policy,
        consolidate_after_s: src.duration("/spec/disruption/consolidateAfter", Some(0))?,
        budgets,
        expire_after_s: src.duration(
            "/spec/template/spec/expireAfter",
            Some(DEFAULT_EXPIRE_AFTER_S),
        )?,
        instance_types: offered.iter().map(|t| t.name.clone()).collect(),
        requirements,
    })
}

/// The NodePools of `stack`, then those in `extra` (NodePools the cluster has besides the
/// stack's, as `berth cluster config` writes them); when there are none, the pool Karpenter
/// would be given by default: Auto Mode's built-in `general-purpose` under `auto-mode`, else
/// one pool named `default` that admits every type of the stack's cloud, with Karpenter's
/// defaults (a note says so). Highest weight first.
pub fn read(
    stack: &Stack,
    extra: &[Value],
    mode: NodeMode,
    catalog: &Catalog,
    notes: &mut Vec<String>,
) -> Result<Vec<NodePool>, SimError> {
    let cloud = cloud_of(stack.profile);
    let types: Vec<&InstanceType> = catalog.types().filter(|t| t.cloud == cloud).collect();
    let mut pools = Vec::new();
    for obj in stack
        .objects
        .iter()
        .filter(|o| karpenter::is_nodepool(&o.value))
    {
        pools.push(read_one(
            &Source {
                value: &obj.value,
                obj: Some(obj),
            },
            &types,
        )?);
    }
    for value in extra.iter().filter(|v| karpenter::is_nodepool(v)) {
        pools.push(read_one(&Source { value, obj: None }, &types)?);
    }
    if pools.is_empty() {
        let value = if mode == NodeMode::AutoMode {
            let reqs: Vec<Value> = karpenter::builtin_general_purpose()
                .iter()
                .map(|r| {
                    let op = format!("{:?}", r.operator);
                    json!({"key": r.key, "operator": op, "values": r.values})
                })
                .collect();
            notes.push("the stack has no NodePool: Auto Mode's built-in `general-purpose` pool is simulated (C/M/R, generation 5 or later, on-demand, expireAfter 336h)".into());
            json!({"metadata": {"name": "general-purpose"}, "spec": {"template": {"spec": {
                "requirements": reqs, "expireAfter": "336h"}}}})
        } else {
            notes.push("the stack has no NodePool: one pool `default` with Karpenter's defaults is simulated (every instance type of berth's table, no limits, WhenEmptyOrUnderutilized after 0s, budget 10%)".into());
            json!({"metadata": {"name": "default"}, "spec": {}})
        };
        pools.push(read_one(
            &Source {
                value: &value,
                obj: None,
            },
            &types,
        )?);
    }
    for p in pools.iter().filter(|p| p.instance_types.is_empty()) {
        notes.push(format!(
            "NodePool `{}`: no instance type of berth's table meets its requirements, so it launches nothing (add types with --prices)",
            p.name
        ));
    }
    pools.sort_by(|a, b| b.weight.cmp(&a.weight).then(a.name.cmp(&b.name)));
    Ok(pools)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use berth_model::{Origin, SourceFile};

    fn stack(objects: Vec<Value>) -> Stack {
        let objects = objects
            .into_iter()
            .map(|value| Object {
                value,
                file: Arc::new(SourceFile::new("pools.yaml", "")),
                doc: 0,
                component: "c".into(),
                origin: Origin::Manifest,
                positions: Default::default(),
            })
            .collect();
        Stack {
            name: "s".into(),
            root: ".".into(),
            namespace: "s".into(),
            kubernetes: "1.33".into(),
            profile: Profile::Eks,
            components: vec![],
            objects,
            external: vec![],
            cluster: None,
            values: Default::default(),
        }
    }

    fn pools(objects: Vec<Value>) -> Result<Vec<NodePool>, SimError> {
        read(
            &stack(objects),
            &[],
            NodeMode::Karpenter,
            &Catalog::default(),
            &mut Vec::new(),
        )
    }

    #[test]
    fn reads_the_disruption_block_and_fills_karpenters_defaults() {
        let p = pools(vec![json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "queue"},
            "spec": {"weight": 5, "limits": {"cpu": "16"},
                "template": {"spec": {"expireAfter": "Never", "requirements": [
                    {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["m"]},
                    {"key": "karpenter.k8s.aws/instance-cpu", "operator": "Gt", "values": ["3"]}]}},
                "disruption": {"consolidationPolicy": "WhenEmpty", "consolidateAfter": "10m",
                    "budgets": [{"nodes": "1"}, {"nodes": "0", "reasons": ["Underutilized"], "schedule": "0 9 * * *", "duration": "8h"}]}}})])
        .unwrap();
        let q = &p[0];
        assert_eq!(q.consolidation_policy, ConsolidationPolicy::WhenEmpty);
        assert_eq!(q.consolidate_after_s, Some(600));
        assert_eq!(q.expire_after_s, None);
        assert_eq!(q.cpu_limit_m, Some(16_000));
        assert_eq!(q.budgets[0].nodes, BudgetNodes::Count(1));
        assert_eq!(q.budgets[1].reasons, [Reason::Underutilized]);
        assert!(q.budgets[1].scheduled);
        assert_eq!(
            q.instance_types[0], "m5.xlarge",
            "cheapest m type above 3 vCPU"
        );
        assert!(q.instance_types.iter().all(|t| t.starts_with('m')));
        assert!(!q.instance_types.contains(&"m5.large".to_string()));

        let d = pools(vec![
            json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "d"}, "spec": {}}),
        ])
        .unwrap();
        let d = &d[0];
        assert_eq!(
            d.consolidation_policy,
            ConsolidationPolicy::WhenEmptyOrUnderutilized
        );
        assert_eq!(d.consolidate_after_s, Some(0));
        assert_eq!(d.expire_after_s, Some(DEFAULT_EXPIRE_AFTER_S));
        assert_eq!(d.budgets[0].nodes, BudgetNodes::Percent(10));
        assert!(
            d.instance_types.iter().all(|t| !t.starts_with("e2")),
            "only the stack's cloud"
        );
    }

    #[test]
    fn malformed_values_are_errors_and_no_pool_gets_the_default() {
        let e = pools(vec![
            json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "x"}, "spec": {"disruption": {"budgets": [{"nodes": "ten"}]}}}),
        ])
        .unwrap_err();
        assert!(e.to_string().starts_with("pools.yaml:"), "{e}");
        assert!(e.to_string().contains("`ten`"), "{e}");
        let e = pools(vec![
            json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "x"}, "spec": {"disruption": {"consolidateAfter": "soon"}}}),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("consolidateAfter"), "{e}");
        let mut notes = Vec::new();
        let p = read(
            &stack(vec![]),
            &[],
            NodeMode::AutoMode,
            &Catalog::default(),
            &mut notes,
        )
        .unwrap();
        assert_eq!(p[0].name, "general-purpose");
        assert!(
            p[0].instance_types.iter().all(|t| !t.starts_with('t')),
            "C/M/R only"
        );
        assert_eq!(p[0].expire_after_s, Some(336 * 3600));
        assert!(notes[0].contains("built-in"));
    }

    #[test]
    fn requirements_on_instance_attributes_narrow_the_types_others_do_not() {
        let t = Catalog::default().get("c5.xlarge").cloned().unwrap();
        let r = |key: &str, operator, values: &[&str]| Requirement {
            key: key.into(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        };
        assert!(offers(
            &[r(
                "karpenter.k8s.aws/instance-generation",
                Operator::Gt,
                &["4"]
            )],
            &t
        ));
        assert!(!offers(
            &[r(
                "karpenter.k8s.aws/instance-generation",
                Operator::Gt,
                &["5"]
            )],
            &t
        ));
        assert!(!offers(
            &[r(
                "karpenter.k8s.aws/instance-memory",
                Operator::Lt,
                &["8192"]
            )],
            &t
        ));
        assert!(!offers(
            &[r("karpenter.sh/capacity-type", Operator::In, &["spot"])],
            &t
        ));
        assert!(offers(
            &[r(
                "node.kubernetes.io/instance-type",
                Operator::NotIn,
                &["m5.large"]
            )],
            &t
        ));
        // Where the node is, and labels the pool only sets, do not narrow the types.
        assert!(offers(
            &[r(karpenter::ZONE_LABEL, Operator::In, &["us-east-1a"])],
            &t
        ));
        assert!(offers(
            &[r("berth.dev/node-pool", Operator::In, &["queue"])],
            &t
        ));
    }
}
