//! Which cluster-autoscaler release goes with which Kubernetes minor version.
//!
//! Each cluster-autoscaler release line is built against one Kubernetes minor version and must
//! run on it (`ca-version-skew` checks this). The table holds the latest patch release berth
//! knows of per minor; a minor not in it gets `v1.MINOR.0`, which every release line has, and
//! a note saying so.

/// The image repository of the upstream cluster-autoscaler.
pub const IMAGE: &str = "registry.k8s.io/autoscaling/cluster-autoscaler";

/// Known patch releases: (Kubernetes minor, cluster-autoscaler patch).
pub const KNOWN: &[(u32, u32)] = &[
    (28, 4),
    (29, 5),
    (30, 6),
    (31, 4),
    (32, 5),
    (33, 6),
    (34, 2),
    (35, 0),
];

/// The image tag for Kubernetes `1.minor`, and whether its patch came from the table.
pub fn tag(minor: u32) -> (String, bool) {
    match KNOWN.iter().find(|(m, _)| *m == minor) {
        Some((_, patch)) => (format!("v1.{minor}.{patch}"), true),
        None => (format!("v1.{minor}.0"), false),
    }
}

/// The minor version of `"1.33"` (or `"v1.33.2"`), when it is a Kubernetes 1.x version.
pub fn minor_of(version: &str) -> Option<u32> {
    let v = version.trim().trim_start_matches('v');
    let mut parts = v.split('.');
    if parts.next()? != "1" {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_follow_the_minor() {
        assert_eq!(tag(33), ("v1.33.6".to_string(), true));
        assert_eq!(tag(40), ("v1.40.0".to_string(), false));
        assert_eq!(minor_of("1.33"), Some(33));
        assert_eq!(minor_of("v1.16.5"), Some(16));
        assert_eq!(minor_of("2.1"), None);
        assert_eq!(minor_of("1"), None);
        assert_eq!(minor_of("1.x"), None);
    }
}
