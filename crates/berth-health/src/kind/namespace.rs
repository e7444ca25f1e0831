//! Namespace: Current while Active; `Terminating` means objects cannot be created in it yet.

use serde_json::Value;

use crate::Health;
use crate::fields::str;

pub(super) fn status(obj: &Value) -> Health {
    match str(obj, "/status/phase") {
        "Terminating" => Health::in_progress("Namespace is terminating"),
        _ => Health::current("Namespace is Active"),
    }
}
