//! `ref-missing`: a referenced object that neither the stack nor `external:` provides.

use berth_model::ValueExt;
use berth_model::refs::{self, Ref};
use berth_model::{Profile, Severity};

use super::{Out, Rule};
use crate::context::Context;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "ref-missing",
    severity: Severity::Error,
    summary: "a Secret, ConfigMap, PVC, ServiceAccount, StorageClass, Service or role that an object uses and nothing provides",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Follows every reference by name: Secrets and ConfigMaps in env, envFrom, volumes and
imagePullSecrets (of init and ephemeral containers too); PersistentVolumeClaims; ServiceAccounts;
PriorityClasses and RuntimeClasses of pods; StorageClasses and PersistentVolumes of claims;
Services and TLS Secrets of Ingresses; ServiceAccounts and roles of RoleBindings. Each must be in
the stack (in the namespace where it is used), be listed under `external:`, or be something every
cluster has (`default` ServiceAccount, `kube-root-ca.crt`, built-in ClusterRoles, the
`system-cluster-critical` and `system-node-critical` PriorityClasses, the profile's storage
classes), or a Secret something in the stack creates when it runs (the TLS
secret of an Ingress annotated for cert-manager, a Certificate's `secretName`, a container started
with `--secret-name=NAME`). References marked `optional: true` are skipped. When the object
exists but in another namespace, the message says so.

## Why is this bad?
The pod never starts: `CreateContainerConfigError` for a missing Secret or ConfigMap key source,
`Pending` forever for a missing claim or StorageClass, `FailedCreate` for a missing
ServiceAccount, PriorityClass or RuntimeClass (admission rejects the pod). The usual cause is a Secret that landed in another namespace (no
`metadata.namespace`, applied while another namespace was current) or one a README tells you to
create by hand.

## Example
```yaml
# boomi-flow-secret.yaml has no namespace: it lands in `default`
env:
  - name: DB_PASSWORD
    valueFrom:
      secretKeyRef: {name: boomi-flow-secret, key: password}   # used in `boomi-flow`
```

## Fix
Put the object in the namespace where it is used (or let berth's stack namespace apply), declare
secrets in berth.yaml `secrets:` so berth creates them (in several namespaces if needed), or list
objects something else creates under `external:`:
```yaml
external:
  - { kind: Secret, name: github-access, namespace: argo-events }
```
";

/// Storage classes a cluster of the profile has without the stack creating them.
fn profile_storage_classes(profile: Profile) -> &'static [&'static str] {
    match profile {
        Profile::Eks => &["gp2"],
        Profile::Aks => &[
            "default",
            "managed",
            "managed-csi",
            "managed-premium",
            "azurefile",
            "azurefile-csi",
            "azurefile-premium",
        ],
        Profile::Gke => &["standard", "standard-rwo", "premium-rwo"],
        Profile::Local => &["berth-local-shared", "berth-local-block", "standard"],
    }
}

/// True for the references this rule follows (of an object of `kind`): what a pod, claim,
/// Ingress or binding needs to be admitted or to start. The others order waves but are
/// another rule's (`hpa-target`, `statefulset-service`), are usually installed with their
/// controller (IngressClasses, stores, issuers, Flux sources), or name a class that is only a
/// label (a static PersistentVolume's StorageClass).
pub(crate) fn follows(kind: &str, r: &Ref) -> bool {
    match r.kind.as_str() {
        "Secret"
        | "ConfigMap"
        | "PersistentVolumeClaim"
        | "PersistentVolume"
        | "PriorityClass"
        | "RuntimeClass"
        | "Role"
        | "ClusterRole" => true,
        "ServiceAccount" => kind != "Secret",
        "Service" => kind == "Ingress",
        "StorageClass" => kind != "PersistentVolume",
        _ => false,
    }
}

/// The namespace `r` is looked up in, `""` for a cluster-scoped target.
pub(crate) fn namespace(r: &Ref) -> &str {
    r.namespace.as_deref().unwrap_or("")
}

/// True when `r` is provided: by the stack, `external:`, the cluster or the profile.
pub(crate) fn provided(ctx: &Context<'_>, r: &Ref) -> bool {
    let ns = namespace(r);
    if r.optional || refs::is_builtin(&r.kind, &r.name) || ctx.find(&r.kind, ns, &r.name).is_some()
    {
        return true;
    }
    if ctx.is_external(&r.kind, ns, &r.name) {
        return true;
    }
    if r.kind == "Secret" && ctx.creates_secret(ns, &r.name) {
        return true;
    }
    if r.kind == "StorageClass" {
        // A static PV's class is a label that matches claims to volumes: no object needed.
        let used_by_pv = ctx.of_kind("PersistentVolume").iter().any(|&i| {
            crate::k8s::str_at(&ctx.object(i).value, "/spec/storageClassName")
                == Some(r.name.as_str())
        });
        return used_by_pv || profile_storage_classes(ctx.stack.profile).contains(&r.name.as_str());
    }
    false
}

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    for i in 0..ctx.objects.len() {
        let o = ctx.object(i);
        if o.kind() == "PersistentVolumeClaim" || o.kind() == "StatefulSet" {
            // Claims with a berth storage intent get the profile's class: berth owns that choice.
            if o.value
                .at("/metadata/annotations/berth.dev~1storage")
                .is_some()
            {
                continue;
            }
        }
        for r in ctx.references(i) {
            if provided(ctx, r) {
                continue;
            }
            let elsewhere: Vec<&str> = ctx
                .find_any_namespace(&r.kind, &r.name)
                .iter()
                .map(|&j| ctx.namespace_of(j))
                .filter(|ns| *ns != namespace(r))
                .collect();
            let (message, fix) = if elsewhere.is_empty() {
                (
                    format!(
                        "{} uses {}, which neither the stack nor `external:` provides",
                        o.display_name(),
                        r.describe()
                    ),
                    format!(
                        "add the {} to the stack (secrets: in berth.yaml for a Secret), or list it under `external:` if something else creates it",
                        r.kind
                    ),
                )
            } else {
                (
                    format!(
                        "{} uses {}, but the stack puts it in namespace `{}`",
                        o.display_name(),
                        r.describe(),
                        elsewhere.join("`, `")
                    ),
                    format!(
                        "set metadata.namespace: {} on the {} (or move the user)",
                        namespace(r),
                        r.kind
                    ),
                )
            };
            out.at(o, &r.pointer, message, fix);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{self, render};
    use berth_model::ExternalRef;

    const SECRET: &str = "
apiVersion: v1
kind: Secret
metadata: {name: boomi-flow-secret, namespace: default}
stringData: {password: <password>}
";
    const DEPLOY: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: flow-runtime, namespace: boomi-flow}
spec:
  selector: {matchLabels: {app: flow}}
  template:
    metadata: {labels: {app: flow}}
    spec:
      serviceAccountName: default
      containers:
        - name: runtime
          image: boomi/flow:1.0.0
          env:
            - name: DB_PASSWORD
              valueFrom: {secretKeyRef: {name: boomi-flow-secret, key: password}}
            - name: OPTIONAL
              valueFrom: {configMapKeyRef: {name: maybe, key: x, optional: true}}
          envFrom:
            - configMapRef: {name: flow-config}
          volumeMounts: [{name: ca, mountPath: /ca}]
      volumes:
        - name: ca
          configMap: {name: kube-root-ca.crt}
        - name: data
          persistentVolumeClaim: {claimName: flow-data}
";

    #[test]
    fn fires_on_missing_and_other_namespace() {
        let s = testing::stack_files(&[("secret.yaml", SECRET), ("deploy.yaml", DEPLOY)]);
        let f = testing::run(&RULE, &s);
        assert_eq!(f.len(), 3, "{f:#?}");
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_when_provided_or_external() {
        let mut s = testing::stack_files(&[
            (
                "secret.yaml",
                &SECRET.replace("namespace: default", "namespace: boomi-flow"),
            ),
            ("deploy.yaml", DEPLOY),
        ]);
        for (kind, name) in [
            ("ConfigMap", "flow-config"),
            ("PersistentVolumeClaim", "flow-data"),
        ] {
            s.external.push(ExternalRef {
                kind: kind.into(),
                name: name.into(),
                namespace: Some("boomi-flow".into()),
            });
        }
        let f = testing::run(&RULE, &s);
        assert!(f.is_empty(), "{f:#?}");
    }

    #[test]
    fn secrets_created_at_run_time_are_provided() {
        let s = testing::stack(
            "
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: minio
  annotations: {cert-manager.io/cluster-issuer: letsencrypt-prod}
spec:
  tls: [{hosts: [minio.example.com], secretName: minio-tls}]
  rules: []
---
apiVersion: batch/v1
kind: Job
metadata: {name: admission-create}
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: create
          image: registry.k8s.io/ingress-nginx/kube-webhook-certgen:v1.4.0
          args: [create, --secret-name=ingress-nginx-admission]
---
apiVersion: v1
kind: Pod
metadata: {name: controller}
spec:
  containers: [{name: c, image: c:1}]
  volumes:
    - name: webhook-cert
      secret: {secretName: ingress-nginx-admission}
",
        );
        let f = testing::run(&RULE, &s);
        assert!(f.is_empty(), "{f:#?}");
    }

    #[test]
    fn static_pv_class_needs_no_storage_class() {
        let s = testing::stack(
            "
apiVersion: v1
kind: PersistentVolume
metadata: {name: pg}
spec:
  storageClassName: manual
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /mnt/data}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: pg}
spec:
  storageClassName: manual
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: other}
spec:
  storageClassName: fast
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
",
        );
        let f = testing::run(&RULE, &s);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(f[0].message.contains("StorageClass `fast`"));
    }

    const PRIORITY: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      priorityClassName: hihg-priority
      containers: [{name: web, image: web:1.0.0}]
";

    /// A mistyped PriorityClass is refused at admission (`no PriorityClass with name ... was
    /// found`): the pods are never created.
    #[test]
    fn a_mistyped_priority_class_is_missing() {
        let f = testing::check(&RULE, PRIORITY);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].rule, "ref-missing");
        assert!(
            f[0].message.contains("PriorityClass `hihg-priority`"),
            "{}",
            f[0].message
        );
        assert_eq!(f[0].line, 10, "points at priorityClassName");
        // And `berth check` (every rule) reports it.
        let all = crate::check(&testing::stack(PRIORITY));
        assert!(
            all.iter()
                .any(|f| f.rule == "ref-missing" && f.message.contains("hihg-priority")),
            "{all:#?}"
        );
    }

    #[test]
    fn priority_classes_of_the_stack_and_the_built_in_ones_are_provided() {
        let class = "
apiVersion: scheduling.k8s.io/v1
kind: PriorityClass
metadata: {name: hihg-priority}
value: 1000
---
";
        let f = testing::check(&RULE, &format!("{class}{PRIORITY}"));
        assert!(f.is_empty(), "{f:#?}");
        for builtin in ["system-cluster-critical", "system-node-critical"] {
            let f = testing::check(&RULE, &PRIORITY.replace("hihg-priority", builtin));
            assert!(f.is_empty(), "{builtin}: {f:#?}");
        }
    }

    #[test]
    fn runtime_classes_and_ephemeral_containers_are_followed() {
        let f = testing::check(
            &RULE,
            "
apiVersion: v1
kind: Pod
metadata: {name: debug}
spec:
  runtimeClassName: gvisor
  containers: [{name: c, image: c:1}]
  ephemeralContainers:
    - name: dbg
      image: busybox:1.36
      envFrom: [{secretRef: {name: debug-token}}]
",
        );
        let messages: Vec<&str> = f.iter().map(|f| f.message.as_str()).collect();
        assert_eq!(f.len(), 2, "{messages:#?}");
        assert!(messages.iter().any(|m| m.contains("RuntimeClass `gvisor`")));
        assert!(messages.iter().any(|m| m.contains("Secret `debug-token`")));
    }

    /// What other rules report (an HPA's target, a StatefulSet's Service) or controllers install
    /// (IngressClasses, issuers) is not this rule's.
    #[test]
    fn references_of_other_rules_and_controllers_are_not_followed() {
        let f = testing::check(
            &RULE,
            "
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  ingressClassName: nginx
  rules: []
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web}
spec:
  secretName: web-tls
  issuerRef: {kind: ClusterIssuer, name: letsencrypt}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: nope}
  maxReplicas: 2
",
        );
        assert!(f.is_empty(), "{f:#?}");
    }

    #[test]
    fn a_secret_volume_with_items_is_one_finding() {
        let f = testing::check(
            &RULE,
            "
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers: [{name: c, image: c:1}]
  volumes:
    - name: s
      secret:
        secretName: certs
        items: [{key: tls.crt, path: tls.crt}, {key: tls.key, path: tls.key}]
",
        );
        assert_eq!(f.len(), 1, "{f:#?}");
    }
}
