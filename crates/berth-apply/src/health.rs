//! The health rules the waiter and `status` use, behind a trait so the engine can be swapped.
//!
//! berth's rules (kstatus plus berth's refinements, and pod problems) live in `berth-health`;
//! [`HealthRules`] is the narrow interface this crate needs from them.

use serde::Serialize;
use serde_json::Value;

/// The health of one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum State {
    Current,
    InProgress,
    Failed,
    NotFound,
}

impl State {
    /// The name printed in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Current => "Current",
            State::InProgress => "InProgress",
            State::Failed => "Failed",
            State::NotFound => "NotFound",
        }
    }
}

/// A [`State`] with the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Health {
    pub state: State,
    pub message: String,
}

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
