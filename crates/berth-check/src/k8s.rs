//! Small pieces of Kubernetes knowledge only the rules need: which kinds an HPA scales, how
//! quantities and images are written. What every step shares (references, pod-spec locations,
//! label selectors, cluster-scoped kinds) is in `berth-model`.

use serde_json::Value;

/// Workload kinds a HorizontalPodAutoscaler can scale, with their API group.
pub const SCALABLE: &[(&str, &str)] = &[
    ("apps", "Deployment"),
    ("apps", "StatefulSet"),
    ("apps", "ReplicaSet"),
    ("", "ReplicationController"),
];

/// A Kubernetes quantity (`500m`, `1Gi`, `1.5`, `2e3`) as a number of base units, or None when
/// it is not one.
pub fn quantity(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => berth_model::quantity::parse_quantity(s),
        _ => None,
    }
}

/// Formats bytes the way people write memory requests (`1536Mi`).
pub fn mebibytes(bytes: f64) -> String {
    format!("{}Mi", (bytes / 1048576.0).ceil() as u64)
}

/// The tag of an image reference (`nginx:1.27` → `1.27`), None when untagged; `@sha256:` digests
/// are reported by [`has_digest`].
pub fn image_tag(image: &str) -> Option<&str> {
    let without_digest = image.split('@').next().unwrap_or(image);
    // A `:` after the last `/` is a tag; one before it is a registry port.
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last.split_once(':').map(|(_, t)| t)
}

/// True when the image is pinned by digest.
pub fn has_digest(image: &str) -> bool {
    image.contains("@sha256:")
}

/// The string at `pointer`, if it is one.
pub fn str_at<'v>(v: &'v Value, pointer: &str) -> Option<&'v str> {
    berth_model::ValueExt::at(v, pointer).and_then(Value::as_str)
}

/// Escapes a key for use in a JSON pointer (`~` → `~0`, `/` → `~1`).
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities() {
        assert_eq!(quantity(&json!("500m")), Some(0.5));
        assert_eq!(quantity(&json!("1Gi")), Some(1073741824.0));
        assert_eq!(quantity(&json!("5G")), Some(5e9));
        assert_eq!(quantity(&json!(2)), Some(2.0));
        assert_eq!(quantity(&json!("lots")), None);
        assert_eq!(quantity(&json!("1e3")), Some(1000.0));
    }

    #[test]
    fn image_tags() {
        assert_eq!(image_tag("nginx"), None);
        assert_eq!(image_tag("nginx:1.27"), Some("1.27"));
        assert_eq!(image_tag("reg:5000/team/app"), None);
        assert_eq!(image_tag("reg:5000/team/app:v1@sha256:ab"), Some("v1"));
        assert!(has_digest("app@sha256:abc"));
    }
}
