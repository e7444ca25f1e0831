//! Orders a rendered stack into waves.
//!
//! `up` applies one wave at a time and waits until it is healthy before the next, so the order
//! decides whether a Deployment finds its ConfigMap, a custom resource finds its CRD, or a
//! webhook intercepts objects before its pods can answer. This crate builds a dependency graph
//! over the stack's objects and cuts it into waves:
//!
//! - CRDs, Namespaces, cluster roles and classes come first (Flux's staged apply);
//! - an object comes after what it references by name (see [`berth_model::refs`]), its CRD and
//!   its namespace;
//! - the objects of a component come after every object of the components in its `after:`;
//! - admission webhooks come after their Service and the workloads behind it, and before the
//!   objects their rules (and `objectSelector`) intercept;
//! - an object comes after the objects its [`DEPENDS_ON`] annotation names (the annotation of
//!   kpt and cli-utils, which users bring from those tools), where the name is one object of
//!   the stack; a name of nothing in the stack or a malformed one adds no edge;
//! - an object comes after every object of the Argo CD sync waves ([`SYNC_WAVE`]) before its
//!   own, when the stack uses more than one wave (manifests brought from Argo CD).
//!
//! `up` runs the graph itself (see [`Schedule`]): an object is applied as soon as what it
//! depends on is healthy, so a slow database never holds back an independent web tier. The
//! waves are the graph's levels (an object's wave is the length of its longest dependency
//! chain): what `plan` and `render` print so users see what happens first. A cycle is a
//! `dependency-cycle` finding naming its objects. [`Plan::teardown`] gives the order for
//! `down`. Nothing here talks to a cluster.

pub mod kinds;
mod schedule;

pub use schedule::Schedule;

use std::collections::{BTreeSet, HashMap};

use berth_model::labels::{Selector, matches_selector};
use berth_model::refs::references;
use berth_model::{Component, Finding, Object, Severity, pod_spec};
use serde_json::Value;

/// The waves of a stack: indices into the object list given to [`plan`], first wave first.
///
/// Building it costs O(objects + references); objects inside a wave are sorted by Helm's kind
/// order, then namespace and name, so printed plans are stable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub waves: Vec<Vec<usize>>,
    /// The operation graph: the direct dependencies of every node. Nodes `0..objects` are the
    /// objects; the nodes after them are points where a group of objects is done (a
    /// component, for `after:`; the cluster definitions everything else waits for), which
    /// take no operation of their own and keep `after:` at one edge per object.
    graph: Vec<Vec<usize>>,
    objects: usize,
}

impl Plan {
    /// Every object in apply order (wave by wave): the order `berth render` prints.
    pub fn order(&self) -> impl Iterator<Item = usize> + '_ {
        self.waves.iter().flatten().copied()
    }

    /// The plan of the same objects with `n` new objects put before them (indices `0..n`) in
    /// a wave of their own, first: what `up` does with the namespaces nobody creates, without
    /// planning again.
    pub fn prepend_wave(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        for i in self.waves.iter_mut().flatten() {
            *i += n;
        }
        for d in self.graph.iter_mut().flatten() {
            *d += n;
        }
        self.waves.insert(0, (0..n).collect());
        // One new point where the new objects are done; every old object waits for it.
        let done = self.graph.len() + n;
        for deps in self.graph.iter_mut().take(self.objects) {
            deps.push(done);
        }
        let mut graph = vec![Vec::new(); n];
        graph.append(&mut self.graph);
        graph.push((0..n).collect());
        self.graph = graph;
        self.objects += n;
    }

    /// The objects that object `i` directly waits for (not through a component's `after:`).
    pub fn dependencies(&self, i: usize) -> Vec<usize> {
        self.graph
            .get(i)
            .into_iter()
            .flatten()
            .copied()
            .filter(|&d| d < self.objects)
            .collect()
    }

    /// How many objects the plan orders.
    pub fn len(&self) -> usize {
        self.objects
    }

    /// Whether the plan orders no object.
    pub fn is_empty(&self) -> bool {
        self.objects == 0
    }

    /// The order for `down`: load balancers first (LoadBalancer Services and Ingresses, so the
    /// cloud releases them while their backends still exist), then the waves in reverse, so
    /// custom resources go before their CRDs and workloads before what they use.
    pub fn teardown(&self, objects: &[Object]) -> Vec<Vec<usize>> {
        let is_lb = |i: usize| {
            let v = &objects[i].value;
            let kind = objects[i].kind();
            kind == "Ingress"
                || (kind == "Service"
                    && v.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer"))
        };
        let mut out = Vec::new();
        let lbs: Vec<usize> = self.order().filter(|&i| is_lb(i)).collect();
        if !lbs.is_empty() {
            out.push(lbs);
        }
        for wave in self.waves.iter().rev() {
            let rest: Vec<usize> = wave.iter().copied().filter(|&i| !is_lb(i)).collect();
            if !rest.is_empty() {
                out.push(rest);
            }
        }
        out
    }
}

/// A node of the graph: an object, or a point where a group of objects is done (a component,
/// so `after:` costs one edge per object rather than one per pair; the cluster definitions;
/// an Argo CD sync wave), numbered from 0 after the objects.
#[derive(Clone, Copy, Debug)]
enum Node {
    Object(usize),
    Point(usize),
}

struct Graph {
    /// `deps[node]` = (dependency, weight): weight 1 puts the node in a later wave than the
    /// dependency, weight 0 (component barrier) in the same or a later one.
    deps: Vec<BTreeSet<(usize, u8)>>,
}

impl Graph {
    fn edge(&mut self, from: usize, to: usize, weight: u8) {
        if from != to {
            self.deps[from].insert((to, weight));
        }
    }
}

type Index<'a> = HashMap<(&'a str, Option<&'a str>, &'a str), Vec<usize>>;

/// Builds the waves for `objects`, ordering components by `components[..].after`.
///
/// Returns a `dependency-cycle` error finding (at the first object of the cycle, naming all
/// of them) when the references form a cycle.
pub fn plan(objects: &[Object], components: &[Component]) -> Result<Plan, Box<Finding>> {
    let n = objects.len();
    let comp_ids: HashMap<&str, usize> = components
        .iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i))
        .collect();
    let mut g = Graph {
        deps: vec![BTreeSet::new(); n + components.len()],
    };

    let mut index: Index = HashMap::new();
    let mut crds: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, o) in objects.iter().enumerate() {
        index
            .entry((o.kind(), o.namespace(), o.name()))
            .or_default()
            .push(i);
        if o.kind() == "CustomResourceDefinition"
            && let (Some(group), Some(kind)) = (
                o.value.pointer("/spec/group").and_then(Value::as_str),
                o.value.pointer("/spec/names/kind").and_then(Value::as_str),
            )
        {
            crds.insert((group, kind), i);
        }
    }

    for (i, o) in objects.iter().enumerate() {
        for r in references(o.kind(), o.namespace(), &o.value) {
            if let Some(targets) =
                index.get(&(r.kind.as_str(), r.namespace.as_deref(), r.name.as_str()))
            {
                for &t in targets {
                    g.edge(i, t, 1);
                }
            }
        }
        if let Some(&crd) = crds.get(&(o.group(), o.kind())) {
            g.edge(i, crd, 1);
        }
        if let Some(ns) = o.namespace()
            && let Some(targets) = index.get(&("Namespace", None, ns))
        {
            for &t in targets {
                g.edge(i, t, 1);
            }
        }
        if let Some(&c) = comp_ids.get(o.component.as_str()) {
            // The component's barrier waits for each of its objects.
            g.edge(n + c, i, 0);
            for after in &components[c].after {
                if let Some(&b) = comp_ids.get(after.as_str()) {
                    g.edge(i, n + b, 1);
                }
            }
        }
    }
    // What each point is, for a cycle's message.
    let mut points: Vec<String> = components
        .iter()
        .map(|c| format!("component `{}`", c.name))
        .collect();
    webhook_edges(objects, &index, &mut g);
    for (i, o) in objects.iter().enumerate() {
        for d in depends_on(o) {
            for &t in index
                .get(&(d.kind, d.namespace, d.name))
                .into_iter()
                .flatten()
            {
                if t != i && objects[t].group() == d.group {
                    g.edge(i, t, 1);
                }
            }
        }
    }

    sync_wave_edges(objects, &mut g, &mut points);

    let floor_needed = objects
        .iter()
        .any(|o| kinds::is_cluster_definition(o.kind()));
    // The floor in the graph: one more node, done when every cluster definition that waits
    // for nothing is healthy, and every other object waits for it (Flux's staged apply).
    // Definitions that wait for something (a CRD's conversion webhook Service) are ordered by
    // their edges, as in the waves.
    let definitions = g.deps.len();
    if floor_needed {
        let roots: Vec<usize> = (0..n)
            .filter(|&i| kinds::is_cluster_definition(objects[i].kind()) && g.deps[i].is_empty())
            .collect();
        g.deps.push(roots.into_iter().map(|d| (d, 0)).collect());
        points.push("the cluster-wide definitions".into());
        for (i, o) in objects.iter().enumerate() {
            if !kinds::is_cluster_definition(o.kind()) {
                g.edge(i, definitions, 1);
            }
        }
    }
    let floor = |node: usize| -> usize {
        match node_of(node, n) {
            Node::Object(i) if floor_needed && !kinds::is_cluster_definition(objects[i].kind()) => {
                1
            }
            _ => 0,
        }
    };
    let levels = levels(&g, floor).map_err(|cycle| cycle_finding(objects, &points, n, &cycle))?;

    let max = levels.iter().take(n).copied().max().unwrap_or(0);
    let mut waves: Vec<Vec<usize>> = vec![Vec::new(); max + 1];
    for (i, &l) in levels.iter().take(n).enumerate() {
        waves[l].push(i);
    }
    waves.retain(|w| !w.is_empty());
    for w in &mut waves {
        w.sort_by(|&a, &b| {
            let (oa, ob) = (&objects[a], &objects[b]);
            (
                kinds::display_rank(oa.kind()),
                oa.kind(),
                oa.namespace(),
                oa.name(),
                a,
            )
                .cmp(&(
                    kinds::display_rank(ob.kind()),
                    ob.kind(),
                    ob.namespace(),
                    ob.name(),
                    b,
                ))
        });
    }
    let graph = g
        .deps
        .iter()
        .map(|deps| deps.iter().map(|(d, _)| *d).collect())
        .collect();
    Ok(Plan {
        waves,
        graph,
        objects: n,
    })
}

/// The annotation kpt and cli-utils order objects by: a comma-separated list of
/// `GROUP/namespaces/NAMESPACE/KIND/NAME` (namespaced) or `GROUP/KIND/NAME` (cluster-scoped)
/// names, the core group written empty (`/namespaces/shop/ConfigMap/settings`).
pub const DEPENDS_ON: &str = "config.kubernetes.io/depends-on";

/// One object named by [`DEPENDS_ON`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency<'v> {
    pub group: &'v str,
    pub kind: &'v str,
    pub namespace: Option<&'v str>,
    pub name: &'v str,
}

/// The objects `object`'s [`DEPENDS_ON`] annotation names; malformed entries are left out.
pub fn depends_on(object: &Object) -> Vec<Dependency<'_>> {
    let Some(list) = object
        .value
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(DEPENDS_ON))
        .and_then(Value::as_str)
    else {
        return Vec::new();
    };
    list.split(',')
        .filter_map(|item| {
            let parts: Vec<&str> = item.trim().split('/').collect();
            let d = match parts.as_slice() {
                [group, "namespaces", ns, kind, name] => Dependency {
                    group,
                    kind,
                    namespace: Some(ns),
                    name,
                },
                [group, kind, name] => Dependency {
                    group,
                    kind,
                    namespace: None,
                    name,
                },
                _ => return None,
            };
            let named = |s: &str| !s.is_empty();
            (named(d.kind) && named(d.name) && d.namespace.is_none_or(named)).then_some(d)
        })
        .collect()
}

fn node_of(node: usize, n: usize) -> Node {
    if node < n {
        Node::Object(node)
    } else {
        Node::Point(node - n)
    }
}

/// The annotation Argo CD orders a sync by: objects of a wave are applied once every object
/// of the waves before it is healthy; no annotation is wave 0, and waves may be negative.
pub const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";

/// An object's Argo CD sync wave: its [`SYNC_WAVE`] annotation, 0 without one or when it is
/// not a whole number.
pub fn sync_wave(object: &Object) -> i64 {
    object
        .value
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(SYNC_WAVE))
        .and_then(Value::as_str)
        .and_then(|w| w.trim().parse().ok())
        .unwrap_or(0)
}

/// Argo CD's sync waves, for manifests users bring from Argo CD: when objects are in more than
/// one wave, one point per wave is done when all its objects are, and each object of the next
/// wave waits for that point (one edge per object, whatever the number of waves).
fn sync_wave_edges(objects: &[Object], g: &mut Graph, points: &mut Vec<String>) {
    let mut waves: std::collections::BTreeMap<i64, Vec<usize>> = Default::default();
    for (i, o) in objects.iter().enumerate() {
        waves.entry(sync_wave(o)).or_default().push(i);
    }
    if waves.len() < 2 {
        return;
    }
    let mut before: Option<usize> = None;
    for (wave, members) in waves {
        if let Some(point) = before {
            for &i in &members {
                g.edge(i, point, 1);
            }
        }
        let point = g.deps.len();
        g.deps.push(members.iter().map(|&i| (i, 0)).collect());
        points.push(format!("{SYNC_WAVE} {wave}"));
        before = Some(point);
    }
}

/// Longest-path levels in dependency order (Kahn's algorithm), or the nodes of one cycle.
fn levels(g: &Graph, floor: impl Fn(usize) -> usize) -> Result<Vec<usize>, Vec<usize>> {
    let total = g.deps.len();
    let mut dependents: Vec<Vec<(usize, u8)>> = vec![Vec::new(); total];
    let mut waiting: Vec<usize> = vec![0; total];
    for (node, deps) in g.deps.iter().enumerate() {
        waiting[node] = deps.len();
        for &(d, w) in deps {
            dependents[d].push((node, w));
        }
    }
    let mut level: Vec<usize> = (0..total).map(&floor).collect();
    let mut ready: Vec<usize> = (0..total).filter(|&i| waiting[i] == 0).collect();
    let mut done = 0;
    while let Some(node) = ready.pop() {
        done += 1;
        for &(dep, w) in &dependents[node] {
            level[dep] = level[dep].max(level[node] + w as usize);
            waiting[dep] -= 1;
            if waiting[dep] == 0 {
                ready.push(dep);
            }
        }
    }
    if done == total {
        return Ok(level);
    }
    // Every node left waits for at least one other node left: walking such edges must revisit
    // a node, and the walk from that node on is a cycle.
    let Some(start) = (0..total).find(|&i| waiting[i] > 0) else {
        return Err(Vec::new());
    };
    let mut seen: HashMap<usize, usize> = HashMap::new();
    let mut path = Vec::new();
    let mut node = start;
    loop {
        if let Some(&at) = seen.get(&node) {
            return Err(path[at..].to_vec());
        }
        seen.insert(node, path.len());
        path.push(node);
        match g.deps[node].iter().find(|(d, _)| waiting[*d] > 0) {
            Some(&(d, _)) => node = d,
            None => return Err(path),
        }
    }
}

fn cycle_finding(objects: &[Object], points: &[String], n: usize, cycle: &[usize]) -> Box<Finding> {
    let names: Vec<String> = cycle
        .iter()
        .map(|&node| match node_of(node, n) {
            Node::Object(i) => objects[i].display_name(),
            Node::Point(p) => points.get(p).cloned().unwrap_or_default(),
        })
        .collect();
    let first = cycle.iter().find_map(|&node| match node_of(node, n) {
        Node::Object(i) => Some(i),
        Node::Point(_) => None,
    });
    let message = format!(
        "dependency cycle: {} -> {} (each waits until the next is healthy)",
        names.join(" -> "),
        names.first().map(String::as_str).unwrap_or("?")
    );
    let fix = "break the cycle: remove one of these references, one `after:` entry between the components, or one ordering annotation (depends-on, sync-wave)";
    Box::new(match first {
        Some(i) => Finding::at(
            "dependency-cycle",
            Severity::Error,
            &objects[i],
            "/metadata/name",
            message,
            fix,
        ),
        None => Finding {
            rule: "dependency-cycle".into(),
            severity: Severity::Error,
            file: "berth.yaml".into(),
            line: 1,
            column: 1,
            message,
            fix: fix.into(),
            span: None,
            source: None,
        },
    })
}

/// Webhooks wait for their Service's backing workloads, and intercepted objects wait for the
/// webhook (except those the webhook itself needs, which would be a cycle).
fn webhook_edges(objects: &[Object], index: &Index, g: &mut Graph) {
    let n = objects.len();
    for (w, o) in objects
        .iter()
        .enumerate()
        .filter(|(_, o)| kinds::is_webhook(o.kind()))
    {
        for r in references(o.kind(), o.namespace(), &o.value) {
            let Some(svcs) = index.get(&("Service", r.namespace.as_deref(), r.name.as_str()))
            else {
                continue;
            };
            for &s in svcs {
                let Some(selector) = Selector::of("Service", &objects[s].value) else {
                    continue;
                };
                for (b, backend) in objects.iter().enumerate() {
                    if backend.namespace() != objects[s].namespace() {
                        continue;
                    }
                    let Some((_, template)) =
                        pod_spec::pod_template(backend.kind(), &backend.value)
                    else {
                        continue;
                    };
                    let labels = template
                        .pointer("/metadata/labels")
                        .and_then(Value::as_object);
                    if selector.matches(labels) {
                        g.edge(w, b, 1);
                    }
                }
            }
        }
        let needed = ancestors(g, w, n);
        for (i, target) in objects.iter().enumerate() {
            if i == w
                || needed.contains(&i)
                || kinds::is_webhook(target.kind())
                || kinds::is_cluster_definition(target.kind())
            {
                continue;
            }
            if intercepts(&o.value, target, &kinds::plural(target.kind())) {
                g.edge(i, w, 1);
            }
        }
    }
}

fn ancestors(g: &Graph, start: usize, n: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(node) = stack.pop() {
        for &(d, _) in &g.deps[node] {
            if seen.insert(d) {
                stack.push(d);
            }
        }
    }
    seen.retain(|&d| d < n);
    seen
}

/// True when a webhook of the configuration `webhook` intercepts `target` (whose resource is
/// `plural`): a rule names its group and resource, and its `objectSelector` (a label selector;
/// none selects everything) matches the target's labels.
fn intercepts(webhook: &Value, target: &Object, plural: &str) -> bool {
    let group = target.group();
    let labels = target
        .value
        .pointer("/metadata/labels")
        .and_then(Value::as_object);
    let list = |v: &Value, key: &str| -> Vec<String> {
        v.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    webhook
        .get("webhooks")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|wh| {
            wh.get("objectSelector")
                .is_none_or(|sel| matches_selector(sel, labels))
        })
        .any(|wh| {
            wh.get("rules")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|rule| {
                    let groups = list(rule, "apiGroups");
                    let resources = list(rule, "resources");
                    groups.iter().any(|g| g == "*" || g == group)
                        && resources.iter().any(|r| {
                            r == "*"
                                || r == "*/*"
                                || r == plural
                                || r.strip_suffix("/*") == Some(plural)
                        })
                })
        })
}

#[cfg(test)]
mod tests;
