//! `crash-loop`: a container keeps exiting and the kubelet backs off restarting it. The exit
//! code and the last log lines usually say why; where the log carries a message berth knows
//! (see `app_messages`), that diagnosis is given instead, with its specific fix.

use berth_health::PodProblem;
use berth_model::Severity;

use super::app_messages;
use super::pods::{log_evidence, pod_evidence, problems};
use crate::diagnosis::{Diagnosis, EvidenceKind};
use crate::snapshot::{Ctx, display, s};
use crate::template::container_pointer;

pub(crate) const ID: &str = "crash-loop";

/// What an exit code usually means.
pub(crate) fn exit_hint(code: Option<i64>) -> &'static str {
    match code {
        Some(0) => {
            "it exits successfully, but a long-running container must not exit: check its command"
        }
        Some(126) => "the command is not executable: check `command`/`args` and file permissions",
        Some(127) => "the command was not found in the image: check `command`/`args`",
        Some(137) => "it was killed (SIGKILL): a failing liveness probe or the memory limit",
        Some(139) => "it crashed with a segmentation fault",
        Some(143) => "it was stopped (SIGTERM), often by a failing liveness probe",
        _ => "read the log lines: the application says why it exits",
    }
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Diagnosis>) {
    for g in problems(ctx, ID) {
        let PodProblem::CrashLoop {
            container,
            exit_code,
            ..
        } = &g.problem
        else {
            continue;
        };
        let pod = g.pod();
        let base = container_pointer(g.owner, container).unwrap_or_default();
        let lines = ctx.logs(
            s(pod, "/metadata/namespace"),
            s(pod, "/metadata/name"),
            container,
        );
        if let Some(r) = lines.and_then(|l| app_messages::recognise(container, l)) {
            let mut d = Diagnosis::at(
                r.id,
                Severity::Error,
                g.owner,
                &format!("{base}{}", r.pointer),
                r.cause,
                r.fix,
            );
            for line in r.lines {
                d = d.with(
                    EvidenceKind::Log,
                    format!("{}/{container}", display(pod)),
                    line,
                );
            }
            let d = d.with(EvidenceKind::Condition, display(pod), g.problem.cause());
            out.push(pod_evidence(ctx, d, &g, &["BackOff"]));
            continue;
        }
        let fix = format!(
            "{}; `kubectl logs --previous -n {} {} -c {container}` shows the whole last run",
            exit_hint(*exit_code),
            s(pod, "/metadata/namespace"),
            s(pod, "/metadata/name")
        );
        let d = Diagnosis::at(ID, Severity::Error, g.owner, &base, g.problem.cause(), fix);
        let d = pod_evidence(ctx, d, &g, &["BackOff"]);
        out.push(log_evidence(ctx, d, pod, container));
    }
}
