//! Secrets that berth builds from `secrets:` in berth.yaml.

/// The Secret type for image pull credentials.
pub const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
