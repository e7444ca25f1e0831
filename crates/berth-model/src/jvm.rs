//! The JVM's maximum heap (`-Xmx`) as a container sets it, for comparing it with the
//! container's memory request and limit. One reader for `berth check` (heap-headroom) and
//! `berth doctor` (oom-killed), so both read the same flag the same way.

use crate::ValueExt;
use serde_json::Value;

/// A `-Xmx` flag and the bytes it asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaxHeap {
    pub bytes: u64,
    /// The flag as written (`-Xmx2g`).
    pub flag: String,
}

/// The last `-Xmx` flag anywhere in `text` (a JVM takes the last one). Sizes are whole numbers
/// with an optional unit `k`, `m`, `g` or `t` (either case), as the JVM accepts them; `-Xmx1.5g`
/// and `-Xmx` alone are not flags the JVM starts with and are skipped.
pub fn max_heap(text: &str) -> Option<MaxHeap> {
    let mut found = None;
    for (i, _) in text.match_indices("-Xmx") {
        let rest = &text[i + 4..];
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let size = &rest[..end];
        if rest[end..].starts_with(['.', ',']) {
            continue; // `-Xmx1.5g`: not a size the JVM accepts
        }
        let (digits, unit) = match size.char_indices().last() {
            Some((j, c)) if c.is_ascii_alphabetic() => (&size[..j], Some(c)),
            Some(_) => (size, None),
            None => continue,
        };
        let mult: u64 = match unit.map(|c| c.to_ascii_lowercase()) {
            None => 1,
            Some('k') => 1 << 10,
            Some('m') => 1 << 20,
            Some('g') => 1 << 30,
            Some('t') => 1 << 40,
            Some(_) => continue,
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(n) = digits.parse::<u64>() {
            found = Some(MaxHeap {
                bytes: n.saturating_mul(mult),
                flag: format!("-Xmx{size}"),
            });
        }
    }
    found
}

/// The heap a container's JVM gets: the last `-Xmx` in its env values (JAVA_OPTS,
/// JAVA_TOOL_OPTIONS, ...), then its command, then its args, which come after the environment.
pub fn container_max_heap(container: &Value) -> Option<MaxHeap> {
    let list = |field: &str| {
        container
            .get(field)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    };
    let env = list("env")
        .iter()
        .filter_map(|e| e.member("value").and_then(Value::as_str));
    let line = list("command")
        .iter()
        .chain(list("args"))
        .filter_map(Value::as_str);
    env.chain(line).filter_map(max_heap).next_back()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn bytes(text: &str) -> Option<u64> {
        max_heap(text).map(|h| h.bytes)
    }

    #[test]
    fn flags() {
        assert_eq!(
            max_heap("-Xms512m -Xmx2048m -XX:+UseG1GC"),
            Some(MaxHeap {
                bytes: 2048 << 20,
                flag: "-Xmx2048m".into()
            })
        );
        assert_eq!(bytes("-Xmx2g"), Some(2 << 30));
        assert_eq!(bytes("-Xmx2G"), Some(2 << 30));
        assert_eq!(bytes("-Xmx1t"), Some(1 << 40));
        assert_eq!(bytes("-Xmx512k"), Some(512 << 10));
        assert_eq!(bytes("-Xmx1073741824"), Some(1 << 30));
        assert_eq!(bytes("-Xmx1g -Xmx3g"), Some(3 << 30));
        // Quoted inside a shell line, or glued to other text.
        assert_eq!(bytes(r#"JAVA_OPTS="-Xmx768m" exec java"#), Some(768 << 20));
        assert_eq!(bytes("-Xms1g"), None);
        assert_eq!(bytes("-Xmx"), None);
        assert_eq!(bytes("-Xmx1.5g"), None);
        assert_eq!(bytes("-Xmxg"), None);
        assert_eq!(bytes("-Xmx2x"), None);
    }

    #[test]
    fn container_order() {
        let c = json!({
            "env": [{"name": "JAVA_OPTS", "value": "-Xmx1g"}, {"name": "X", "valueFrom": {}}],
            "command": ["java", "-Xmx2g"],
            "args": ["-jar", "app.jar", "-Xmx3g"],
        });
        assert_eq!(
            container_max_heap(&c).map(|h| h.flag),
            Some("-Xmx3g".into())
        );
        let env_only = json!({"env": [{"name": "JAVA_TOOL_OPTIONS", "value": "-Xmx640m"}]});
        assert_eq!(
            container_max_heap(&env_only).map(|h| h.bytes),
            Some(640 << 20)
        );
        assert_eq!(container_max_heap(&json!({"image": "nginx"})), None);
    }
}
