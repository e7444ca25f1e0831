//! What an object uses by name: the Secrets, ConfigMaps, claims, ServiceAccounts and classes
//! of its pods, an Ingress's Services, a binding's roles, the stores, issuers and targets of
//! widely used controllers' custom resources. One list for every step: `berth check` reports
//! the ones nothing provides, the wave planner orders an object after what it names, and the
//! doctor looks them up in the live cluster. Each step decides which references matter to it;
//! what a reference is, and where it is written, is decided here.
//!
//! Only references by name count. Label selectors are not references (see [`crate::labels`]).

use crate::ValueExt;
use serde_json::Value;

use crate::pod_spec;

/// A reference from one object to another by kind and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ref {
    /// Kind of the referenced object (`Secret`).
    pub kind: String,
    /// Namespace it is looked up in; `None` for cluster-scoped kinds (and for namespaced ones
    /// when the referencing object has no namespace and the reference names none).
    pub namespace: Option<String>,
    pub name: String,
    /// The key of a Secret or ConfigMap the reference needs (`secretKeyRef.key`, a volume's
    /// `items[].key`); `None` when the whole object is used.
    pub key: Option<String>,
    /// JSON pointer of the name in the referencing object, for findings; for a key a volume's
    /// `items` project, the pointer of that `key`.
    pub pointer: String,
    /// `optional: true`: the object (or key) may be absent.
    pub optional: bool,
}

impl Ref {
    /// False for the keyed references of a volume's `items`: they name keys of an object the
    /// volume's own reference (just before them) already names. Steps that care about objects,
    /// not keys, skip them so a volume counts once.
    pub fn names_object(&self) -> bool {
        !(self.key.is_some() && self.pointer.ends_with("/key"))
    }

    /// For messages: the kind and the name in backticks, and the namespace of a namespaced
    /// target ("Secret \`db\` in namespace \`shop\`").
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(ns) if !ns.is_empty() => {
                format!("{} `{}` in namespace `{ns}`", self.kind, self.name)
            }
            _ => format!("{} `{}`", self.kind, self.name),
        }
    }
}

/// True for objects every cluster has without anyone creating them: the `default`
/// ServiceAccount and `kube-root-ca.crt` ConfigMap of each namespace, the built-in ClusterRoles
/// and the two built-in PriorityClasses.
pub fn is_builtin(kind: &str, name: &str) -> bool {
    match kind {
        "ServiceAccount" => name == "default",
        "ConfigMap" => name == "kube-root-ca.crt",
        "ClusterRole" => {
            matches!(name, "cluster-admin" | "admin" | "edit" | "view")
                || name.starts_with("system:")
        }
        "PriorityClass" => matches!(name, "system-cluster-critical" | "system-node-critical"),
        _ => false,
    }
}

/// Every reference the object `value` of `kind` makes, in namespace `namespace` (the one it
/// lands in; `None` for cluster-scoped objects).
///
/// Pod references (of Pods and every workload kind, see [`pod_spec`]) come first; then those
/// of the kind itself. The order is stable (`up` hashes the Secrets and ConfigMaps a pod
/// template uses in this order). Costs one pass over the object.
pub fn references(kind: &str, namespace: Option<&str>, value: &Value) -> Vec<Ref> {
    let mut c = Collector::with_pod_refs(kind, namespace, value);
    c.kind_refs(kind);
    c.out
}

/// The references of the pod spec of `value` (empty for kinds without pods): the
/// ServiceAccount, PriorityClass, RuntimeClass, imagePullSecrets, volumes (projected sources
/// and generic ephemeral volumes' StorageClass included), then the env and envFrom of
/// containers, init containers and ephemeral containers.
pub fn pod_spec_references(kind: &str, namespace: Option<&str>, value: &Value) -> Vec<Ref> {
    Collector::with_pod_refs(kind, namespace, value).out
}

/// The Secrets (names, in the object's namespace) that a controller creates once object `v`
/// of `kind` runs, so that nothing else in the stack has to: cert-manager for a Certificate's
/// `secretName` and an annotated Ingress's TLS secrets, External Secrets for an
/// ExternalSecret's target, Sealed Secrets for a SealedSecret, and containers started with
/// `--secret-name` (webhook certificate generators).
pub fn runtime_secrets(kind: &str, v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match kind {
        "Certificate" => out.extend(str_at(v, "/spec/secretName").map(str::to_string)),
        "ExternalSecret" => out.extend(
            str_at(v, "/spec/target/name")
                .or_else(|| str_at(v, "/metadata/name"))
                .map(str::to_string),
        ),
        "SealedSecret" => out.extend(str_at(v, "/metadata/name").map(str::to_string)),
        "Ingress" => {
            let ann = v.at("/metadata/annotations").and_then(Value::as_object);
            let managed = ann.is_some_and(|a| {
                a.contains_key("cert-manager.io/cluster-issuer")
                    || a.contains_key("cert-manager.io/issuer")
                    || a.get("kubernetes.io/tls-acme").and_then(Value::as_str) == Some("true")
            });
            if managed {
                out.extend(
                    items(v, "/spec/tls")
                        .filter_map(|t| str_at(t, "/secretName"))
                        .map(str::to_string),
                );
            }
        }
        _ => {}
    }
    if let Some((_, spec)) = pod_spec::pod_spec(kind, v) {
        for (_, c) in pod_spec::containers(spec) {
            let args: Vec<&str> = ["command", "args"]
                .iter()
                .filter_map(|f| c.get(*f).and_then(Value::as_array))
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            for (n, a) in args.iter().enumerate() {
                if let Some(name) = a.strip_prefix("--secret-name=") {
                    out.push(name.to_string());
                } else if *a == "--secret-name"
                    && let Some(name) = args.get(n + 1)
                {
                    out.push(name.to_string());
                }
            }
        }
    }
    out
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.at(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn items<'a>(v: &'a Value, pointer: &str) -> impl Iterator<Item = &'a Value> {
    v.at(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn is_optional(v: Option<&Value>) -> bool {
    v.and_then(|v| v.member("optional"))
        .and_then(Value::as_bool)
        == Some(true)
}

/// Escapes a key for use in a JSON pointer (`~` → `~0`, `/` → `~1`).
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Collects references, reading names at absolute pointers of `root`.
struct Collector<'a> {
    root: &'a Value,
    ns: Option<&'a str>,
    out: Vec<Ref>,
}

impl<'a> Collector<'a> {
    /// A collector over `value` holding the references of its pod spec, if it has one.
    fn with_pod_refs(kind: &str, namespace: Option<&'a str>, value: &'a Value) -> Collector<'a> {
        let mut c = Collector {
            root: value,
            ns: namespace,
            out: Vec::new(),
        };
        if let Some((base, spec)) = pod_spec::pod_spec(kind, value) {
            c.pod(base, spec);
        }
        c
    }

    /// Adds a reference to the name at `pointer`, when there is one.
    fn add(
        &mut self,
        kind: &str,
        namespace: Option<&str>,
        pointer: String,
        optional: bool,
        key: Option<&str>,
    ) {
        if let Some(name) = str_at(self.root, &pointer) {
            self.out.push(Ref {
                kind: kind.to_string(),
                namespace: namespace.map(str::to_string),
                name: name.to_string(),
                key: key.filter(|k| !k.is_empty()).map(str::to_string),
                pointer,
                optional,
            });
        }
    }

    /// A namespaced object in the referencing object's namespace.
    fn local(&mut self, kind: &str, pointer: String) {
        self.add(kind, self.ns, pointer, false, None);
    }

    /// A cluster-scoped object.
    fn cluster(&mut self, kind: &str, pointer: String) {
        self.add(kind, None, pointer, false, None);
    }

    /// A Secret or ConfigMap (at `pointer`, with its `optional` in `source`), and one keyed
    /// reference per `items[].key` it projects.
    fn projected(&mut self, kind: &str, source: &Value, pointer: String) {
        let optional = is_optional(Some(source));
        let Some(name) = str_at(self.root, &pointer) else {
            return;
        };
        let name = name.to_string();
        self.add(kind, self.ns, pointer.clone(), optional, None);
        let base = pointer.rsplit_once('/').map_or("", |(b, _)| b);
        for (n, item) in items(source, "/items").enumerate() {
            if let Some(key) = str_at(item, "/key") {
                self.out.push(Ref {
                    kind: kind.to_string(),
                    namespace: self.ns.map(str::to_string),
                    name: name.clone(),
                    key: Some(key.to_string()),
                    pointer: format!("{base}/items/{n}/key"),
                    optional,
                });
            }
        }
    }

    fn pod(&mut self, base: &str, spec: &Value) {
        /// Containers before init containers: the order `up`'s configuration checksum was
        /// first computed in, kept so that checksums do not change.
        const REF_ORDER: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];
        let sa = if str_at(spec, "/serviceAccountName").is_some() {
            "serviceAccountName"
        } else {
            "serviceAccount"
        };
        self.local("ServiceAccount", format!("{base}/{sa}"));
        for n in 0..items(spec, "/imagePullSecrets").count() {
            self.local("Secret", format!("{base}/imagePullSecrets/{n}/name"));
        }
        self.cluster("PriorityClass", format!("{base}/priorityClassName"));
        self.cluster("RuntimeClass", format!("{base}/runtimeClassName"));
        for (v, vol) in items(spec, "/volumes").enumerate() {
            let vp = format!("{base}/volumes/{v}");
            if let Some(r) = vol.member("secret") {
                self.projected("Secret", r, format!("{vp}/secret/secretName"));
            }
            if let Some(r) = vol.member("configMap") {
                self.projected("ConfigMap", r, format!("{vp}/configMap/name"));
            }
            for (k, src) in items(vol, "/projected/sources").enumerate() {
                for (field, kind) in [("secret", "Secret"), ("configMap", "ConfigMap")] {
                    if let Some(r) = src.get(field) {
                        let p = format!("{vp}/projected/sources/{k}/{field}/name");
                        self.projected(kind, r, p);
                    }
                }
            }
            self.local(
                "PersistentVolumeClaim",
                format!("{vp}/persistentVolumeClaim/claimName"),
            );
            self.cluster(
                "StorageClass",
                format!("{vp}/ephemeral/volumeClaimTemplate/spec/storageClassName"),
            );
        }
        for (cp, c) in pod_spec::lists(spec, &REF_ORDER) {
            let cp = format!("{base}{cp}");
            for (j, e) in items(c, "/env").enumerate() {
                for (field, kind) in [("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")]
                {
                    let r = e.at(&format!("/valueFrom/{field}"));
                    self.add(
                        kind,
                        self.ns,
                        format!("{cp}/env/{j}/valueFrom/{field}/name"),
                        is_optional(r),
                        r.and_then(|r| str_at(r, "/key")),
                    );
                }
            }
            for (j, e) in items(c, "/envFrom").enumerate() {
                for (field, kind) in [("secretRef", "Secret"), ("configMapRef", "ConfigMap")] {
                    self.add(
                        kind,
                        self.ns,
                        format!("{cp}/envFrom/{j}/{field}/name"),
                        is_optional(e.get(field)),
                        None,
                    );
                }
            }
        }
    }

    /// The references a kind makes besides its pods'.
    fn kind_refs(&mut self, kind: &str) {
        let v = self.root;
        match kind {
            "StatefulSet" => {
                self.local("Service", "/spec/serviceName".into());
                for n in 0..items(v, "/spec/volumeClaimTemplates").count() {
                    self.cluster(
                        "StorageClass",
                        format!("/spec/volumeClaimTemplates/{n}/spec/storageClassName"),
                    );
                }
            }
            "PersistentVolumeClaim" => {
                self.cluster("StorageClass", "/spec/storageClassName".into());
                self.cluster("PersistentVolume", "/spec/volumeName".into());
            }
            // Not claimRef: the claim names the volume, and both directions would be a cycle.
            "PersistentVolume" => self.cluster("StorageClass", "/spec/storageClassName".into()),
            "Ingress" => {
                self.cluster("IngressClass", "/spec/ingressClassName".into());
                let mut backends = Vec::new();
                if let Some(spec) = v.member("spec") {
                    collect_backends(spec, "/spec".into(), &mut backends);
                }
                for p in backends {
                    self.local("Service", p);
                }
                for n in 0..items(v, "/spec/tls").count() {
                    self.local("Secret", format!("/spec/tls/{n}/secretName"));
                }
            }
            "HorizontalPodAutoscaler" => {
                if let Some(k) = str_at(v, "/spec/scaleTargetRef/kind") {
                    self.local(k, "/spec/scaleTargetRef/name".into());
                }
            }
            "RoleBinding" | "ClusterRoleBinding" => {
                for (n, s) in items(v, "/subjects").enumerate() {
                    if str_at(s, "/kind") == Some("ServiceAccount") {
                        let ns = str_at(s, "/namespace").or(self.ns);
                        self.add(
                            "ServiceAccount",
                            ns,
                            format!("/subjects/{n}/name"),
                            false,
                            None,
                        );
                    }
                }
                match str_at(v, "/roleRef/kind") {
                    Some("Role") => self.local("Role", "/roleRef/name".into()),
                    Some("ClusterRole") => self.cluster("ClusterRole", "/roleRef/name".into()),
                    _ => {}
                }
            }
            "Secret" if str_at(v, "/type") == Some("kubernetes.io/service-account-token") => {
                self.local(
                    "ServiceAccount",
                    "/metadata/annotations/kubernetes.io~1service-account.name".into(),
                );
            }
            "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => {
                for (n, w) in items(v, "/webhooks").enumerate() {
                    if let Some(ns) = str_at(w, "/clientConfig/service/namespace") {
                        let p = format!("/webhooks/{n}/clientConfig/service/name");
                        self.add("Service", Some(ns), p, false, None);
                    }
                }
            }
            "APIService" => {
                if let Some(ns) = str_at(v, "/spec/service/namespace") {
                    self.add(
                        "Service",
                        Some(ns),
                        "/spec/service/name".into(),
                        false,
                        None,
                    );
                }
            }
            // Custom resources of widely used controllers that name their dependencies.
            "NodePool" | "NodeClaim" => {
                let at = if kind == "NodePool" {
                    "/spec/template/spec/nodeClassRef"
                } else {
                    "/spec/nodeClassRef"
                };
                if let Some(k) = str_at(v, &format!("{at}/kind")) {
                    self.cluster(k, format!("{at}/name"));
                }
            }
            "ExternalSecret" => {
                let k = str_at(v, "/spec/secretStoreRef/kind").unwrap_or("SecretStore");
                let ns = if k == "SecretStore" { self.ns } else { None };
                self.add(k, ns, "/spec/secretStoreRef/name".into(), false, None);
            }
            "Certificate" => {
                let k = str_at(v, "/spec/issuerRef/kind").unwrap_or("Issuer");
                let ns = if k == "Issuer" { self.ns } else { None };
                self.add(k, ns, "/spec/issuerRef/name".into(), false, None);
            }
            "ScaledObject" => {
                let k = str_at(v, "/spec/scaleTargetRef/kind").unwrap_or("Deployment");
                self.local(k, "/spec/scaleTargetRef/name".into());
            }
            "HelmRelease" | "Kustomization" => {
                let source = if kind == "HelmRelease" {
                    "/spec/chart/spec/sourceRef"
                } else {
                    "/spec/sourceRef"
                };
                if let Some(k) = str_at(v, &format!("{source}/kind")) {
                    let ns = str_at(v, &format!("{source}/namespace")).or(self.ns);
                    self.add(k, ns, format!("{source}/name"), false, None);
                }
            }
            _ => {}
        }
    }
}

/// Pointers of Service names in an Ingress spec (`networking.k8s.io/v1` `service.name` and the
/// removed v1beta1 `serviceName`), default backend and rules alike.
fn collect_backends(v: &Value, path: String, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = format!("{path}/{}", escape(k));
                if k == "service" && child.member("name").is_some_and(Value::is_string) {
                    out.push(format!("{p}/name"));
                } else if k == "serviceName" && child.is_string() {
                    out.push(p);
                } else {
                    collect_backends(child, p, out);
                }
            }
        }
        Value::Array(list) => {
            for (n, child) in list.iter().enumerate() {
                collect_backends(child, format!("{path}/{n}"), out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `Kind/namespace/name` (`-` for no namespace) of each reference, in order.
    fn names(refs: &[Ref]) -> Vec<String> {
        refs.iter()
            .map(|r| {
                let key = r
                    .key
                    .as_deref()
                    .map(|k| format!("#{k}"))
                    .unwrap_or_default();
                let ns = r.namespace.as_deref().unwrap_or("-");
                format!("{}/{ns}/{}{key}", r.kind, r.name)
            })
            .collect()
    }

    fn refs_of(kind: &str, ns: Option<&str>, v: Value) -> Vec<String> {
        names(&references(kind, ns, &v))
    }

    #[test]
    fn a_workload_references_everything_its_pods_use() {
        let d = json!({"spec": {"template": {"spec": {
            "serviceAccountName": "sa",
            "priorityClassName": "critical",
            "runtimeClassName": "gvisor",
            "imagePullSecrets": [{"name": "pull"}],
            "volumes": [{"configMap": {"name": "cm", "items": [{"key": "a", "path": "a"}]}},
                        {"secret": {"secretName": "s", "optional": true}},
                        {"persistentVolumeClaim": {"claimName": "data"}},
                        {"projected": {"sources": [{"secret": {"name": "ps"}}, {"serviceAccountToken": {}}]}},
                        {"ephemeral": {"volumeClaimTemplate": {"spec": {"storageClassName": "fast"}}}}],
            "initContainers": [{"envFrom": [{"secretRef": {"name": "init-env"}}]}],
            "containers": [{"env": [{"name": "X", "value": "1"},
                                    {"valueFrom": {"secretKeyRef": {"name": "envs", "key": "pw"}}}],
                            "envFrom": [{"configMapRef": {"name": "envcm", "optional": true}}]}],
            "ephemeralContainers": [{"env": [{"valueFrom": {"configMapKeyRef": {"name": "dbg", "key": "k"}}}]}]
        }}}});
        let refs = references("Deployment", Some("a"), &d);
        assert_eq!(
            names(&refs),
            [
                "ServiceAccount/a/sa",
                "Secret/a/pull",
                "PriorityClass/-/critical",
                "RuntimeClass/-/gvisor",
                "ConfigMap/a/cm",
                "ConfigMap/a/cm#a",
                "Secret/a/s",
                "PersistentVolumeClaim/a/data",
                "Secret/a/ps",
                "StorageClass/-/fast",
                "Secret/a/envs#pw",
                "ConfigMap/a/envcm",
                "Secret/a/init-env",
                "ConfigMap/a/dbg#k",
            ]
        );
        let at = |name: &str| {
            refs.iter()
                .find(|r| r.name == name)
                .map(|r| r.pointer.as_str())
        };
        assert_eq!(
            at("envs"),
            Some("/spec/template/spec/containers/0/env/1/valueFrom/secretKeyRef/name")
        );
        assert_eq!(
            at("init-env"),
            Some("/spec/template/spec/initContainers/0/envFrom/0/secretRef/name")
        );
        assert_eq!(
            at("dbg"),
            Some("/spec/template/spec/ephemeralContainers/0/env/0/valueFrom/configMapKeyRef/name")
        );
        assert_eq!(
            at("critical"),
            Some("/spec/template/spec/priorityClassName")
        );
        let keyed = refs.iter().find(|r| r.key.as_deref() == Some("a"));
        assert_eq!(
            keyed.map(|r| r.pointer.as_str()),
            Some("/spec/template/spec/volumes/0/configMap/items/0/key")
        );
        assert!(keyed.is_some_and(|r| !r.names_object()));
        assert!(
            refs.iter()
                .filter(|r| r.name != "cm" || r.key.is_none())
                .all(Ref::names_object)
        );
        assert!(
            refs.iter()
                .find(|r| r.name == "s")
                .is_some_and(|r| r.optional)
        );
        assert!(
            refs.iter()
                .find(|r| r.name == "envcm")
                .is_some_and(|r| r.optional)
        );
        assert!(
            !refs
                .iter()
                .find(|r| r.name == "envs")
                .is_some_and(|r| r.optional)
        );
    }

    #[test]
    fn pods_and_cron_jobs_reference_from_their_own_pod_spec() {
        let pod = json!({"spec": {"serviceAccount": "legacy", "priorityClassName": "p"}});
        let refs = references("Pod", Some("a"), &pod);
        assert_eq!(
            names(&refs),
            ["ServiceAccount/a/legacy", "PriorityClass/-/p"]
        );
        assert_eq!(refs[0].pointer, "/spec/serviceAccount");
        let cron = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {"runtimeClassName": "kata"}}}}}});
        let refs = references("CronJob", Some("a"), &cron);
        assert_eq!(
            refs[0].pointer,
            "/spec/jobTemplate/spec/template/spec/runtimeClassName"
        );
        assert!(pod_spec_references("Service", Some("a"), &pod).is_empty());
    }

    #[test]
    fn claims_stateful_sets_and_ingresses() {
        assert_eq!(
            refs_of(
                "PersistentVolumeClaim",
                Some("a"),
                json!({"spec": {"storageClassName": "fast", "volumeName": "pv1"}})
            ),
            ["StorageClass/-/fast", "PersistentVolume/-/pv1"]
        );
        assert_eq!(
            refs_of(
                "StatefulSet",
                Some("a"),
                json!({"spec": {"serviceName": "db", "volumeClaimTemplates": [{"spec": {"storageClassName": "gp3"}}]}})
            ),
            ["Service/a/db", "StorageClass/-/gp3"]
        );
        let ing = json!({"metadata": {"annotations": {"serviceName": "not-a-backend"}},
            "spec": {"ingressClassName": "nginx",
                     "defaultBackend": {"service": {"name": "fallback"}},
                     "rules": [{"http": {"paths": [{"backend": {"service": {"name": "web", "port": {"number": 80}}}},
                                                   {"backend": {"serviceName": "old", "servicePort": 80}}]}}],
                     "tls": [{"secretName": "web-tls"}]}});
        let refs = references("Ingress", Some("a"), &ing);
        assert_eq!(
            names(&refs),
            [
                "IngressClass/-/nginx",
                "Service/a/fallback",
                "Service/a/web",
                "Service/a/old",
                "Secret/a/web-tls"
            ]
        );
        assert_eq!(
            refs[2].pointer,
            "/spec/rules/0/http/paths/0/backend/service/name"
        );
        assert_eq!(
            refs[3].pointer,
            "/spec/rules/0/http/paths/1/backend/serviceName"
        );
    }

    #[test]
    fn bindings_name_roles_and_accounts() {
        let b = json!({"roleRef": {"kind": "ClusterRole", "name": "r"},
                       "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "x"},
                                    {"kind": "ServiceAccount", "name": "here"},
                                    {"kind": "User", "name": "bob"}]});
        assert_eq!(
            refs_of("ClusterRoleBinding", None, b.clone()),
            [
                "ServiceAccount/x/sa",
                "ServiceAccount/-/here",
                "ClusterRole/-/r"
            ]
        );
        let mut rb = b;
        rb["roleRef"]["kind"] = json!("Role");
        let refs = references("RoleBinding", Some("a"), &rb);
        assert_eq!(
            names(&refs),
            ["ServiceAccount/x/sa", "ServiceAccount/a/here", "Role/a/r"]
        );
        assert_eq!(refs[1].pointer, "/subjects/1/name");
        assert_eq!(refs[2].pointer, "/roleRef/name");
    }

    #[test]
    fn api_objects_that_name_services_targets_and_accounts() {
        assert_eq!(
            refs_of(
                "HorizontalPodAutoscaler",
                Some("a"),
                json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}}})
            ),
            ["Deployment/a/web"]
        );
        assert_eq!(
            refs_of(
                "ValidatingWebhookConfiguration",
                None,
                json!({"webhooks": [{"clientConfig": {"service": {"namespace": "hooks", "name": "svc"}}},
                                    {"clientConfig": {"url": "https://x"}}]})
            ),
            ["Service/hooks/svc"]
        );
        assert_eq!(
            refs_of(
                "APIService",
                None,
                json!({"spec": {"service": {"namespace": "kube-system", "name": "metrics"}}})
            ),
            ["Service/kube-system/metrics"]
        );
        assert_eq!(
            refs_of(
                "Secret",
                Some("a"),
                json!({"type": "kubernetes.io/service-account-token",
                       "metadata": {"annotations": {"kubernetes.io/service-account.name": "bot"}}})
            ),
            ["ServiceAccount/a/bot"]
        );
        assert!(refs_of("ConfigMap", Some("a"), json!({"data": {"name": "x"}})).is_empty());
    }

    #[test]
    fn custom_resources_reference_their_stores_issuers_targets_and_sources() {
        let es = json!({"spec": {"secretStoreRef": {"name": "vault"}}});
        assert_eq!(
            refs_of("ExternalSecret", Some("shop"), es),
            ["SecretStore/shop/vault"]
        );
        let es = json!({"spec": {"secretStoreRef": {"name": "aws", "kind": "ClusterSecretStore"}}});
        assert_eq!(
            refs_of("ExternalSecret", Some("shop"), es),
            ["ClusterSecretStore/-/aws"]
        );
        let cert = json!({"spec": {"secretName": "tls", "issuerRef": {"name": "le", "kind": "ClusterIssuer"}}});
        assert_eq!(
            refs_of("Certificate", Some("shop"), cert),
            ["ClusterIssuer/-/le"]
        );
        let so = json!({"spec": {"scaleTargetRef": {"name": "worker"}}});
        assert_eq!(
            refs_of("ScaledObject", Some("shop"), so),
            ["Deployment/shop/worker"]
        );
        let np = json!({"spec": {"template": {"spec": {"nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}}}}});
        assert_eq!(refs_of("NodePool", None, np), ["EC2NodeClass/-/default"]);
        let hr = json!({"spec": {"chart": {"spec": {"sourceRef": {"kind": "HelmRepository", "name": "bitnami", "namespace": "flux-system"}}}}});
        assert_eq!(
            refs_of("HelmRelease", Some("shop"), hr),
            ["HelmRepository/flux-system/bitnami"]
        );
        let ks = json!({"spec": {"sourceRef": {"kind": "GitRepository", "name": "app"}}});
        assert_eq!(
            refs_of("Kustomization", Some("shop"), ks),
            ["GitRepository/shop/app"]
        );
        // kustomize's own Kustomization file is not an object berth applies; one without a
        // sourceRef references nothing.
        assert!(refs_of("Kustomization", None, json!({"resources": ["a.yaml"]})).is_empty());
    }

    #[test]
    fn what_every_cluster_has() {
        assert!(is_builtin("ServiceAccount", "default"));
        assert!(is_builtin("ConfigMap", "kube-root-ca.crt"));
        assert!(is_builtin("ClusterRole", "view"));
        assert!(is_builtin("ClusterRole", "system:auth-delegator"));
        assert!(is_builtin("PriorityClass", "system-cluster-critical"));
        assert!(is_builtin("PriorityClass", "system-node-critical"));
        assert!(!is_builtin("PriorityClass", "high"));
        assert!(!is_builtin("Secret", "default"));
        assert!(!is_builtin("ClusterRole", "viewer"));
    }

    #[test]
    fn describe_names_the_namespace_of_namespaced_targets() {
        let r = &references(
            "Pod",
            Some("shop"),
            &json!({"spec": {"serviceAccountName": "sa", "priorityClassName": "high"}}),
        );
        assert_eq!(r[0].describe(), "ServiceAccount `sa` in namespace `shop`");
        assert_eq!(r[1].describe(), "PriorityClass `high`");
    }

    #[test]
    fn controllers_create_the_secrets_of_certificates_external_secrets_and_webhook_generators() {
        assert_eq!(
            runtime_secrets("Certificate", &json!({"spec": {"secretName": "tls"}})),
            ["tls"]
        );
        assert_eq!(
            runtime_secrets(
                "ExternalSecret",
                &json!({"metadata": {"name": "db"}, "spec": {}})
            ),
            ["db"]
        );
        assert_eq!(
            runtime_secrets(
                "ExternalSecret",
                &json!({"metadata": {"name": "db"}, "spec": {"target": {"name": "db-creds"}}})
            ),
            ["db-creds"]
        );
        let ing = json!({"metadata": {"annotations": {"cert-manager.io/cluster-issuer": "le"}}, "spec": {"tls": [{"secretName": "web-tls"}]}});
        assert_eq!(runtime_secrets("Ingress", &ing), ["web-tls"]);
        let plain = json!({"spec": {"tls": [{"secretName": "web-tls"}]}});
        assert!(runtime_secrets("Ingress", &plain).is_empty());
        let job = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "args": ["create", "--secret-name", "hook-cert"]}]}}}});
        assert_eq!(runtime_secrets("Job", &job), ["hook-cert"]);
        let pod = json!({"spec": {"initContainers": [{"name": "c", "command": ["gen", "--secret-name=init-cert"]}]}});
        assert_eq!(runtime_secrets("Pod", &pod), ["init-cert"]);
        assert!(runtime_secrets("ConfigMap", &json!({"metadata": {"name": "x"}})).is_empty());
    }
}
