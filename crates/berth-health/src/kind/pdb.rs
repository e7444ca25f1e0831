//! PodDisruptionBudget: Current when the budget is met (kstatus). A budget that selects no
//! pods (desired 0) protects nothing and is Current once observed.

use serde_json::Value;

use crate::Health;
use crate::fields::int;

pub(super) fn status(obj: &Value) -> Health {
    if let Some(h) = super::not_observed(obj) {
        return h;
    }
    let current = int(obj, "/status/currentHealthy", 0);
    let desired = int(obj, "/status/desiredHealthy", 0);
    if desired > current {
        return Health::in_progress(format!("Budget not met. Healthy pods: {current}/{desired}"));
    }
    Health::current(format!("Budget is met. Healthy pods: {current}/{desired}"))
}
