//! Kubernetes resource quantities (`500m`, `1.5Gi`, `2`) as plain numbers, for comparing a
//! request with a node's allocatable or a memory limit with a JVM heap (read by
//! `berth_model::jvm`).

/// Cores as millicores (`500m` → 500, `2` → 2000, `1.5` → 1500), or `None` when it does not parse.
pub(crate) fn millicores(q: &str) -> Option<i64> {
    berth_model::quantity::parse_quantity(q).map(|v| (v * 1000.0).round() as i64)
}

/// A quantity as a plain number (`1Gi` → 1073741824, `1k` → 1000), or `None`.
pub(crate) fn bytes(q: &str) -> Option<i64> {
    berth_model::quantity::parse_quantity(q).map(|v| v.round() as i64)
}

/// Bytes as the largest binary unit that keeps it readable (`1536Mi`, `2Gi`).
pub(crate) fn format_bytes(b: i64) -> String {
    const MI: i64 = 1024 * 1024;
    const GI: i64 = 1024 * MI;
    if b >= GI && b % GI == 0 {
        format!("{}Gi", b / GI)
    } else if b >= MI {
        format!("{}Mi", (b + MI - 1) / MI)
    } else {
        format!("{b}")
    }
}

/// Millicores as Kubernetes writes them (`500m`, `2`).
pub(crate) fn format_millicores(m: i64) -> String {
    if m % 1000 == 0 {
        format!("{}", m / 1000)
    } else {
        format!("{m}m")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        assert_eq!(millicores("500m"), Some(500));
        assert_eq!(millicores("2"), Some(2000));
        assert_eq!(millicores("1.5"), Some(1500));
        assert_eq!(bytes("1Gi"), Some(1 << 30));
        assert_eq!(bytes("512Mi"), Some(512 << 20));
        assert_eq!(bytes("1G"), Some(1_000_000_000));
        assert_eq!(bytes("junk"), None);
        assert_eq!(format_bytes(1 << 30), "1Gi");
        assert_eq!(format_bytes(1536 << 20), "1536Mi");
        assert_eq!(format_millicores(2500), "2500m");
    }
}
