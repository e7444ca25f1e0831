use super::{Out, Rule};
use crate::context::Context;
use berth_model::Severity;
pub const RULE: Rule = Rule {
    id: "ca-version-skew",
    severity: Severity::Warning,
    summary: "",
    explain: "",
    run,
};
fn run(_: &Context<'_>, _: &mut Out<'_>) {}
