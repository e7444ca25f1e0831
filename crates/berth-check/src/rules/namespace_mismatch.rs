//! `namespace-mismatch`: an object that lands in another namespace than the objects using it,
//! or a namespace on an object that has none.

use std::collections::BTreeMap;

use berth_model::Severity;

use super::{Out, Rule};
use crate::context::Context;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "namespace-mismatch",
    severity: Severity::Error,
    summary: "an object that will land in another namespace than the objects that use it",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Reports, at the object itself, a Secret, ConfigMap, ServiceAccount, claim or Service that the
stack creates in one namespace while the objects that use it are in another (and no copy exists
where they are). Also reports `metadata.namespace` on cluster-scoped kinds (PersistentVolume,
StorageClass, ClusterRole, ...), where the API server ignores it.

## Why is this bad?
Namespaced references never cross namespaces: the user does not see the object and fails as if
it did not exist. It happens when a file has no `metadata.namespace` and is applied while another
namespace is current, so it works on the author's machine and nowhere else (the Boomi Flow
runtime Secret lands in `default`, the runtime runs in `boomi-flow`). A namespace written on a
cluster-scoped object suggests the author expected an isolation that does not exist.

## Example
```yaml
kind: Secret
metadata:
  name: boomi-flow-secret        # no namespace; the runtime is in boomi-flow
```

## Fix
Set `metadata.namespace` to the users' namespace, or leave it out and let berth apply the stack
namespace to every namespaced object; for a Secret several namespaces need, declare it in
berth.yaml `secrets:` with `namespaces: [a, b]`. Remove `metadata.namespace` from cluster-scoped
objects.
";

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    // provider object → namespaces of the users that cannot see it
    let mut misplaced: BTreeMap<usize, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for i in 0..ctx.objects.len() {
        for r in ctx.references(i) {
            let Some(ns) = r.namespace.as_ref() else {
                continue;
            };
            if super::ref_missing::provided(ctx, r) {
                continue;
            }
            for &p in ctx.find_any_namespace(&r.kind, &r.name) {
                let entry = misplaced.entry(p).or_default();
                if !entry.0.contains(ns) {
                    entry.0.push(ns.clone());
                }
                let user = ctx.object(i).display_name();
                if !entry.1.contains(&user) {
                    entry.1.push(user);
                }
            }
        }
    }
    for (p, (namespaces, users)) in misplaced {
        let o = ctx.object(p);
        let written = o.positions.contains_key("/metadata/namespace");
        let how = if written {
            "is in"
        } else {
            "has no metadata.namespace, so it lands in"
        };
        out.at(
            o,
            if written { "/metadata/namespace" } else { "/metadata" },
            format!(
                "{} {how} `{}`, but {} {} it from `{}`",
                o.display_name(),
                ctx.namespace_of(p),
                users.join(", "),
                if users.len() == 1 { "uses" } else { "use" },
                namespaces.join("`, `")
            ),
            format!("set metadata.namespace: {} (or declare it in berth.yaml `secrets:` for several namespaces)", namespaces[0]),
        );
    }
    for o in ctx.objects {
        if o.namespace().is_some()
            && ctx.is_cluster_scoped(o.group(), o.kind())
            && o.positions.contains_key("/metadata/namespace")
        {
            out.at_severity(
                Severity::Warning,
                o,
                "/metadata/namespace",
                format!(
                    "{} is cluster-scoped: its metadata.namespace `{}` is ignored",
                    o.display_name(),
                    o.namespace().unwrap_or("")
                ),
                "remove metadata.namespace",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{self, render};

    const FILES: &[(&str, &str)] = &[
        (
            "secret.yaml",
            "
apiVersion: v1
kind: Secret
metadata:
  name: boomi-flow-secret
stringData: {password: <password>}
",
        ),
        (
            "deploy.yaml",
            "
apiVersion: apps/v1
kind: Deployment
metadata: {name: flow-runtime, namespace: boomi-flow}
spec:
  selector: {matchLabels: {app: flow}}
  template:
    metadata: {labels: {app: flow}}
    spec:
      containers:
        - name: runtime
          image: boomi/flow:1.0.0
          envFrom: [{secretRef: {name: boomi-flow-secret}}]
",
        ),
        (
            "pv.yaml",
            "
apiVersion: v1
kind: PersistentVolume
metadata: {name: minio, namespace: minio}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /mnt/data}
",
        ),
    ];

    #[test]
    fn fires_on_misplaced_objects() {
        let mut s = testing::stack_files(FILES);
        s.namespace = "default".into();
        let f = testing::run(&RULE, &s);
        assert_eq!(f.len(), 2, "{f:#?}");
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_when_namespaces_agree() {
        let mut s = testing::stack_files(&FILES[..2]);
        s.namespace = "boomi-flow".into();
        assert!(testing::run(&RULE, &s).is_empty());
    }

    #[test]
    fn a_namespace_on_a_karpenter_node_pool_is_ignored() {
        let f = testing::check(
            &RULE,
            "
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: default, namespace: karpenter}
spec: {template: {spec: {nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}}}}
",
        );
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(
            f[0].message
                .contains("NodePool/karpenter/default is cluster-scoped"),
            "{}",
            f[0].message
        );
    }
}
