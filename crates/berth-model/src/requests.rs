//! A pod's effective request, computed as the kube-scheduler computes it: one rule for the
//! doctor (is a pod too big for any node?), the simulator and `cluster config` (how many pods
//! fit on a node).
//!
//! The rule is `PodRequests` of `k8s.io/component-helpers/resource`, which the scheduler's
//! NodeResourcesFit plugin calls, applied per resource (`cpu`, `memory`, `ephemeral-storage`,
//! extended resources such as `nvidia.com/gpu`):
//!
//! ```text
//! containers = Σ regular containers + Σ sidecars (init containers with restartPolicy: Always)
//! init(i)    = request of plain init container i + Σ sidecars declared before it
//! request    = max(containers, max over i of init(i))        // init containers run one at a time
//! request    = pod-level spec.resources.requests, for cpu, memory and hugepages-*, where set
//! request   += spec.overhead                                  // set from the RuntimeClass
//! ```
//!
//! A container's missing request takes its limit, as the API server defaults it, so a manifest
//! reads like the pod the API server stores. CPU is in millicores, everything else in whole
//! units (bytes), both rounded up (see [`crate::quantity`]).

use crate::ValueExt;
use std::collections::BTreeMap;
use std::fmt;

use serde_json::Value;

use crate::quantity::{json_quantity, milli_value, whole_value};

/// A value under `resources` or `overhead` that is not a quantity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BadQuantity {
    /// JSON pointer of the value, relative to the pod spec
    /// (`/containers/0/resources/requests/cpu`).
    pub pointer: String,
    pub resource: String,
    /// The value as written.
    pub value: String,
}

impl fmt::Display for BadQuantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a valid {} quantity",
            self.value, self.resource
        )
    }
}

impl std::error::Error for BadQuantity {}

/// Amounts per resource name: `cpu` in millicores, every other resource in whole units.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources(pub BTreeMap<String, i64>);

impl Resources {
    /// The amount of `resource` (0 when absent).
    pub fn get(&self, resource: &str) -> i64 {
        self.0.get(resource).copied().unwrap_or(0)
    }

    /// CPU in millicores.
    pub fn cpu_millis(&self) -> i64 {
        self.get("cpu")
    }

    /// Memory in bytes.
    pub fn memory_bytes(&self) -> i64 {
        self.get("memory")
    }

    fn add(&mut self, other: &Resources) {
        for (k, v) in &other.0 {
            *self.0.entry(k.clone()).or_default() += v;
        }
    }

    fn max(&mut self, other: &Resources) {
        for (k, v) in &other.0 {
            let e = self.0.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }
}

/// One amount of `resource` as Kubernetes counts it: millicores for `cpu`, whole units (rounded
/// up) for everything else. `None` when `quantity` is not a quantity.
pub fn amount(resource: &str, quantity: &str) -> Option<i64> {
    if resource == "cpu" {
        milli_value(quantity)
    } else {
        whole_value(quantity)
    }
}

/// Reads a resource list (`{cpu: 500m, memory: 1Gi}`) at `pointer` (relative to the pod spec).
fn list(v: Option<&Value>, pointer: &str) -> Result<Resources, BadQuantity> {
    let mut out = Resources::default();
    for (name, q) in v.and_then(Value::as_object).into_iter().flatten() {
        let written = json_quantity(q);
        let amount = written.as_deref().and_then(|s| amount(name, s));
        let Some(amount) = amount else {
            return Err(BadQuantity {
                pointer: format!("{pointer}/{}", name.replace('~', "~0").replace('/', "~1")),
                resource: name.clone(),
                value: written.unwrap_or_else(|| q.to_string()),
            });
        };
        out.0.insert(name.clone(), amount);
    }
    Ok(out)
}

/// `requests`, with `limits` standing in for missing requests (the API server's defaulting),
/// of a `resources` object at `pointer`.
fn requests_of(resources: Option<&Value>, pointer: &str) -> Result<Resources, BadQuantity> {
    let mut req = list(
        resources.and_then(|r| r.member("requests")),
        &format!("{pointer}/requests"),
    )?;
    let limits = list(
        resources.and_then(|r| r.member("limits")),
        &format!("{pointer}/limits"),
    )?;
    for (k, v) in limits.0 {
        req.0.entry(k).or_insert(v);
    }
    Ok(req)
}

/// The requests of one container (`requests`, a limit where a request is missing).
pub fn container_requests(container: &Value) -> Result<Resources, BadQuantity> {
    requests_of(container.member("resources"), "/resources")
}

/// The effective request of a pod with `spec` (a pod's or a pod template's `spec`), per
/// resource, by the scheduler's rule in the module docs.
pub fn pod_requests(spec: &Value) -> Result<Resources, BadQuantity> {
    let items = |field: &str| {
        spec.get(field)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    };
    let with_base = |base: String, r: Result<Resources, BadQuantity>| {
        r.map_err(|mut e| {
            e.pointer = format!("{base}{}", e.pointer);
            e
        })
    };
    let mut total = Resources::default();
    for (i, c) in items("containers").iter().enumerate() {
        total.add(&with_base(
            format!("/containers/{i}"),
            container_requests(c),
        )?);
    }
    let mut sidecars = Resources::default();
    let mut init_peak = Resources::default();
    for (i, c) in items("initContainers").iter().enumerate() {
        let r = with_base(format!("/initContainers/{i}"), container_requests(c))?;
        if c.member("restartPolicy").and_then(Value::as_str) == Some("Always") {
            // A sidecar runs from its start to the pod's end: next to the app containers, and
            // next to every init container after it.
            total.add(&r);
            sidecars.add(&r);
        } else {
            let mut running = r;
            running.add(&sidecars);
            init_peak.max(&running);
        }
    }
    total.max(&init_peak);
    let pod_level = list(spec.at("/resources/requests"), "/resources/requests")?;
    for (k, v) in pod_level.0 {
        if k == "cpu" || k == "memory" || k.starts_with("hugepages-") {
            total.0.insert(k, v);
        }
    }
    total.add(&list(spec.member("overhead"), "/overhead")?);
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MI: i64 = 1 << 20;

    #[test]
    fn containers_add_up() {
        let r = pod_requests(&json!({"containers": [
            {"resources": {"requests": {"cpu": "200m", "memory": "64Mi"}}},
            {"resources": {"requests": {"cpu": "300m"}, "limits": {"memory": "128Mi"}}},
            {"name": "no resources"}
        ]}))
        .unwrap();
        assert_eq!(r.cpu_millis(), 500);
        assert_eq!(
            r.memory_bytes(),
            192 * MI,
            "a limit stands in for a missing request"
        );
    }

    #[test]
    fn a_plain_init_container_counts_as_the_max_not_the_sum() {
        // Containers 500m; the init container 2 CPU runs alone before them: max(500, 2000).
        let r = pod_requests(&json!({
            "initContainers": [{"resources": {"requests": {"cpu": "2", "memory": "10Mi"}}}],
            "containers": [{"resources": {"requests": {"cpu": "500m", "memory": "100Mi"}}}]
        }))
        .unwrap();
        assert_eq!(r.cpu_millis(), 2000, "not 2500");
        assert_eq!(r.memory_bytes(), 100 * MI, "not 110Mi");
    }

    #[test]
    fn sidecars_add_to_containers_and_to_later_init_containers() {
        // The scheduler's rule, worked out:
        //   containers: app 200m + sidecar 100m + sidecar 50m          = 350m
        //   init `before` (declared before both sidecars): 300m + 0    = 300m
        //   init `after` (declared after sidecar 100m only): 300m + 100m = 400m
        //   init `late` (after both sidecars): 100m + 150m             = 250m
        //   max(350, 300, 400, 250) = 400m, + overhead 250m            = 650m
        // memory: containers 64 + 32 + 16 = 112Mi; inits 512, 8 + 32 = 40, 1 + 48 = 49;
        //   max = 512Mi, + overhead 120Mi = 632Mi
        let r = pod_requests(&json!({
            "initContainers": [
                {"name": "before", "resources": {"requests": {"cpu": "300m", "memory": "512Mi"}}},
                {"name": "proxy", "restartPolicy": "Always", "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}}},
                {"name": "after", "resources": {"requests": {"cpu": "300m", "memory": "8Mi"}}},
                {"name": "log", "restartPolicy": "Always", "resources": {"requests": {"cpu": "50m", "memory": "16Mi"}}},
                {"name": "late", "resources": {"requests": {"cpu": "100m", "memory": "1Mi"}}}
            ],
            "containers": [{"name": "app", "resources": {"requests": {"cpu": "200m", "memory": "64Mi"}}}],
            "overhead": {"cpu": "250m", "memory": "120Mi"}
        }))
        .unwrap();
        assert_eq!(r.cpu_millis(), 650);
        assert_eq!(r.memory_bytes(), 632 * MI);
    }

    #[test]
    fn every_resource_and_pod_level_requests() {
        let r = pod_requests(&json!({
            "containers": [
                {"resources": {"requests": {"cpu": "1", "ephemeral-storage": "1Gi"}, "limits": {"nvidia.com/gpu": 1}}},
                {"resources": {"requests": {"cpu": "1", "ephemeral-storage": "2Gi"}}}
            ],
            "resources": {"requests": {"cpu": "3"}}
        }))
        .unwrap();
        assert_eq!(r.get("ephemeral-storage"), 3 << 30);
        assert_eq!(r.get("nvidia.com/gpu"), 1);
        assert_eq!(
            r.cpu_millis(),
            3000,
            "pod-level cpu request replaces the sum"
        );
        assert_eq!(r.memory_bytes(), 0);
    }

    #[test]
    fn a_bad_quantity_names_its_pointer() {
        let e = pod_requests(
            &json!({"containers": [{}, {"resources": {"requests": {"cpu": "half"}}}]}),
        )
        .unwrap_err();
        assert_eq!(e.pointer, "/containers/1/resources/requests/cpu");
        assert_eq!(e.to_string(), "`half` is not a valid cpu quantity");
        let e = pod_requests(&json!({"containers": [], "overhead": {"memory": true}})).unwrap_err();
        assert_eq!(e.pointer, "/overhead/memory");
        let e = pod_requests(
            &json!({"initContainers": [{"resources": {"limits": {"example.com/x": "1q"}}}]}),
        )
        .unwrap_err();
        assert_eq!(
            e.pointer,
            "/initContainers/0/resources/limits/example.com~1x"
        );
    }
}
