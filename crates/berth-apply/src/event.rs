//! What `up`, `down` and `rollback` report while they work: the CLI draws progress from these
//! and prints them one JSON object per line under `--format json`.

use berth_model::ObjectKey;
use serde::Serialize;

/// One step of a run.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// The run starts applying: how many objects, in how many levels of the graph (what
    /// `plan` prints as waves; objects of different levels may be applied at the same time).
    Started { objects: usize, levels: usize },
    /// An object was applied; `action` is `created`, `configured` or `unchanged`.
    Applied { object: ObjectKey, action: Action },
    /// An object's health changed while waiting.
    Health {
        object: ObjectKey,
        state: &'static str,
        message: String,
    },
    /// Not healthy yet, and why the wait goes on (`waiting for a new node: ...`).
    Waiting { object: ObjectKey, message: String },
    /// The last log lines of `pod`, a pod of `object` that is not ready after a while
    /// (secret values redacted).
    Logs {
        object: ObjectKey,
        pod: String,
        lines: Vec<String>,
    },
    /// The API server has not answered for `seconds`; berth keeps retrying until the outage
    /// grace runs out.
    Unreachable {
        server: String,
        seconds: u64,
        error: String,
    },
    /// Every object of a component is healthy, `millis` after its first apply started.
    ComponentHealthy {
        component: String,
        objects: usize,
        millis: u128,
    },
    /// An object of an earlier revision that left the stack was deleted.
    Pruned { object: ObjectKey },
    /// An object was kept instead of deleted (data: PVC, PV, Namespace, CRD), and why.
    Kept { object: ObjectKey, reason: String },
    /// `down` deleted an object (after it was gone, finalizers included).
    Deleted { object: ObjectKey },
    /// `down` waits for an object with finalizers to go.
    Deleting { object: ObjectKey },
    /// Another run holds the lock; waiting for it.
    WaitingForLock { holder: String },
    /// The revision was recorded.
    Revision { revision: u64, outcome: String },
}

/// What applying did to an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Created,
    Configured,
    Unchanged,
}

/// Where events go.
pub type Sink<'a> = &'a (dyn Fn(Event) + Sync);
