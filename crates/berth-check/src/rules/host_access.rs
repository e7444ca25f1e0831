//! `host-access`: pods that reach into the node (hostPath, privileged, host namespaces).

use berth_model::ValueExt;
use berth_model::{Profile, Severity};
use serde_json::Value;

use super::{Out, Rule};
use crate::context::Context;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "host-access",
    severity: Severity::Warning,
    summary: "hostPath mounts, privileged containers, host network",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Finds pods with `hostPath` volumes, `hostNetwork`, `hostPID` or `hostIPC`, containers that are
`privileged` or bind a `hostPort`, and (on cloud profiles) PersistentVolumes backed by `hostPath`.

## Why is this bad?
Each of these ties the pod to the node it runs on and breaks the isolation between them. A
hostPath holds data only on one node: the pod loses it when it is rescheduled, and a path that
exists on one node image (`/etc/ssl/certs/ca-bundle.crt` on Amazon Linux) is missing on another.
A privileged container or the host network can read and change everything on the node. Host
ports limit a node to one such pod and collide with other software.

## Example
```yaml
volumes:
  - name: ssl-certs
    hostPath: {path: /etc/ssl/certs/ca-bundle.crt}
```

## Fix
Use a PersistentVolumeClaim for data, a ConfigMap or a projected volume for files, drop
`privileged` for the specific `capabilities` the process needs, and a Service instead of host
ports. When node access is truly the job (a CSI node plugin, a log collector), keep it and accept
the warning.
";

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    for t in &ctx.pod_templates {
        let o = ctx.object(t.object);
        let Some(spec) = t.spec() else { continue };
        for field in ["hostNetwork", "hostPID", "hostIPC"] {
            if spec.get(field).and_then(Value::as_bool) == Some(true) {
                out.at(
                    o,
                    &format!("{}/spec/{field}", t.pointer),
                    format!(
                        "{} runs in the node's {} namespace (`{field}: true`)",
                        o.display_name(),
                        &field[4..].to_lowercase()
                    ),
                    format!(
                        "remove `{field}` unless the pod must see the node's {}",
                        &field[4..].to_lowercase()
                    ),
                );
            }
        }
        for (ptr, vol) in t.volumes() {
            if let Some(path) = vol.at("/hostPath/path").and_then(Value::as_str) {
                out.at(
                    o,
                    &format!("{ptr}/hostPath"),
                    format!("volume `{}` of {} mounts the node's `{path}`", name_of(vol), o.display_name()),
                    "use a PersistentVolumeClaim, ConfigMap or projected volume instead of a hostPath",
                );
            }
        }
        for c in t.containers() {
            if c.value
                .at("/securityContext/privileged")
                .and_then(Value::as_bool)
                == Some(true)
            {
                out.at(
                    o,
                    &format!("{}/securityContext/privileged", c.pointer()),
                    format!(
                        "container `{}` of {} is privileged",
                        c.name(),
                        o.display_name()
                    ),
                    "drop `privileged` and add only the capabilities the process needs",
                );
            }
            if let Some(ports) = c.value.member("ports").and_then(Value::as_array) {
                for (n, p) in ports.iter().enumerate() {
                    if let Some(hp) = p.member("hostPort").and_then(Value::as_u64) {
                        out.at(
                            o,
                            &format!("{}/ports/{n}/hostPort", c.pointer()),
                            format!(
                                "container `{}` of {} binds host port {hp}",
                                c.name(),
                                o.display_name()
                            ),
                            "expose the port with a Service instead of a hostPort",
                        );
                    }
                }
            }
        }
    }
    if ctx.stack.profile != Profile::Local {
        for &i in ctx.of_kind("PersistentVolume") {
            let o = ctx.object(i);
            if let Some(path) = o.value.at("/spec/hostPath/path").and_then(Value::as_str) {
                out.at(
                    o,
                    "/spec/hostPath",
                    format!("{} keeps its data in `{path}` on whichever node the pod lands on ({} profile)", o.display_name(), ctx.stack.profile),
                    "use a PersistentVolumeClaim with the profile's storage class (`berth.dev/storage: block` or `shared`)",
                );
            }
        }
    }
}

fn name_of(v: &Value) -> &str {
    v.member("name").and_then(Value::as_str).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render};

    #[test]
    fn fires_on_host_access() {
        let f = check(
            &RULE,
            "
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ca}
spec:
  selector: {matchLabels: {app: ca}}
  template:
    metadata: {labels: {app: ca}}
    spec:
      hostNetwork: true
      containers:
        - name: ca
          image: ca:1
          securityContext: {privileged: true}
          ports: [{containerPort: 80, hostPort: 8080}]
      volumes:
        - name: ssl-certs
          hostPath: {path: /etc/ssl/certs/ca-bundle.crt}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: data}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /mnt/data}
",
        );
        assert_eq!(f.len(), 5);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_on_isolated_pods() {
        let f = check(
            &RULE,
            "
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - name: a
      image: a:1
      securityContext: {privileged: false}
      ports: [{containerPort: 80}]
  volumes:
    - {name: tmp, emptyDir: {}}
",
        );
        assert!(f.is_empty(), "{f:#?}");
    }
}
