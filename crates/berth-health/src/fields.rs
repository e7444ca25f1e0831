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
        })
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
