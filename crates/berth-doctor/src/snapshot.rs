//! Everything the diagnoses read, gathered from the API in one place ([`crate::gather`]) and
//! analysed by pure functions, so the analysis is tested on JSON without a cluster.

use std::collections::{BTreeMap, HashMap};

use berth_model::labels::Selector;
use berth_model::{Object, ObjectKey, group_of};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the cluster said about a stack at one moment.
///
/// `objects` holds live objects as the API returned them: the stack's own, what they created
/// (ReplicaSets, Pods, PVCs, EndpointSlices, Jobs), Events, and the context the diagnoses
/// compare against (Nodes, StorageClasses, PersistentVolumes, CSIDrivers, IngressClasses,
/// CRDs, webhook configurations, APIServices, ServiceAccounts). Secrets and ConfigMaps are
/// kept with their keys but never their values (every value is replaced by an empty string);
/// those of namespaces outside the stack are kept by name only (no `data` field), to say "it
/// exists, but in another namespace".
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Snapshot {
    /// The live objects, as described above.
    pub objects: Vec<Value>,
    /// Kinds of stack objects that the API does not serve (`argoproj.io/EventBus`): their
    /// CRD is missing.
    #[serde(default)]
    pub unserved: Vec<String>,
    /// The last log lines of containers berth looked at, by `namespace/pod/container`. A
    /// container that was asked for and had none (or whose runtime serves none, as under kwok)
    /// is absent.
    #[serde(default)]
    pub logs: BTreeMap<String, Vec<String>>,
}

/// Key of a live object: group, kind, namespace ("" for cluster-scoped) and name.
type LiveKey<'a> = (&'a str, &'a str, &'a str, &'a str);

fn live_key(v: &Value) -> LiveKey<'_> {
    (
        group_of(s(v, "/apiVersion")),
        s(v, "/kind"),
        s(v, "/metadata/namespace"),
        s(v, "/metadata/name"),
    )
}

/// The string at `pointer` or `""`.
pub(crate) fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// The array at `pointer`, or an empty slice.
pub(crate) fn arr<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// `Kind/namespace/name` or `Kind/name` of a live object.
pub(crate) fn display(v: &Value) -> String {
    let (_, kind, ns, name) = live_key(v);
    if ns.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}/{ns}/{name}")
    }
}

/// The analysis's view of a snapshot and the stack: lookups by key, kind, owner and labels.
pub(crate) struct Ctx<'a> {
    pub snapshot: &'a Snapshot,
    pub stack: &'a [Object],
    pub options: crate::Options,
    by_key: HashMap<LiveKey<'a>, &'a Value>,
    /// `group/kind` → objects.
    by_kind: HashMap<String, Vec<&'a Value>>,
    by_uid: HashMap<&'a str, &'a Value>,
    /// uid of a live stack object → its index in `stack`.
    stack_uid: HashMap<&'a str, usize>,
}

impl<'a> Ctx<'a> {
    pub fn new(snapshot: &'a Snapshot, stack: &'a [Object], options: crate::Options) -> Ctx<'a> {
        let mut by_key = HashMap::new();
        let mut by_kind: HashMap<_, Vec<_>> = HashMap::new();
        let mut by_uid = HashMap::new();
        for v in &snapshot.objects {
            let key = live_key(v);
            by_key.insert(key, v);
            by_kind
                .entry(format!("{}/{}", key.0, key.1))
                .or_default()
                .push(v);
            let uid = s(v, "/metadata/uid");
            if !uid.is_empty() {
                by_uid.insert(uid, v);
            }
        }
        let mut ctx = Ctx {
            snapshot,
            stack,
            options,
            by_key,
            by_kind,
            by_uid,
            stack_uid: HashMap::new(),
        };
        for (i, o) in stack.iter().enumerate() {
            if let Some(live) = ctx.live(o) {
                let uid = s(live, "/metadata/uid");
                if !uid.is_empty() {
                    ctx.stack_uid.insert(uid, i);
                }
            }
        }
        ctx
    }

    /// The live version of a stack object.
    pub fn live(&self, o: &Object) -> Option<&'a Value> {
        let k: ObjectKey = o.key();
        self.get(
            &k.group,
            &k.kind,
            k.namespace.as_deref().unwrap_or(""),
            &k.name,
        )
    }

    /// A live object by group, kind, namespace ("" when cluster-scoped) and name.
    pub fn get(&self, group: &str, kind: &str, ns: &str, name: &str) -> Option<&'a Value> {
        self.by_key.get(&(group, kind, ns, name)).copied()
    }

    /// Every live object of a kind.
    pub fn list(&self, group: &str, kind: &str) -> &[&'a Value] {
        self.by_kind
            .get(&format!("{group}/{kind}"))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// Every live object of a kind in a namespace.
    pub fn list_in(
        &self,
        group: &str,
        kind: &str,
        ns: &'a str,
    ) -> impl Iterator<Item = &'a Value> + '_ {
        self.list(group, kind)
            .iter()
            .copied()
            .filter(move |v| s(v, "/metadata/namespace") == ns)
    }

    /// The stack object a live object belongs to: itself, or the first stack object up its
    /// chain of controller owners (Pod → ReplicaSet → Deployment).
    pub fn owner(&self, v: &Value) -> Option<&'a Object> {
        let mut cur = v;
        for _ in 0..8 {
            let uid = s(cur, "/metadata/uid");
            if let Some(&i) = self.stack_uid.get(uid) {
                return Some(&self.stack[i]);
            }
            let next = arr(cur, "/metadata/ownerReferences")
                .iter()
                .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
                .or_else(|| arr(cur, "/metadata/ownerReferences").first())
                .and_then(|r| self.by_uid.get(s(r, "/uid")).copied())?;
            cur = next;
        }
        None
    }

    /// Pods that belong to the stack, with the stack object each belongs to.
    pub fn stack_pods(&self) -> Vec<(&'a Value, &'a Object)> {
        self.list("", "Pod")
            .iter()
            .filter_map(|p| self.owner(p).map(|o| (*p, o)))
            .collect()
    }

    /// Events about the object `kind`/`ns`/`name`, oldest first.
    pub fn events(&self, kind: &str, ns: &str, name: &str) -> Vec<&'a Value> {
        let mut out: Vec<&Value> = self
            .list("", "Event")
            .iter()
            .chain(self.list("events.k8s.io", "Event"))
            .copied()
            .filter(|e| {
                let (k, n, nm) = involved(e);
                k == kind && n == ns && nm == name
            })
            .collect();
        out.sort_by_key(|e| event_time(e).to_string());
        out
    }

    /// The last log lines of a container, if any were read.
    pub fn logs(&self, ns: &str, pod: &str, container: &str) -> Option<&'a [String]> {
        self.snapshot
            .logs
            .get(&format!("{ns}/{pod}/{container}"))
            .map(Vec::as_slice)
            .filter(|l| !l.is_empty())
    }

    /// Pods in `ns` that `selector` selects (a Service's map, which selects nothing when
    /// empty, or a label selector with `matchExpressions`).
    pub fn pods_matching(&self, ns: &'a str, selector: Selector<'_>) -> Vec<&'a Value> {
        self.list_in("", "Pod", ns)
            .filter(|p| selector.matches(p.pointer("/metadata/labels").and_then(Value::as_object)))
            .collect()
    }
}

/// Kind, namespace and name of an Event's object (core/v1 `involvedObject` or
/// events.k8s.io/v1 `regarding`).
pub(crate) fn involved(e: &Value) -> (&str, &str, &str) {
    let base = if e.get("involvedObject").is_some() {
        "/involvedObject"
    } else {
        "/regarding"
    };
    (
        s(e, &format!("{base}/kind")),
        s(e, &format!("{base}/namespace")),
        s(e, &format!("{base}/name")),
    )
}

/// The most recent time an Event happened, as RFC 3339 text (sorts by time).
pub(crate) fn event_time(e: &Value) -> &str {
    for p in [
        "/lastTimestamp",
        "/series/lastObservedTime",
        "/eventTime",
        "/metadata/creationTimestamp",
    ] {
        let t = s(e, p);
        if !t.is_empty() {
            return t;
        }
    }
    ""
}

/// `reason: message` of an Event, with its count when it repeated.
pub(crate) fn event_text(e: &Value) -> String {
    let reason = s(e, "/reason");
    let message = if e.get("note").is_some() {
        s(e, "/note")
    } else {
        s(e, "/message")
    };
    let count = e.get("count").and_then(Value::as_i64).unwrap_or(1);
    let times = if count > 1 {
        format!(" (x{count})")
    } else {
        String::new()
    };
    format!("{reason}: {}{times}", message.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, labels: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": "shop", "uid": name, "labels": labels}})
    }

    fn names(pods: &[&Value]) -> Vec<String> {
        pods.iter()
            .map(|p| s(p, "/metadata/name").to_string())
            .collect()
    }

    /// A label selector's `matchExpressions` select pods as the API server does; a Service's
    /// plain map needs every pair, and an empty one selects nothing.
    #[test]
    fn pods_are_matched_by_maps_and_by_match_expressions() {
        let snapshot = Snapshot {
            objects: vec![
                pod("web-1", json!({"app": "web", "track": "stable"})),
                pod("web-canary", json!({"app": "web", "track": "canary"})),
                pod("db-0", json!({"app": "db"})),
            ],
            ..Snapshot::default()
        };
        let ctx = Ctx::new(&snapshot, &[], crate::Options::default());
        let exprs = json!({"matchExpressions": [
            {"key": "app", "operator": "In", "values": ["web", "api"]},
            {"key": "track", "operator": "NotIn", "values": ["canary"]}]});
        assert_eq!(
            names(&ctx.pods_matching("shop", Selector::Label(&exprs))),
            ["web-1"]
        );
        let svc = json!({"spec": {"selector": {"app": "web"}}});
        let by_map = Selector::of("Service", &svc).unwrap();
        assert_eq!(
            names(&ctx.pods_matching("shop", by_map)),
            ["web-1", "web-canary"]
        );
        assert!(ctx.pods_matching("other", by_map).is_empty());
        let empty = serde_json::Map::new();
        assert!(ctx.pods_matching("shop", Selector::Map(&empty)).is_empty());
    }
}
