//! The rules of `berth check`: one module per rule, one line per rule in [`REGISTRY`].
//!
//! A rule is its id (part of berth's interface), a default severity, the text `berth explain`
//! prints (What it does / Why is this bad? / Example / Fix) and a function from the indexed
//! stack ([`Context`]) to findings. Its tests live next to it.

use berth_model::{Finding, Object, Severity};

use crate::context::Context;

mod api_removed;
mod berth_annotation;
mod ca_discovery_tag;
mod ca_max_nodes;
mod ca_version_skew;
mod grace_period;
mod heap_headroom;
mod host_access;
mod hpa_no_requests;
mod hpa_target;
mod karpenter_discovery_tag;
mod karpenter_do_not_disrupt;
mod lb_cloud;
mod mutable_image;
mod namespace_mismatch;
mod nodepool_limits;
mod nodepool_requirements;
mod nodepool_zones;
mod pgdata_mount;
mod placeholder;
pub(crate) mod plaintext_secret;
mod probes_missing;
mod queue_scale_down;
pub(crate) mod ref_missing;
mod replicas_with_hpa;
mod resources_missing;
mod schema;
mod selector_mismatch;
mod server_fields;
mod shared_on_block;
mod statefulset_service;
mod volume_capacity;
mod yaml_syntax;
mod zonal_volume;

/// One check: what `berth explain ID` prints and what `berth check` runs.
#[derive(Debug)]
pub struct Rule {
    /// The id findings carry (`mutable-image`); stable, part of the interface.
    pub id: &'static str,
    /// Severity of its findings unless the rule says otherwise for a finding.
    pub severity: Severity,
    /// One line: what it finds (the table in PRODUCT.md, `berth explain` without an argument).
    pub summary: &'static str,
    /// The long explanation, Markdown: What it does / Why is this bad? / Example / Fix.
    pub explain: &'static str,
    /// Runs the rule over the indexed stack. Rules reported by the loader run nothing here.
    pub run: fn(&Context<'_>, &mut Out<'_>),
}

/// Every rule, in the order of PRODUCT.md's table.
pub static REGISTRY: &[&Rule] = &[
    &yaml_syntax::RULE,
    &server_fields::RULE,
    &placeholder::RULE,
    &schema::RULE,
    &api_removed::RULE,
    &ref_missing::RULE,
    &selector_mismatch::RULE,
    &hpa_target::RULE,
    &hpa_no_requests::RULE,
    &replicas_with_hpa::RULE,
    &statefulset_service::RULE,
    &volume_capacity::RULE,
    &shared_on_block::RULE,
    &zonal_volume::RULE,
    &pgdata_mount::RULE,
    &heap_headroom::RULE,
    &grace_period::RULE,
    &queue_scale_down::RULE,
    &berth_annotation::RULE,
    &plaintext_secret::RULE,
    &mutable_image::RULE,
    &probes_missing::RULE,
    &resources_missing::RULE,
    &namespace_mismatch::RULE,
    &ca_discovery_tag::RULE,
    &ca_max_nodes::RULE,
    &ca_version_skew::RULE,
    &karpenter_do_not_disrupt::RULE,
    &karpenter_discovery_tag::RULE,
    &nodepool_limits::RULE,
    &nodepool_zones::RULE,
    &nodepool_requirements::RULE,
    &lb_cloud::RULE,
    &host_access::RULE,
];

/// The rule with this id.
pub fn find(id: &str) -> Option<&'static Rule> {
    REGISTRY.iter().copied().find(|r| r.id == id)
}

/// Where a rule puts its findings; stamps each with the rule's id and severity.
pub struct Out<'a> {
    rule: &'static Rule,
    findings: &'a mut Vec<Finding>,
}

impl<'a> Out<'a> {
    pub(crate) fn new(rule: &'static Rule, findings: &'a mut Vec<Finding>) -> Out<'a> {
        Out { rule, findings }
    }

    /// A finding at `pointer` in `object`, with the rule's severity.
    pub fn at(
        &mut self,
        object: &Object,
        pointer: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.at_severity(self.rule.severity, object, pointer, message, fix);
    }

    /// A finding with a severity other than the rule's default.
    pub fn at_severity(
        &mut self,
        severity: Severity,
        object: &Object,
        pointer: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.findings.push(Finding::at(
            self.rule.id,
            severity,
            object,
            pointer,
            message,
            fix,
        ));
    }

    /// A finding not tied to an object (e.g. the stack's settings).
    pub fn push(&mut self, finding: Finding) {
        self.findings.push(finding);
    }
}

#[cfg(test)]
pub(crate) mod testing;
