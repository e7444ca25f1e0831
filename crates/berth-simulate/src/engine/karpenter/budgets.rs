//! Disruption budgets: how many of a NodePool's nodes Karpenter may disrupt at once for a
//! reason.
//!
//! Each budget that names the reason (or names none) allows `nodes` (a count, or a percentage
//! of the pool's nodes rounded up); the smallest wins, less the nodes already being disrupted
//! and those not Ready: `allowed = min(roundup(total × pct)) − deleting − notReady`, never
//! below zero. A budget with a `schedule` is taken as always active, the stricter reading.
//! Budgets do not limit expiration, which is forceful.

use crate::nodepools::{Budget, BudgetNodes, Reason};

/// The nodes of a pool as budgets count them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct PoolNodes {
    /// All of the pool's nodes, starting ones included.
    pub total: u32,
    /// Being removed or replaced.
    pub deleting: u32,
    /// Launched and not Ready yet.
    pub not_ready: u32,
}

/// How many more nodes may be disrupted for `reason`.
pub(super) fn allowed(budgets: &[Budget], reason: Reason, n: PoolNodes) -> u32 {
    let cap = budgets
        .iter()
        .filter(|b| b.reasons.is_empty() || b.reasons.contains(&reason))
        .map(|b| match b.nodes {
            BudgetNodes::Count(k) => k,
            BudgetNodes::Percent(p) => (u64::from(n.total) * u64::from(p)).div_ceil(100) as u32,
        })
        .min()
        // No budget applies to this reason: nothing limits it.
        .unwrap_or(u32::MAX);
    cap.saturating_sub(n.deleting + n.not_ready)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(nodes: BudgetNodes, reasons: &[Reason]) -> Budget {
        Budget {
            nodes,
            reasons: reasons.to_vec(),
            scheduled: false,
        }
    }

    fn nodes(total: u32, deleting: u32, not_ready: u32) -> PoolNodes {
        PoolNodes {
            total,
            deleting,
            not_ready,
        }
    }

    #[test]
    fn a_percentage_rounds_up() {
        let b = [budget(BudgetNodes::Percent(10), &[])];
        assert_eq!(
            allowed(&b, Reason::Empty, nodes(1, 0, 0)),
            1,
            "10% of 1 is 1"
        );
        assert_eq!(allowed(&b, Reason::Empty, nodes(10, 0, 0)), 1);
        assert_eq!(allowed(&b, Reason::Empty, nodes(11, 0, 0)), 2);
        assert_eq!(allowed(&b, Reason::Empty, nodes(0, 0, 0)), 0);
    }

    #[test]
    fn nodes_deleting_or_not_ready_use_up_the_budget() {
        let b = [budget(BudgetNodes::Percent(10), &[])];
        assert_eq!(allowed(&b, Reason::Underutilized, nodes(30, 1, 1)), 1);
        assert_eq!(allowed(&b, Reason::Underutilized, nodes(30, 2, 1)), 0);
        assert_eq!(
            allowed(&b, Reason::Underutilized, nodes(30, 5, 0)),
            0,
            "never below zero"
        );
    }

    #[test]
    fn the_smallest_budget_for_the_reason_wins() {
        let b = [
            budget(BudgetNodes::Percent(50), &[]),
            budget(BudgetNodes::Count(0), &[Reason::Underutilized]),
        ];
        assert_eq!(allowed(&b, Reason::Underutilized, nodes(10, 0, 0)), 0);
        assert_eq!(
            allowed(&b, Reason::Empty, nodes(10, 0, 0)),
            5,
            "the zero budget names another reason"
        );
        let only_drift = [budget(BudgetNodes::Count(1), &[Reason::Drifted])];
        assert_eq!(
            allowed(&only_drift, Reason::Empty, nodes(10, 0, 0)),
            u32::MAX,
            "no budget for the reason: unlimited"
        );
    }
}
