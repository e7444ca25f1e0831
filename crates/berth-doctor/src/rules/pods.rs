//! Shared by the rules about pod problems: the stack's pods with a fail-fast problem, grouped
//! by the stack object that made them and the container, so three replicas with one bad image
//! give one diagnosis.

use berth_health::PodProblem;
use berth_model::Object;
use serde_json::Value;

use crate::diagnosis::{Diagnosis, EvidenceKind};
use crate::snapshot::{Ctx, display, event_text, s};

/// Pods of one stack object with the same problem in the same container.
pub(crate) struct PodGroup<'a> {
    pub owner: &'a Object,
    /// The problem of the first pod (the others have the same kind in the same container).
    pub problem: PodProblem,
    pub pods: Vec<&'a Value>,
}

impl PodGroup<'_> {
    /// The first pod, whose details the diagnosis quotes.
    pub fn pod(&self) -> &Value {
        self.pods[0]
    }
}

/// The stack's pods whose [`berth_health::pod_problem`] has id `id`, grouped.
pub(crate) fn problems<'a>(ctx: &Ctx<'a>, id: &str) -> Vec<PodGroup<'a>> {
    let mut groups: Vec<PodGroup<'a>> = Vec::new();
    for (pod, owner) in ctx.stack_pods() {
        let Some(problem) = berth_health::pod_problem(pod).filter(|p| p.id() == id) else {
            continue;
        };
        match groups
            .iter_mut()
            .find(|g| std::ptr::eq(g.owner, owner) && g.problem.container() == problem.container())
        {
            Some(g) => g.pods.push(pod),
            None => groups.push(PodGroup {
                owner,
                problem,
                pods: vec![pod],
            }),
        }
    }
    groups
}

/// Adds the number of affected pods, when more than one, and the pod's latest event with one
/// of `reasons`.
pub(crate) fn pod_evidence(
    ctx: &Ctx<'_>,
    mut d: Diagnosis,
    group: &PodGroup<'_>,
    reasons: &[&str],
) -> Diagnosis {
    let pod = group.pod();
    if group.pods.len() > 1 {
        d = d.with(
            EvidenceKind::State,
            group.owner.display_name(),
            format!(
                "{} pods have this problem; quoting {}",
                group.pods.len(),
                s(pod, "/metadata/name")
            ),
        );
    }
    let events = ctx.events(
        "Pod",
        s(pod, "/metadata/namespace"),
        s(pod, "/metadata/name"),
    );
    if let Some(e) = events
        .iter()
        .rev()
        .find(|e| reasons.contains(&s(e, "/reason")))
    {
        // An event that only repeats a quoted condition adds nothing.
        let message = s(e, "/message");
        if message.is_empty() || !d.evidence.iter().any(|x| x.text.contains(message)) {
            d = d.with(EvidenceKind::Event, display(pod), event_text(e));
        }
    }
    d
}

/// Adds the container's last log lines, or says there are none.
pub(crate) fn log_evidence(
    ctx: &Ctx<'_>,
    mut d: Diagnosis,
    pod: &Value,
    container: &str,
) -> Diagnosis {
    let subject = format!("{}/{container}", display(pod));
    match ctx.logs(
        s(pod, "/metadata/namespace"),
        s(pod, "/metadata/name"),
        container,
    ) {
        Some(lines) => {
            for l in lines {
                d = d.with(EvidenceKind::Log, subject.clone(), l.clone());
            }
            d
        }
        None => d.with(EvidenceKind::Log, subject, "no logs available"),
    }
}

/// The container called `name` in a live pod's spec.
pub(crate) fn pod_container<'a>(pod: &'a Value, name: &str) -> Option<&'a Value> {
    berth_model::pod_spec::containers(pod.pointer("/spec")?)
        .map(|(_, c)| c)
        .find(|c| s(c, "/name") == name)
}
