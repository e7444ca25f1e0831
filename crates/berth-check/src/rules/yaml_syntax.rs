//! `yaml-syntax`: YAML that does not parse. Reported by the loader (`berth-stack`), which
//! stops reading a file at its first syntax error; documented here for `berth explain`.

use berth_model::Severity;

use super::{Out, Rule};
use crate::context::Context;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "yaml-syntax",
    severity: Severity::Error,
    summary: "YAML that does not parse, with line and column",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Reports a manifest or stack file that is not valid YAML: a syntax error, a duplicate key, an
undefined alias, or a document too deeply nested or aliased to be read safely. The finding points
at the line and column where the parser stopped.

## Why is this bad?
Nothing in the file can be applied, and kubectl would refuse it too. Some errors are surprising:
`*` starts an alias in YAML, so a masked value such as `password: ******` is read as a reference
to an anchor named `*****`, not as a string. berth reads YAML the way kubectl does (YAML 1.1:
`yes`/`no`/`on`/`off` are booleans, `0644` is octal), so what berth checks is what kubectl sends.

## Example
```yaml
stringData:
  password: ******        # an alias, not a string
```

## Fix
Quote scalars that start with `*`, `&`, `!`, `%`, `@` or a backtick (`password: \"******\"`), fix the
indentation the message points at, and remove duplicate keys. A file with a syntax error stops
`berth check` with exit code 2: nothing is applied.
";

fn run(_: &Context<'_>, _: &mut Out<'_>) {}
