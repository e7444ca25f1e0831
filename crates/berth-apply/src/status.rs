//! `status`: the health of every object berth owns for a stack, its drift (fields of the
//! revision's objects that someone else changed since, see [`crate::drift`]), and the revision.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use berth_model::ObjectKey;
use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::drift::{Drift, drift};
use crate::error::Result;
use crate::health::{HealthRules, State};
use crate::inventory::Inventory;

/// One row of `berth status`.
#[derive(Clone, Debug, Serialize)]
pub struct ObjectStatus {
    pub object: ObjectKey,
    pub state: State,
    pub message: String,
    /// Fields berth applied that another field manager owns now; empty for objects the
    /// latest revision does not list (nothing to compare with).
    pub drift: Vec<Drift>,
}

/// What `berth status` prints.
#[derive(Clone, Debug, Serialize)]
pub struct StatusReport {
    /// `None` when the stack was never applied.
    pub revision: Option<u64>,
    pub outcome: Option<String>,
    pub objects: Vec<ObjectStatus>,
}

impl StatusReport {
    /// True when every object is Current (the exit code of `status` is 0 only then).
    pub fn all_current(&self) -> bool {
        self.revision.is_some() && self.objects.iter().all(|o| o.state == State::Current)
    }

    /// True when some object has drifted fields.
    pub fn drifted(&self) -> bool {
        self.objects.iter().any(|o| !o.drift.is_empty())
    }
}

/// Reads the latest revision and the live members, and computes each object's health.
/// Objects of the revision that are missing are NotFound; members left by a crashed run
/// that the revision does not list are shown too.
pub async fn status(
    cluster: &Cluster,
    inv: &Inventory,
    rules: &dyn HealthRules,
    timeout: Duration,
) -> Result<StatusReport> {
    let deadline = Instant::now() + timeout;
    let Some(parent) = inv.parent_state(cluster, deadline).await? else {
        return Ok(StatusReport {
            revision: None,
            outcome: None,
            objects: Vec::new(),
        });
    };
    let members = inv.members(cluster, &parent, deadline).await?;
    let mut live: HashMap<ObjectKey, Value> =
        members.into_iter().map(|m| (m.key, m.value)).collect();
    let (revision, outcome, expected) = if parent.revision > 0 {
        let rev = inv.revision(cluster, parent.revision, deadline).await?;
        let keys: Vec<(ObjectKey, Value)> = rev
            .objects
            .into_iter()
            .map(|o| {
                (
                    crate::up::object_from_value(o.value.clone(), "").key(),
                    o.value,
                )
            })
            .collect();
        (Some(rev.revision), Some(rev.outcome), keys)
    } else {
        (None, None, Vec::new())
    };
    let mut rows: BTreeMap<ObjectKey, ObjectStatus> = BTreeMap::new();
    for (key, applied) in expected {
        let value = live.remove(&key).unwrap_or(Value::Null);
        let h = rules.status(&value);
        rows.insert(
            key.clone(),
            ObjectStatus {
                object: key,
                state: h.state,
                message: h.message,
                drift: drift(&applied, &value),
            },
        );
    }
    for (key, value) in live {
        let h = rules.status(&value);
        rows.insert(
            key.clone(),
            ObjectStatus {
                object: key,
                state: h.state,
                message: format!("{} (not in the latest revision)", h.message),
                drift: Vec::new(),
            },
        );
    }
    Ok(StatusReport {
        revision,
        outcome,
        objects: rows.into_values().collect(),
    })
}
