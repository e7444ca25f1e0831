//! The `berth.dev/wait` annotation: how long `berth up` waits for one object, whatever its kind.
//!
//! - `ready` (the default): until the object is healthy by its kind's rules;
//! - `created`: until it exists (a CR whose controller is not installed yet, or whose
//!   readiness means nothing to the stack);
//! - `none`: not at all.
//!
//! Any other value is waited for as `ready`, and the message says the value was not understood;
//! `berth check` rejects it before anything is applied (rule `berth-annotation`).

use serde_json::Value;

use crate::Health;

/// The annotation key.
pub const ANNOTATION: &str = "berth.dev/wait";

/// Whether `value` (trimmed) is a wait mode berth knows: `ready`, `created` or `none`.
pub fn is_known(value: &str) -> bool {
    !matches!(mode_of(Some(value)), WaitMode::Unknown(_))
}

/// What the annotation asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WaitMode<'a> {
    /// Wait until healthy (no annotation, or `ready`).
    Ready,
    /// Wait until the object exists.
    Created,
    /// Do not wait.
    None,
    /// A value berth does not know; waited for as [`WaitMode::Ready`].
    Unknown(&'a str),
}

/// The wait mode `obj` asks for with its annotation.
pub(crate) fn wait_mode(obj: &Value) -> WaitMode<'_> {
    let value = obj
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(ANNOTATION))
        .and_then(Value::as_str);
    mode_of(value)
}

/// The wait mode an annotation value (None: no annotation) asks for.
fn mode_of(value: Option<&str>) -> WaitMode<'_> {
    match value.map(str::trim) {
        None | Some("ready") => WaitMode::Ready,
        Some("created") => WaitMode::Created,
        Some("none") => WaitMode::None,
        Some(other) => WaitMode::Unknown(other),
    }
}

impl WaitMode<'_> {
    /// The health an existing object has under this mode without looking at its status, or
    /// `None` when its status decides.
    pub(crate) fn health(self) -> Option<Health> {
        match self {
            WaitMode::Created => Some(Health::current(format!(
                "Created; readiness not waited for ({ANNOTATION}: created)"
            ))),
            WaitMode::None => Some(Health::current(format!(
                "Not waited for ({ANNOTATION}: none)"
            ))),
            WaitMode::Ready | WaitMode::Unknown(_) => None,
        }
    }

    /// `health` with a note about a value berth did not understand.
    pub(crate) fn annotate(self, mut health: Health) -> Health {
        if let WaitMode::Unknown(value) = self {
            health.message = format!(
                "{} (unknown {ANNOTATION} value {value:?}: waited for as ready)",
                health.message
            );
        }
        health
    }
}
