//! Why what is not healthy is not healthy.
//!
//! [`diagnose`] gathers everything the diagnoses need from the API in one place (a
//! [`Snapshot`]: the stack's live objects, what they created — ReplicaSets, Pods, PVCs,
//! EndpointSlices —, Events, the cluster context like Nodes and StorageClasses, and the last
//! log lines of failing containers), then [`analyse`] runs the diagnoses over it as pure
//! functions. Each diagnosis is one module under `rules/` with an id, the evidence it quotes
//! (an event, a condition, a log line), the cause in one sentence and the fix, pointing at the
//! manifest line where the fix belongs when it can.
//!
//! `berth doctor` prints the result; `berth up` calls [`diagnose`] when a wait fails, so both
//! say the same thing. Secrets are read for their keys only: no Secret value ever enters a
//! snapshot, a diagnosis or a log line of berth's.

#![warn(missing_docs)]

mod diagnosis;
mod gather;
mod quantity;
mod rules;
mod snapshot;
mod template;

pub use diagnosis::{Diagnosis, Evidence, EvidenceKind};
pub use gather::{Error, gather};
pub use rules::{IDS, explain};
pub use snapshot::Snapshot;

use berth_model::Object;

/// Gathers a [`Snapshot`] of the stack's objects from the cluster and diagnoses it.
///
/// Costs one discovery, one GET per stack object, a few LISTs per namespace of the stack and
/// of cluster-scoped context, and one log request per failing container.
pub async fn diagnose(client: &kube::Client, objects: &[Object]) -> Result<Vec<Diagnosis>, Error> {
    let snapshot = gather(client, objects).await?;
    Ok(analyse(&snapshot, objects))
}

/// The diagnoses of `snapshot` for the stack `objects`, causes before symptoms. Two rules that
/// find the same thing from two sides (a missing Secret from the template, and the container
/// that cannot start because of it) give one diagnosis with the evidence of both.
pub fn analyse(snapshot: &Snapshot, objects: &[Object]) -> Vec<Diagnosis> {
    let ctx = snapshot::Ctx::new(snapshot, objects);
    if let Some(d) = rules::nothing_applied(&ctx) {
        return vec![d];
    }
    let mut out: Vec<Diagnosis> = Vec::new();
    for rule in rules::RULES {
        let mut found = Vec::new();
        (rule.check)(&ctx, &mut found);
        debug_assert!(
            found.iter().all(|d| rules::IDS.contains(&d.id)),
            "{}: undeclared id",
            rule.id
        );
        for d in found {
            merge(&mut out, d);
        }
    }
    let mut last = Vec::new();
    rules::not_healthy(&ctx, &out, &mut last);
    out.extend(last);
    out
}

/// Adds `d`, or folds its evidence into an earlier diagnosis of the same object and topic.
fn merge(out: &mut Vec<Diagnosis>, d: Diagnosis) {
    if let Some(topic) = &d.topic
        && let Some(prev) = out
            .iter_mut()
            .find(|p| p.object == d.object && p.topic.as_ref() == Some(topic))
    {
        for e in d.evidence {
            if !prev.evidence.contains(&e) {
                prev.evidence.push(e);
            }
        }
        return;
    }
    out.push(d);
}
