//! `berth-annotation`: a `berth.dev/` annotation berth does not know, or a value it cannot
//! read, which would otherwise do nothing without a word.

use berth_model::ValueExt;
use berth_model::{HOLDS_QUEUE, Object, Severity};
use serde_json::Value;

use super::{Out, Rule};
use crate::context::Context;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "berth-annotation",
    severity: Severity::Error,
    summary: "a `berth.dev/` annotation berth does not know, or a value it cannot read",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Reads every `berth.dev/` annotation on objects and pod templates. An error for a value berth
cannot read: `berth.dev/wait` other than `ready`, `created` or `none`; `berth.dev/failures-allowed`
other than a whole number; `berth.dev/holds-queue` other than `\"true\"` or `\"false\"`. A
warning for a `berth.dev/` key berth does not know, with the nearest known one.
(`berth.dev/load-balancer` and `berth.dev/storage` values are checked when the profile turns
them into what the cloud needs.)

## Why is this bad?
These annotations change what berth does, and a typo changes nothing: `berth.dev/wait: craeted`
is waited for as `ready`, so `up` blocks on a custom resource it was told to skip;
`berth.dev/hold-queue: \"true\"` does not mark the workload, so nothing warns before its HPA scales
it down and loses the queued messages; `berth.dev/failures-allowed: two` is ignored.

## Example
```yaml
metadata:
  annotations:
    berth.dev/wait: craeted
    berth.dev/hold-queue: \"true\"
```

## Fix
Write the key and value as berth documents them (`berth.dev/wait: created`,
`berth.dev/holds-queue: \"true\"`).
";

/// `berth.dev/wait`: how long `up` waits for the object (read by berth-health).
const WAIT: &str = berth_health::wait_mode::ANNOTATION;
/// `berth.dev/failures-allowed`: crashes and failed pulls a rollout may have.
const FAILURES_ALLOWED: &str = berth_health::rollout::FAILURES_ALLOWED;

/// Every `berth.dev/` annotation berth reads or writes: what users write in manifests, and
/// what berth itself puts on the objects it applies (which an exported manifest still has).
const KNOWN: &[&str] = &[
    WAIT,
    FAILURES_ALLOWED,
    HOLDS_QUEUE,
    "berth.dev/load-balancer",
    "berth.dev/load-balancer-type",
    "berth.dev/storage",
    "berth.dev/generated",
    "berth.dev/generated-keys",
    "berth.dev/config-checksum",
    "berth.dev/data-sha256",
    "berth.dev/created-for-stack",
    "berth.dev/revision",
    "berth.dev/stack",
];

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    for (i, o) in ctx.objects.iter().enumerate() {
        annotations(out, o, "", &o.value);
        // A bare Pod is its own template: its annotations were read above.
        if let Some(t) = ctx.template_of(i).filter(|t| !t.pointer.is_empty()) {
            annotations(out, o, t.pointer, t.value);
        }
    }
}

/// The findings on the `metadata.annotations` of `value`, which is at `base` in `o`.
fn annotations(out: &mut Out<'_>, o: &Object, base: &str, value: &Value) {
    let Some(map) = value
        .member("metadata")
        .and_then(|m| m.member("annotations"))
        .and_then(Value::as_object)
    else {
        return;
    };
    for (key, v) in map {
        if !key.starts_with("berth.dev/") {
            continue;
        }
        let pointer = format!("{base}/metadata/annotations/{}", key.replace('/', "~1"));
        if !KNOWN.contains(&key.as_str()) {
            let near = nearest(key);
            let hint = near
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            out.at_severity(
                Severity::Warning,
                o,
                &pointer,
                format!(
                    "{} has the annotation `{key}`, which berth does not know{hint}: it does nothing",
                    o.display_name()
                ),
                match near {
                    Some(k) => format!("write `{k}`, or remove the annotation"),
                    None => "remove the annotation, or write one berth knows (`berth explain berth-annotation`)".to_string(),
                },
            );
            continue;
        }
        if let Some((why, fix)) = bad_value(key, v) {
            out.at(
                o,
                &pointer,
                format!("`{key}: {}` on {}: {why}", shown(v), o.display_name()),
                fix,
            );
        }
    }
}

/// Why berth cannot read `value` for the annotation `key`, and the fix; None when it can.
fn bad_value(key: &str, value: &Value) -> Option<(&'static str, &'static str)> {
    let text = match value {
        Value::String(s) => s.trim(),
        // A YAML `true` is not a string: the API server refuses it in annotations, and the
        // schema check says so.
        _ => return None,
    };
    match key {
        WAIT if !berth_health::wait_mode::is_known(text) => Some((
            "berth waits for it as `ready`, the default",
            "write `ready`, `created` (wait until it exists) or `none` (do not wait)",
        )),
        FAILURES_ALLOWED if text.parse::<u32>().is_err() => Some((
            "not a whole number, so berth allows its default (one failure per replica of a workload, none for a Job)",
            "write a whole number, such as \"3\"",
        )),
        HOLDS_QUEUE
            if !text.eq_ignore_ascii_case("true") && !text.eq_ignore_ascii_case("false") =>
        {
            Some((
                "only \"true\" marks a workload that holds a queue, so this one is not marked",
                "write \"true\" (it keeps queued messages on its volume) or remove the annotation",
            ))
        }
        _ => None,
    }
}

fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The known key closest to `key`, when one is close enough to be a typo of it.
fn nearest(key: &str) -> Option<&'static str> {
    KNOWN
        .iter()
        .map(|k| (strsim::jaro_winkler(key, k), *k))
        .filter(|(score, _)| *score > 0.9)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render};

    #[test]
    fn fires_on_unknown_keys_and_unreadable_values() {
        let f = check(
            &RULE,
            "
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
  annotations: {berth.dev/wait: craeted}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: molecule
  annotations:
    berth.dev/hold-queue: 'true'
    berth.dev/failures-allowed: two
spec:
  serviceName: molecule
  selector: {matchLabels: {app: molecule}}
  template:
    metadata:
      labels: {app: molecule}
      annotations: {berth.dev/holds-queue: yes please, berth.dev/colour: blue}
    spec:
      containers: [{name: m, image: boomi/molecule:5.0.1}]
",
        );
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn quiet_on_what_berth_reads() {
        let f = check(
            &RULE,
            "
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w
  annotations: {berth.dev/wait: ' created ', example.com/wait: anything}
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: molecule
  annotations:
    berth.dev/holds-queue: 'TRUE'
    berth.dev/failures-allowed: '3'
    berth.dev/config-checksum: abc
spec:
  serviceName: molecule
  selector: {matchLabels: {app: molecule}}
  template:
    metadata:
      labels: {app: molecule}
      annotations: {berth.dev/holds-queue: 'false'}
    spec:
      containers: [{name: m, image: boomi/molecule:5.0.1}]
---
apiVersion: v1
kind: Service
metadata:
  name: web
  annotations: {berth.dev/load-balancer: external, berth.dev/wait: none}
spec:
  ports: [{port: 80}]
",
        );
        assert!(f.is_empty(), "{}", render(&f));
    }

    #[test]
    fn no_hint_for_keys_far_from_every_known_one() {
        assert_eq!(nearest("berth.dev/hold-queue"), Some(HOLDS_QUEUE));
        assert_eq!(nearest("berth.dev/wiat"), Some(WAIT));
        assert_eq!(nearest("berth.dev/colour"), None);
    }
}
