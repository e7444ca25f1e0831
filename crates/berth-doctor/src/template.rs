//! Where a stack object writes a container, so a diagnosis about a pod's container can point
//! at the line of the manifest that made it. Where each kind keeps its pod spec is
//! [`berth_model::pod_spec`]'s.

use berth_model::Object;
use berth_model::pod_spec::{self, CONTAINER_LISTS};

use crate::snapshot::{arr, s};

/// Pointer to the container called `name` (init containers included) in `o`'s pod template.
pub(crate) fn container_pointer(o: &Object, name: &str) -> Option<String> {
    let (base, spec) = pod_spec::pod_spec(o.kind(), &o.value)?;
    for list in CONTAINER_LISTS {
        if let Some(i) = arr(spec, &format!("/{list}"))
            .iter()
            .position(|c| s(c, "/name") == name)
        {
            return Some(format!("{base}/{list}/{i}"));
        }
    }
    None
}
