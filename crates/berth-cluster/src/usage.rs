//! What the stack uses from AWS, read from its rendered objects: EBS and EFS volumes, the AWS
//! Load Balancer Controller, CloudWatch, resource-metric HPAs (metrics-server). The cluster
//! file grants IAM add-on policies and installs EKS add-ons only for what is found here, and
//! every finding keeps its evidence (which object, why) for `--explain`.

use std::collections::BTreeMap;

use berth_model::{Object, Profile, Stack, pod_spec};
use berth_stack::profiles::{StorageIntent, storage_class};
use serde_json::Value;

/// The EBS CSI provisioner.
pub const EBS_CSI: &str = "ebs.csi.aws.com";
/// The EFS CSI provisioner.
pub const EFS_CSI: &str = "efs.csi.aws.com";

/// Storage classes an EKS cluster has, or that berth's EKS profile names, by provisioner.
const KNOWN_CLASSES: &[(&str, &str)] = &[("gp2", EBS_CSI), ("gp3", EBS_CSI), ("efs-sc", EFS_CSI)];

/// What the stack needs from the cluster, each with the evidence that says so.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// EBS volumes (block, zonal): the EBS CSI driver and the `ebs` policy.
    pub ebs: Vec<String>,
    /// EFS volumes (shared): the EFS CSI driver and the `efs` policy.
    pub efs: Vec<String>,
    /// Services or Ingresses served by the AWS Load Balancer Controller.
    pub load_balancer_controller: Vec<String>,
    /// Agents that ship logs or metrics to CloudWatch.
    pub cloudwatch: Vec<String>,
    /// HPAs on resource metrics, when the stack brings no metrics-server of its own.
    pub metrics_server: Vec<String>,
}

impl Usage {
    /// EBS volumes are zonal: pods that use them must find nodes in their volume's zone.
    pub fn zonal_volumes(&self) -> bool {
        !self.ebs.is_empty()
    }
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn annotations<'a>(v: &'a Value, base: &str) -> impl Iterator<Item = (&'a String, &'a Value)> {
    v.pointer(&format!("{base}/metadata/annotations"))
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
}

/// Reads the stack's objects. `stack.profile` should be EKS: claims with a storage intent then
/// carry EKS storage classes.
pub fn detect(stack: &Stack) -> Usage {
    let mut usage = Usage::default();
    // Storage classes: the stack's own, then the well-known ones.
    let mut classes: BTreeMap<String, String> = KNOWN_CLASSES
        .iter()
        .map(|(n, p)| (n.to_string(), p.to_string()))
        .collect();
    for o in &stack.objects {
        if o.kind() == "StorageClass" && o.group() == "storage.k8s.io" {
            let provisioner = str_at(&o.value, "/provisioner").unwrap_or("");
            let provisioner = match provisioner {
                "kubernetes.io/aws-ebs" => EBS_CSI,
                other => other,
            };
            classes.insert(o.name().to_string(), provisioner.to_string());
        }
    }
    let claim = |usage: &mut Usage, o: &Object, base: &str, what: String| {
        let class = str_at(&o.value, &format!("{base}/spec/storageClassName")).or_else(|| {
            // An intent the profile has not turned into a class (another profile was used).
            match str_at(
                &o.value,
                &format!("{base}/metadata/annotations/berth.dev~1storage"),
            ) {
                Some("shared") => Some(storage_class(Profile::Eks, StorageIntent::Shared)),
                Some("block") => Some(storage_class(Profile::Eks, StorageIntent::Block)),
                _ => None,
            }
        });
        let Some(class) = class else { return };
        match classes.get(class).map(String::as_str) {
            Some(EBS_CSI) => usage
                .ebs
                .push(format!("{what} uses StorageClass {class} ({EBS_CSI})")),
            Some(EFS_CSI) => usage
                .efs
                .push(format!("{what} uses StorageClass {class} ({EFS_CSI})")),
            _ => {}
        }
    };
    for o in &stack.objects {
        let v = &o.value;
        match (o.group(), o.kind()) {
            ("", "PersistentVolumeClaim") => claim(&mut usage, o, "", o.display_name()),
            ("apps", "StatefulSet") => {
                let n = v
                    .pointer("/spec/volumeClaimTemplates")
                    .and_then(Value::as_array)
                    .map_or(0, Vec::len);
                for i in 0..n {
                    let base = format!("/spec/volumeClaimTemplates/{i}");
                    let name = str_at(v, &format!("{base}/metadata/name")).unwrap_or("?");
                    claim(
                        &mut usage,
                        o,
                        &base,
                        format!("{} (volumeClaimTemplate {name})", o.display_name()),
                    );
                }
            }
            ("", "PersistentVolume") => {
                let driver = str_at(v, "/spec/csi/driver");
                if driver == Some(EFS_CSI) {
                    usage
                        .efs
                        .push(format!("{} is an EFS volume", o.display_name()));
                } else if driver == Some(EBS_CSI)
                    || v.pointer("/spec/awsElasticBlockStore").is_some()
                {
                    usage
                        .ebs
                        .push(format!("{} is an EBS volume", o.display_name()));
                }
            }
            ("", "Service") => {
                let lb = annotations(v, "").find(|(k, val)| {
                    (k.as_str() == "service.beta.kubernetes.io/aws-load-balancer-type"
                        && matches!(val.as_str(), Some("external" | "nlb-ip")))
                        || k.as_str()
                            == "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
                });
                if let Some((k, val)) = lb {
                    usage.load_balancer_controller.push(format!(
                        "{} has {k}: {}",
                        o.display_name(),
                        val.as_str().unwrap_or("")
                    ));
                }
            }
            ("networking.k8s.io", "Ingress") => {
                let class = str_at(v, "/spec/ingressClassName")
                    .or_else(|| str_at(v, "/metadata/annotations/kubernetes.io~1ingress.class"));
                let alb_annotation =
                    annotations(v, "").any(|(k, _)| k.starts_with("alb.ingress.kubernetes.io/"));
                if class == Some("alb") || alb_annotation {
                    usage
                        .load_balancer_controller
                        .push(format!("{} is an ALB Ingress", o.display_name()));
                }
            }
            _ => {}
        }
        for c in containers(o) {
            let image = str_at(c, "/image").unwrap_or("");
            if image.contains("cloudwatch-agent") || image.contains("aws-for-fluent-bit") {
                usage
                    .cloudwatch
                    .push(format!("{} runs {image}", o.display_name()));
            }
        }
    }
    let has_metrics_server = stack.objects.iter().any(|o| {
        o.group() == "apps"
            && (o.name() == "metrics-server"
                || containers(o)
                    .any(|c| str_at(c, "/image").is_some_and(|i| i.contains("metrics-server"))))
    });
    if !has_metrics_server {
        for o in &stack.objects {
            if o.kind() != "HorizontalPodAutoscaler" || o.group() != "autoscaling" {
                continue;
            }
            let resource_metric = o
                .value
                .pointer("/spec/metrics")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .any(|m| str_at(m, "/type") == Some("Resource"))
                || o.value
                    .pointer("/spec/targetCPUUtilizationPercentage")
                    .is_some();
            if resource_metric {
                usage
                    .metrics_server
                    .push(format!("{} scales on resource metrics", o.display_name()));
            }
        }
    }
    usage
}

/// The init containers and containers of an object's pods: a Pod's own, a workload's
/// template's (see [`berth_model::pod_spec`]).
fn containers(o: &Object) -> impl Iterator<Item = &Value> {
    pod_spec::pod_spec(o.kind(), &o.value)
        .into_iter()
        .flat_map(|(_, spec)| pod_spec::containers(spec).map(|(_, c)| c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::{Origin, SourceFile};
    use serde_json::json;
    use std::path::PathBuf;
    use std::sync::Arc;

    fn stack(values: Vec<Value>) -> Stack {
        let file = Arc::new(SourceFile::new("a.yaml", ""));
        Stack {
            name: "s".into(),
            root: PathBuf::from("."),
            namespace: "app".into(),
            kubernetes: "1.34".into(),
            profile: Profile::Eks,
            components: Vec::new(),
            objects: values
                .into_iter()
                .map(|value| Object {
                    value,
                    file: file.clone(),
                    doc: 0,
                    component: "c".into(),
                    origin: Origin::Manifest,
                    positions: Default::default(),
                })
                .collect(),
            external: Vec::new(),
            cluster: None,
            values: Default::default(),
        }
    }

    /// A bare Pod's containers and any workload's init containers ship logs too.
    #[test]
    fn bare_pods_and_init_containers_count() {
        let usage = detect(&stack(vec![
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "agent", "namespace": "app"},
                   "spec": {"containers": [{"name": "a", "image": "amazon/cloudwatch-agent:1.3"}]}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "app"},
                   "spec": {"template": {"spec": {
                       "initContainers": [{"name": "logs", "image": "public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32"}],
                       "containers": [{"name": "web", "image": "web:1"}]}}}}),
            json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "report", "namespace": "app"},
                   "spec": {"jobTemplate": {"spec": {"template": {"spec": {
                       "containers": [{"name": "r", "image": "amazon/cloudwatch-agent:1.3"}]}}}}}}),
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "app"},
                   "data": {"image": "amazon/cloudwatch-agent:1.3"}}),
        ]));
        assert_eq!(
            usage.cloudwatch,
            [
                "Pod/app/agent runs amazon/cloudwatch-agent:1.3",
                "Deployment/app/web runs public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32",
                "CronJob/app/report runs amazon/cloudwatch-agent:1.3",
            ]
        );
    }

    #[test]
    fn a_metrics_server_deployment_serves_resource_metric_hpas() {
        let hpa = json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "app"},
            "spec": {"metrics": [{"type": "Resource", "resource": {"name": "cpu"}}]}});
        let without = detect(&stack(vec![hpa.clone()]));
        assert_eq!(without.metrics_server.len(), 1);
        let with = detect(&stack(vec![
            hpa,
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ms", "namespace": "kube-system"},
                   "spec": {"template": {"spec": {"containers": [
                       {"name": "m", "image": "registry.k8s.io/metrics-server/metrics-server:v0.8.0"}]}}}}),
        ]));
        assert!(with.metrics_server.is_empty());
    }
}
