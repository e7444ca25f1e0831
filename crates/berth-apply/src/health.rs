//! The health rules the waiter and `status` use, behind a trait so the engine can be swapped.
//!
//! berth's rules (kstatus plus berth's refinements, and pod problems) live in `berth-health`;
//! [`HealthRules`] is the narrow interface this crate needs from them.

use serde_json::Value;

/// The health of one object: berth-health's, so `status`, `up` and `doctor` speak alike.
pub use berth_health::{Health, State};

/// What the waiter asks about objects and pods.
pub trait HealthRules: Send + Sync {
    /// The health of `object` as read from the API (`Value::Null` when it does not exist).
    fn status(&self, object: &Value) -> Health;
    /// Why `pod` cannot become ready without a change (image pull, crash loop, unschedulable),
    /// or `None` while it may still get there.
    fn pod_problem(&self, pod: &Value) -> Option<String>;
}

impl<F, G> HealthRules for (F, G)
where
    F: Fn(&Value) -> Health + Send + Sync,
    G: Fn(&Value) -> Option<String> + Send + Sync,
{
    fn status(&self, object: &Value) -> Health {
        (self.0)(object)
    }
    fn pod_problem(&self, pod: &Value) -> Option<String> {
        (self.1)(pod)
    }
}

/// berth's rules: `berth-health` (kstatus plus berth's refinements, and pod problems).
#[derive(Clone, Copy, Debug, Default)]
pub struct BerthHealth {
    /// The cluster has a load-balancer controller: LoadBalancer Services wait for an address.
    pub load_balancer_controller: bool,
}

impl HealthRules for BerthHealth {
    fn status(&self, object: &Value) -> Health {
        let options = berth_health::Options {
            load_balancer_controller: self.load_balancer_controller,
        };
        berth_health::status_with(object, &options)
    }

    fn pod_problem(&self, pod: &Value) -> Option<String> {
        berth_health::pod_problem(pod).map(|p| p.cause())
    }
}
