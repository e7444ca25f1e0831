//! CustomResourceDefinition: Current once `Established`; Failed when its names are not
//! accepted (they clash with another CRD) or establishing failed for another reason than
//! still installing (kstatus).

use serde_json::Value;

use crate::Health;
use crate::fields::{condition, reason_message};

pub(super) fn status(obj: &Value) -> Health {
    if let Some(c) = condition(obj, "NamesAccepted").filter(|c| c.is_false()) {
        return Health::failed(format!(
            "CRD names not accepted: {}",
            reason_message(c.reason, c.message)
        ));
    }
    match condition(obj, "Established") {
        Some(c) if c.is_true() => Health::current("CRD is established"),
        Some(c) if c.is_false() && c.reason != "Installing" => Health::failed(format!(
            "CRD is not established: {}",
            reason_message(c.reason, c.message)
        )),
        _ => Health::in_progress("CRD is being installed"),
    }
}
