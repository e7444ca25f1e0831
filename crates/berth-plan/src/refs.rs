//! What an object references by name: the objects that must exist before it can work.
//!
//! Only references by name count (a pod template's ConfigMap, an Ingress backend's Service, an
//! HPA's target, ...). Label selectors are not references, except for admission webhooks,
//! whose backing workloads are found through their Service's selector in `graph.rs`.

use serde_json::Value;

/// A reference from one object to another, by kind and name.
///
/// `namespace` is `None` for cluster-scoped kinds; `group` is `None` when any group of that
/// kind will do (core kinds are unambiguous by kind).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ref {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl Ref {
    fn new(kind: &str, namespace: Option<&str>, name: &str) -> Ref {
        Ref {
            kind: kind.into(),
            namespace: namespace.map(str::to_string),
            name: name.into(),
        }
    }
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
            let ann = v
                .pointer("/metadata/annotations")
                .and_then(Value::as_object);
            let managed = ann.is_some_and(|a| {
                a.contains_key("cert-manager.io/cluster-issuer")
                    || a.contains_key("cert-manager.io/issuer")
                    || a.get("kubernetes.io/tls-acme").and_then(Value::as_str) == Some("true")
            });
            if managed {
                let tls = v.pointer("/spec/tls").and_then(Value::as_array);
                out.extend(
                    tls.into_iter()
                        .flatten()
                        .filter_map(|t| str_at(t, "/secretName"))
                        .map(str::to_string),
                );
            }
        }
        _ => {}
    }
    if let Some(spec) = pod_spec_pointer(kind).and_then(|p| v.pointer(p)) {
        for c in ["initContainers", "containers"]
            .iter()
            .filter_map(|f| spec.get(*f).and_then(Value::as_array))
            .flatten()
        {
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

/// Where the pod spec lives in a workload of `kind` (`None` for kinds without pods).
pub fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    match kind {
        "Pod" => Some("/spec"),
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => Some("/spec/template/spec"),
        "CronJob" => Some("/spec/jobTemplate/spec/template/spec"),
        _ => None,
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

fn items<'a>(v: &'a Value, pointer: &str) -> impl Iterator<Item = &'a Value> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The references of the object `v` (of `kind`, in namespace `ns`) to other objects by name.
pub fn references(kind: &str, ns: Option<&str>, v: &Value) -> Vec<Ref> {
    let mut out = Vec::new();
    if let Some(p) = pod_spec_pointer(kind)
        && let Some(spec) = v.pointer(p)
    {
        pod_spec_refs(spec, ns, &mut out);
    }
    match kind {
        "StatefulSet" => {
            if let Some(s) = str_at(v, "/spec/serviceName") {
                out.push(Ref::new("Service", ns, s));
            }
            for t in items(v, "/spec/volumeClaimTemplates") {
                if let Some(sc) = str_at(t, "/spec/storageClassName") {
                    out.push(Ref::new("StorageClass", None, sc));
                }
            }
        }
        "PersistentVolumeClaim" => {
            if let Some(sc) = str_at(v, "/spec/storageClassName") {
                out.push(Ref::new("StorageClass", None, sc));
            }
            if let Some(pv) = str_at(v, "/spec/volumeName") {
                out.push(Ref::new("PersistentVolume", None, pv));
            }
        }
        "PersistentVolume" => {
            // Not claimRef: the PVC names the PV, and both directions would be a cycle.
            if let Some(sc) = str_at(v, "/spec/storageClassName") {
                out.push(Ref::new("StorageClass", None, sc));
            }
        }
        "Ingress" => {
            if let Some(c) = str_at(v, "/spec/ingressClassName") {
                out.push(Ref::new("IngressClass", None, c));
            }
            if let Some(s) = str_at(v, "/spec/defaultBackend/service/name") {
                out.push(Ref::new("Service", ns, s));
            }
            for rule in items(v, "/spec/rules") {
                for path in items(rule, "/http/paths") {
                    if let Some(s) = str_at(path, "/backend/service/name") {
                        out.push(Ref::new("Service", ns, s));
                    }
                }
            }
            for tls in items(v, "/spec/tls") {
                if let Some(s) = str_at(tls, "/secretName") {
                    out.push(Ref::new("Secret", ns, s));
                }
            }
        }
        "HorizontalPodAutoscaler" => {
            if let (Some(k), Some(n)) = (
                str_at(v, "/spec/scaleTargetRef/kind"),
                str_at(v, "/spec/scaleTargetRef/name"),
            ) {
                out.push(Ref::new(k, ns, n));
            }
        }
        "RoleBinding" | "ClusterRoleBinding" => {
            if let (Some(k), Some(n)) = (str_at(v, "/roleRef/kind"), str_at(v, "/roleRef/name")) {
                let role_ns = if k == "Role" { ns } else { None };
                out.push(Ref::new(k, role_ns, n));
            }
            for s in items(v, "/subjects") {
                if str_at(s, "/kind") == Some("ServiceAccount")
                    && let Some(n) = str_at(s, "/name")
                {
                    out.push(Ref::new(
                        "ServiceAccount",
                        str_at(s, "/namespace").or(ns),
                        n,
                    ));
                }
            }
        }
        "Secret" => {
            if str_at(v, "/type") == Some("kubernetes.io/service-account-token")
                && let Some(sa) = v
                    .pointer("/metadata/annotations/kubernetes.io~1service-account.name")
                    .and_then(Value::as_str)
            {
                out.push(Ref::new("ServiceAccount", ns, sa));
            }
        }
        "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration" => {
            for w in items(v, "/webhooks") {
                if let (Some(n), Some(s)) = (
                    str_at(w, "/clientConfig/service/namespace"),
                    str_at(w, "/clientConfig/service/name"),
                ) {
                    out.push(Ref::new("Service", Some(n), s));
                }
            }
        }
        // Custom resources of widely used controllers that name their dependencies: applied
        // (and waited for) after them, so a controller does not report a transient failure
        // for something the same `up` is about to create.
        "ExternalSecret" => {
            if let Some(n) = str_at(v, "/spec/secretStoreRef/name") {
                let k = str_at(v, "/spec/secretStoreRef/kind").unwrap_or("SecretStore");
                let store_ns = if k == "SecretStore" { ns } else { None };
                out.push(Ref::new(k, store_ns, n));
            }
        }
        "Certificate" => {
            if let Some(n) = str_at(v, "/spec/issuerRef/name") {
                let k = str_at(v, "/spec/issuerRef/kind").unwrap_or("Issuer");
                let issuer_ns = if k == "Issuer" { ns } else { None };
                out.push(Ref::new(k, issuer_ns, n));
            }
        }
        "ScaledObject" => {
            if let Some(n) = str_at(v, "/spec/scaleTargetRef/name") {
                let k = str_at(v, "/spec/scaleTargetRef/kind").unwrap_or("Deployment");
                out.push(Ref::new(k, ns, n));
            }
        }
        "HelmRelease" | "Kustomization" => {
            let source = if kind == "HelmRelease" {
                "/spec/chart/spec/sourceRef"
            } else {
                "/spec/sourceRef"
            };
            if let (Some(k), Some(n)) = (
                v.pointer(source).and_then(|s| str_at(s, "/kind")),
                v.pointer(source).and_then(|s| str_at(s, "/name")),
            ) {
                let source_ns = v
                    .pointer(source)
                    .and_then(|s| str_at(s, "/namespace"))
                    .or(ns);
                out.push(Ref::new(k, source_ns, n));
            }
        }
        "APIService" => {
            if let (Some(n), Some(s)) = (
                str_at(v, "/spec/service/namespace"),
                str_at(v, "/spec/service/name"),
            ) {
                out.push(Ref::new("Service", Some(n), s));
            }
        }
        _ => {}
    }
    out
}

fn pod_spec_refs(spec: &Value, ns: Option<&str>, out: &mut Vec<Ref>) {
    if let Some(sa) =
        str_at(spec, "/serviceAccountName").or_else(|| str_at(spec, "/serviceAccount"))
    {
        out.push(Ref::new("ServiceAccount", ns, sa));
    }
    if let Some(pc) = str_at(spec, "/priorityClassName") {
        out.push(Ref::new("PriorityClass", None, pc));
    }
    if let Some(rc) = str_at(spec, "/runtimeClassName") {
        out.push(Ref::new("RuntimeClass", None, rc));
    }
    for s in items(spec, "/imagePullSecrets") {
        if let Some(n) = str_at(s, "/name") {
            out.push(Ref::new("Secret", ns, n));
        }
    }
    for vol in items(spec, "/volumes") {
        if let Some(n) = str_at(vol, "/configMap/name") {
            out.push(Ref::new("ConfigMap", ns, n));
        }
        if let Some(n) = str_at(vol, "/secret/secretName") {
            out.push(Ref::new("Secret", ns, n));
        }
        if let Some(n) = str_at(vol, "/persistentVolumeClaim/claimName") {
            out.push(Ref::new("PersistentVolumeClaim", ns, n));
        }
        for src in items(vol, "/projected/sources") {
            if let Some(n) = str_at(src, "/configMap/name") {
                out.push(Ref::new("ConfigMap", ns, n));
            }
            if let Some(n) = str_at(src, "/secret/name") {
                out.push(Ref::new("Secret", ns, n));
            }
        }
    }
    for list in ["/containers", "/initContainers", "/ephemeralContainers"] {
        for c in items(spec, list) {
            for e in items(c, "/env") {
                if let Some(n) = str_at(e, "/valueFrom/configMapKeyRef/name") {
                    out.push(Ref::new("ConfigMap", ns, n));
                }
                if let Some(n) = str_at(e, "/valueFrom/secretKeyRef/name") {
                    out.push(Ref::new("Secret", ns, n));
                }
            }
            for e in items(c, "/envFrom") {
                if let Some(n) = str_at(e, "/configMapRef/name") {
                    out.push(Ref::new("ConfigMap", ns, n));
                }
                if let Some(n) = str_at(e, "/secretRef/name") {
                    out.push(Ref::new("Secret", ns, n));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_references_everything_its_pods_use() {
        let d = json!({"spec": {"template": {"spec": {
            "serviceAccountName": "sa",
            "imagePullSecrets": [{"name": "pull"}],
            "volumes": [{"configMap": {"name": "cm"}}, {"secret": {"secretName": "s"}},
                        {"persistentVolumeClaim": {"claimName": "data"}},
                        {"projected": {"sources": [{"secret": {"name": "ps"}}]}}],
            "containers": [{"env": [{"valueFrom": {"secretKeyRef": {"name": "envs"}}}],
                            "envFrom": [{"configMapRef": {"name": "envcm"}}]}]
        }}}});
        let refs = references("Deployment", Some("a"), &d);
        let names: Vec<_> = refs
            .iter()
            .map(|r| format!("{}/{}", r.kind, r.name))
            .collect();
        assert_eq!(
            names,
            [
                "ServiceAccount/sa",
                "Secret/pull",
                "ConfigMap/cm",
                "Secret/s",
                "PersistentVolumeClaim/data",
                "Secret/ps",
                "Secret/envs",
                "ConfigMap/envcm"
            ]
        );
        assert!(refs.iter().all(|r| r.namespace.as_deref() == Some("a")));
    }

    #[test]
    fn cluster_role_binding_names_a_cluster_role_and_namespaced_accounts() {
        let b = json!({"roleRef": {"kind": "ClusterRole", "name": "r"},
                       "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "x"},
                                    {"kind": "User", "name": "bob"}]});
        let refs = references("ClusterRoleBinding", None, &b);
        assert_eq!(
            refs,
            vec![
                Ref::new("ClusterRole", None, "r"),
                Ref::new("ServiceAccount", Some("x"), "sa")
            ]
        );
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
        assert!(runtime_secrets("ConfigMap", &json!({"metadata": {"name": "x"}})).is_empty());
    }

    #[test]
    fn custom_resources_reference_their_stores_issuers_targets_and_sources() {
        let es = json!({"spec": {"secretStoreRef": {"name": "vault"}}});
        assert_eq!(
            references("ExternalSecret", Some("shop"), &es),
            [Ref::new("SecretStore", Some("shop"), "vault")]
        );
        let es = json!({"spec": {"secretStoreRef": {"name": "aws", "kind": "ClusterSecretStore"}}});
        assert_eq!(
            references("ExternalSecret", Some("shop"), &es),
            [Ref::new("ClusterSecretStore", None, "aws")]
        );
        let cert = json!({"spec": {"secretName": "tls", "issuerRef": {"name": "le", "kind": "ClusterIssuer"}}});
        assert_eq!(
            references("Certificate", Some("shop"), &cert),
            [Ref::new("ClusterIssuer", None, "le")]
        );
        let so = json!({"spec": {"scaleTargetRef": {"name": "worker"}}});
        assert_eq!(
            references("ScaledObject", Some("shop"), &so),
            [Ref::new("Deployment", Some("shop"), "worker")]
        );
        let hr = json!({"spec": {"chart": {"spec": {"sourceRef": {"kind": "HelmRepository", "name": "bitnami", "namespace": "flux-system"}}}}});
        assert_eq!(
            references("HelmRelease", Some("shop"), &hr),
            [Ref::new("HelmRepository", Some("flux-system"), "bitnami")]
        );
        let ks = json!({"spec": {"sourceRef": {"kind": "GitRepository", "name": "app"}}});
        assert_eq!(
            references("Kustomization", Some("shop"), &ks),
            [Ref::new("GitRepository", Some("shop"), "app")]
        );
        // kustomize's own Kustomization file is not an object berth applies; one without a
        // sourceRef references nothing.
        assert!(references("Kustomization", None, &json!({"resources": ["a.yaml"]})).is_empty());
    }
}
