//! `server-fields`: a manifest that carries what the API server writes. Reported (and the
//! fields dropped) by the loader (`berth-stack`); documented here for `berth explain`.

use berth_model::Severity;

use super::{Out, Rule};
use crate::context::Context;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "server-fields",
    severity: Severity::Warning,
    summary: "fields the API server writes (managedFields, resourceVersion, uid) in a manifest",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Finds objects whose `metadata` has what only the API server writes: `managedFields`,
`resourceVersion`, `uid`, `creationTimestamp`, `generation`, `selfLink`, `deletionTimestamp`,
`deletionGracePeriodSeconds`. berth drops them, and the object's `status`, before anything uses
the object: `check`, `render`, `plan` and `up` all see it without them. The warning says so, so
the manifest can be cleaned.

## Why is this bad?
These are what `kubectl get -o yaml` prints of a live object, and saving that output is a common
way to start a manifest. Applied as they are, they fail: server-side apply refuses an object with
`managedFields` (\"metadata.managedFields must be nil\"), and a `resourceVersion` makes the apply
conditional on a version the cluster moved past long ago (a conflict). A `status` is never taken
from an apply; berth drops it without a warning, since vendor CRD files carry an empty one.

## Example
```yaml
metadata:
  name: settings
  resourceVersion: \"123456\"
  uid: 5f0c2f0e-8d7b-4a36-9f5e-0d6f8c1c2b11
  managedFields: [...]
```

## Fix
Delete those fields from the manifest. `ownerReferences`, `finalizers`, labels and annotations
are kept: they may be meant.
";

fn run(_: &Context<'_>, _: &mut Out<'_>) {}
