//! Kubernetes resource quantities (`500m`, `1.5`, `1024Mi`, `2Gi`, `1e9`), read once for the
//! whole pipeline: checks compare requests with heaps, the doctor with nodes' allocatable, the
//! simulator and `cluster config` pack pods onto nodes. CPU is counted in millicores and
//! everything else in whole units, rounded up, as the scheduler counts them.

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

/// Largest amount [`milli_value`] and [`whole_value`] accept (10^18 millicores or bytes): far
/// beyond any node, and small enough that sums over many pods stay exact in `i64`.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// A quantity in thousandths, rounded up as Kubernetes' `Quantity.MilliValue()` rounds
/// (`500m` → 500, `2` → 2000, `0.1m` → 1): how CPU is counted. `None` when it does not parse,
/// or is above [`MAX_AMOUNT`].
pub fn milli_value(s: &str) -> Option<i64> {
    round_up(parse_quantity(s)? * 1000.0)
}

/// A quantity as a whole number, rounded up as `Quantity.Value()` rounds (`1Gi` →
/// 1073741824, `1k` → 1000, `0.5` → 1): how memory, storage and extended resources are
/// counted. `None` when it does not parse, or is above [`MAX_AMOUNT`].
pub fn whole_value(s: &str) -> Option<i64> {
    round_up(parse_quantity(s)?)
}

fn round_up(v: f64) -> Option<i64> {
    // The small epsilon keeps `0.3` × 1000 (299.99999999999994 in binary) at 300.
    let v = (v - 1e-9).ceil().max(0.0);
    (v <= MAX_AMOUNT as f64).then_some(v as i64)
}

/// A quantity as written in a manifest: a string (`"500m"`), or a bare YAML number (`2`).
pub fn json_quantity(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_kubernetes_accepts() {
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("1Ki"), Some(1024.0));
        assert_eq!(
            parse_quantity("1.5Gi"),
            Some(1.5 * 1024.0 * 1024.0 * 1024.0)
        );
        assert_eq!(parse_quantity("1e3"), Some(1000.0));
        assert_eq!(parse_quantity("1E3"), Some(1000.0));
        assert_eq!(parse_quantity(" 2 "), Some(2.0));
        for bad in ["", "junk", "12X", "-1Mi", "1mi", "Gi"] {
            assert_eq!(parse_quantity(bad), None, "{bad}");
        }
    }

    #[test]
    fn integer_units_round_up() {
        assert_eq!(milli_value("500m"), Some(500));
        assert_eq!(milli_value("2"), Some(2000));
        assert_eq!(milli_value("1.5"), Some(1500));
        assert_eq!(milli_value("0.3"), Some(300));
        assert_eq!(milli_value("0.1m"), Some(1), "MilliValue rounds up");
        assert_eq!(milli_value("1e3m"), None, "an exponent takes no suffix");
        assert_eq!(milli_value("1E"), None, "above MAX_AMOUNT");
        assert_eq!(whole_value("1024Mi"), Some(1 << 30));
        assert_eq!(whole_value("1G"), Some(1_000_000_000));
        assert_eq!(whole_value("0.5"), Some(1), "Value rounds up");
        assert_eq!(whole_value("9Ei"), None);
        assert_eq!(whole_value("-1Mi"), None);
        assert_eq!(json_quantity(&serde_json::json!(2)), Some("2".into()));
        assert_eq!(json_quantity(&serde_json::json!("1Gi")), Some("1Gi".into()));
        assert_eq!(json_quantity(&serde_json::json!({})), None);
    }
}
