//! Label selectors, evaluated the way the API server does (`metav1.LabelSelector`): every
//! `matchLabels` pair and every `matchExpressions` requirement must hold; and the plain maps
//! of Services and ReplicationControllers. One place for this rule: checks, the wave planner
//! and the doctor all call it ([`Selector`] when the selecting kind decides the form).

use crate::ValueExt;
use serde_json::{Map, Value};

/// A selector in the form its object writes it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Selector<'a> {
    /// A plain `key: value` map (Service and ReplicationController `spec.selector`, a pod's
    /// `nodeSelector`); see [`matches_labels`].
    Map(&'a Map<String, Value>),
    /// A `metav1.LabelSelector` (`matchLabels`, `matchExpressions`); see [`matches_selector`].
    Label(&'a Value),
}

impl<'a> Selector<'a> {
    /// The `spec.selector` of the object `value` of `kind`, in the form that kind writes it:
    /// a plain map for Services and ReplicationControllers, a label selector for the rest.
    pub fn of(kind: &str, value: &'a Value) -> Option<Selector<'a>> {
        let selector = value.at("/spec/selector")?;
        match kind {
            "Service" | "ReplicationController" => selector.as_object().map(Selector::Map),
            _ => Some(Selector::Label(selector)),
        }
    }

    /// True when the selector selects an object with `labels`.
    pub fn matches(&self, labels: Option<&Map<String, Value>>) -> bool {
        match self {
            Selector::Map(m) => matches_labels(m, labels),
            Selector::Label(v) => matches_selector(v, labels),
        }
    }
}

/// True when every `key: value` of `selector` (a plain map, as a Service's `spec.selector`)
/// is among `labels`. An empty map matches nothing here: a Service without a selector is for
/// endpoints managed elsewhere, not for every pod.
pub fn matches_labels(selector: &Map<String, Value>, labels: Option<&Map<String, Value>>) -> bool {
    if selector.is_empty() {
        return false;
    }
    let Some(labels) = labels else { return false };
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// True when a label selector (`matchLabels` and `matchExpressions`, operators `In`, `NotIn`,
/// `Exists`, `DoesNotExist`) matches `labels`. An empty selector matches everything, as it does
/// for the API server; an unknown operator matches nothing (the API server rejects it).
pub fn matches_selector(selector: &Value, labels: Option<&Map<String, Value>>) -> bool {
    let empty = Map::new();
    let labels = labels.unwrap_or(&empty);
    if let Some(ml) = selector.member("matchLabels").and_then(Value::as_object)
        && !ml.iter().all(|(k, v)| labels.get(k) == Some(v))
    {
        return false;
    }
    let exprs = selector
        .member("matchExpressions")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    exprs.iter().all(|e| {
        let key = e.member("key").and_then(Value::as_str).unwrap_or("");
        let values: Vec<&str> = e
            .member("values")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let have = labels.get(key).and_then(Value::as_str);
        match e.member("operator").and_then(Value::as_str).unwrap_or("") {
            "In" => have.is_some_and(|h| values.contains(&h)),
            "NotIn" => have.is_none_or(|h| !values.contains(&h)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn match_labels_and_expressions_must_all_hold() {
        let sel = json!({"matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "edge"]},
                                 {"key": "canary", "operator": "DoesNotExist"}]});
        assert!(matches_selector(
            &sel,
            Some(&labels(json!({"app": "web", "tier": "edge"})))
        ));
        assert!(!matches_selector(
            &sel,
            Some(&labels(json!({"app": "web", "tier": "back"})))
        ));
        assert!(!matches_selector(
            &sel,
            Some(&labels(
                json!({"app": "web", "tier": "front", "canary": "1"})
            ))
        ));
        assert!(!matches_selector(
            &sel,
            Some(&labels(json!({"tier": "front"})))
        ));
        assert!(!matches_selector(&sel, None));
    }

    #[test]
    fn expressions_alone_select_pods() {
        let sel = json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["orders"]},
                                              {"key": "track", "operator": "NotIn", "values": ["canary"]},
                                              {"key": "team", "operator": "Exists"}]});
        assert!(matches_selector(
            &sel,
            Some(&labels(json!({"app": "orders", "team": "a"})))
        ));
        assert!(!matches_selector(
            &sel,
            Some(&labels(
                json!({"app": "orders", "team": "a", "track": "canary"})
            ))
        ));
        assert!(!matches_selector(
            &sel,
            Some(&labels(json!({"app": "orders"})))
        ));
    }

    #[test]
    fn empty_selector_matches_everything_and_unknown_operators_nothing() {
        assert!(matches_selector(
            &json!({}),
            Some(&labels(json!({"a": "b"})))
        ));
        assert!(!matches_selector(
            &json!({"matchExpressions": [{"key": "a", "operator": "Gt", "values": ["1"]}]}),
            Some(&labels(json!({"a": "2"})))
        ));
    }

    #[test]
    fn the_selecting_kind_decides_the_form() {
        let svc = json!({"spec": {"selector": {"app": "web"}}});
        let deploy = json!({"spec": {"selector": {"matchExpressions": [
            {"key": "app", "operator": "In", "values": ["web", "api"]}]}}});
        let web = labels(json!({"app": "web"}));
        let db = labels(json!({"app": "db"}));
        let s = Selector::of("Service", &svc).unwrap();
        assert!(matches!(s, Selector::Map(_)));
        assert!(s.matches(Some(&web)) && !s.matches(Some(&db)));
        let d = Selector::of("Deployment", &deploy).unwrap();
        assert!(d.matches(Some(&web)) && !d.matches(Some(&db)));
        assert!(Selector::of("Service", &json!({"spec": {}})).is_none());
    }

    #[test]
    fn plain_maps_need_every_pair_and_an_empty_map_selects_nothing() {
        let sel = labels(json!({"app": "web"}));
        assert!(matches_labels(
            &sel,
            Some(&labels(json!({"app": "web", "x": "y"})))
        ));
        assert!(!matches_labels(&sel, Some(&labels(json!({"app": "db"})))));
        assert!(!matches_labels(
            &Map::new(),
            Some(&labels(json!({"app": "web"})))
        ));
    }
}
