//! Cloud profiles: portable intents in the manifests, turned into what each cloud needs.
//!
//! Intents are annotations users write once:
//! - Service `berth.dev/load-balancer: external | internal` (and
//!   `berth.dev/load-balancer-type: network | application`): the profile's load-balancer
//!   annotations, and `spec.type: LoadBalancer` when no type is set.
//! - Ingress `berth.dev/load-balancer: external | internal`: the profile's application load
//!   balancer (EKS: the AWS Load Balancer Controller's `alb` class, scheme and IP targets; AKS:
//!   Application Gateway, private IP when internal; GKE: the `gce` / `gce-internal` class).
//! - PersistentVolumeClaim, or a StatefulSet's `volumeClaimTemplates` entry,
//!   `berth.dev/storage: shared | block`: the profile's storage class when none is set, and an
//!   access mode when none is given (`ReadWriteMany` for shared, `ReadWriteOnce` for block).
//!
//! What the user wrote explicitly always wins: an annotation, storage class or access mode
//! already present is never overwritten. The intent annotations stay on the object, so checks
//! and readers can still see what was asked for.
//!
//! Findings: `intent` (error) for an intent value berth does not know, (warning) for an intent
//! that cannot take effect as written.

use berth_model::{Finding, Object, Profile, Severity};
use serde_json::{Map, Value, json};

/// Rule id for intent annotations that are wrong or cannot take effect.
pub const INTENT: &str = "intent";

/// The Service intent annotation.
pub const LOAD_BALANCER: &str = "berth.dev/load-balancer";
/// The optional load-balancer type annotation.
pub const LOAD_BALANCER_TYPE: &str = "berth.dev/load-balancer-type";
/// The PVC / volumeClaimTemplate intent annotation.
pub const STORAGE: &str = "berth.dev/storage";

/// Who a load balancer is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exposure {
    /// Reachable from the internet.
    External,
    /// Reachable only inside the cluster's network.
    Internal,
}

/// Which kind of load balancer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoadBalancerType {
    /// A layer-4 (TCP/UDP) load balancer.
    Network,
    /// A layer-7 (HTTP) load balancer; only an Ingress gets one.
    Application,
}

/// What a volume needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageIntent {
    /// Many pods on many nodes at once (NFS-like: EFS, Azure Files, Filestore).
    Shared,
    /// One node at a time (block disks: EBS, managed disk, PD).
    Block,
}

/// The Service annotations a profile needs for a load balancer.
pub fn load_balancer_annotations(
    profile: Profile,
    exposure: Exposure,
    _lb_type: LoadBalancerType,
) -> Vec<(&'static str, &'static str)> {
    match (profile, exposure) {
        (Profile::Eks, _) => vec![
            (
                "service.beta.kubernetes.io/aws-load-balancer-type",
                "external",
            ),
            (
                "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type",
                "ip",
            ),
            (
                "service.beta.kubernetes.io/aws-load-balancer-scheme",
                if exposure == Exposure::External {
                    "internet-facing"
                } else {
                    "internal"
                },
            ),
        ],
        (Profile::Aks, Exposure::Internal) => {
            vec![(
                "service.beta.kubernetes.io/azure-load-balancer-internal",
                "true",
            )]
        }
        (Profile::Gke, Exposure::Internal) => {
            vec![("networking.gke.io/load-balancer-type", "Internal")]
        }
        (Profile::Aks | Profile::Gke, Exposure::External) | (Profile::Local, _) => vec![],
    }
}

/// What a profile sets on an Ingress for an application load balancer: the ingress class
/// (`spec.ingressClassName`, or for GKE, which reads only the annotation, the
/// `kubernetes.io/ingress.class` annotation) and annotations. `None` for `local`.
pub fn ingress_settings(
    profile: Profile,
    exposure: Exposure,
) -> Option<(IngressClass, Vec<(&'static str, &'static str)>)> {
    let internal = exposure == Exposure::Internal;
    match profile {
        Profile::Eks => Some((
            IngressClass::Spec("alb"),
            vec![
                (
                    "alb.ingress.kubernetes.io/scheme",
                    if internal {
                        "internal"
                    } else {
                        "internet-facing"
                    },
                ),
                ("alb.ingress.kubernetes.io/target-type", "ip"),
            ],
        )),
        Profile::Aks => Some((
            IngressClass::Spec("azure-application-gateway"),
            if internal {
                vec![("appgw.ingress.kubernetes.io/use-private-ip", "true")]
            } else {
                vec![]
            },
        )),
        Profile::Gke => Some((
            IngressClass::Annotation(if internal { "gce-internal" } else { "gce" }),
            vec![],
        )),
        Profile::Local => None,
    }
}

/// Where an Ingress names its class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IngressClass {
    /// `spec.ingressClassName`.
    Spec(&'static str),
    /// The `kubernetes.io/ingress.class` annotation (controllers that do not read the field).
    Annotation(&'static str),
}

/// The annotation older controllers read the ingress class from.
pub const INGRESS_CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";

/// The storage class a profile provides for an intent.
pub fn storage_class(profile: Profile, intent: StorageIntent) -> &'static str {
    match (profile, intent) {
        (Profile::Eks, StorageIntent::Shared) => "efs-sc",
        (Profile::Eks, StorageIntent::Block) => "gp3",
        (Profile::Aks, StorageIntent::Shared) => "azurefile-csi",
        (Profile::Aks, StorageIntent::Block) => "managed-csi",
        (Profile::Gke, StorageIntent::Shared) => "standard-rwx",
        (Profile::Gke, StorageIntent::Block) => "standard-rwo",
        (Profile::Local, StorageIntent::Shared) => "berth-local-shared",
        (Profile::Local, StorageIntent::Block) => "berth-local-block",
    }
}

/// Annotation on a StorageClass berth added to the stack for a storage intent.
pub const GENERATED: &str = "berth.dev/generated";

/// Where an object holds claims: the PVC itself (`""`), or each of a StatefulSet's claim
/// templates.
fn claim_bases(o: &Object) -> Vec<String> {
    match (o.group(), o.kind()) {
        ("", "PersistentVolumeClaim") => vec![String::new()],
        ("apps", "StatefulSet") => {
            let n = o
                .value
                .pointer("/spec/volumeClaimTemplates")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            (0..n)
                .map(|i| format!("/spec/volumeClaimTemplates/{i}"))
                .collect()
        }
        _ => Vec::new(),
    }
}

/// Claims (a PVC, or a StatefulSet's claim templates) whose storage intent gave them the
/// profile's class, with the pointer of each claim.
fn intent_claims(profile: Profile, o: &Object) -> Vec<(String, &'static str)> {
    claim_bases(o)
        .into_iter()
        .filter_map(|base| {
            // A wrong intent was reported when the profile was applied.
            let intent = storage_intent(o, &base, &mut Vec::new())?;
            let class = storage_class(profile, intent);
            let named = o
                .value
                .pointer(&format!("{base}/spec/storageClassName"))
                .and_then(Value::as_str);
            (named == Some(class)).then_some((base, class))
        })
        .collect()
}

/// The StorageClasses a profile's storage intents name but the cluster does not have. On EKS
/// the block intent's `gp3` is not there on a stock cluster (EKS creates only `gp2`, and no
/// default class from 1.30): when the stack does not define `gp3`, berth adds it (EBS CSI,
/// encrypted gp3, WaitForFirstConsumer so each volume is made in its pod's zone). The shared
/// intent's `efs-sc` needs the user's EFS file system id, so a missing one is a warning. The
/// AKS, GKE and local classes exist on those clusters.
pub fn intent_classes(
    profile: Profile,
    objects: &[Object],
    external: &[berth_model::ExternalRef],
) -> (Vec<Object>, Vec<Finding>) {
    let mut added = Vec::new();
    let mut findings = Vec::new();
    if profile != Profile::Eks {
        return (added, findings);
    }
    let defined = |name: &str| {
        objects
            .iter()
            .any(|o| o.kind() == "StorageClass" && o.name() == name)
            || external
                .iter()
                .any(|e| e.kind == "StorageClass" && (e.name == name || e.name == "*"))
    };
    let mut seen: Vec<&str> = Vec::new();
    for o in objects {
        for (base, class) in intent_claims(profile, o) {
            if seen.contains(&class) || defined(class) {
                continue;
            }
            seen.push(class);
            if class == storage_class(profile, StorageIntent::Block) {
                let mut sc = o.clone();
                sc.origin = berth_model::Origin::Manifest;
                sc.value = json!({
                    "apiVersion": "storage.k8s.io/v1",
                    "kind": "StorageClass",
                    "metadata": {
                        "name": class,
                        "annotations": {GENERATED: format!("for the `{STORAGE}: block` intent of {}", o.display_name())},
                    },
                    "provisioner": "ebs.csi.aws.com",
                    "parameters": {"type": "gp3", "encrypted": "true"},
                    "volumeBindingMode": "WaitForFirstConsumer",
                    "allowVolumeExpansion": true,
                    "reclaimPolicy": "Retain",
                });
                added.push(sc);
            } else {
                findings.push(Finding::at(
                    INTENT,
                    Severity::Warning,
                    o,
                    &annotation_pointer(&base, STORAGE),
                    format!(
                        "`{STORAGE}: shared` on {} uses StorageClass `{class}`, which the stack does not define and EKS does not have",
                        o.display_name()
                    ),
                    format!(
                        "add a StorageClass `{class}` with `provisioner: efs.csi.aws.com` and `parameters: {{provisioningMode: efs-ap, fileSystemId: ${{efsFileSystemId}}}}`, or list it under `external:` if the cluster has it"
                    ),
                ));
            }
        }
    }
    (added, findings)
}

/// Apply the profile's meaning of every intent on `object`; findings for intents that are
/// wrong or cannot take effect.
pub fn apply(profile: Profile, object: &mut Object) -> Vec<Finding> {
    let mut findings = Vec::new();
    match (object.group(), object.kind()) {
        ("", "Service") => service(profile, object, &mut findings),
        ("networking.k8s.io", "Ingress") => ingress(profile, object, &mut findings),
        ("", "PersistentVolumeClaim") | ("apps", "StatefulSet") => {
            for base in claim_bases(object) {
                if let Some(intent) = storage_intent(object, &base, &mut findings)
                    && let Some(target) = object.value.pointer_mut(&base)
                {
                    claim(profile, intent, target);
                }
            }
        }
        _ => {}
    }
    findings
}

fn annotation<'a>(value: &'a Value, base: &str, name: &str) -> Option<&'a str> {
    value
        .pointer(&format!("{base}/metadata/annotations"))
        .and_then(|a| a.get(name))
        .and_then(Value::as_str)
}

fn annotation_pointer(base: &str, name: &str) -> String {
    format!(
        "{base}/metadata/annotations/{}",
        berth_yaml::escape_pointer_token(name)
    )
}

fn storage_intent(
    object: &Object,
    base: &str,
    findings: &mut Vec<Finding>,
) -> Option<StorageIntent> {
    match annotation(&object.value, base, STORAGE)? {
        "shared" => Some(StorageIntent::Shared),
        "block" => Some(StorageIntent::Block),
        other => {
            findings.push(Finding::at(
                INTENT,
                Severity::Error,
                object,
                &annotation_pointer(base, STORAGE),
                format!(
                    "`{STORAGE}: {other}` on {} is not a storage intent",
                    object.display_name()
                ),
                "use `shared` (many nodes at once) or `block` (one node at a time)",
            ));
            None
        }
    }
}

/// Fill storage class and access modes of a claim (a PVC or a volumeClaimTemplate).
fn claim(profile: Profile, intent: StorageIntent, claim: &mut Value) {
    let Some(spec) = ensure_map(claim, "spec") else {
        return;
    };
    if !spec.contains_key("storageClassName") {
        spec.insert(
            "storageClassName".into(),
            json!(storage_class(profile, intent)),
        );
    }
    let has_modes = spec
        .get("accessModes")
        .and_then(Value::as_array)
        .is_some_and(|m| !m.is_empty());
    if !has_modes {
        let mode = match intent {
            StorageIntent::Shared => "ReadWriteMany",
            StorageIntent::Block => "ReadWriteOnce",
        };
        spec.insert("accessModes".into(), json!([mode]));
    }
}

fn service(profile: Profile, object: &mut Object, findings: &mut Vec<Finding>) {
    let Some(exposure) = exposure(object, findings) else {
        return;
    };
    let lb_type = match annotation(&object.value, "", LOAD_BALANCER_TYPE) {
        None | Some("network") => LoadBalancerType::Network,
        Some("application") => {
            findings.push(Finding::at(
                INTENT,
                Severity::Warning,
                object,
                &annotation_pointer("", LOAD_BALANCER_TYPE),
                format!("{} asks for an application load balancer, but a Service gets a network load balancer", object.display_name()),
                "expose HTTP through an Ingress for an application load balancer, or use `network`",
            ));
            LoadBalancerType::Application
        }
        Some(other) => {
            findings.push(Finding::at(
                INTENT,
                Severity::Error,
                object,
                &annotation_pointer("", LOAD_BALANCER_TYPE),
                format!(
                    "`{LOAD_BALANCER_TYPE}: {other}` on {} is not a load-balancer type",
                    object.display_name()
                ),
                "use `network` or `application`",
            ));
            return;
        }
    };
    match object.value.pointer("/spec/type").and_then(Value::as_str) {
        None => {
            if let Some(spec) = ensure_map(&mut object.value, "spec") {
                spec.insert("type".into(), json!("LoadBalancer"));
            }
        }
        Some("LoadBalancer") => {}
        Some(other) => {
            findings.push(Finding::at(
                INTENT,
                Severity::Warning,
                object,
                "/spec/type",
                format!(
                    "{} has `{LOAD_BALANCER}` but `type: {other}`, so no load balancer is made",
                    object.display_name()
                ),
                "remove `type:` (berth sets LoadBalancer) or remove the annotation",
            ));
            return;
        }
    }
    let annotations = load_balancer_annotations(profile, exposure, lb_type);
    if annotations.is_empty() {
        return;
    }
    let Some(meta) = ensure_map(&mut object.value, "metadata") else {
        return;
    };
    let Some(target) = ensure_map_in(meta, "annotations") else {
        return;
    };
    for (k, v) in annotations {
        target.entry(k).or_insert_with(|| json!(v));
    }
}

fn ingress(profile: Profile, object: &mut Object, findings: &mut Vec<Finding>) {
    let Some(exposure) = exposure(object, findings) else {
        return;
    };
    match annotation(&object.value, "", LOAD_BALANCER_TYPE) {
        None | Some("application") => {}
        Some("network") => {
            findings.push(Finding::at(
                INTENT,
                Severity::Warning,
                object,
                &annotation_pointer("", LOAD_BALANCER_TYPE),
                format!(
                    "{} asks for a network load balancer, but an Ingress gets an application load balancer",
                    object.display_name()
                ),
                "expose TCP through a Service with `berth.dev/load-balancer` for a network load balancer, or use `application`",
            ));
        }
        Some(other) => {
            findings.push(Finding::at(
                INTENT,
                Severity::Error,
                object,
                &annotation_pointer("", LOAD_BALANCER_TYPE),
                format!(
                    "`{LOAD_BALANCER_TYPE}: {other}` on {} is not a load-balancer type",
                    object.display_name()
                ),
                "use `network` or `application`",
            ));
            return;
        }
    }
    let Some((class, annotations)) = ingress_settings(profile, exposure) else {
        return;
    };
    // A class the user chose (field or annotation) wins: berth then sets no class.
    let has_class = object.value.pointer("/spec/ingressClassName").is_some()
        || annotation(&object.value, "", INGRESS_CLASS_ANNOTATION).is_some();
    let mut annotations = annotations;
    if !has_class {
        match class {
            IngressClass::Spec(name) => {
                if let Some(spec) = ensure_map(&mut object.value, "spec") {
                    spec.insert("ingressClassName".into(), json!(name));
                }
            }
            IngressClass::Annotation(name) => annotations.push((INGRESS_CLASS_ANNOTATION, name)),
        }
    }
    if annotations.is_empty() {
        return;
    }
    let Some(meta) = ensure_map(&mut object.value, "metadata") else {
        return;
    };
    let Some(target) = ensure_map_in(meta, "annotations") else {
        return;
    };
    for (k, v) in annotations {
        target.entry(k).or_insert_with(|| json!(v));
    }
}

/// The exposure of a `berth.dev/load-balancer` intent; a finding when its value is unknown.
fn exposure(object: &Object, findings: &mut Vec<Finding>) -> Option<Exposure> {
    match annotation(&object.value, "", LOAD_BALANCER)? {
        "external" => Some(Exposure::External),
        "internal" => Some(Exposure::Internal),
        other => {
            findings.push(Finding::at(
                INTENT,
                Severity::Error,
                object,
                &annotation_pointer("", LOAD_BALANCER),
                format!(
                    "`{LOAD_BALANCER}: {other}` on {} is not a load-balancer intent",
                    object.display_name()
                ),
                "use `external` (reachable from the internet) or `internal` (inside the network)",
            ));
            None
        }
    }
}

/// `value[key]` as a mapping, created when absent; `None` when it exists but is no mapping.
fn ensure_map<'a>(value: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    ensure_map_in(value.as_object_mut()?, key)
}

fn ensure_map_in<'a>(
    map: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    let entry = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if entry.is_null() {
        *entry = Value::Object(Map::new());
    }
    entry.as_object_mut()
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::{Origin, SourceFile};
    use std::sync::Arc;

    fn obj(v: Value) -> Object {
        Object {
            value: v,
            file: Arc::new(SourceFile::new("x.yaml", "")),
            doc: 0,
            component: "c".into(),
            origin: Origin::Manifest,
            positions: Default::default(),
        }
    }

    fn svc(annotations: Value, spec: Value) -> Object {
        obj(json!({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "web", "annotations": annotations}, "spec": spec}))
    }

    fn annotations(o: &Object) -> Value {
        o.value["metadata"]["annotations"].clone()
    }

    fn pvc(name: &str, intent: &str, class: Option<&str>) -> Object {
        let mut spec = json!({"resources": {"requests": {"storage": "1Gi"}}});
        if let Some(c) = class {
            spec["storageClassName"] = json!(c);
        }
        obj(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                   "metadata": {"name": name, "annotations": {STORAGE: intent}}, "spec": spec}))
    }

    /// What `load` does: the profile on every object, then the classes the intents need.
    fn classes_for(profile: Profile, mut objects: Vec<Object>) -> (Vec<Object>, Vec<Finding>) {
        for o in &mut objects {
            assert!(apply(profile, o).is_empty());
        }
        intent_classes(profile, &objects, &[])
    }

    #[test]
    fn eks_block_intent_brings_its_gp3_class_once() {
        let (added, findings) = classes_for(
            Profile::Eks,
            vec![pvc("a", "block", None), pvc("b", "block", None)],
        );
        assert!(findings.is_empty(), "{findings:?}");
        assert_eq!(added.len(), 1);
        let sc = &added[0].value;
        assert_eq!(sc["kind"], json!("StorageClass"));
        assert_eq!(sc["metadata"]["name"], json!("gp3"));
        assert_eq!(sc["provisioner"], json!("ebs.csi.aws.com"));
        assert_eq!(sc["volumeBindingMode"], json!("WaitForFirstConsumer"));
        assert_eq!(
            sc["parameters"],
            json!({"type": "gp3", "encrypted": "true"})
        );
    }

    #[test]
    fn a_class_the_stack_or_the_cluster_has_is_not_added() {
        let own = obj(
            json!({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                             "metadata": {"name": "gp3"}, "provisioner": "ebs.csi.aws.com"}),
        );
        let (added, _) = classes_for(Profile::Eks, vec![own, pvc("a", "block", None)]);
        assert!(added.is_empty());
        // A claim that names its own class keeps it, and needs nothing from the profile.
        let (added, _) = classes_for(Profile::Eks, vec![pvc("a", "block", Some("io2"))]);
        assert!(added.is_empty());
        // `external:` says the cluster has it.
        let mut objects = vec![pvc("a", "block", None)];
        assert!(apply(Profile::Eks, &mut objects[0]).is_empty());
        let external = [berth_model::ExternalRef {
            kind: "StorageClass".into(),
            name: "gp3".into(),
            namespace: None,
        }];
        assert!(
            intent_classes(Profile::Eks, &objects, &external)
                .0
                .is_empty()
        );
        // AKS, GKE and the local cluster have their classes.
        for p in [Profile::Aks, Profile::Gke, Profile::Local] {
            let (added, findings) =
                classes_for(p, vec![pvc("a", "block", None), pvc("b", "shared", None)]);
            assert!(added.is_empty() && findings.is_empty(), "{p:?}");
        }
    }

    #[test]
    fn eks_shared_intent_without_efs_class_warns() {
        let (added, findings) = classes_for(Profile::Eks, vec![pvc("uploads", "shared", None)]);
        assert!(added.is_empty());
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Warning);
        assert!(
            findings[0].message.contains("`efs-sc`"),
            "{}",
            findings[0].message
        );
    }

    #[test]
    fn load_balancer_per_profile() {
        let mut o = svc(json!({LOAD_BALANCER: "external"}), json!({"ports": []}));
        assert!(apply(Profile::Eks, &mut o).is_empty());
        assert_eq!(o.value["spec"]["type"], json!("LoadBalancer"));
        assert_eq!(
            annotations(&o),
            json!({LOAD_BALANCER: "external",
                   "service.beta.kubernetes.io/aws-load-balancer-type": "external",
                   "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip",
                   "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"})
        );

        let mut o = svc(json!({LOAD_BALANCER: "internal"}), json!({}));
        apply(Profile::Eks, &mut o);
        assert_eq!(
            annotations(&o)["service.beta.kubernetes.io/aws-load-balancer-scheme"],
            json!("internal")
        );

        let mut o = svc(json!({LOAD_BALANCER: "internal"}), json!({}));
        apply(Profile::Aks, &mut o);
        assert_eq!(
            annotations(&o)["service.beta.kubernetes.io/azure-load-balancer-internal"],
            json!("true")
        );

        let mut o = svc(json!({LOAD_BALANCER: "internal"}), json!({}));
        apply(Profile::Gke, &mut o);
        assert_eq!(
            annotations(&o)["networking.gke.io/load-balancer-type"],
            json!("Internal")
        );

        for p in [Profile::Local, Profile::Aks, Profile::Gke] {
            let mut o = svc(json!({LOAD_BALANCER: "external"}), json!({}));
            apply(p, &mut o);
            assert_eq!(annotations(&o), json!({LOAD_BALANCER: "external"}), "{p}");
            assert_eq!(o.value["spec"]["type"], json!("LoadBalancer"));
        }
    }

    #[test]
    fn explicit_settings_win() {
        let mut o = svc(
            json!({LOAD_BALANCER: "external", "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal"}),
            json!({}),
        );
        apply(Profile::Eks, &mut o);
        assert_eq!(
            annotations(&o)["service.beta.kubernetes.io/aws-load-balancer-scheme"],
            json!("internal")
        );

        let mut o = svc(
            json!({LOAD_BALANCER: "external"}),
            json!({"type": "NodePort"}),
        );
        let f = apply(Profile::Eks, &mut o);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, Severity::Warning);
        assert_eq!(o.value["spec"]["type"], json!("NodePort"));
    }

    #[test]
    fn bad_intents_are_findings() {
        let mut o = svc(json!({LOAD_BALANCER: "public"}), json!({}));
        let f = apply(Profile::Eks, &mut o);
        assert_eq!(
            (f[0].rule.as_str(), f[0].severity),
            (INTENT, Severity::Error)
        );
        let mut o = svc(
            json!({LOAD_BALANCER: "external", LOAD_BALANCER_TYPE: "application"}),
            json!({}),
        );
        assert_eq!(apply(Profile::Eks, &mut o)[0].severity, Severity::Warning);
    }

    #[test]
    fn storage_on_claims_and_templates() {
        let mut pvc = obj(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data", "annotations": {STORAGE: "shared"}},
            "spec": {"resources": {"requests": {"storage": "1Gi"}}}}));
        apply(Profile::Eks, &mut pvc);
        assert_eq!(pvc.value["spec"]["storageClassName"], json!("efs-sc"));
        assert_eq!(pvc.value["spec"]["accessModes"], json!(["ReadWriteMany"]));

        let mut sts = obj(
            json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
            "spec": {"volumeClaimTemplates": [
                {"metadata": {"name": "a", "annotations": {STORAGE: "block"}}, "spec": {"accessModes": ["ReadWriteOncePod"]}},
                {"metadata": {"name": "b"}, "spec": {}},
                {"metadata": {"name": "c", "annotations": {STORAGE: "shared"}}, "spec": {"storageClassName": "mine"}}]}}),
        );
        for (p, class) in [
            (Profile::Gke, "standard-rwo"),
            (Profile::Aks, "managed-csi"),
            (Profile::Local, "berth-local-block"),
        ] {
            let mut s = sts.clone();
            apply(p, &mut s);
            assert_eq!(
                s.value["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"],
                json!(class)
            );
        }
        apply(Profile::Eks, &mut sts);
        let t = &sts.value["spec"]["volumeClaimTemplates"];
        assert_eq!(
            t[0]["spec"],
            json!({"accessModes": ["ReadWriteOncePod"], "storageClassName": "gp3"})
        );
        assert_eq!(t[1]["spec"], json!({}));
        assert_eq!(
            t[2]["spec"],
            json!({"storageClassName": "mine", "accessModes": ["ReadWriteMany"]})
        );
    }

    fn ing(annotations: Value, spec: Value) -> Object {
        obj(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                   "metadata": {"name": "web", "annotations": annotations}, "spec": spec}),
        )
    }

    #[test]
    fn ingress_per_profile() {
        let mut o = ing(json!({LOAD_BALANCER: "external"}), json!({}));
        assert!(apply(Profile::Eks, &mut o).is_empty());
        assert_eq!(o.value["spec"]["ingressClassName"], json!("alb"));
        assert_eq!(
            annotations(&o),
            json!({LOAD_BALANCER: "external",
                   "alb.ingress.kubernetes.io/scheme": "internet-facing",
                   "alb.ingress.kubernetes.io/target-type": "ip"})
        );

        let mut o = ing(json!({LOAD_BALANCER: "internal"}), json!({}));
        apply(Profile::Eks, &mut o);
        assert_eq!(
            annotations(&o)["alb.ingress.kubernetes.io/scheme"],
            json!("internal")
        );

        let mut o = ing(json!({LOAD_BALANCER: "internal"}), json!({}));
        apply(Profile::Aks, &mut o);
        assert_eq!(
            o.value["spec"]["ingressClassName"],
            json!("azure-application-gateway")
        );
        assert_eq!(
            annotations(&o)["appgw.ingress.kubernetes.io/use-private-ip"],
            json!("true")
        );
        let mut o = ing(json!({LOAD_BALANCER: "external"}), json!({}));
        apply(Profile::Aks, &mut o);
        assert_eq!(annotations(&o), json!({LOAD_BALANCER: "external"}));

        for (exposure, class) in [("external", "gce"), ("internal", "gce-internal")] {
            let mut o = ing(json!({LOAD_BALANCER: exposure}), json!({}));
            apply(Profile::Gke, &mut o);
            assert_eq!(annotations(&o)[INGRESS_CLASS_ANNOTATION], json!(class));
            assert_eq!(o.value["spec"], json!({}), "GKE reads the annotation only");
        }

        let mut o = ing(json!({LOAD_BALANCER: "external"}), json!({}));
        assert!(apply(Profile::Local, &mut o).is_empty());
        assert_eq!(o.value["spec"], json!({}));
        assert_eq!(annotations(&o), json!({LOAD_BALANCER: "external"}));
    }

    #[test]
    fn ingress_keeps_the_users_class_and_flags_network() {
        let mut o = ing(
            json!({LOAD_BALANCER: "external"}),
            json!({"ingressClassName": "nginx"}),
        );
        apply(Profile::Eks, &mut o);
        assert_eq!(o.value["spec"]["ingressClassName"], json!("nginx"));
        let mut o = ing(
            json!({LOAD_BALANCER: "external", INGRESS_CLASS_ANNOTATION: "gce-internal"}),
            json!({}),
        );
        apply(Profile::Gke, &mut o);
        assert_eq!(
            annotations(&o)[INGRESS_CLASS_ANNOTATION],
            json!("gce-internal")
        );

        let mut o = ing(
            json!({LOAD_BALANCER: "external", LOAD_BALANCER_TYPE: "network"}),
            json!({}),
        );
        let f = apply(Profile::Eks, &mut o);
        assert_eq!((f.len(), f[0].severity), (1, Severity::Warning));
        let mut o = ing(json!({LOAD_BALANCER: "public"}), json!({}));
        assert_eq!(apply(Profile::Eks, &mut o)[0].severity, Severity::Error);
        let mut o = ing(
            json!({LOAD_BALANCER: "external", LOAD_BALANCER_TYPE: "l7"}),
            json!({}),
        );
        assert_eq!(apply(Profile::Eks, &mut o)[0].severity, Severity::Error);
    }

    /// Every cloud profile answers every intent: a load balancer of both exposures (Services
    /// and Ingresses) and a storage class for both storage intents, each distinct per intent.
    #[test]
    fn every_cloud_profile_covers_every_intent() {
        for p in [Profile::Eks, Profile::Aks, Profile::Gke] {
            let ext = ingress_settings(p, Exposure::External).unwrap();
            let int = ingress_settings(p, Exposure::Internal).unwrap();
            assert_ne!(ext, int, "{p}: ingress external and internal differ");
            let svc_ext =
                load_balancer_annotations(p, Exposure::External, LoadBalancerType::Network);
            let svc_int =
                load_balancer_annotations(p, Exposure::Internal, LoadBalancerType::Network);
            assert_ne!(
                svc_ext, svc_int,
                "{p}: service external and internal differ"
            );
            assert!(
                !svc_int.is_empty(),
                "{p}: an internal load balancer needs an annotation"
            );
        }
        for p in Profile::ALL {
            assert_ne!(
                storage_class(p, StorageIntent::Shared),
                storage_class(p, StorageIntent::Block),
                "{p}"
            );
        }
        assert_eq!(ingress_settings(Profile::Local, Exposure::External), None);
    }
}
