//! PersistentVolumeClaim: Current when Bound (kstatus); `Lost` (its volume is gone) is Failed,
//! since no amount of waiting brings the volume back.

use serde_json::Value;

use crate::Health;
use crate::fields::str;

pub(super) fn status(obj: &Value) -> Health {
    match str(obj, "/status/phase") {
        "Bound" => Health::current("PVC is Bound"),
        "Lost" => Health::failed("PVC is Lost: its volume no longer exists"),
        "" => Health::in_progress("PVC is not Bound. phase: unknown"),
        phase => Health::in_progress(format!("PVC is not Bound. phase: {phase}")),
    }
}
