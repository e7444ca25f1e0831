//! What an object uses by name: Secrets, ConfigMaps, PVCs, ServiceAccounts, StorageClasses,
//! Services, PersistentVolumes and roles. `ref-missing` and `namespace-mismatch` read these;
//! the wave planner can use the same list to order objects after what they reference.

use serde_json::Value;

use crate::context::Context;

/// One reference from an object to another by kind and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ref {
    /// Kind of the referenced object (`Secret`).
    pub kind: &'static str,
    /// Namespace it is looked up in (`""` for cluster-scoped kinds).
    pub namespace: String,
    pub name: String,
    /// Where the name is written in the referencing object.
    pub pointer: String,
    /// `optional: true`: the reference may be absent.
    pub optional: bool,
}

/// Every reference object `i` makes.
pub fn references(ctx: &Context<'_>, i: usize) -> Vec<Ref> {
    let o = ctx.object(i);
    let ns = ctx.namespace_of(i);
    let mut refs = Refs {
        ns,
        list: Vec::new(),
    };
    if let Some(t) = ctx.template_of(i) {
        pod_refs(&mut refs, t.pointer, t.value);
    }
    let v = &o.value;
    match o.kind() {
        "PersistentVolumeClaim" => {
            refs.class(v, "/spec/storageClassName");
            refs.cluster("PersistentVolume", v, "/spec/volumeName");
        }
        "StatefulSet" => {
            if let Some(list) = v
                .pointer("/spec/volumeClaimTemplates")
                .and_then(Value::as_array)
            {
                for (n, _) in list.iter().enumerate() {
                    refs.class(
                        v,
                        &format!("/spec/volumeClaimTemplates/{n}/spec/storageClassName"),
                    );
                }
            }
        }
        "Ingress" => {
            let mut backends = Vec::new();
            collect_backends(v, String::new(), &mut backends);
            for p in backends {
                refs.named("Service", v, &p);
            }
            if let Some(tls) = v.pointer("/spec/tls").and_then(Value::as_array) {
                for (n, _) in tls.iter().enumerate() {
                    refs.named("Secret", v, &format!("/spec/tls/{n}/secretName"));
                }
            }
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            if let Some(subjects) = v
                .pointer("/spec/subjects")
                .or_else(|| v.get("subjects"))
                .and_then(Value::as_array)
            {
                for (n, s) in subjects.iter().enumerate() {
                    if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount") {
                        let sns = s.get("namespace").and_then(Value::as_str).unwrap_or(ns);
                        if let Some(name) = s.get("name").and_then(Value::as_str) {
                            refs.list.push(Ref {
                                kind: "ServiceAccount",
                                namespace: sns.to_string(),
                                name: name.to_string(),
                                pointer: format!("/subjects/{n}/name"),
                                optional: false,
                            });
                        }
                    }
                }
            }
            let kind = crate::k8s::str_at(v, "/roleRef/kind");
            if let Some(name) = crate::k8s::str_at(v, "/roleRef/name") {
                match kind {
                    Some("ClusterRole") if !is_builtin_cluster_role(name) => refs.list.push(Ref {
                        kind: "ClusterRole",
                        namespace: String::new(),
                        name: name.into(),
                        pointer: "/roleRef/name".into(),
                        optional: false,
                    }),
                    Some("Role") => refs.list.push(Ref {
                        kind: "Role",
                        namespace: ns.to_string(),
                        name: name.into(),
                        pointer: "/roleRef/name".into(),
                        optional: false,
                    }),
                    _ => {}
                }
            }
        }
        _ => {}
    }
    refs.list
}

/// ClusterRoles every cluster has.
fn is_builtin_cluster_role(name: &str) -> bool {
    matches!(name, "cluster-admin" | "admin" | "edit" | "view") || name.starts_with("system:")
}

/// Names the API server or the cluster provides in every namespace.
pub fn is_always_present(kind: &str, name: &str) -> bool {
    matches!(
        (kind, name),
        ("ServiceAccount", "default") | ("ConfigMap", "kube-root-ca.crt")
    )
}

struct Refs<'a> {
    ns: &'a str,
    list: Vec<Ref>,
}

impl Refs<'_> {
    fn push(
        &mut self,
        kind: &'static str,
        cluster: bool,
        v: &Value,
        pointer: &str,
        optional: bool,
    ) {
        if let Some(name) = v
            .pointer(pointer)
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            self.list.push(Ref {
                kind,
                namespace: if cluster {
                    String::new()
                } else {
                    self.ns.to_string()
                },
                name: name.to_string(),
                pointer: pointer.to_string(),
                optional,
            });
        }
    }

    fn named(&mut self, kind: &'static str, v: &Value, pointer: &str) {
        self.push(kind, false, v, pointer, false);
    }

    fn cluster(&mut self, kind: &'static str, v: &Value, pointer: &str) {
        self.push(kind, true, v, pointer, false);
    }

    fn class(&mut self, v: &Value, pointer: &str) {
        self.push("StorageClass", true, v, pointer, false);
    }
}

fn optional(v: Option<&Value>) -> bool {
    v.and_then(|v| v.get("optional")).and_then(Value::as_bool) == Some(true)
}

fn pod_refs(refs: &mut Refs<'_>, base: &str, template: &Value) {
    let Some(spec) = template.get("spec") else {
        return;
    };
    let root = template;
    let tp = |rest: &str| format!("/spec{rest}");
    let mut push = |kind: &'static str, ptr_in_template: String, opt: bool| {
        if let Some(name) = root
            .pointer(&ptr_in_template)
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
        {
            refs.list.push(Ref {
                kind,
                namespace: refs.ns.to_string(),
                name: name.to_string(),
                pointer: format!("{base}{ptr_in_template}"),
                optional: opt,
            });
        }
    };
    push("ServiceAccount", tp("/serviceAccountName"), false);
    if spec.get("serviceAccountName").is_none() {
        push("ServiceAccount", tp("/serviceAccount"), false);
    }
    if let Some(list) = spec.get("imagePullSecrets").and_then(Value::as_array) {
        for n in 0..list.len() {
            push("Secret", tp(&format!("/imagePullSecrets/{n}/name")), false);
        }
    }
    if let Some(vols) = spec.get("volumes").and_then(Value::as_array) {
        for (n, vol) in vols.iter().enumerate() {
            let p = format!("/volumes/{n}");
            push(
                "Secret",
                tp(&format!("{p}/secret/secretName")),
                optional(vol.get("secret")),
            );
            push(
                "ConfigMap",
                tp(&format!("{p}/configMap/name")),
                optional(vol.get("configMap")),
            );
            push(
                "PersistentVolumeClaim",
                tp(&format!("{p}/persistentVolumeClaim/claimName")),
                false,
            );
            if let Some(sources) = vol.pointer("/projected/sources").and_then(Value::as_array) {
                for (s, src) in sources.iter().enumerate() {
                    let sp = format!("{p}/projected/sources/{s}");
                    push(
                        "Secret",
                        tp(&format!("{sp}/secret/name")),
                        optional(src.get("secret")),
                    );
                    push(
                        "ConfigMap",
                        tp(&format!("{sp}/configMap/name")),
                        optional(src.get("configMap")),
                    );
                }
            }
        }
    }
    for field in ["containers", "initContainers"] {
        let Some(list) = spec.get(field).and_then(Value::as_array) else {
            continue;
        };
        for (c, container) in list.iter().enumerate() {
            let cp = format!("/{field}/{c}");
            if let Some(env) = container.get("env").and_then(Value::as_array) {
                for (e, var) in env.iter().enumerate() {
                    let ep = format!("{cp}/env/{e}/valueFrom");
                    let sk = var.pointer("/valueFrom/secretKeyRef");
                    let ck = var.pointer("/valueFrom/configMapKeyRef");
                    push(
                        "Secret",
                        tp(&format!("{ep}/secretKeyRef/name")),
                        optional(sk),
                    );
                    push(
                        "ConfigMap",
                        tp(&format!("{ep}/configMapKeyRef/name")),
                        optional(ck),
                    );
                }
            }
            if let Some(env_from) = container.get("envFrom").and_then(Value::as_array) {
                for (e, src) in env_from.iter().enumerate() {
                    let ep = format!("{cp}/envFrom/{e}");
                    push(
                        "Secret",
                        tp(&format!("{ep}/secretRef/name")),
                        optional(src.get("secretRef")),
                    );
                    push(
                        "ConfigMap",
                        tp(&format!("{ep}/configMapRef/name")),
                        optional(src.get("configMapRef")),
                    );
                }
            }
        }
    }
}

/// Pointers of Service names in an Ingress (`networking.k8s.io/v1` and the removed v1beta1).
fn collect_backends(v: &Value, path: String, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = format!("{path}/{}", crate::k8s::escape(k));
                if k == "service" && child.get("name").is_some_and(Value::is_string) {
                    out.push(format!("{p}/name"));
                } else if k == "serviceName" && child.is_string() {
                    out.push(p);
                } else {
                    collect_backends(child, p, out);
                }
            }
        }
        Value::Array(items) => {
            for (n, child) in items.iter().enumerate() {
                collect_backends(child, format!("{path}/{n}"), out);
            }
        }
        _ => {}
    }
}

/// The display form of a reference target, for messages: `Secret/ns/name`.
pub fn describe(r: &Ref) -> String {
    if r.namespace.is_empty() {
        format!("{} `{}`", r.kind, r.name)
    } else {
        format!("{} `{}` in namespace `{}`", r.kind, r.name, r.namespace)
    }
}
