//! Custom resources: readiness rules for widely used CRDs, and the generic rule for the rest.
//!
//! The rules are data (`rules.json`, embedded and parsed once): per (group, kinds), which
//! conditions or status fields mean ready, which mean failed, and where the controller writes
//! the generation it has acted on. Adding a CRD touches only that file and its fixtures.
//!
//! Everything a condition or field says is believed only for the current spec: a condition
//! with its own `observedGeneration` behind `metadata.generation` describes an older spec, and
//! so does the whole status when the rule's observed generation lags. A failure is reported
//! only from a matcher in the data file (or kstatus `Stalled`, in the crate root): the generic
//! rule never fails a custom resource, since it cannot tell a retry from a dead end.

use std::sync::LazyLock;

use serde::Deserialize;
use serde_json::Value;

use crate::Health;
use crate::fields::{self, Condition, condition, generation, is_stale, reason_message};

/// The rules file, parsed on first use. It is part of the binary and tested
/// (`rules_file_is_valid`), so a parse error is a build defect, not bad input.
static RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    serde_json::from_str::<RuleFile>(include_str!("rules.json"))
        .expect("src/custom/rules.json parses (see the rules_file_is_valid test)")
        .rules
});

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    /// The file's own documentation; not read.
    #[serde(rename = "about")]
    _about: Vec<String>,
    rules: Vec<Rule>,
}

/// How to read the health of one kind of custom resource.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Rule {
    /// The API group, without version (`cert-manager.io`).
    #[serde(default)]
    group: String,
    /// The kinds in `group` this rule reads.
    #[serde(default)]
    kinds: Vec<String>,
    /// Instead of group and kinds: any object that carries all these condition types...
    #[serde(default)]
    has_conditions: Vec<String>,
    /// ...or any of these fields (JSON pointers), for objects that have no status yet.
    #[serde(default)]
    has_any_field: Vec<String>,
    /// Where the controller writes the generation it has acted on.
    #[serde(default = "default_observed_generation")]
    observed_generation: String,
    /// A pointer to the controller's own words, added to the messages of field matchers.
    #[serde(default)]
    message: Option<String>,
    /// All must hold for Current.
    ready: Vec<Matcher>,
    /// While not ready, any that holds says why (it never holds a ready object back).
    #[serde(default)]
    progressing: Vec<Matcher>,
    /// Any that holds (for the current spec) fails the object at once.
    #[serde(default)]
    failed: Vec<Matcher>,
    /// Why the rule is what it is, with its sources; not read.
    #[serde(default, rename = "note")]
    _note: String,
}

fn default_observed_generation() -> String {
    "/status/observedGeneration".into()
}

/// One test on an object: a condition (type, status, optional reasons and messages that
/// exclude it) or a field with the values that match.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Matcher {
    condition: Option<String>,
    status: Option<String>,
    #[serde(default)]
    reasons: Vec<String>,
    #[serde(default)]
    unless_message: Vec<String>,
    field: Option<String>,
    #[serde(default)]
    values: Vec<Value>,
}

/// What a matcher found on the object: its words and the generation they were written for
/// (when the condition says).
struct Found {
    text: String,
    observed: Option<i64>,
}

impl Matcher {
    /// What the object says about this matcher's condition or field, whether it matches or not;
    /// `None` when the object does not have it at all.
    fn read(&self, obj: &Value, detail: &str) -> Option<(bool, Found)> {
        if let Some(kind) = &self.condition {
            let c = condition(obj, kind)?;
            return Some((self.matches_condition(&c), condition_found(kind, &c)));
        }
        let field = self.field.as_deref()?;
        let value = obj.pointer(field).filter(|v| !v.is_null())?;
        let shown = value
            .as_str()
            .map_or_else(|| value.to_string(), str::to_string);
        let mut text = format!("{} is {shown}", human_path(field));
        if !detail.is_empty() {
            text = format!("{text}: {detail}");
        }
        let found = Found {
            text,
            observed: None,
        };
        Some((self.values.contains(value), found))
    }

    fn matches_condition(&self, c: &Condition<'_>) -> bool {
        self.status.as_deref() == Some(c.status)
            && (self.reasons.is_empty() || self.reasons.iter().any(|r| r == c.reason))
            && !self.unless_message.iter().any(|m| c.message.contains(m))
    }

    /// What the object is waiting for when it does not have this condition or field yet.
    fn missing(&self) -> String {
        match (&self.condition, &self.field) {
            (Some(kind), _) => format!("Waiting for condition {kind}"),
            (None, Some(field)) => format!("Waiting for {}", human_path(field)),
            (None, None) => "Waiting".into(),
        }
    }
}

fn condition_found(kind: &str, c: &Condition<'_>) -> Found {
    let detail = reason_message(c.reason, c.message);
    let status = if c.status.is_empty() { "?" } else { c.status };
    let text = if detail.is_empty() {
        format!("{kind}={status}")
    } else {
        format!("{kind}={status}: {detail}")
    };
    Found {
        text,
        observed: c.observed_generation,
    }
}

/// `/status/phase` as `status.phase`.
fn human_path(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

/// The rule for `group`/`kind`, or a rule matched by the conditions or fields `obj` carries.
pub(crate) fn rule_for(group: &str, kind: &str, obj: &Value) -> Option<&'static Rule> {
    let rules = &*RULES;
    rules
        .iter()
        .find(|r| !r.group.is_empty() && r.group == group && r.kinds.iter().any(|k| k == kind))
        .or_else(|| {
            rules
                .iter()
                .find(|r| r.group.is_empty() && r.matches_shape(obj))
        })
}

impl Rule {
    /// For a rule without group and kinds: `obj` carries all of `hasConditions`, or one of
    /// `hasAnyField`.
    fn matches_shape(&self, obj: &Value) -> bool {
        let conditions = !self.has_conditions.is_empty()
            && self
                .has_conditions
                .iter()
                .all(|c| condition(obj, c).is_some());
        conditions
            || self
                .has_any_field
                .iter()
                .any(|p| obj.pointer(p).is_some_and(|v| !v.is_null()))
    }

    /// The generation the controller has acted on, as the rule says it writes it.
    fn observed(&self, obj: &Value) -> Option<i64> {
        obj.pointer(&self.observed_generation).and_then(generation)
    }

    fn detail<'a>(&self, obj: &'a Value) -> &'a str {
        self.message.as_deref().map_or("", |p| fields::str(obj, p))
    }

    /// Failed when a `failed` matcher holds for the current spec: a condition with its own
    /// `observedGeneration` must be at the current generation; otherwise the status as a whole
    /// must not lag. Checked before kstatus' generation and `Reconciling` rules, because
    /// controllers such as Flux keep `Reconciling=True` while they retry a failure.
    pub(crate) fn failed(&self, obj: &Value) -> Option<Health> {
        let detail = self.detail(obj);
        self.failed.iter().find_map(|m| {
            let (true, found) = m.read(obj, detail)? else {
                return None;
            };
            let observed = found.observed.or_else(|| self.observed(obj));
            (!is_stale(obj, observed)).then(|| Health::failed(found.text))
        })
    }

    /// Current when every `ready` matcher holds for the current spec; otherwise in progress,
    /// saying why: a `progressing` matcher that holds, or else the first `ready` matcher that
    /// does not.
    pub(crate) fn status(&self, obj: &Value) -> Health {
        if let Some(h) = stale_status(obj, self.observed(obj)) {
            return h;
        }
        let detail = self.detail(obj);
        match self.unmet(obj, detail) {
            Ok(text) => Health::current(text),
            Err(waiting) => {
                let progressing = self
                    .progressing
                    .iter()
                    .find_map(|m| m.read(obj, detail).filter(|(hit, _)| *hit))
                    .map(|(_, found)| Health::in_progress(found.text));
                progressing.unwrap_or(waiting)
            }
        }
    }

    /// The words of the last `ready` matcher when all hold for the current spec (the last is
    /// the most final one: Crossplane's Ready after Synced, a NodeClaim's Ready after
    /// Initialized), or the in-progress health of the first that does not.
    fn unmet(&self, obj: &Value, detail: &str) -> Result<String, Health> {
        let mut last = None;
        for m in &self.ready {
            match m.read(obj, detail) {
                None => return Err(Health::in_progress(m.missing())),
                Some((false, found)) => return Err(Health::in_progress(found.text)),
                Some((true, found)) => {
                    if let Some(h) = stale_condition(obj, &found) {
                        return Err(h);
                    }
                    last = Some(found.text);
                }
            }
        }
        Ok(last.unwrap_or_else(|| "Ready".into()))
    }
}

/// In progress when the controller's observed generation lags `metadata.generation`.
fn stale_status(obj: &Value, observed: Option<i64>) -> Option<Health> {
    let observed = observed?;
    is_stale(obj, Some(observed)).then(|| {
        let generation = fields::metadata_generation(obj).unwrap_or(observed);
        Health::in_progress(format!(
            "Generation {generation} not observed yet (observed {observed})"
        ))
    })
}

/// In progress when a condition was written for an older generation than the current one.
fn stale_condition(obj: &Value, found: &Found) -> Option<Health> {
    let observed = found.observed?;
    is_stale(obj, Some(observed)).then(|| {
        let generation = fields::metadata_generation(obj).unwrap_or(observed);
        Health::in_progress(format!(
            "{} (for generation {observed}; waiting for generation {generation})",
            found.text
        ))
    })
}

/// The condition types the generic rule reads, in order: the first one the object has
/// decides. `Ready` is the convention (kstatus, Flux, Crossplane, cert-manager); `Available`
/// and `Succeeded` are what kubedog's heuristics look for next (APIService, Knative, Tekton).
const GENERIC_CONDITIONS: &[&str] = &["Ready", "Available", "Succeeded"];

/// A custom resource without a rule: Current when its first [`GENERIC_CONDITIONS`] condition is
/// True for the current generation, in progress while it is False or Unknown (never Failed:
/// only a rule may say a condition is final), and Current once created when it has none of
/// them, including when it has no status at all (many CRDs are plain configuration).
pub(crate) fn generic(obj: &Value) -> Health {
    for kind in GENERIC_CONDITIONS {
        let Some(c) = condition(obj, kind) else {
            continue;
        };
        let found = condition_found(kind, &c);
        if let Some(h) = stale_condition(obj, &found) {
            return h;
        }
        return if c.is_true() {
            Health::current(found.text)
        } else {
            Health::in_progress(found.text)
        };
    }
    let has_conditions = obj
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty());
    if has_conditions {
        Health::current("Resource is current")
    } else {
        Health::current("Created; it reports no conditions to wait for")
    }
}

#[cfg(test)]
mod tests;
