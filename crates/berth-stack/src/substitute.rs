//! `${name}` placeholders, replaced scalar by scalar in parsed YAML.
//!
//! Substitution works on parsed values, never on text, so manifests stay valid YAML and every
//! position stays exact. The rules:
//! - a plain scalar that is only `${name}` takes the value's type (`replicas: ${replicas}` is a
//!   number when the value is one; a mapping value inserts a mapping);
//! - a placeholder inside text, or in a quoted scalar (`"${port}"`), is replaced by the value
//!   as text;
//! - `$${` is a literal `${`;
//! - only `${name}` with a name of letters, digits, `_`, `-` and `.` is a placeholder; other
//!   `${...}` (shell's `${HOME:-/root}`) is left alone;
//! - a name with no value is a `placeholder` finding (error) at the scalar, never an empty
//!   string.

use indexmap::IndexMap;
use serde_json::Value;

/// Rule id for placeholders that cannot be filled.
pub const PLACEHOLDER: &str = "placeholder";

/// A placeholder that could not be filled, at `pointer` of the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unfilled {
    /// JSON pointer of the scalar in its document.
    pub pointer: String,
    /// Why it could not be filled.
    pub message: String,
}

/// Replace placeholders in `value` (a document or a subtree at `pointer`). `quoted` holds the
/// pointers of scalars that were quoted in the source (see `berth_yaml::Document::quoted`).
pub fn substitute(
    value: &mut Value,
    pointer: &mut String,
    values: &IndexMap<String, Value>,
    quoted: &dyn Fn(&str) -> bool,
    out: &mut Vec<Unfilled>,
) {
    match value {
        Value::String(s) => {
            if !s.contains('$') {
                return;
            }
            match substitute_str(s, values, !quoted(pointer)) {
                Ok(Some(v)) => *value = v,
                Ok(None) => {}
                Err(message) => out.push(Unfilled {
                    pointer: pointer.clone(),
                    message,
                }),
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                substitute(item, pointer, values, quoted, out);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&berth_yaml::escape_pointer_token(k));
                substitute(v, pointer, values, quoted, out);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// One piece of a scalar: text, or a placeholder name.
enum Piece<'a> {
    Text(&'a str),
    Name(&'a str),
}

fn pieces(s: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        let after = &rest[i..];
        if after.starts_with("$${") {
            out.push(Piece::Text(&rest[..i]));
            out.push(Piece::Text("${"));
            rest = &rest[i + 3..];
            continue;
        }
        if let Some(body) = after.strip_prefix("${")
            && let Some(end) = body.find('}')
            && is_name(&body[..end])
        {
            out.push(Piece::Text(&rest[..i]));
            out.push(Piece::Name(&body[..end]));
            rest = &body[end + 1..];
            continue;
        }
        out.push(Piece::Text(&rest[..=i]));
        rest = &rest[i + 1..];
    }
    out.push(Piece::Text(rest));
    out.retain(|p| !matches!(p, Piece::Text("")));
    out
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The new value of a scalar, `None` when it has no placeholder or escape.
fn substitute_str(
    s: &str,
    values: &IndexMap<String, Value>,
    typed: bool,
) -> Result<Option<Value>, String> {
    let pieces = pieces(s);
    if !pieces.iter().any(|p| matches!(p, Piece::Name(_))) && !s.contains("$${") {
        return Ok(None);
    }
    let lookup = |name: &str| {
        values.get(name).ok_or_else(|| {
            let names: Vec<&str> = values.keys().map(String::as_str).collect();
            let hint = crate::stackfile::did_you_mean(name, &names);
            format!("`${{{name}}}` has no value{hint}")
        })
    };
    if typed && let [Piece::Name(name)] = pieces.as_slice() {
        return lookup(name).map(|v| Some(v.clone()));
    }
    let mut out = String::with_capacity(s.len());
    for p in &pieces {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Name(name) => match lookup(name)? {
                Value::String(v) => out.push_str(v),
                Value::Number(n) => out.push_str(&n.to_string()),
                Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                Value::Null => {
                    return Err(format!(
                        "`${{{name}}}` is null and cannot stand inside text"
                    ));
                }
                Value::Array(_) | Value::Object(_) => {
                    return Err(format!(
                        "`${{{name}}}` is a list or mapping and cannot stand inside text"
                    ));
                }
            },
        }
    }
    Ok(Some(Value::String(out)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(mut doc: Value, quoted: &[&str]) -> (Value, Vec<Unfilled>) {
        let values: IndexMap<String, Value> = [
            ("replicas", json!(3)),
            ("image", json!("nginx:1.27")),
            ("res", json!({"cpu": "100m"})),
            ("on", json!(true)),
            ("nothing", Value::Null),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let mut out = Vec::new();
        let q = |p: &str| quoted.contains(&p);
        substitute(&mut doc, &mut String::new(), &values, &q, &mut out);
        (doc, out)
    }

    #[test]
    fn typed_embedded_quoted_and_escaped() {
        let (v, errs) = run(
            json!({"replicas": "${replicas}", "image": "${image}", "tag": "img-${replicas}-${on}",
                   "res": "${res}", "port": "${replicas}", "esc": "$${replicas}", "shell": "${HOME:-/root} $x $"}),
            &["/port"],
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            v,
            json!({"replicas": 3, "image": "nginx:1.27", "tag": "img-3-true", "res": {"cpu": "100m"},
                   "port": "3", "esc": "${replicas}", "shell": "${HOME:-/root} $x $"})
        );
    }

    #[test]
    fn unknown_names_are_reported_at_their_scalar() {
        let (v, errs) = run(
            json!({"spec": {"containers": [{"image": "${imagee}"}]}}),
            &[],
        );
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].pointer, "/spec/containers/0/image");
        assert_eq!(
            errs[0].message,
            "`${imagee}` has no value; did you mean `image`?"
        );
        // The scalar is left as written, never emptied.
        assert_eq!(v["spec"]["containers"][0]["image"], json!("${imagee}"));
    }

    #[test]
    fn structured_or_null_values_inside_text_are_errors() {
        let (_, errs) = run(json!({"a": "x-${res}", "b": "x-${nothing}"}), &[]);
        assert_eq!(errs.len(), 2);
        let (v, errs) = run(json!({"a": "${nothing}"}), &[]);
        assert!(errs.is_empty());
        assert_eq!(v, json!({"a": null}));
    }

    #[test]
    fn keys_are_not_substituted() {
        let (v, _) = run(json!({"${image}": 1}), &[]);
        assert_eq!(v, json!({"${image}": 1}));
    }
}
