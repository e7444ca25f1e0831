//! `schema`: fields and types the target Kubernetes version's OpenAPI schema rejects, and kinds
//! nothing defines.

use berth_model::ValueExt;
use std::collections::HashMap;
use std::sync::Arc;

use berth_model::{Finding, Object, Severity, group_of};
use jsonschema::Validator;
use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use super::{Out, Rule};
use crate::context::Context;
use crate::k8s;
use crate::schemas::{self, SchemaSet};

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "schema",
    severity: Severity::Error,
    summary: "fields and types that the target Kubernetes version's OpenAPI schema rejects",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Validates every object against the JSON schema of its kind for the stack's target Kubernetes
version (`kubernetes:` in berth.yaml; the schemas of several versions are built into berth), in
strict mode: unknown fields, wrong types, missing required fields and invalid enum values are
reported where they are written. Custom resources are validated against the `openAPIV3Schema` of
their CustomResourceDefinition when the stack contains it; Karpenter's NodePool and EC2NodeClass
are validated against the CRD schemas built into berth when it does not. A kind that neither
Kubernetes nor a CRD in the stack (nor berth) defines, and that `external:` does not list, is
reported too.

## Why is this bad?
The API server rejects the object, or (with `--validate=false`, or in older clients) silently
drops the unknown field: a misspelt `resources`, `readinessProbe` or `nodeSelector` is then simply
not there, and nothing tells you. A custom resource applied before its CRD fails with \"no matches
for kind\".

## Example
```yaml
spec:
  template:
    spec:
      containers:
        - name: web
          image: nginx:1.27
          resource:                 # unknown field: `resources`
            limits: {memory: 1Gi}
          ports:
            - containerPort: \"80\"   # must be an integer
```

## Fix
Correct the field name or type the message names. For a custom resource, add its CRD to the stack
(berth applies CRDs first and waits until they are established), or, when something else installs
it, list it in berth.yaml:
```yaml
external:
  - { kind: CustomResourceDefinition, name: eventbus.argoproj.io }
```
";

/// At most this many schema errors per object: the rest are usually consequences.
const MAX_PER_OBJECT: usize = 8;

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    let set = match SchemaSet::get(&ctx.stack.kubernetes) {
        Ok(set) => set,
        Err(err) => {
            out.push(Finding {
                rule: RULE.id.into(),
                severity: Severity::Error,
                file: ctx.stack.root.join("berth.yaml"),
                line: 1,
                column: 1,
                message: err.to_string(),
                fix: format!(
                    "set `kubernetes:` to one of {}",
                    schemas::supported_versions().join(", ")
                ),
                span: None,
                source: None,
            });
            return;
        }
    };
    let crds = CrdSchemas::new(ctx);
    set.prepare(ctx.objects.iter().map(|o| (o.api_version(), o.kind())));
    // Validation is most of `berth check`'s work: objects are validated in parallel (rayon),
    // each into its own list, joined in object order so the findings are those of one loop.
    use rayon::prelude::*;
    let per_object: Vec<Vec<Finding>> = ctx
        .objects
        .par_iter()
        .map(|o| {
            let mut findings = Vec::new();
            check_object(ctx, &mut Out::new(&RULE, &mut findings), o, set, &crds);
            findings
        })
        .collect();
    for finding in per_object.into_iter().flatten() {
        out.push(finding);
    }
}

/// Validates one object: against its kind's schema, its CRD's, or reports its kind unknown.
fn check_object(
    ctx: &Context<'_>,
    out: &mut Out<'_>,
    o: &Object,
    set: &SchemaSet,
    crds: &CrdSchemas,
) {
    let (av, kind) = (o.api_version(), o.kind());
    if av.is_empty() || kind.is_empty() {
        return; // the loader reports documents without apiVersion/kind
    }
    if let Some(v) = set.validator(av, kind) {
        validate(out, o, &v);
    } else if let Some(v) = crds.validator(av, kind) {
        validate(out, o, &v);
    } else if let Some(v) = schemas::known_crd_validator(av, kind) {
        validate(out, o, &v);
    } else if crds.defines(av, kind)
        || is_config_file(av)
        || super::api_removed::removal(av, kind, set).is_some()
    {
        // a CRD version without a schema; a tool's config file; or api-removed reports it
    } else if !is_external_kind(ctx, av, kind) {
        unknown_kind(out, o, set);
    }
}

/// Files that look like manifests but are read by a tool, not applied (eksctl, kind, kustomize).
fn is_config_file(api_version: &str) -> bool {
    let g = group_of(api_version);
    g == "eksctl.io"
        || g == "kind.x-k8s.io"
        || g == "kustomize.config.k8s.io"
        || g == "kwok.x-k8s.io"
}

/// `external:` lists the kind itself, or its CRD (`<plural>.<group>`).
fn is_external_kind(ctx: &Context<'_>, api_version: &str, kind: &str) -> bool {
    let group = group_of(api_version);
    ctx.stack.external.iter().any(|e| {
        e.kind == kind
            || (e.kind == "CustomResourceDefinition"
                && !group.is_empty()
                && e.name.split_once('.').is_some_and(|(_, g)| g == group))
    })
}

fn unknown_kind(out: &mut Out<'_>, o: &Object, set: &SchemaSet) {
    let (av, kind) = (o.api_version(), o.kind());
    let served = set.api_versions_of(kind);
    let (message, fix) = if !served.is_empty() {
        (
            format!(
                "Kubernetes {} does not serve {kind} in `{av}`",
                set.version()
            ),
            format!(
                "use apiVersion {}",
                served
                    .iter()
                    .map(|s| format!("`{s}`"))
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        )
    } else if group_of(av).contains('.') && !group_of(av).ends_with(".k8s.io") {
        (
            format!(
                "{kind} (`{av}`) is a custom resource, and no CustomResourceDefinition in the stack defines it"
            ),
            format!(
                "add the CRD to the stack, or list it under `external:` ({{ kind: CustomResourceDefinition, name: <plural>.{} }})",
                group_of(av)
            ),
        )
    } else {
        (
            format!("Kubernetes {} has no kind {kind} in `{av}`", set.version()),
            "check the kind and apiVersion spelling".to_string(),
        )
    };
    out.at(o, "/kind", message, fix);
}

fn validate(out: &mut Out<'_>, o: &Object, v: &Validator) {
    if v.is_valid(&o.value) {
        return;
    }
    // Secret values must not reach messages: mask instance values there.
    let sensitive = o.kind() == "Secret";
    for err in v.iter_errors(&o.value).take(MAX_PER_OBJECT) {
        let path = err.instance_path().to_string();
        let (pointer, message) = match err.kind() {
            ValidationErrorKind::AdditionalProperties { unexpected } => {
                let field = unexpected.first().cloned().unwrap_or_default();
                let pointer = format!("{path}/{}", k8s::escape(&field));
                let list = unexpected
                    .iter()
                    .map(|u| format!("`{u}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                (
                    pointer,
                    format!(
                        "unknown field {list} in {} at `{}`",
                        o.display_name(),
                        display_path(&path)
                    ),
                )
            }
            ValidationErrorKind::Required { property } => (
                path.clone(),
                format!(
                    "{} is missing the required field `{}` at `{}`",
                    o.display_name(),
                    property.as_str().unwrap_or(""),
                    display_path(&path)
                ),
            ),
            _ => {
                let text = if sensitive {
                    err.masked().to_string()
                } else {
                    err.to_string()
                };
                (
                    path.clone(),
                    format!("{} at `{}`: {text}", o.display_name(), display_path(&path)),
                )
            }
        };
        out.at(o, &pointer, message, fix_for(err.kind()));
    }
}

fn fix_for(kind: &ValidationErrorKind) -> &'static str {
    match kind {
        ValidationErrorKind::AdditionalProperties { .. } => {
            "remove the field or correct its name (check its indentation too)"
        }
        ValidationErrorKind::Required { .. } => "add the required field",
        ValidationErrorKind::Type { .. } => {
            "write the value with the type the schema expects (quote strings, unquote numbers)"
        }
        ValidationErrorKind::Enum { .. } => "use one of the allowed values",
        _ => "correct the value to match the Kubernetes API",
    }
}

/// `/spec/template/spec/containers/0` → `spec.template.spec.containers[0]`.
fn display_path(pointer: &str) -> String {
    let mut out = String::new();
    for seg in pointer.split('/').skip(1) {
        let seg = seg.replace("~1", "/").replace("~0", "~");
        if seg.chars().all(|c| c.is_ascii_digit()) && !seg.is_empty() {
            out.push_str(&format!("[{seg}]"));
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&seg);
        }
    }
    if out.is_empty() { "(root)".into() } else { out }
}

/// Validators compiled from the CRDs in the stack, by `apiVersion/kind`.
struct CrdSchemas {
    defined: HashMap<String, Option<Arc<Validator>>>,
}

impl CrdSchemas {
    fn new(ctx: &Context<'_>) -> CrdSchemas {
        let mut defined = HashMap::new();
        for &i in ctx.of_kind("CustomResourceDefinition") {
            let v = &ctx.object(i).value;
            let (Some(group), Some(kind)) = (
                k8s::str_at(v, "/spec/group"),
                k8s::str_at(v, "/spec/names/kind"),
            ) else {
                continue;
            };
            let shared = v.at("/spec/validation/openAPIV3Schema"); // apiextensions v1beta1
            for ver in v
                .at("/spec/versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(name) = ver.member("name").and_then(Value::as_str) else {
                    continue;
                };
                let schema = ver.at("/schema/openAPIV3Schema").or(shared);
                let validator = schema
                    .and_then(|s| schemas::compile_crd_schema(s).ok())
                    .map(Arc::new);
                defined.insert(format!("{group}/{name}/{kind}"), validator);
            }
            if let Some(ver) = k8s::str_at(v, "/spec/version") {
                let validator = shared
                    .and_then(|s| schemas::compile_crd_schema(s).ok())
                    .map(Arc::new);
                defined
                    .entry(format!("{group}/{ver}/{kind}"))
                    .or_insert(validator);
            }
        }
        CrdSchemas { defined }
    }

    fn validator(&self, api_version: &str, kind: &str) -> Option<Arc<Validator>> {
        self.defined
            .get(&format!("{api_version}/{kind}"))
            .cloned()
            .flatten()
    }

    fn defines(&self, api_version: &str, kind: &str) -> bool {
        self.defined.contains_key(&format!("{api_version}/{kind}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{self, check, render};
    use berth_model::ExternalRef;

    const DEPLOY: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx:1.27
          resource:
            limits: {memory: 1Gi}
          ports:
            - containerPort: '80'
";

    #[test]
    fn fires_on_unknown_fields_and_wrong_types() {
        let f = check(&RULE, DEPLOY);
        assert_eq!(f.len(), 2, "{f:#?}");
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn silent_on_valid_objects() {
        let ok = DEPLOY
            .replace("resource:", "resources:")
            .replace("'80'", "80");
        assert!(check(&RULE, &ok).is_empty(), "{:#?}", check(&RULE, &ok));
    }

    const CRD: &str = "
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: eventbus.argoproj.io}
spec:
  group: argoproj.io
  names: {kind: EventBus, plural: eventbus}
  scope: Namespaced
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                nats:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
";
    const BUS: &str = "
apiVersion: argoproj.io/v1alpha1
kind: EventBus
metadata: {name: default}
spec:
  nats: {native: {}}
";

    #[test]
    fn custom_resources_need_their_crd_or_external() {
        let f = check(&RULE, BUS);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        assert!(check(&RULE, &format!("{CRD}---{BUS}")).is_empty());
        let mut s = testing::stack(BUS);
        s.external.push(ExternalRef {
            kind: "CustomResourceDefinition".into(),
            name: "eventbus.argoproj.io".into(),
            namespace: None,
        });
        assert!(testing::run(&RULE, &s).is_empty());
    }

    #[test]
    fn custom_resources_are_validated_against_their_crd() {
        let f = check(&RULE, &format!("{CRD}---{}", BUS.replace("nats:", "natz:")));
        assert_eq!(f.len(), 1, "{f:#?}");
        assert!(f[0].message.contains("natz"));
    }

    /// Karpenter's kinds are checked against the CRD schemas built into berth, without their
    /// CRD in the stack.
    #[test]
    fn karpenter_kinds_are_validated_without_their_crd() {
        const POOL: &str = "
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: general}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
        - {key: kubernetes.io/arch, operator: In, values: [amd64]}
  disruption: {consolidationPolicy: WhenEmpty, consolidateAfter: 5m}
  limits: {cpu: \"16\"}
---
apiVersion: karpenter.k8s.aws/v1
kind: EC2NodeClass
metadata: {name: default}
spec:
  role: KarpenterNodeRole-c
  amiSelectorTerms: [{alias: al2023@latest}]
  subnetSelectorTerms: [{tags: {karpenter.sh/discovery: c}}]
  securityGroupSelectorTerms: [{tags: {karpenter.sh/discovery: c}}]
";
        assert!(check(&RULE, POOL).is_empty(), "{:#?}", check(&RULE, POOL));
        let bad = POOL
            .replace(
                "consolidationPolicy: WhenEmpty",
                "consolidationPolicy: Never",
            )
            .replace("amiSelectorTerms:", "amiSelectorTerm:");
        let f = check(&RULE, &bad);
        assert_eq!(f.len(), 3, "{f:#?}"); // the enum, the unknown field, the missing one
        assert!(f.iter().any(|f| f.message.contains("Never")), "{f:#?}");
    }

    #[test]
    fn unsupported_version_is_reported() {
        let mut s = testing::stack(BUS);
        s.kubernetes = "1.12".into();
        let f = testing::run(&RULE, &s);
        assert_eq!(f.len(), 1);
        assert!(f[0].message.contains("1.33"), "{}", f[0].message);
    }

    #[test]
    fn secret_values_are_masked() {
        let f = check(
            &RULE,
            "
apiVersion: v1
kind: Secret
metadata: {name: s}
stringData:
  password: 12345
",
        );
        assert_eq!(f.len(), 1);
        assert!(!f[0].message.contains("12345"), "{}", f[0].message);
    }

    #[test]
    fn paths_read_like_fields() {
        assert_eq!(
            display_path("/spec/template/spec/containers/0/ports"),
            "spec.template.spec.containers[0].ports"
        );
        assert_eq!(display_path(""), "(root)");
    }
}
