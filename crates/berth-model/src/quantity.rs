//! Kubernetes resource quantities (`500m`, `1.5`, `1024Mi`, `2Gi`, `1e9`), read once for the
//! whole pipeline: checks compare requests with heaps, the doctor with nodes' allocatable, the
//! simulator and `cluster config` pack pods onto nodes.

/// Parses a quantity into its value in base units as `f64` (`"500m"` → 0.5, `"1Ki"` → 1024).
/// Returns `None` for anything Kubernetes would reject.
pub fn parse_quantity(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    // An exponent (`1e3`, `1E3`) is part of the number, not a suffix.
    let (num, suffix): (String, &str) = if (suffix.starts_with('e') || suffix.starts_with('E'))
        && suffix.len() > 1
        && suffix[1..]
            .chars()
            .all(|c| c.is_ascii_digit() || c == '-' || c == '+')
    {
        (format!("{num}{suffix}"), "")
    } else {
        (num.to_string(), suffix)
    };
    let value: f64 = num.parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    let v = value * factor;
    (v.is_finite() && v >= 0.0).then_some(v)
}
