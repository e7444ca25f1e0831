//! Quantities written back for people (`1536Mi`, `2Gi`, `500m`) in diagnoses. Reading them is
//! `berth_model::quantity`'s job.

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
        assert_eq!(format_bytes(1 << 30), "1Gi");
        assert_eq!(format_bytes(1536 << 20), "1536Mi");
        assert_eq!(format_millicores(2500), "2500m");
    }
}
