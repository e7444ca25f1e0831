//! The health rules the waiter and `status` use, behind a trait so the engine can be swapped.
//!
//! berth's rules (kstatus plus berth's refinements, and pod problems) live in `berth-health`;
//! [`HealthRules`] is the narrow interface this crate needs from them.

use serde_json::Value;

/// The health of one object: berth-health's, so `status`, `up` and `doctor` speak alike.
pub use berth_health::{Health, State};

/// What the waiter asks about objects. Pods are judged by `berth_health::rollout` (which
/// pods are the current revision's, failure budgets, node autoscalers).
pub trait HealthRules: Send + Sync {
    /// The health of `object` as read from the API (`Value::Null` when it does not exist).
    fn status(&self, object: &Value) -> Health;
}

impl<F> HealthRules for F
where
    F: Fn(&Value) -> Health + Send + Sync,
{
    fn status(&self, object: &Value) -> Health {
        self(object)
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
}
