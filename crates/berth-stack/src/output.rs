//! The rendered stack as text: multi-document YAML with every Secret value redacted, for
//! `berth render` and anything else that shows objects to a person.

use berth_model::Object;
use serde_json::Value;

use crate::secrets::REDACTED;

/// The object's value with the values of Secret `data` and `stringData` replaced by
/// `<redacted>` (keys kept). Other objects are returned unchanged.
pub fn redacted(object: &Object) -> Value {
    let mut value = object.value.clone();
    if object.group() == "" && object.kind() == "Secret" {
        for field in ["data", "stringData"] {
            if let Some(Value::Object(map)) = value.get_mut(field) {
                for v in map.values_mut() {
                    *v = Value::String(REDACTED.to_string());
                }
            }
        }
    }
    value
}

/// Objects as one multi-document YAML stream (`---` before each), Secrets redacted.
pub fn render_yaml<'a>(objects: impl IntoIterator<Item = &'a Object>) -> String {
    let mut out = String::new();
    for o in objects {
        out.push_str("---\n");
        out.push_str(&berth_yaml::to_yaml(&redacted(o)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_output_reads_back() {
        let (objs, findings) = crate::parse_manifest_str(
            std::path::Path::new("m.yaml"),
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  a: c2VjcmV0\nstringData:\n  b: hunter2\n\
             ---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  enabled: \"yes\"\n",
            "c",
        );
        assert!(findings.is_empty());
        let text = render_yaml(&objs);
        assert!(
            !text.contains("hunter2") && !text.contains("c2VjcmV0"),
            "{text}"
        );
        assert_eq!(
            text,
            "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata:\n  a: <redacted>\nstringData:\n  b: <redacted>\n\
             ---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  enabled: \"yes\"\n"
        );
        let (back, _) = crate::parse_manifest_str(std::path::Path::new("out.yaml"), &text, "c");
        assert_eq!(back[1].value, objs[1].value);
    }
}
