//! `heap-headroom`: JVM heaps that do not fit the container's memory.

use berth_model::Severity;
use berth_model::ValueExt;
use serde_json::Value;

use super::{Out, Rule};
use crate::context::Context;
use crate::k8s;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "heap-headroom",
    severity: Severity::Warning,
    summary: "a JVM whose memory request is under 1.2 × heap or limit under 1.25 × request",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Reads the maximum heap of Java containers from `-Xmx` in their env values (`JAVA_OPTS`,
`JAVA_TOOL_OPTIONS`, `ATOM_VMOPTIONS_OVERRIDES`, ...), `command` or `args`, and checks that the
memory request is at least 1.2 × the heap and the memory limit at least 1.25 × the request.

## Why is this bad?
A JVM uses memory beyond its heap: metaspace, thread stacks, code cache, direct buffers, GC
structures; typically 20-30 % more. A request at or below the heap lets the scheduler pack the pod
onto a node that cannot hold it, and a limit too close to the request gets the container
OOM-killed under load (exit code 137) while the heap itself was fine.

## Example
```yaml
env:
  - {name: JAVA_OPTS, value: -Xmx1536m}
resources:
  requests: {memory: 1024Mi}
  limits: {memory: 1536Mi}
```

## Fix
Size memory from the heap: request ≥ 1.2 × `-Xmx`, limit ≥ 1.25 × request (for `-Xmx1536m`:
request 1844Mi, limit 2305Mi), or lower `-Xmx`. With no explicit heap, prefer
`-XX:MaxRAMPercentage=75` so the heap follows the limit.
";

/// The container's JVM heap in bytes (berth-model's one `-Xmx` reader, shared with doctor).
fn heap_of(container: &Value) -> Option<f64> {
    berth_model::jvm::container_max_heap(container).map(|h| h.bytes as f64)
}

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    for t in &ctx.pod_templates {
        let w = ctx.object(t.object);
        for c in t.containers() {
            let Some(heap) = heap_of(c.value) else {
                continue;
            };
            let limit = c
                .value
                .at("/resources/limits/memory")
                .and_then(k8s::quantity);
            let request = c
                .value
                .at("/resources/requests/memory")
                .and_then(k8s::quantity)
                .or(limit);
            let res = format!("{}/resources", c.pointer());
            match request {
                None => out.at(
                    w,
                    &c.pointer(),
                    format!("container `{}` of {} runs a {} heap with no memory request or limit", c.name(), w.display_name(), k8s::mebibytes(heap)),
                    format!("request at least {} and limit at least {}", k8s::mebibytes(heap * 1.2), k8s::mebibytes(heap * 1.5)),
                ),
                Some(req) if req < heap * 1.2 => out.at(
                    w,
                    &res,
                    format!(
                        "container `{}` of {} requests {} of memory for a {} heap (needs at least 1.2 × heap = {})",
                        c.name(),
                        w.display_name(),
                        k8s::mebibytes(req),
                        k8s::mebibytes(heap),
                        k8s::mebibytes(heap * 1.2)
                    ),
                    format!("request at least {} (and limit at least {}), or lower -Xmx", k8s::mebibytes(heap * 1.2), k8s::mebibytes(heap * 1.5)),
                ),
                Some(req) => {
                    if let Some(lim) = limit.filter(|l| *l < req * 1.25) {
                        out.at(
                            w,
                            &res,
                            format!(
                                "container `{}` of {} has a memory limit of {} for a {} request (needs at least 1.25 × request = {})",
                                c.name(),
                                w.display_name(),
                                k8s::mebibytes(lim),
                                k8s::mebibytes(req),
                                k8s::mebibytes(req * 1.25)
                            ),
                            format!("set the memory limit to at least {}", k8s::mebibytes(req * 1.25)),
                        );
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render};

    fn pod(env: &str, request: &str, limit: &str) -> String {
        format!(
            "
apiVersion: v1
kind: Pod
metadata: {{name: molecule}}
spec:
  containers:
    - name: atom
      image: boomi/molecule:5.0.1
      env: [{{name: ATOM_VMOPTIONS_OVERRIDES, value: '{env}'}}]
      resources:
        requests: {{memory: {request}}}
        limits: {{memory: {limit}}}
"
        )
    }

    #[test]
    fn fires_when_heap_does_not_fit() {
        let mut f = check(&RULE, &pod("-Xms512m -Xmx1536m", "1024Mi", "1536Mi"));
        f.extend(check(&RULE, &pod("-Xmx1g", "1300Mi", "1400Mi")));
        assert_eq!(f.len(), 2);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_with_headroom_or_no_heap() {
        assert!(check(&RULE, &pod("-Xmx1g", "1300Mi", "1700Mi")).is_empty());
        assert!(check(&RULE, &pod("-XX:MaxRAMPercentage=75", "1Gi", "1Gi")).is_empty());
    }
}
