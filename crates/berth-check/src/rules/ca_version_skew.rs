//! `ca-version-skew`: a cluster-autoscaler image for another Kubernetes minor version.

use berth_model::Severity;

use super::{Out, Rule};
use crate::autoscaler::autoscalers;
use crate::context::Context;
use crate::{k8s, schemas};

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "ca-version-skew",
    severity: Severity::Warning,
    summary: "a cluster-autoscaler image whose minor version is not the cluster's",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Compares the minor version of the cluster-autoscaler image tag (`v1.16.5` → 1.16) with the stack's
target Kubernetes version (`kubernetes:` in berth.yaml).

## Why is this bad?
Each cluster-autoscaler release is built and tested against one Kubernetes minor version and
vendors that version's scheduler code to simulate where pods fit. With another version it can
misjudge scheduling (new fields, changed predicates), and old releases use APIs the cluster no
longer serves, so it crash-loops or silently stops scaling after a cluster upgrade.

## Example
```yaml
image: registry.k8s.io/autoscaling/cluster-autoscaler:v1.16.5    # cluster is 1.33
```

## Fix
Use the autoscaler release with the cluster's minor version (`cluster-autoscaler:v1.33.x`), and
upgrade it together with the cluster.
";

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    let target = schemas::minor_of(&ctx.stack.kubernetes);
    if target == 0 {
        return;
    }
    for ca in autoscalers(ctx) {
        let image = ca.image();
        let Some(tag) = k8s::image_tag(image) else {
            continue;
        };
        let minor = schemas::minor_of(tag);
        if minor == 0 || minor == target {
            continue;
        }
        let w = ctx.object(ca.object);
        out.at(
            w,
            &format!("{}/image", ca.container.pointer()),
            format!("the cluster-autoscaler in {} is {tag} (Kubernetes 1.{minor}), but the cluster is {}", w.display_name(), ctx.stack.kubernetes),
            format!("use a cluster-autoscaler v1.{target}.x image"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::ca_discovery_tag::tests::ca;
    use crate::rules::testing::{check, render};

    #[test]
    fn fires_on_another_minor() {
        let f = check(&RULE, &ca("v1.16.5", &[]));
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_on_the_same_minor() {
        assert!(check(&RULE, &ca("v1.34.2", &[])).is_empty());
    }
}
