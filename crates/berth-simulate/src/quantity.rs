//! Kubernetes resource quantities (`500m`, `1.5`, `1024Mi`, `2Gi`, `1e9`) and durations
//! (`15s`, `10m0s`, `7d`), parsed into the integer units the simulator computes in.
//!
//! CPU is kept in millicores and memory in bytes, as the HPA controller does (it compares
//! `MilliValue()`s and byte counts), so the integer truncations it makes can be reproduced.

/// Parses a quantity into its value in base units (shared by every crate that reads one).
pub use berth_model::quantity::parse_quantity;

/// Largest CPU (millicores) or memory (bytes) quantity accepted: far beyond any node, small
/// enough that sums over thousands of pods stay exact in `i64`.
pub const MAX_QUANTITY: i64 = 1_000_000_000_000_000;

/// A CPU quantity in millicores, rounded up as Kubernetes does (`0.1m` is `1m`).
pub fn cpu_millis(s: &str) -> Option<i64> {
    parse_quantity(s)
        .map(|v| (v * 1000.0 - 1e-9).ceil().max(0.0))
        .filter(|v| *v <= MAX_QUANTITY as f64)
        .map(|v| v as i64)
}

/// A memory quantity in bytes, rounded up.
pub fn memory_bytes(s: &str) -> Option<i64> {
    parse_quantity(s)
        .map(|v| (v - 1e-9).ceil().max(0.0))
        .filter(|v| *v <= MAX_QUANTITY as f64)
        .map(|v| v as i64)
}

/// A quantity written in a manifest: a string, or a bare YAML number.
pub fn json_quantity(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A duration in whole seconds: `90s`, `5m`, `1h30m`, `7d`, Go's `10m0s`, `500ms` (rounded up
/// to whole seconds), or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(n) = s.parse::<f64>() {
        return (n.is_finite() && n >= 0.0).then(|| n.ceil() as u64);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if end == 0 {
            return None;
        }
        let n: f64 = rest[..end].parse().ok()?;
        rest = &rest[end..];
        let uend = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..uend] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86400.0,
            _ => return None,
        };
        rest = &rest[uend..];
        total += n * unit;
    }
    Some((total - 1e-9).ceil().max(0.0) as u64)
}

/// Seconds written the way berth writes durations (`90s`, `5m`, `2h30m`, `7d`).
pub fn format_duration(secs: u64) -> String {
    if secs == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    let mut rest = secs;
    for (unit, size) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] {
        if rest >= size {
            out.push_str(&format!("{}{unit}", rest / size));
            rest %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(cpu_millis("500m"), Some(500));
        assert_eq!(cpu_millis("1"), Some(1000));
        assert_eq!(cpu_millis("0.25"), Some(250));
        assert_eq!(cpu_millis("1e3m"), None);
        assert_eq!(memory_bytes("1024Mi"), Some(1024 * 1024 * 1024));
        assert_eq!(memory_bytes("1G"), Some(1_000_000_000));
        assert_eq!(memory_bytes("1e3"), Some(1000));
        assert_eq!(memory_bytes("12X"), None);
        assert_eq!(memory_bytes(""), None);
        assert_eq!(memory_bytes("-1Mi"), None);
        assert_eq!(cpu_millis("1E"), None);
        assert_eq!(memory_bytes("9Ei"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15s"), Some(15));
        assert_eq!(parse_duration("10m0s"), Some(600));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("7d"), Some(604800));
        assert_eq!(parse_duration("90"), Some(90));
        assert_eq!(parse_duration("500ms"), Some(1));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(format_duration(5400), "1h30m");
        assert_eq!(format_duration(604800), "7d");
    }
}
