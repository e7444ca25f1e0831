//! JSON values → block-style YAML that kubectl reads back as the same value.
//!
//! Reading is YAML 1.1 (see [`crate::scalar`]), so writing must quote every string a YAML 1.1
//! reader would take for something else (`yes`, `on`, `y`, `0644`, `1e3`, `~`, `<<`, ...). The
//! rule is simple and conservative: a string is written plain only when our own reader gives it
//! back as that same string and it has no character that could start or end YAML syntax;
//! anything else is double-quoted. Multi-line text is written as a literal block (`|`) so
//! embedded config files stay readable. Tests check that [`to_yaml`] round-trips through
//! [`crate::parse`].

use serde_json::Value;

/// One document of block-style YAML for `value`, ending in a newline, without `---`.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0, false),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0),
        other => {
            write_inline(&mut out, other, 2);
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// `after_dash`: the mapping is a sequence item, so its first key follows the `- `.
fn write_map(
    out: &mut String,
    map: &serde_json::Map<String, Value>,
    level: usize,
    after_dash: bool,
) {
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 || !after_dash {
            indent(out, level);
        }
        write_key(out, k);
        out.push(':');
        write_member_value(out, v, level);
    }
}

/// The value after `key:` (or after `- `), at mapping level `level`.
fn write_member_value(out: &mut String, v: &Value, level: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, level + 2, false);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(out, a, level);
        }
        other => {
            out.push(' ');
            write_inline(out, other, level + 2);
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, items: &[Value], level: usize) {
    for item in items {
        indent(out, level);
        match item {
            Value::Object(m) if !m.is_empty() => {
                out.push_str("- ");
                write_map(out, m, level + 2, true);
            }
            Value::Array(a) if !a.is_empty() => {
                out.push_str("-\n");
                write_seq(out, a, level + 2);
            }
            other => {
                out.push_str("- ");
                write_inline(out, other, level + 2);
                out.push('\n');
            }
        }
    }
}

/// A scalar or an empty collection; `block_indent` is where a literal block's lines go.
fn write_inline(out: &mut String, v: &Value, block_indent: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(out, s, block_indent),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
    }
}

fn write_key(out: &mut String, k: &str) {
    if k != "<<" && is_plain_safe(k) {
        out.push_str(k);
    } else {
        write_quoted(out, k);
    }
}

fn write_string(out: &mut String, s: &str, block_indent: usize) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else if is_block_safe(s) {
        let trailing = s.len() - s.trim_end_matches('\n').len();
        out.push('|');
        match trailing {
            0 => out.push('-'),
            1 => {}
            _ => out.push('+'),
        }
        let body = match trailing {
            0 => s,
            _ => &s[..s.len() - 1],
        };
        for line in body.split('\n') {
            out.push('\n');
            if !line.is_empty() {
                indent(out, block_indent);
                out.push_str(line);
            }
        }
    } else {
        write_quoted(out, s);
    }
}

/// Plain is safe when the text reads back as itself and cannot be taken for syntax.
fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if first.is_ascii_digit()
        || "-?:,[]{}#&*!|>'\"%@`+.~ \t".contains(first)
        || s.ends_with([' ', ':', '\t'])
        || s.contains(": ")
        || s.contains(" #")
        || s.chars()
            .any(|c| c.is_control() || matches!(c, '\u{85}' | '\u{feff}' | '\u{2028}' | '\u{2029}'))
    {
        return false;
    }
    matches!(crate::scalar::resolve(s, true, crate::scalar::ScalarTag::None), Ok(Value::String(ref r)) if r == s)
}

/// A literal block keeps multi-line text readable; it cannot hold every string.
fn is_block_safe(s: &str) -> bool {
    s.contains('\n')
        && !s.trim_matches('\n').is_empty()
        && !s.starts_with([' ', '\t', '\n'])
        // A line of only blanks would be read back as an empty line.
        && s.split('\n').all(|l| l.is_empty() || !l.trim().is_empty())
        && !s.chars().any(|c| {
            (c.is_control() && c != '\n' && c != '\t')
                || matches!(c, '\u{85}' | '\u{feff}' | '\u{2028}' | '\u{2029}')
        })
}

fn write_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() || matches!(c, '\u{85}' | '\u{feff}' | '\u{2028}' | '\u{2029}') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn round_trip(v: &Value) {
        let text = to_yaml(v);
        let parsed = crate::parse(&text);
        assert!(parsed.errors.is_empty(), "{text}\n{:?}", parsed.errors);
        let back = parsed
            .documents
            .into_iter()
            .next()
            .map(|d| d.value)
            .unwrap_or(Value::Null);
        assert_eq!(&back, v, "did not round-trip:\n{text}");
    }

    #[test]
    fn readable_output() {
        let v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "labels": {}},
            "data": {"on": "yes", "mode": "0644", "conf": "a: 1\nb: 2\n", "list": [1, {"a": [], "b": null}, [2, 3]]}});
        assert_eq!(
            to_yaml(&v),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  labels: {}\ndata:\n  \"on\": \"yes\"\n  mode: \"0644\"\n  conf: |\n    a: 1\n    b: 2\n  list:\n  - 1\n  - a: []\n    b: null\n  -\n    - 2\n    - 3\n"
        );
        round_trip(&v);
    }

    #[test]
    fn tricky_strings_round_trip() {
        let strings = [
            "",
            " ",
            "yes",
            "No",
            "y",
            "n",
            "ON",
            "off",
            "true",
            "null",
            "~",
            "0644",
            "0x1F",
            "1e3",
            ".5",
            ".inf",
            "-",
            "- a",
            "? x",
            "a: b",
            "a #b",
            "#x",
            "&a",
            "*a",
            "!t",
            "|",
            ">",
            "'",
            "\"",
            "%",
            "@x",
            "`x",
            "2024-01-01",
            "1:30",
            "<<",
            "a\nb",
            "a\nb\n",
            "a\nb\n\n",
            "\na",
            " a\nb",
            "a\r\nb",
            "tab\there",
            "\u{85}",
            "\u{feff}x",
            "é🦀",
            "back\\slash",
            "---",
            "...",
            "a:",
            "a ",
            "key=value",
            "-Xmx512m",
            "+1",
            "[a]",
            "{a}",
            "a,b",
            "http://x:80/y",
            "\u{1}",
            "line\n  indented\n",
            "a\n  \nb",
            "a\n\t\nb",
        ];
        for s in strings {
            round_trip(&json!(s));
            round_trip(&json!({ s: s }));
            round_trip(&json!([s, {"k": s}]));
        }
    }

    #[test]
    fn numbers_and_nesting_round_trip() {
        round_trip(
            &json!({"a": [[[1]], [{"b": {"c": [true, false, null, -7, 1.5, 18446744073709551615u64]}}]]}),
        );
        round_trip(&json!([]));
        round_trip(&json!({}));
        round_trip(&json!(3));
    }
}
