//! `resources-missing`: containers without CPU/memory requests or a memory limit.

use berth_model::Severity;
use berth_model::ValueExt;
use serde_json::Value;

use super::{Out, Rule};
use crate::context::Context;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "resources-missing",
    severity: Severity::Warning,
    summary: "containers with no requests/limits",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Finds containers (not init containers) without `resources.requests.cpu`,
`resources.requests.memory` or `resources.limits.memory`.

## Why is this bad?
The scheduler places pods by their requests: without them it packs pods onto nodes that cannot
run them, the cluster-autoscaler does not add nodes when it should, and an HPA on CPU or memory
utilisation has nothing to compute a percentage of. Without a memory limit one leaking container
can push a node into memory pressure and get its neighbours evicted.

## Example
```yaml
containers:
  - name: kafka
    image: wurstmeister/kafka:2.13-2.8.1
```

## Fix
Set requests to what the container needs in normal operation and a memory limit it must not
exceed:
```yaml
    resources:
      requests: {cpu: 250m, memory: 1Gi}
      limits: {memory: 1536Mi}
```
";

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    for t in &ctx.pod_templates {
        let o = ctx.object(t.object);
        for c in t.containers() {
            if c.init {
                continue;
            }
            let r = c.value.member("resources");
            let has = |p: &str| r.and_then(|r| r.at(p)).is_some_and(|v| !v.is_null());
            let mut missing = Vec::new();
            for (p, what) in [
                ("/requests/cpu", "a CPU request"),
                ("/requests/memory", "a memory request"),
                ("/limits/memory", "a memory limit"),
            ] {
                if !has(p) {
                    missing.push(what);
                }
            }
            if missing.is_empty() {
                continue;
            }
            let pointer = if r.is_some_and(Value::is_object) {
                format!("{}/resources", c.pointer())
            } else {
                c.pointer()
            };
            out.at(
                o,
                &pointer,
                format!("container `{}` of {} has no {}", c.name(), o.display_name(), join(&missing)),
                "set resources.requests (cpu, memory) to what it needs and resources.limits.memory to what it must not exceed",
            );
        }
    }
}

fn join(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.trim_start_matches("a ").to_string(),
        [init @ .., last] => format!(
            "{} or {}",
            init.iter()
                .map(|s| s.trim_start_matches("a "))
                .collect::<Vec<_>>()
                .join(", "),
            last.trim_start_matches("a ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render};

    const POD: &str = "
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - name: none
      image: a:1
    - name: partial
      image: a:1
      resources:
        requests: {memory: 100Mi}
        limits: {memory: 1536Mi}
    - name: full
      image: a:1
      resources:
        requests: {cpu: 100m, memory: 100Mi}
        limits: {memory: 200Mi}
";

    #[test]
    fn fires_on_missing_requests_and_limits() {
        let f = check(&RULE, POD);
        assert_eq!(f.len(), 2);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_when_set() {
        let full = "
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - name: full
      image: a:1
      resources:
        requests: {cpu: 100m, memory: 100Mi}
        limits: {memory: 200Mi}
";
        assert!(check(&RULE, full).is_empty());
    }
}
