//! `image-pull`: a container's image cannot be pulled (`ErrImagePull`, `ImagePullBackOff`,
//! `InvalidImageName`). The pod never starts; waiting does not help, because the kubelet only
//! retries the same reference. The fix is in the image reference or the pull credentials.

use berth_model::Severity;

use super::pods::{pod_evidence, problems};
use crate::diagnosis::{Diagnosis, EvidenceKind};
use crate::snapshot::{Ctx, display, s};
use crate::template::container_pointer;
use berth_health::PodProblem;

pub(crate) const ID: &str = "image-pull";

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Diagnosis>) {
    for g in problems(ctx, ID) {
        let PodProblem::ImagePull {
            container,
            image,
            reason,
            message,
        } = &g.problem
        else {
            continue;
        };
        let pointer = container_pointer(g.owner, container)
            .map(|p| format!("{p}/image"))
            .unwrap_or_default();
        // The kubelet's waiting message is short; the Failed event has the registry's answer.
        let events = ctx.events(
            "Pod",
            s(g.pod(), "/metadata/namespace"),
            s(g.pod(), "/metadata/name"),
        );
        let event = events
            .iter()
            .rev()
            .find(|e| s(e, "/reason") == "Failed")
            .map(|e| s(e, "/message"))
            .unwrap_or("");
        let m = format!("{message} {event}").to_lowercase();
        let fix = if reason == "InvalidImageName" {
            format!(
                "write `{image}` as a valid image reference (lowercase repository, `name:tag` or `name@sha256:...`)"
            )
        } else if [
            "unauthorized",
            "authentication required",
            "denied",
            "forbidden",
            "403",
            "401",
        ]
        .iter()
        .any(|w| m.contains(w))
        {
            "the registry refused the credentials: give the pod `imagePullSecrets` naming a kubernetes.io/dockerconfigjson Secret for this registry (a stack secret of that type works)".to_string()
        } else if ["not found", "manifest unknown", "does not exist"]
            .iter()
            .any(|w| m.contains(w))
        {
            format!(
                "the image or tag `{image}` does not exist in the registry: correct the name or tag, or push it"
            )
        } else {
            format!(
                "check that `{image}` exists, that the nodes can reach its registry, and for a private registry that the pod has `imagePullSecrets`"
            )
        };
        let cause = format!("container `{container}` cannot pull image `{image}` ({reason})");
        let mut d = Diagnosis::at(ID, Severity::Error, g.owner, &pointer, cause, fix);
        if !message.is_empty() {
            d = d.with(
                EvidenceKind::Condition,
                display(g.pod()),
                format!("{reason}: {message}"),
            );
        }
        out.push(pod_evidence(ctx, d, &g, &["Failed"]));
    }
}
