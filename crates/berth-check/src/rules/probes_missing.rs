//! `probes-missing`: long-running containers without a readiness probe.

use berth_model::Severity;
use berth_model::ValueExt;

use super::{Out, Rule};
use crate::context::Context;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "probes-missing",
    severity: Severity::Warning,
    summary: "containers with no readiness probe",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Finds containers of Deployments, StatefulSets, DaemonSets, ReplicaSets and bare Pods that have no
`readinessProbe`. Init containers and Jobs are not checked: they run to completion.

## Why is this bad?
Without a readiness probe a pod is Ready as soon as its process starts. Services and load
balancers send it traffic before it can answer, rolling updates move on before the new version
works, and `berth up` can only wait for \"running\", not for \"serving\".

## Example
```yaml
containers:
  - name: runtime
    image: boomi/flow:1.2.3
    ports: [{containerPort: 8080}]
```

## Fix
Add a `readinessProbe` that checks what clients need (an HTTP health endpoint, a TCP port, or
an exec such as `pg_isready`):
```yaml
    readinessProbe:
      httpGet: {path: /health, port: 8080}
      periodSeconds: 5
```
";

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    for t in &ctx.pod_templates {
        let o = ctx.object(t.object);
        if matches!(o.kind(), "Job" | "CronJob") {
            continue;
        }
        for c in t.containers() {
            if c.init || c.value.member("readinessProbe").is_some() {
                continue;
            }
            out.at(
                o,
                &c.pointer(),
                format!("container `{}` of {} has no readiness probe", c.name(), o.display_name()),
                "add a readinessProbe (httpGet, tcpSocket or exec) that passes only when the container can serve",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render};

    const DEPLOY: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers:
        - {name: init, image: busybox:1.36}
      containers:
        - name: web
          image: nginx:1.27
";

    #[test]
    fn fires_without_readiness_probe() {
        let f = check(&RULE, DEPLOY);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_with_probe_or_for_jobs() {
        let with = format!("{DEPLOY}          readinessProbe: {{tcpSocket: {{port: 80}}}}\n");
        assert!(check(&RULE, &with).is_empty());
        let job = "
apiVersion: batch/v1
kind: Job
metadata: {name: j}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: j, image: busybox:1.36}]
";
        assert!(check(&RULE, job).is_empty());
    }
}
