//! `berth explain [RULE]`: the long explanation of a check, or the list of checks.

use clap::Args;

use crate::exit::{Exit, fail};

/// Arguments of `berth explain`.
#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// The rule id (`mutable-image`); without it, every rule is listed.
    pub rule: Option<String>,
}

/// Prints the rule's explanation (what it finds, why it matters, an example, the fix); the ids
/// of `berth doctor`'s diagnoses are explained too.
pub fn run(args: ExplainArgs) -> anyhow::Result<Exit> {
    match args.rule {
        None => print!("{}", berth_check::report::rule_list()),
        Some(id) => {
            match berth_check::report::explain(&id)
                .or_else(|| berth_doctor::explain(&id))
                .or_else(|| berth_health::rollout::explain(&id).map(str::to_string))
            {
                Some(text) => print!("{text}"),
                None => {
                    return Err(fail(
                        Exit::BadInput,
                        format!("no rule `{id}`; `berth explain` lists the rules"),
                    ));
                }
            }
        }
    }
    Ok(Exit::Ok)
}
