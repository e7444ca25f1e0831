//! `placeholder`: a `${name}` that misspells a stack value, or a value that cannot stand where
//! it is used. Reported by the loader (`berth-stack`'s `substitute` module, which holds the
//! rules); documented here for `berth explain`.

use berth_model::Severity;

use super::{Out, Rule};
use crate::context::Context;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "placeholder",
    severity: Severity::Error,
    summary: "a `${name}` that misspells a stack value, or a value that cannot stand inside text",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Reports a `${name}` in a manifest (or in a chart component's `values:`) that looks like a misspelt
stack value: a name that is not declared but is close to one that is (`${replicsa}`, or
`${Replicas}` in another case, next to `replicas`), with \"did you mean\". Also a declared value
that cannot stand where it is used: null, or a list or mapping, inside text. The finding points at
the placeholder itself, inside block scalars (`|`, `>`) and multi-line quoted scalars too.

Only names declared under `values:` in berth.yaml, or given with `--values FILE` or `--set`, are
placeholders. Any other `${NAME}` (a container's shell script, a dashboard, an envsubst template)
is left exactly as written and is no finding, and a plain folder or file without berth.yaml is
never substituted at all.

## Why is this bad?
A misspelt placeholder is not filled, so the object would go out with the literal text
`${replicsa}`, which the API server rejects for a number and accepts, silently wrong, in an image,
a host name or an environment variable. berth never fills a placeholder with an empty string.

## Example
```yaml
# berth.yaml
values:
  replicas: 3
# app.yaml
spec:
  replicas: ${replicsa}       # error: `${replicsa}` has no value; did you mean `replicas`?
  template:
    spec:
      containers:
        - command: [sh, -c, 'wget http://${FRONTEND_ADDR}']   # not berth's: left as written
```

## Fix
Correct the name (`${replicas}`). If the name belongs to another tool and only happens to be close
to a value's name (`${HOST}` next to a value `host`), write `$${HOST}`: `$${` renders a literal
`${`, whatever name follows (`$${replicas}` renders `${replicas}`). A name counts as close when it
differs from a declared one only in case or, case ignored, by one edit (a letter added, removed,
changed, or two swapped) when the shorter of the two has 4 to 7 characters, two edits from 8
characters on; names under 4 characters only match by case. A placeholder error stops
`berth check` with exit code 2: nothing is applied.
";

fn run(_: &Context<'_>, _: &mut Out<'_>) {}
