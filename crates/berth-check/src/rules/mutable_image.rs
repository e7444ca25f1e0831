//! `mutable-image`: images without a pinned tag or digest.

use berth_model::Severity;
use berth_model::ValueExt;
use serde_json::Value;

use super::{Out, Rule};
use crate::context::Context;
use crate::k8s;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "mutable-image",
    severity: Severity::Warning,
    summary: "images without a pinned tag or digest (`latest`, `release`)",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Finds containers whose image has no tag, or a tag that moves (`latest`, `release`, `stable`,
`master`, `main`, `edge`, `nightly`, `dev`), and no `@sha256:` digest.

## Why is this bad?
The same manifest runs different code on different days: a node that pulls the image after a
push gets the new version while older pods keep the old one, a rollback does not go back, and
`berth plan` cannot show the change because the manifest did not change.

## Example
```yaml
containers:
  - name: molecule
    image: boomi/molecule:release
```

## Fix
Pin a version tag (`boomi/molecule:5.0.1`) or a digest (`boomi/molecule@sha256:...`), and change
it on purpose, e.g. from a stack value (`image: ${image}`).
";

const MOVING: &[&str] = &[
    "latest", "release", "stable", "master", "main", "edge", "nightly", "dev",
];

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    for t in &ctx.pod_templates {
        let o = ctx.object(t.object);
        for c in t.containers() {
            let Some(image) = c.value.member("image").and_then(Value::as_str) else {
                continue;
            };
            if k8s::has_digest(image) {
                continue;
            }
            let problem = match k8s::image_tag(image) {
                None => "has no tag, so it means `latest`".to_string(),
                Some(tag) if MOVING.contains(&tag.to_ascii_lowercase().as_str()) => {
                    format!("uses the moving tag `{tag}`")
                }
                Some(_) => continue,
            };
            out.at(
                o,
                &format!("{}/image", c.pointer()),
                format!(
                    "image `{image}` of container `{}` in {} {problem}",
                    c.name(),
                    o.display_name()
                ),
                "pin a version tag or an @sha256 digest",
            );
        }
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
    - name: a
      image: nginx
    - name: b
      image: boomi/molecule:release
    - name: c
      image: registry:5000/team/app:1.2.3
    - name: d
      image: busybox@sha256:0123
";

    #[test]
    fn fires_on_untagged_and_moving_tags() {
        let f = check(&RULE, POD);
        assert_eq!(f.len(), 2);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_on_pinned_images() {
        let f = check(
            &RULE,
            &POD.replace("image: nginx", "image: nginx:1.27")
                .replace(":release", ":5.0.1"),
        );
        assert!(f.is_empty(), "{f:#?}");
    }
}
