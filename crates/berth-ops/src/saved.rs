//! Saved plans: review a plan in CI, then apply exactly that plan.
//!
//! `berth plan --out FILE` writes what it showed: the stack, the API server, a digest of the
//! rendered objects (secret values are never in them) and, per object, what it was on the
//! cluster ([`berth_apply::diff::fingerprint`]: no status, no server-managed metadata, no
//! Secret values). `berth up --plan FILE` applies only when all of it still holds: the stack
//! renders the same objects (else bad input, exit 2: plan again) and nobody changed those
//! objects on the cluster since (drift, exit 1, each changed object named). Nothing derived
//! from a secret value is written.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use berth_apply::diff::PlanReport;
use berth_apply::{Cluster, ErrorClass};
use berth_model::ObjectKey;

use crate::{Error, Ready, Refused};

/// The format version of a saved plan.
pub const VERSION: u32 = 1;

/// A plan as `berth plan --out` writes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub version: u32,
    pub stack: String,
    /// The API server the plan was made against.
    pub server: String,
    /// sha256 of the rendered objects (redacted), in plan order.
    pub rendered: String,
    /// Each object as it was on the cluster (`None`: absent), in plan order.
    pub live: Vec<(ObjectKey, Option<String>)>,
    /// The changes shown, for people reviewing the file.
    pub changes: serde_json::Value,
}

impl Ready {
    /// sha256 of the stack's rendered objects (secret values redacted) in plan order: equal
    /// exactly when the stack renders the same objects in the same order.
    pub fn rendered_digest(&self) -> String {
        let mut h = Sha256::new();
        for i in self.plan.order() {
            let o = &self.stack.objects[i];
            h.update(o.key().to_string().as_bytes());
            h.update([0]);
            h.update(
                serde_json::to_string(&o.value)
                    .unwrap_or_default()
                    .as_bytes(),
            );
            h.update([0]);
        }
        format!("{:x}", h.finalize())
    }

    /// The saved form of `report`, made against `cluster`.
    pub fn save(&self, cluster: &Cluster, report: &PlanReport) -> SavedPlan {
        SavedPlan {
            version: VERSION,
            stack: self.stack.name.clone(),
            server: cluster.server.clone(),
            rendered: self.rendered_digest(),
            live: report.seen.clone(),
            changes: serde_json::to_value(report).unwrap_or_default(),
        }
    }

    /// Refuses to apply `saved` unless it is this stack's plan, for this cluster, of the same
    /// rendered objects (exit 2 otherwise), and its objects are on the cluster as they were
    /// when it was made (exit 1, naming each that changed).
    pub async fn check_saved(
        &self,
        cluster: &Cluster,
        saved: &SavedPlan,
        timeout: std::time::Duration,
    ) -> Result<(), Error> {
        let stale = |message: String| {
            Error::Refused(Refused {
                class: ErrorClass::BadInput,
                message: format!("{message}; nothing was applied: run `berth plan` again"),
                findings: Vec::new(),
            })
        };
        if saved.version != VERSION {
            return Err(stale(format!(
                "the saved plan is of format {}, this berth reads {VERSION}",
                saved.version
            )));
        }
        if saved.stack != self.stack.name {
            return Err(stale(format!(
                "the saved plan is of stack `{}`, not `{}`",
                saved.stack, self.stack.name
            )));
        }
        if saved.server != cluster.server {
            return Err(stale(format!(
                "the saved plan was made against {}, not {}",
                saved.server, cluster.server
            )));
        }
        if saved.rendered != self.rendered_digest() {
            return Err(stale(
                "the stack no longer renders the objects of the saved plan".into(),
            ));
        }
        let values: std::collections::HashMap<ObjectKey, &serde_json::Value> = self
            .stack
            .objects
            .iter()
            .map(|o| (o.key(), &o.value))
            .collect();
        let objects: Vec<(ObjectKey, serde_json::Value)> = saved
            .live
            .iter()
            .map(|(key, _)| {
                let value = values
                    .get(key)
                    .map(|v| (*v).clone())
                    // A namespace berth added for the stack: only its API matters.
                    .unwrap_or_else(|| serde_json::json!({"apiVersion": "v1"}));
                (key.clone(), value)
            })
            .collect();
        let now = berth_apply::diff::fingerprints(cluster, &objects, 32, timeout).await?;
        let drifted: Vec<String> = saved
            .live
            .iter()
            .zip(&now)
            .filter(|((_, then), (_, now))| then != now)
            .map(|((key, then), (_, now))| match (then, now) {
                (None, Some(_)) => format!("{key} (created since)"),
                (Some(_), None) => format!("{key} (deleted since)"),
                _ => format!("{key} (changed since)"),
            })
            .collect();
        if drifted.is_empty() {
            return Ok(());
        }
        Err(Error::Refused(Refused {
            class: ErrorClass::Failed,
            message: format!(
                "the cluster changed since the plan was made: {}; nothing was applied: run `berth plan` again to see the changes",
                drifted.join(", ")
            ),
            findings: Vec::new(),
        }))
    }
}
