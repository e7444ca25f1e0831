//! `not-healthy`: a stack object is not Current by berth's health rules and no other diagnosis
//! explains it; its own status message is quoted. `not-found`: a stack object does not exist
//! in the cluster (the stack was not applied, or something deleted it). When none of the
//! stack's objects exist, one diagnosis says so instead of one per object.

use berth_health::State;
use berth_model::Severity;

use crate::diagnosis::{Diagnosis, EvidenceKind};
use crate::snapshot::Ctx;

pub(crate) const ID: &str = "not-healthy";
pub(crate) const ID_NOT_FOUND: &str = "not-found";

/// The one diagnosis to give when none of the stack's objects exist: every other rule would
/// only repeat it.
pub(crate) fn nothing_applied(ctx: &Ctx<'_>) -> Option<Diagnosis> {
    // Unserved kinds have their own diagnosis (`crd-missing`), which must not be hidden.
    if ctx.stack.is_empty()
        || !ctx.snapshot.unserved.is_empty()
        || ctx.stack.iter().any(|o| ctx.live(o).is_some())
    {
        return None;
    }
    let d = Diagnosis::live(
        ID_NOT_FOUND,
        Severity::Error,
        format!("stack ({} objects)", ctx.stack.len()),
        "none of the stack's objects exist in the cluster",
        "run `berth up` (or check that --context/--kubeconfig name the right cluster)",
    );
    Some(d.with(
        EvidenceKind::State,
        ctx.stack[0].display_name(),
        "not found",
    ))
}

/// Runs last; `earlier` is what the other rules found.
pub(crate) fn check(ctx: &Ctx<'_>, earlier: &[Diagnosis], out: &mut Vec<Diagnosis>) {
    let explained: Vec<&str> = earlier.iter().map(|d| d.object.as_str()).collect();
    let served = |o: &berth_model::Object| {
        !ctx.snapshot
            .unserved
            .contains(&format!("{}/{}", o.group(), o.kind()))
    };
    for o in ctx.stack {
        if explained.contains(&o.display_name().as_str()) || !served(o) {
            continue;
        }
        let Some(live) = ctx.live(o) else {
            out.push(
                Diagnosis::at(
                    ID_NOT_FOUND,
                    Severity::Error,
                    o,
                    "",
                    format!("{} does not exist in the cluster", o.display_name()),
                    "run `berth up` to apply it",
                )
                .with(EvidenceKind::State, o.display_name(), "not found"),
            );
            continue;
        };
        let health = berth_health::status(live);
        let severity = match health.state {
            State::Current | State::NotFound => continue,
            State::Failed => Severity::Error,
            State::InProgress => Severity::Warning,
        };
        out.push(
            Diagnosis::at(
                ID,
                severity,
                o,
                "",
                format!(
                    "{} is {}: {}",
                    o.display_name(),
                    health.state,
                    health.message
                ),
                "see the evidence; if it is still rolling out, wait and run `berth doctor` again",
            )
            .with(EvidenceKind::Condition, o.display_name(), health.message),
        );
    }
}
