//! `grace-period`: a termination grace period shorter than the preStop drain.

use berth_model::Severity;
use berth_model::ValueExt;
use serde_json::Value;

use super::{Out, Rule};
use crate::context::Context;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "grace-period",
    severity: Severity::Warning,
    summary: "terminationGracePeriodSeconds shorter than the preStop drain it must cover",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Reads how long a container's `preStop` hook waits (`sleep N` in an exec hook, or the
`sleep.seconds` of a sleep hook) and checks that the pod's `terminationGracePeriodSeconds`
(default 30) is longer.

## Why is this bad?
The grace period covers the preStop hook *and* the shutdown after it. When the drain takes longer,
the kubelet kills the container mid-drain: in-flight requests fail, a node that was handing over
its work (a Molecule scaling down, a broker moving partitions) stops half-way.

## Example
```yaml
spec:
  terminationGracePeriodSeconds: 30
  containers:
    - lifecycle:
        preStop:
          exec: {command: [sh, -c, \"sleep 60\"]}
```

## Fix
Set `terminationGracePeriodSeconds` above the drain time plus the time the process needs to stop
(e.g. drain + 15 s), or shorten the drain.
";

fn sleep_seconds(words: &[&str]) -> Option<u64> {
    let mut best = None;
    for (n, w) in words.iter().enumerate() {
        if *w == "sleep"
            && let Some(next) = words.get(n + 1)
        {
            let digits = next.trim_end_matches(['s', ';', '&', ')']);
            if let Ok(secs) = digits.parse::<u64>() {
                let secs = if next.ends_with('m') { secs * 60 } else { secs };
                best = Some(best.map_or(secs, |b: u64| b.max(secs)));
            }
        }
    }
    best
}

fn drain(container: &Value) -> Option<u64> {
    let hook = container.at("/lifecycle/preStop")?;
    if let Some(s) = hook.at("/sleep/seconds").and_then(Value::as_u64) {
        return Some(s);
    }
    let cmd = hook.at("/exec/command").and_then(Value::as_array)?;
    let text: Vec<String> = cmd
        .iter()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    let joined = text.join(" ");
    let words: Vec<&str> = joined
        .split(|c: char| c.is_whitespace() || c == ';' || c == '&')
        .filter(|w| !w.is_empty())
        .collect();
    sleep_seconds(&words)
}

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    for t in &ctx.pod_templates {
        let w = ctx.object(t.object);
        let grace_ptr = format!("{}/spec/terminationGracePeriodSeconds", t.pointer);
        let grace = t
            .spec()
            .and_then(|s| s.member("terminationGracePeriodSeconds"))
            .and_then(Value::as_u64);
        for c in t.containers() {
            let Some(d) = drain(c.value) else { continue };
            let g = grace.unwrap_or(30);
            if g > d {
                continue;
            }
            let (ptr, what) = match grace {
                Some(_) => (
                    grace_ptr.clone(),
                    format!("terminationGracePeriodSeconds is {g}"),
                ),
                None => (
                    format!("{}/lifecycle/preStop", c.pointer()),
                    "the default grace period is 30 s".to_string(),
                ),
            };
            out.at(
                w,
                &ptr,
                format!("the preStop hook of container `{}` in {} waits {d} s, but {what}: the kubelet kills it mid-drain", c.name(), w.display_name()),
                format!("set terminationGracePeriodSeconds to at least {}", d + 15),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render};

    fn pod(grace: &str, hook: &str) -> String {
        format!(
            "
apiVersion: v1
kind: Pod
metadata: {{name: p}}
spec:
{grace}  containers:
    - name: a
      image: a:1
      lifecycle:
        preStop: {hook}
"
        )
    }

    #[test]
    fn fires_when_drain_outlasts_grace() {
        let mut f = check(
            &RULE,
            &pod(
                "  terminationGracePeriodSeconds: 20\n",
                "{exec: {command: [sh, -c, 'sleep 45; nginx -s quit']}}",
            ),
        );
        f.extend(check(&RULE, &pod("", "{sleep: {seconds: 60}}")));
        assert_eq!(f.len(), 2);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_when_grace_covers_it() {
        assert!(
            check(
                &RULE,
                &pod(
                    "  terminationGracePeriodSeconds: 60\n",
                    "{exec: {command: [sleep, '45']}}"
                )
            )
            .is_empty()
        );
        assert!(
            check(
                &RULE,
                &pod("", "{exec: {command: [sh, /home/boomi/scaledown.sh]}}")
            )
            .is_empty()
        );
    }
}
