//! Validation of a generated ClusterConfig against eksctl's published JSON schema (draft-07).
//!
//! The schema is embedded in the binary: `schema/eksctl-clusterconfig-v1alpha5.subset.json`,
//! transcribed from eksctl's `pkg/apis/eksctl.io/v1alpha5/assets/schema.json` (see
//! `schema/NOTICE` for the commit, the license and exactly what the subset keeps). It is
//! compiled once per process, on first use.

use std::sync::OnceLock;

use jsonschema::{Draft, Validator};
use serde_json::Value;

/// The embedded schema text.
pub const SCHEMA: &str = include_str!("../schema/eksctl-clusterconfig-v1alpha5.subset.json");

/// The eksctl commit the schema was transcribed from.
pub const SCHEMA_COMMIT: &str = "009491b21c67635c70cc8bf3ecd266d39c63feda";

fn validator() -> Result<&'static Validator, String> {
    static VALIDATOR: OnceLock<Result<Validator, String>> = OnceLock::new();
    VALIDATOR
        .get_or_init(|| {
            let schema: Value = serde_json::from_str(SCHEMA)
                .map_err(|e| format!("embedded eksctl schema is not JSON: {e}"))?;
            jsonschema::options()
                .with_draft(Draft::Draft7)
                .should_validate_formats(false)
                .build(&schema)
                .map_err(|e| format!("embedded eksctl schema does not compile: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Checks `config` against eksctl's ClusterConfig schema; every violation as
/// `` `/json/pointer`: message ``.
pub fn validate(config: &Value) -> Result<(), Vec<String>> {
    let validator = validator().map_err(|e| vec![e])?;
    let errors: Vec<String> = validator
        .iter_errors(config)
        .map(|e| format!("`{}`: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepts_a_minimal_config_and_rejects_unknown_fields() {
        let ok = json!({"apiVersion": "eksctl.io/v1alpha5", "kind": "ClusterConfig",
            "metadata": {"name": "a", "region": "us-east-1"},
            "managedNodeGroups": [{"name": "n", "minSize": 1, "maxSize": 2,
                "iam": {"withAddonPolicies": {"autoScaler": true}}}]});
        assert_eq!(validate(&ok), Ok(()));

        let mut bad = ok.clone();
        bad["managedNodeGroups"][0]["maxNodes"] = json!(3);
        bad["managedNodeGroups"][0]["iam"]["withAddonPolicies"]["autoscaler"] = json!(true);
        bad["metadata"]["region"] = json!(1);
        let errors = validate(&bad).unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:#?}");
        assert!(errors.iter().any(|e| e.contains("/metadata/region")));

        let no_region = json!({"apiVersion": "eksctl.io/v1alpha5", "kind": "ClusterConfig",
            "metadata": {"name": "a"}});
        assert!(validate(&no_region).is_err());
        let wrong_version = json!({"apiVersion": "eksctl.io/v1alpha4", "kind": "ClusterConfig",
            "metadata": {"name": "a", "region": "r"}});
        assert!(validate(&wrong_version).is_err());
    }
}
