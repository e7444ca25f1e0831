//! `container-config`: the kubelet cannot create a container from its spec
//! (`CreateContainerConfigError`), usually because a Secret, ConfigMap or key it names is
//! missing. `missing-reference` finds most of these from the template side; this rule speaks
//! for the pod, quoting the kubelet, and names the object and (when it exists elsewhere) the
//! namespace it is really in.

use berth_health::PodProblem;
use berth_model::Severity;

use super::pods::{pod_evidence, problems};
use super::references::{elsewhere, refs};
use crate::diagnosis::{Diagnosis, EvidenceKind};
use crate::snapshot::{Ctx, display, s};
use crate::template::container_pointer;
use berth_model::refs::Ref;

pub(crate) const ID: &str = "container-config";

/// Kind, name and key of the object a kubelet message says is missing:
/// `secret "x" not found`, `configmap "x" not found`,
/// `couldn't find key k in Secret ns/x`, `couldn't find key k in ConfigMap ns/x`.
pub(crate) fn missing_object(message: &str) -> Option<(&'static str, String, Option<String>)> {
    for (word, kind) in [("secret \"", "Secret"), ("configmap \"", "ConfigMap")] {
        if let Some(i) = message.to_lowercase().find(word) {
            let rest = &message[i + word.len()..];
            let name = rest.split('"').next()?;
            return Some((kind, name.to_string(), None));
        }
    }
    let rest = message.split("couldn't find key ").nth(1)?;
    let mut words = rest.split_whitespace();
    let key = words.next()?;
    let _in = words.next()?;
    let kind = match words.next()? {
        "Secret" => "Secret",
        "ConfigMap" => "ConfigMap",
        _ => return None,
    };
    let name = words
        .next()?
        .rsplit('/')
        .next()?
        .trim_end_matches(['.', ',']);
    Some((kind, name.to_string(), Some(key.to_string())))
}

/// Why the kubelet refuses a `runAsNonRoot` container, from its message.
fn run_as_root(message: &str) -> Option<&'static str> {
    if !message.contains("runAsNonRoot") {
        None
    } else if message.contains("will run as root") {
        Some("its image runs as root")
    } else if message.contains("non-numeric user") {
        Some("its image names its user by name, which the kubelet cannot check")
    } else {
        None
    }
}

/// Where `runAsNonRoot` is set for `container` (its own securityContext first, then the
/// pod's), else the container.
fn run_as_non_root_pointer(owner: &berth_model::Object, container: &str) -> String {
    let c = container_pointer(owner, container).unwrap_or_default();
    let pod = berth_model::pod_spec::spec_pointer(owner.kind()).unwrap_or("/spec");
    [
        format!("{c}/securityContext/runAsNonRoot"),
        format!("{pod}/securityContext/runAsNonRoot"),
    ]
    .into_iter()
    .find(|p| owner.value.pointer(p).is_some())
    .unwrap_or(c)
}

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Diagnosis>) {
    for g in problems(ctx, ID) {
        let PodProblem::ContainerConfig { container, message } = &g.problem else {
            continue;
        };
        let pod = g.pod();
        let ns = s(pod, "/metadata/namespace");
        let missing = missing_object(message);
        let (pointer, cause, fix, topic) = match &missing {
            Some((kind, name, key)) => {
                let r: Option<Ref> = refs(g.owner)
                    .into_iter()
                    .find(|r| r.kind == *kind && r.name == *name);
                let pointer = r
                    .map(|r| r.pointer)
                    .or_else(|| container_pointer(g.owner, container))
                    .unwrap_or_default();
                let other = elsewhere(ctx, kind, name, ns);
                let what = match key {
                    Some(k) => format!("key `{k}` of {kind} `{name}`"),
                    None => format!("{kind} `{name}`"),
                };
                let mut cause = format!(
                    "container `{container}` cannot start: {what} does not exist in namespace `{ns}`"
                );
                if !other.is_empty() && key.is_none() {
                    cause.push_str(&format!(
                        ", but a {kind} of that name exists in namespace `{}`",
                        other.join("`, `")
                    ));
                }
                let fix = format!(
                    "create {what} in namespace `{ns}` (for a stack secret, `namespaces: [{ns}]`), or mark the reference `optional: true` if the container can run without it"
                );
                let topic = match key {
                    Some(k) => format!("{kind}/{ns}/{name}#{k}"),
                    None => format!("{kind}/{ns}/{name}"),
                };
                (pointer, cause, fix, Some(topic))
            }
            None => match run_as_root(message) {
                Some(why) => {
                    let pointer = run_as_non_root_pointer(g.owner, container);
                    let cause = format!(
                        "container `{container}` cannot start: it must run as non-root (`runAsNonRoot: true`) but {why}"
                    );
                    (
                        pointer,
                        cause,
                        "set `securityContext.runAsUser` to the non-root UID the image is built for (e.g. 1000), or use an image whose USER is a non-root UID".to_string(),
                        None,
                    )
                }
                None => (
                    container_pointer(g.owner, container).unwrap_or_default(),
                    g.problem.cause(),
                    "correct the container spec the kubelet quotes".to_string(),
                    None,
                ),
            },
        };
        let mut d = Diagnosis::at(ID, Severity::Error, g.owner, &pointer, cause, fix).with(
            EvidenceKind::Condition,
            display(pod),
            format!("CreateContainerConfigError: {message}"),
        );
        if let Some(t) = topic {
            d = d.topic(t);
        }
        out.push(pod_evidence(ctx, d, &g, &["Failed"]));
    }
}

#[cfg(test)]
mod tests {
    use super::missing_object;

    #[test]
    fn kubelet_messages() {
        assert_eq!(
            missing_object("secret \"flow-db\" not found"),
            Some(("Secret", "flow-db".into(), None))
        );
        assert_eq!(
            missing_object("configmap \"cfg\" not found"),
            Some(("ConfigMap", "cfg".into(), None))
        );
        assert_eq!(
            missing_object("couldn't find key password in Secret flow/flow-db"),
            Some(("Secret", "flow-db".into(), Some("password".into())))
        );
        assert_eq!(missing_object("something else"), None);
        assert!(super::run_as_root("container has runAsNonRoot and image will run as root (pod: \"web-0_shop(1)\", container: web)").is_some());
        assert!(super::run_as_root("container has runAsNonRoot and image has non-numeric user (app), cannot verify user is non-root").is_some());
        assert!(super::run_as_root("secret \"db\" not found").is_none());
    }
}
