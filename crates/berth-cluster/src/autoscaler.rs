//! The cluster-autoscaler manifest (ServiceAccount, RBAC, Deployment) that goes with the
//! cluster file, and the comparison with a cluster-autoscaler the stack already deploys.
//!
//! Agreement with the cluster file is by construction: the discovery tags, `--max-nodes-total`
//! and the image's minor version are computed from the same node groups and Kubernetes
//! version the ClusterConfig is written from.

use std::fmt;
use std::path::PathBuf;

use berth_model::Stack;
use berth_model::autoscaler_flags::{AutoscalerFlags, discovery_tag_keys, is_cluster_autoscaler};
use serde_json::{Value, json};

use crate::sizing::AUTOSCALER_REQUESTS;
use crate::versions;

/// The tag every node group the autoscaler manages carries.
pub const ENABLED_TAG: &str = "k8s.io/cluster-autoscaler/enabled";

/// The per-cluster discovery tag: `k8s.io/cluster-autoscaler/<cluster>`.
pub fn cluster_tag(cluster: &str) -> String {
    format!("k8s.io/cluster-autoscaler/{cluster}")
}

/// What the generated autoscaler is configured with.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub cluster: String,
    /// Kubernetes minor version of the cluster.
    pub minor: u32,
    /// Sum of the node groups' maxima.
    pub max_nodes_total: u64,
    /// Several similar groups (per zone): balance them.
    pub balance: bool,
}

impl Settings {
    /// The image, `registry.k8s.io/autoscaling/cluster-autoscaler:v1.MINOR.PATCH`.
    pub fn image(&self) -> String {
        format!("{}:{}", versions::IMAGE, versions::tag(self.minor).0)
    }

    /// The flags that matter for agreement with the cluster file, in command order.
    pub fn flags(&self) -> Vec<(&'static str, String)> {
        let mut flags = vec![
            ("cloud-provider", "aws".to_string()),
            (
                "node-group-auto-discovery",
                format!("asg:tag={ENABLED_TAG},{}", cluster_tag(&self.cluster)),
            ),
            ("max-nodes-total", self.max_nodes_total.to_string()),
            ("expander", "least-waste".to_string()),
        ];
        if self.balance {
            flags.push(("balance-similar-node-groups", "true".to_string()));
        }
        flags
    }
}

fn labels() -> Value {
    json!({"k8s-addon": "cluster-autoscaler.addons.k8s.io", "k8s-app": "cluster-autoscaler"})
}

/// The manifest: ServiceAccount, ClusterRole, Role, their bindings and the Deployment, all in
/// `kube-system`, as the upstream auto-discovery example sets them up (no hostPath mounts: the
/// image carries its CA certificates).
pub fn manifest(s: &Settings) -> Vec<Value> {
    let meta = |namespaced: bool| {
        let mut m = json!({"name": "cluster-autoscaler", "labels": labels()});
        if namespaced {
            m["namespace"] = json!("kube-system");
        }
        m
    };
    let sa = json!([{"kind": "ServiceAccount", "name": "cluster-autoscaler", "namespace": "kube-system"}]);
    let mut command = vec![json!("./cluster-autoscaler"), json!("--v=4")];
    command.extend(
        s.flags()
            .into_iter()
            .map(|(k, v)| json!(format!("--{k}={v}"))),
    );
    let (cpu, mem) = (
        format!("{}m", AUTOSCALER_REQUESTS.0),
        format!(
            "{}Mi",
            AUTOSCALER_REQUESTS.1 / berth_simulate::instances::MIB
        ),
    );
    vec![
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(true)}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": meta(false),
        "rules": [
            {"apiGroups": [""], "resources": ["events", "endpoints"], "verbs": ["create", "patch"]},
            {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
            {"apiGroups": [""], "resources": ["pods/status"], "verbs": ["update"]},
            {"apiGroups": [""], "resources": ["endpoints"], "resourceNames": ["cluster-autoscaler"], "verbs": ["get", "update"]},
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["watch", "list", "get", "update"]},
            {"apiGroups": [""], "resources": ["namespaces", "pods", "services", "replicationcontrollers", "persistentvolumeclaims", "persistentvolumes"], "verbs": ["watch", "list", "get"]},
            {"apiGroups": ["extensions"], "resources": ["replicasets", "daemonsets"], "verbs": ["watch", "list", "get"]},
            {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": ["watch", "list"]},
            {"apiGroups": ["apps"], "resources": ["statefulsets", "replicasets", "daemonsets"], "verbs": ["watch", "list", "get"]},
            {"apiGroups": ["storage.k8s.io"], "resources": ["storageclasses", "csinodes", "csidrivers", "csistoragecapacities", "volumeattachments"], "verbs": ["watch", "list", "get"]},
            {"apiGroups": ["batch", "extensions"], "resources": ["jobs"], "verbs": ["get", "list", "watch", "patch"]},
            {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
            {"apiGroups": ["coordination.k8s.io"], "resourceNames": ["cluster-autoscaler"], "resources": ["leases"], "verbs": ["get", "update"]}
        ]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta(true),
        "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create", "list", "watch"]},
            {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["cluster-autoscaler-status", "cluster-autoscaler-priority-expander"], "verbs": ["delete", "get", "update", "watch"]}
        ]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": meta(false),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-autoscaler"},
            "subjects": sa}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta(true),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "cluster-autoscaler"},
            "subjects": sa}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "cluster-autoscaler", "namespace": "kube-system", "labels": {"app": "cluster-autoscaler"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "cluster-autoscaler"}},
            "template": {
                "metadata": {"labels": {"app": "cluster-autoscaler"},
                    "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"}},
                "spec": {
                    "serviceAccountName": "cluster-autoscaler",
                    "priorityClassName": "system-cluster-critical",
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 65534, "fsGroup": 65534,
                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "cluster-autoscaler",
                        "image": s.image(),
                        "imagePullPolicy": "IfNotPresent",
                        "command": command,
                        "resources": {"requests": {"cpu": cpu, "memory": mem}, "limits": {"cpu": cpu, "memory": mem}},
                        "readinessProbe": {"httpGet": {"path": "/health-check", "port": 8085}},
                        "livenessProbe": {"httpGet": {"path": "/health-check", "port": 8085}, "initialDelaySeconds": 30},
                        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                            "capabilities": {"drop": ["ALL"]}}
                    }]
                }
            }
        }}),
    ]
}

/// One way a cluster-autoscaler in the stack disagrees with the generated one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// `image`, or the flag name (`max-nodes-total`).
    pub setting: String,
    /// What the stack has (None: not set).
    pub stack: Option<String>,
    /// What berth generates.
    pub generated: String,
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stack = match &self.stack {
            Some(v) => format!("`{v}`"),
            None => "not set".into(),
        };
        write!(
            f,
            "{}:{}:{}: the stack's cluster-autoscaler has {} {stack}, the generated one `{}`",
            self.file.display(),
            self.line,
            self.column,
            self.setting,
            self.generated
        )
    }
}

/// The tag keys of a discovery value, in any order.
fn discovery_tags(value: &str) -> Vec<&str> {
    let mut tags = discovery_tag_keys(value);
    tags.sort_unstable();
    tags
}

/// Compares every cluster-autoscaler container of the stack's Deployments with `settings`.
pub fn compare(stack: &Stack, settings: &Settings) -> Vec<Difference> {
    let mut out = Vec::new();
    for o in &stack.objects {
        if o.kind() != "Deployment" || o.group() != "apps" {
            continue;
        }
        let containers = o
            .value
            .pointer("/spec/template/spec/containers")
            .and_then(Value::as_array);
        for (ci, c) in containers.into_iter().flatten().enumerate() {
            if !is_cluster_autoscaler(c) {
                continue;
            }
            let image = c.get("image").and_then(Value::as_str).unwrap_or("");
            let base = format!("/spec/template/spec/containers/{ci}");
            let mut diff =
                |setting: &str, stack: Option<&str>, generated: String, pointer: &str| {
                    let pos = o.pos(pointer);
                    out.push(Difference {
                        setting: setting.to_string(),
                        stack: stack.map(str::to_string),
                        generated,
                        file: o.file.path.clone(),
                        line: pos.line,
                        column: pos.column,
                    });
                };
            let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
            if versions::minor_of(tag) != Some(settings.minor) {
                diff(
                    "image",
                    Some(image),
                    settings.image(),
                    &format!("{base}/image"),
                );
            }
            // Its command line as the autoscaler reads it (every spelling, last one wins).
            let flags = AutoscalerFlags::of_container(c);
            for (name, want) in settings.flags() {
                let have = flags.last(name);
                let same = match (name, have) {
                    (_, None) => false,
                    // Repeatable: the generated tags must be among the values.
                    ("node-group-auto-discovery", Some(_)) => flags
                        .all(name)
                        .any(|f| discovery_tags(f.value()) == discovery_tags(&want)),
                    (_, Some(f)) => f.value() == want,
                };
                if !same {
                    let pointer = have.map_or(base.clone(), |f| f.pointer(&base));
                    diff(
                        &format!("--{name}"),
                        have.map(|f| f.value()),
                        want,
                        &pointer,
                    );
                }
            }
        }
    }
    out
}
