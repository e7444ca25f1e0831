//! The indexes every rule reads, built once per check from the rendered [`Stack`].
//!
//! Rules never scan the whole object list to find one object: lookups by kind, by
//! kind+namespace+name and by kind+name (for "exists in another namespace") are hash lookups,
//! and pod templates of every workload kind are collected once with their JSON pointers. That
//! keeps a check over 10,000 objects linear.

use berth_model::ValueExt;
use std::collections::HashMap;

use berth_model::refs::Ref;
use berth_model::scope::Scopes;
use berth_model::{Object, Stack, pod_spec};
use serde_json::Value;

use crate::k8s;

/// A pod template inside a workload (or a bare Pod), with where it is.
#[derive(Clone, Copy, Debug)]
pub struct PodTemplate<'s> {
    /// Index of the workload in [`Context::objects`].
    pub object: usize,
    /// JSON pointer of the template (`/spec/template`; `""` for a Pod).
    pub pointer: &'static str,
    /// The template (`metadata` + `spec`).
    pub value: &'s Value,
}

impl<'s> PodTemplate<'s> {
    /// The pod spec.
    pub fn spec(&self) -> Option<&'s Value> {
        berth_model::member(self.value, "spec")
    }

    /// The pod labels.
    pub fn labels(&self) -> Option<&'s serde_json::Map<String, Value>> {
        self.value.at("/metadata/labels").and_then(Value::as_object)
    }

    /// Containers and init containers, each with its JSON pointer in the workload.
    pub fn containers(&self) -> Vec<Container<'s>> {
        let mut out = Vec::new();
        for (field, init) in [("containers", false), ("initContainers", true)] {
            if let Some(list) = self
                .spec()
                .and_then(|s| berth_model::member(s, field))
                .and_then(Value::as_array)
            {
                for (i, c) in list.iter().enumerate() {
                    out.push(Container {
                        template: self.pointer,
                        field,
                        index: i,
                        value: c,
                        init,
                    });
                }
            }
        }
        out
    }

    /// The pod's volumes, each with its JSON pointer.
    pub fn volumes(&self) -> Vec<(String, &'s Value)> {
        self.spec()
            .and_then(|s| berth_model::member(s, "volumes"))
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .enumerate()
                    .map(|(i, v)| (format!("{}/spec/volumes/{i}", self.pointer), v))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A container of a pod template, with where it is in the workload ([`Container::pointer`]).
#[derive(Clone, Debug)]
pub struct Container<'s> {
    /// The template's pointer ([`PodTemplate::pointer`]).
    template: &'static str,
    /// `containers` or `initContainers`.
    field: &'static str,
    index: usize,
    pub value: &'s Value,
    /// An init container (runs to completion; probes do not apply).
    pub init: bool,
}

impl<'s> Container<'s> {
    /// The container's JSON pointer in the workload (`/spec/template/spec/containers/0`).
    /// Written out only when asked: a dozen rules list every container of every workload and
    /// few of them report one (the pointers were 3% of a check's time).
    pub fn pointer(&self) -> String {
        format!("{}/spec/{}/{}", self.template, self.field, self.index)
    }

    /// The container's name.
    pub fn name(&self) -> &'s str {
        berth_model::member(self.value, "name")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// Everything rules look things up in. Built by [`Context::new`] in one pass over the objects.
pub struct Context<'s> {
    pub stack: &'s Stack,
    pub objects: &'s [Object],
    by_kind: HashMap<&'s str, Vec<usize>>,
    /// kind → namespace → name → objects (nested so lookups borrow plain `&str`s).
    by_key: HashMap<&'s str, HashMap<&'s str, HashMap<&'s str, Vec<usize>>>>,
    /// kind → name → objects in any namespace.
    by_kind_name: HashMap<&'s str, HashMap<&'s str, Vec<usize>>>,
    namespaces: Vec<&'s str>,
    /// Pod templates of every workload, in object order.
    pub pod_templates: Vec<PodTemplate<'s>>,
    templates_of: HashMap<usize, usize>,
    /// namespace → label key → label value → pod templates with that label (for selectors).
    by_label: HashMap<&'s str, HashMap<&'s str, HashMap<&'s str, Vec<usize>>>>,
    /// What each object references that `ref-missing` follows, computed on first use
    /// (`ref-missing` and `namespace-mismatch` both read it).
    refs: std::sync::OnceLock<Vec<Vec<Ref>>>,
    /// Secrets something in the stack creates at run time (see [`Context::creates_secret`]).
    runtime_secrets: std::sync::OnceLock<std::collections::HashSet<(String, String)>>,
    /// Which kinds are cluster-scoped, the stack's CRDs included.
    scopes: Scopes,
}

impl<'s> Context<'s> {
    /// Indexes `stack`.
    pub fn new(stack: &'s Stack) -> Context<'s> {
        let objects = stack.objects.as_slice();
        let mut ctx = Context {
            stack,
            objects,
            by_kind: HashMap::new(),
            by_key: HashMap::new(),
            by_kind_name: HashMap::new(),
            namespaces: Vec::with_capacity(objects.len()),
            pod_templates: Vec::new(),
            templates_of: HashMap::new(),
            by_label: HashMap::new(),
            runtime_secrets: std::sync::OnceLock::new(),
            refs: std::sync::OnceLock::new(),
            scopes: Scopes::from_objects(objects),
        };
        for (i, o) in objects.iter().enumerate() {
            // Each of these is a map lookup in the object: read once.
            let (kind, name) = (o.kind(), o.name());
            let ns = ctx.effective_namespace(o);
            ctx.namespaces.push(ns);
            ctx.by_kind.entry(kind).or_default().push(i);
            ctx.by_key
                .entry(kind)
                .or_default()
                .entry(ns)
                .or_default()
                .entry(name)
                .or_default()
                .push(i);
            ctx.by_kind_name
                .entry(kind)
                .or_default()
                .entry(name)
                .or_default()
                .push(i);
            if let Some((ptr, value)) = pod_spec::pod_template(kind, &o.value) {
                let t = ctx.pod_templates.len();
                ctx.templates_of.insert(i, t);
                ctx.pod_templates.push(PodTemplate {
                    object: i,
                    pointer: ptr,
                    value,
                });
                let labels = value.at("/metadata/labels").and_then(Value::as_object);
                for (k, v) in labels.into_iter().flatten() {
                    if let Some(v) = v.as_str() {
                        let by_key = ctx
                            .by_label
                            .entry(ns)
                            .or_default()
                            .entry(k.as_str())
                            .or_default();
                        by_key.entry(v).or_default().push(t);
                    }
                }
            }
        }
        ctx
    }

    /// True when objects of `kind` (in `group`) are cluster-scoped (see
    /// [`berth_model::scope`]).
    pub fn is_cluster_scoped(&self, group: &str, kind: &str) -> bool {
        self.scopes.is_cluster_scoped(group, kind)
    }

    fn effective_namespace(&self, o: &'s Object) -> &'s str {
        if self.is_cluster_scoped(o.group(), o.kind()) {
            ""
        } else {
            o.namespace().unwrap_or(self.stack.namespace.as_str())
        }
    }

    /// The namespace object `i` lands in (`""` for cluster-scoped objects).
    pub fn namespace_of(&self, i: usize) -> &'s str {
        self.namespaces[i]
    }

    /// Indexes of the objects of `kind`, in stack order.
    pub fn of_kind(&self, kind: &str) -> &[usize] {
        self.by_kind.get(kind).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The object `kind`/`name` in `namespace` (`""` for cluster-scoped), if the stack has it.
    pub fn find(&self, kind: &str, namespace: &str, name: &str) -> Option<usize> {
        self.by_key
            .get(kind)?
            .get(namespace)?
            .get(name)
            .and_then(|v| v.first().copied())
    }

    /// Every object `kind`/`name`, in any namespace.
    pub fn find_any_namespace(&self, kind: &str, name: &str) -> &[usize] {
        self.by_kind_name
            .get(kind)
            .and_then(|m| m.get(name))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// True when `external:` lists `kind`/`name` (in `namespace`, or without one).
    pub fn is_external(&self, kind: &str, namespace: &str, name: &str) -> bool {
        self.stack.external.iter().any(|e| {
            e.kind == kind
                && (e.name == name || e.name == "*")
                && e.namespace
                    .as_deref()
                    .is_none_or(|ns| ns == namespace || namespace.is_empty())
        })
    }

    /// True when the stack defines a CRD for `group`/`kind`.
    pub fn has_crd(&self, group: &str, kind: &str) -> bool {
        self.scopes.defines(group, kind)
    }

    /// The pod template of object `i`, when it is a workload.
    pub fn template_of(&self, i: usize) -> Option<&PodTemplate<'s>> {
        self.templates_of.get(&i).map(|&t| &self.pod_templates[t])
    }

    /// The object at index `i`.
    pub fn object(&self, i: usize) -> &'s Object {
        &self.objects[i]
    }

    /// The workload the HorizontalPodAutoscaler `hpa` scales (by kind and name in its
    /// namespace, as the HPA controller resolves it), if the stack has it.
    pub fn hpa_target(&self, hpa: usize) -> Option<usize> {
        let v = &self.objects[hpa].value;
        let kind = k8s::str_at(v, "/spec/scaleTargetRef/kind")?;
        let name = k8s::str_at(v, "/spec/scaleTargetRef/name")?;
        self.find(kind, self.namespace_of(hpa), name)
    }

    /// The references object `i` makes ([`berth_model::refs::references`]) that
    /// `ref-missing` follows (objects, not the keys a volume projects); computed once for all
    /// objects, in parallel (a walk of every object's value, the costliest index there is).
    /// A cluster-scoped target's namespace is `None`, a namespaced one's is where it is
    /// looked up.
    pub fn references(&self, i: usize) -> &[Ref] {
        use rayon::prelude::*;
        let all = self.refs.get_or_init(|| {
            (0..self.objects.len())
                .into_par_iter()
                .map(|j| {
                    let o = &self.objects[j];
                    let ns = Some(self.namespace_of(j)).filter(|ns| !ns.is_empty());
                    berth_model::refs::references(o.kind(), ns, &o.value)
                        .into_iter()
                        .filter(|r| {
                            r.names_object() && crate::rules::ref_missing::follows(o.kind(), r)
                        })
                        .collect()
                })
                .collect()
        });
        &all[i]
    }

    /// True when something in the stack creates Secret `name` in `namespace` once it runs:
    /// cert-manager for an annotated Ingress's TLS secret or a Certificate's `secretName`, or a
    /// container started with `--secret-name=NAME` (webhook certificate generators).
    pub fn creates_secret(&self, namespace: &str, name: &str) -> bool {
        self.runtime_secrets
            .get_or_init(|| self.collect_runtime_secrets())
            .contains(&(namespace.to_string(), name.to_string()))
    }

    fn collect_runtime_secrets(&self) -> std::collections::HashSet<(String, String)> {
        (0..self.objects.len())
            .flat_map(|i| {
                let ns = self.namespace_of(i).to_string();
                berth_model::refs::runtime_secrets(self.objects[i].kind(), &self.objects[i].value)
                    .into_iter()
                    .map(move |n| (ns.clone(), n))
            })
            .collect()
    }

    /// The HPAs that scale object `i`.
    pub fn hpas_of(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.of_kind("HorizontalPodAutoscaler")
            .iter()
            .copied()
            .filter(move |&h| self.hpa_target(h) == Some(i))
    }

    /// Workloads (with pod templates) in `namespace` whose pod labels `selector` matches.
    pub fn templates_matching(
        &self,
        namespace: &str,
        selector: &serde_json::Map<String, Value>,
    ) -> impl Iterator<Item = &PodTemplate<'s>> {
        // Candidates: the templates carrying the selector's first label; then the full match.
        let candidates: &[usize] = selector
            .iter()
            .next()
            .and_then(|(k, v)| {
                self.by_label
                    .get(namespace)?
                    .get(k.as_str())?
                    .get(v.as_str()?)
                    .map(Vec::as_slice)
            })
            .unwrap_or(&[]);
        candidates
            .iter()
            .map(|&t| &self.pod_templates[t])
            .filter(move |t| matches_labels(selector, t.labels()))
    }
}

pub use berth_model::labels::{matches_labels, matches_selector};

#[cfg(test)]
mod tests {
    use crate::rules::testing;

    /// Karpenter's NodePool and EC2NodeClass are cluster-scoped: the stack's namespace is not
    /// theirs, even without their CRDs in the stack.
    #[test]
    fn karpenter_kinds_land_in_no_namespace() {
        let s = testing::stack(
            "
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
---
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: default}
spec: {amiSelectorTerms: [{alias: al2023@latest}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
",
        );
        let ctx = super::Context::new(&s);
        assert_eq!(ctx.namespace_of(0), "");
        assert_eq!(ctx.namespace_of(1), "");
        assert_eq!(ctx.namespace_of(2), "app");
        assert_eq!(ctx.find("NodePool", "", "default"), Some(0));
        assert!(ctx.is_cluster_scoped("karpenter.sh", "NodePool"));
        // By group and kind: another API's NodePool is namespaced.
        assert!(!ctx.is_cluster_scoped("example.com", "NodePool"));
    }
}
