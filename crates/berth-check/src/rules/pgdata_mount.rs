//! `pgdata-mount`: a Postgres data directory at the root of a volume.

use berth_model::Severity;
use berth_model::ValueExt;
use serde_json::Value;

use super::{Out, Rule};
use crate::context::Context;
use crate::storage;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "pgdata-mount",
    severity: Severity::Error,
    summary: "a Postgres data directory mounted at a volume root (lost+found makes initdb fail)",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
For Postgres containers (a `postgres`, `postgis` or `timescaledb` image, or a `PGDATA` variable),
finds a persistent volume (a claim or a volume claim template) mounted exactly at the data
directory (`PGDATA`, by default `/var/lib/postgresql/data`) without a `subPath`.

## Why is this bad?
A freshly formatted ext4 volume (EBS, PD, Azure Disk) contains `lost+found` at its root.
`initdb` refuses a non-empty directory (\"directory exists but is not empty\"), so the database
never starts on a new volume, although it worked on a laptop with a hostPath or emptyDir.

## Example
```yaml
env:
  - {name: PGDATA, value: /var/lib/postgresql/data}
volumeMounts:
  - {name: data, mountPath: /var/lib/postgresql/data}
```

## Fix
Mount the volume with a `subPath` (`subPath: pgdata`), or mount it one level up and point
`PGDATA` at a subdirectory (`PGDATA=/var/lib/postgresql/data/pgdata`). If the image runs as a
non-root user, an init container may need to `chown` the directory.
";

const DEFAULT_PGDATA: &str = "/var/lib/postgresql/data";

fn is_postgres(container: &Value) -> bool {
    let image = container
        .member("image")
        .and_then(Value::as_str)
        .unwrap_or("");
    let repo = image.split('@').next().unwrap_or(image);
    let name = repo
        .rsplit('/')
        .next()
        .unwrap_or(repo)
        .split(':')
        .next()
        .unwrap_or("");
    let by_image = matches!(
        name,
        "postgres" | "postgresql" | "postgis" | "timescaledb" | "timescaledb-ha"
    );
    by_image || pgdata(container).is_some()
}

fn pgdata(container: &Value) -> Option<&str> {
    container
        .member("env")
        .and_then(Value::as_array)?
        .iter()
        .find_map(|e| {
            (e.member("name").and_then(Value::as_str) == Some("PGDATA"))
                .then(|| e.member("value").and_then(Value::as_str))
                .flatten()
        })
}

/// False when the claim certainly binds to something without `lost+found`: static volumes of
/// the stack that are hostPath, NFS or another file system, or a shared file-system class.
fn claim_may_be_block(ctx: &Context<'_>, ns: &str, claim: &str) -> bool {
    let Some(c) = ctx.find("PersistentVolumeClaim", ns, claim) else {
        return true;
    };
    let v = &ctx.object(c).value;
    let class = v.at("/spec/storageClassName").and_then(Value::as_str);
    let pvs: Vec<&Value> = ctx
        .of_kind("PersistentVolume")
        .iter()
        .map(|&p| &ctx.object(p).value)
        .filter(|pv| {
            let by_name = v.at("/spec/volumeName").and_then(Value::as_str)
                == pv.at("/metadata/name").and_then(Value::as_str)
                && v.at("/spec/volumeName").is_some();
            let by_ref = pv.at("/spec/claimRef/name").and_then(Value::as_str) == Some(claim);
            let by_class = class.is_some_and(|c| {
                pv.at("/spec/storageClassName").and_then(Value::as_str) == Some(c)
            }) && ctx.find("StorageClass", "", class.unwrap_or("")).is_none();
            by_name || by_ref || by_class
        })
        .collect();
    if !pvs.is_empty() {
        return pvs.iter().any(|pv| storage::pv_kind(pv).formatted_device());
    }
    match class.and_then(|c| storage::class_info(ctx, c)) {
        Some(info) => info.kind.formatted_device(),
        None => true, // unknown or default class: may well be a block device
    }
}

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    for t in &ctx.pod_templates {
        let w = ctx.object(t.object);
        let claim_templates: Vec<&str> = w
            .value
            .at("/spec/volumeClaimTemplates")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.at("/metadata/name").and_then(Value::as_str))
            .collect();
        let ns = ctx.namespace_of(t.object);
        // A volume that may be a freshly formatted block device (with lost+found at its root).
        let persistent = |name: &str| {
            claim_templates.contains(&name)
                || t.volumes().iter().any(|(_, v)| {
                    if v.member("name").and_then(Value::as_str) != Some(name) {
                        return false;
                    }
                    if v.member("ephemeral").is_some() {
                        return true;
                    }
                    match v
                        .at("/persistentVolumeClaim/claimName")
                        .and_then(Value::as_str)
                    {
                        Some(claim) => claim_may_be_block(ctx, ns, claim),
                        None => false,
                    }
                })
        };
        for c in t.containers() {
            if c.init || !is_postgres(c.value) {
                continue;
            }
            let dir = pgdata(c.value)
                .unwrap_or(DEFAULT_PGDATA)
                .trim_end_matches('/');
            for (n, m) in c
                .value
                .member("volumeMounts")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let path = m
                    .member("mountPath")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .trim_end_matches('/');
                let sub = m
                    .member("subPath")
                    .and_then(Value::as_str)
                    .is_some_and(|s| !s.is_empty());
                let name = m.member("name").and_then(Value::as_str).unwrap_or("");
                if path == dir && !sub && persistent(name) {
                    out.at(
                        w,
                        &format!("{}/volumeMounts/{n}/mountPath", c.pointer()),
                        format!(
                            "container `{}` of {} keeps its Postgres data directory `{dir}` at the root of volume `{name}`: initdb fails on its lost+found",
                            c.name(),
                            w.display_name()
                        ),
                        "add `subPath: pgdata` to the mount, or set PGDATA to a subdirectory of the mount path",
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render};

    const STS: &str = "
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: postgresql}
spec:
  serviceName: postgresql
  selector: {matchLabels: {app: pg}}
  template:
    metadata: {labels: {app: pg}}
    spec:
      containers:
        - name: pg
          image: postgres:17.2
          volumeMounts:
            - {name: data, mountPath: /var/lib/postgresql/data}
  volumeClaimTemplates:
    - metadata: {name: data}
      spec:
        accessModes: [ReadWriteOnce]
        resources: {requests: {storage: 1Gi}}
";

    #[test]
    fn fires_on_volume_root() {
        let f = check(&RULE, STS);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_on_host_path_volumes() {
        let f = check(
            &RULE,
            "
apiVersion: v1
kind: PersistentVolume
metadata: {name: postgres}
spec:
  storageClassName: manual
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /mnt/data}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: postgres}
spec:
  storageClassName: manual
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Pod
metadata: {name: pg}
spec:
  containers:
    - name: pg
      image: postgres:17.2
      volumeMounts: [{name: data, mountPath: /var/lib/postgresql/data}]
  volumes:
    - name: data
      persistentVolumeClaim: {claimName: postgres}
",
        );
        assert!(f.is_empty(), "{f:#?}");
    }

    #[test]
    fn silent_with_subpath_or_subdir() {
        let sub = STS.replace(
            "mountPath: /var/lib/postgresql/data}",
            "mountPath: /var/lib/postgresql/data, subPath: pgdata}",
        );
        assert!(check(&RULE, &sub).is_empty());
        let env = STS.replace(
            "          volumeMounts:",
            "          env: [{name: PGDATA, value: /var/lib/postgresql/data/pgdata}]\n          volumeMounts:",
        );
        assert!(check(&RULE, &env).is_empty());
    }
}
