//! Validation of a generated ClusterConfig against eksctl's published JSON schema (draft-07),
//! and of generated NodePools and EC2NodeClasses against Karpenter's CRD schemas.
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

/// Checks a NodePool or EC2NodeClass against its Karpenter CRD schema; every violation as
/// `` `/json/pointer`: message ``.
pub fn validate_karpenter(object: &Value) -> Result<(), Vec<String>> {
    let api_version = object["apiVersion"].as_str().unwrap_or("");
    let kind = object["kind"].as_str().unwrap_or("");
    // The validators `berth check` uses for the same kinds: compiled from the CRD schemas
    // embedded in berth-model, strict about unknown fields.
    let validator = berth_check::schemas::known_crd_validator(api_version, kind)
        .ok_or_else(|| vec![format!("berth has no schema for {api_version} {kind}")])?;
    let errors: Vec<String> = validator
        .iter_errors(object)
        .map(|e| format!("`{}`: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
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

    #[test]
    fn auto_mode_and_karpenter_sections_are_checked() {
        let mut c = json!({"apiVersion": "eksctl.io/v1alpha5", "kind": "ClusterConfig",
            "metadata": {"name": "a", "region": "us-east-1"},
            "autoModeConfig": {"enabled": true, "nodePools": ["general-purpose"],
                "nodeRoleARN": "arn:aws:iam::1:role/n"},
            "karpenter": {"version": "1.15.2", "withSpotInterruptionQueue": true}});
        assert_eq!(validate(&c), Ok(()));
        c["autoModeConfig"]["enabled"] = json!("yes");
        c["karpenter"] = json!({"createServiceAccount": true});
        assert_eq!(validate(&c).unwrap_err().len(), 2);
    }

    #[test]
    fn karpenter_objects_are_checked_against_their_crds() {
        let pool = json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "p"},
            "spec": {"template": {"spec": {
                "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                "requirements": [{"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]}]}},
                "limits": {"cpu": "16"}}});
        assert_eq!(validate_karpenter(&pool), Ok(()));
        let mut bad = pool.clone();
        bad["spec"]["disruption"] = json!({"consolidationPolicy": "Never"});
        bad["spec"]["template"]["spec"]["requirement"] = json!([]);
        assert_eq!(
            validate_karpenter(&bad).unwrap_err().len(),
            2,
            "{:?}",
            validate_karpenter(&bad)
        );
        let class = json!({"apiVersion": "karpenter.k8s.aws/v1", "kind": "EC2NodeClass",
            "metadata": {"name": "default"},
            "spec": {"role": "r", "amiSelectorTerms": [{"alias": "al2023@latest"}],
                "subnetSelectorTerms": [{"tags": {"karpenter.sh/discovery": "c"}}],
                "securityGroupSelectorTerms": [{"tags": {"karpenter.sh/discovery": "c"}}]}});
        assert_eq!(validate_karpenter(&class), Ok(()));
        let mut no_subnets = class.clone();
        no_subnets["spec"]
            .as_object_mut()
            .unwrap()
            .remove("subnetSelectorTerms");
        assert!(validate_karpenter(&no_subnets).is_err());
        assert!(validate_karpenter(&json!({"apiVersion": "v1", "kind": "Pod"})).is_err());
    }
}
