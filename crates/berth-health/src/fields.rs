//! Small readers over object JSON: defaulted integers and strings, and conditions.
//!
//! Objects come from the cluster and may be partial or odd; every reader returns a default
//! rather than failing, so health is computed from whatever the object carries.

use serde_json::Value;

/// The integer at `pointer`, or `default` when absent or not an integer.
pub(crate) fn int(obj: &Value, pointer: &str, default: i64) -> i64 {
    obj.pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or(default)
}

/// The string at `pointer`, or `""`.
pub(crate) fn str<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

/// One entry of `status.conditions` (or any conditions list), borrowed from the object.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Condition<'a> {
    pub status: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
    /// The generation the controller wrote this condition for, when it says.
    pub observed_generation: Option<i64>,
}

impl Condition<'_> {
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
    pub fn is_false(&self) -> bool {
        self.status == "False"
    }
}

/// The condition of type `kind` in `status.conditions`, if the object has one.
pub(crate) fn condition<'a>(obj: &'a Value, kind: &str) -> Option<Condition<'a>> {
    obj.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
        .map(|c| Condition {
            status: c.get("status").and_then(Value::as_str).unwrap_or(""),
            reason: c.get("reason").and_then(Value::as_str).unwrap_or(""),
            message: c.get("message").and_then(Value::as_str).unwrap_or(""),
            observed_generation: c.get("observedGeneration").and_then(generation),
        })
}

/// A generation number as controllers write it: an integer, or a string of digits (Argo
/// Rollouts), optionally followed by `-` and a hash (External Secrets'
/// `syncedResourceVersion`, `"3-1a2b..."`). Anything else (an old Rollouts hash) is `None`.
pub(crate) fn generation(v: &Value) -> Option<i64> {
    if let Some(n) = v.as_i64() {
        return Some(n);
    }
    let s = v.as_str()?;
    let digits = s.split_once('-').map_or(s, |(d, _)| d);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// `metadata.generation`, or `None` for objects that have none.
pub(crate) fn metadata_generation(obj: &Value) -> Option<i64> {
    obj.pointer("/metadata/generation").and_then(Value::as_i64)
}

/// True when `observed` (a condition's or status's `observedGeneration`) is behind the
/// object's `metadata.generation`: what it says describes an older spec.
pub(crate) fn is_stale(obj: &Value, observed: Option<i64>) -> bool {
    match (observed, metadata_generation(obj)) {
        (Some(observed), Some(generation)) => observed < generation,
        _ => false,
    }
}

/// `reason: message`, or whichever of the two is present.
pub(crate) fn reason_message(reason: &str, message: &str) -> String {
    match (reason.is_empty(), message.is_empty()) {
        (false, false) => format!("{reason}: {message}"),
        (false, true) => reason.to_string(),
        (true, false) => message.to_string(),
        (true, true) => String::new(),
    }
}
