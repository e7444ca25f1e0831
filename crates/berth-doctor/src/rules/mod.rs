//! The diagnoses, one module each. Every module has an `ID`, a doc comment saying what it finds
//! and why, and a `check` that reads the [`Ctx`] and pushes what it found.

pub(crate) mod app_messages;
mod container_config;
mod crash_loop;
mod custom_resource;
mod hpa;
mod image_pull;
mod ingress;
mod job_failed;
mod load_balancer;
mod not_healthy;
mod oom_killed;
mod pods;
mod probe_failure;
mod pvc_pending;
mod references;
mod service_endpoints;
mod unschedulable;
mod webhook;

use crate::diagnosis::Diagnosis;

use crate::snapshot::Ctx;
pub(crate) use not_healthy::{check as not_healthy, nothing_applied};

/// A diagnosis rule: its id, and the function that finds it.
pub(crate) struct Rule {
    pub id: &'static str,
    pub check: fn(&Ctx<'_>, &mut Vec<Diagnosis>),
}

/// Every rule, in the order they run. Rules that see a cause run before those that see only its
/// symptom (a missing reference before the container that cannot start). `not-healthy` is not
/// here: it runs after all of them ([`not_healthy`]) and speaks only for objects nothing else
/// explained.
pub(crate) const RULES: &[Rule] = &[
    Rule {
        id: custom_resource::ID,
        check: custom_resource::check,
    },
    Rule {
        id: references::ID,
        check: references::check,
    },
    Rule {
        id: container_config::ID,
        check: container_config::check,
    },
    Rule {
        id: image_pull::ID,
        check: image_pull::check,
    },
    Rule {
        id: oom_killed::ID,
        check: oom_killed::check,
    },
    Rule {
        id: crash_loop::ID,
        check: crash_loop::check,
    },
    Rule {
        id: job_failed::ID,
        check: job_failed::check,
    },
    Rule {
        id: unschedulable::ID,
        check: unschedulable::check,
    },
    Rule {
        id: pvc_pending::ID,
        check: pvc_pending::check,
    },
    Rule {
        id: probe_failure::ID,
        check: probe_failure::check,
    },
    Rule {
        id: service_endpoints::ID,
        check: service_endpoints::check,
    },
    Rule {
        id: load_balancer::ID,
        check: load_balancer::check,
    },
    Rule {
        id: ingress::ID,
        check: ingress::check,
    },
    Rule {
        id: hpa::ID,
        check: hpa::check,
    },
    Rule {
        id: webhook::ID,
        check: webhook::check,
    },
];

/// Each module's source, for [`explain`]: its `//!` doc is the explanation, written once.
const SOURCES: &[(&[&str], &str)] = &[
    (
        &[
            custom_resource::ID,
            custom_resource::ID_NOT_ESTABLISHED,
            custom_resource::ID_API,
        ],
        include_str!("custom_resource.rs"),
    ),
    (&[references::ID], include_str!("references.rs")),
    (&[container_config::ID], include_str!("container_config.rs")),
    (&[image_pull::ID], include_str!("image_pull.rs")),
    (&[oom_killed::ID], include_str!("oom_killed.rs")),
    (&[crash_loop::ID], include_str!("crash_loop.rs")),
    (
        &[app_messages::ID_PGDATA, app_messages::ID_BUCKET],
        include_str!("app_messages.rs"),
    ),
    (&[job_failed::ID], include_str!("job_failed.rs")),
    (&[unschedulable::ID], include_str!("unschedulable.rs")),
    (&[pvc_pending::ID], include_str!("pvc_pending.rs")),
    (&[probe_failure::ID], include_str!("probe_failure.rs")),
    (
        &[service_endpoints::ID, service_endpoints::ID_PORT],
        include_str!("service_endpoints.rs"),
    ),
    (&[load_balancer::ID], include_str!("load_balancer.rs")),
    (
        &[ingress::ID, ingress::ID_BACKEND],
        include_str!("ingress.rs"),
    ),
    (&[hpa::ID], include_str!("hpa.rs")),
    (&[webhook::ID], include_str!("webhook.rs")),
    (
        &[not_healthy::ID, not_healthy::ID_NOT_FOUND],
        include_str!("not_healthy.rs"),
    ),
];

/// The long explanation of a diagnosis id (what `berth explain ID` prints): the doc comment of
/// the module that makes it. `None` for an id berth does not know.
pub fn explain(id: &str) -> Option<String> {
    let (_, source) = SOURCES.iter().find(|(ids, _)| ids.contains(&id))?;
    let doc: Vec<&str> = source
        .lines()
        .take_while(|l| l.starts_with("//!"))
        .map(|l| {
            l.trim_start_matches("//!")
                .strip_prefix(' ')
                .unwrap_or_else(|| l.trim_start_matches("//!"))
        })
        .collect();
    Some(format!(
        "# {id} (a `berth doctor` diagnosis)\n\n{}\n",
        doc.join("\n")
    ))
}

/// The ids of every diagnosis berth can make (some rules make several).
pub const IDS: &[&str] = &[
    custom_resource::ID,
    custom_resource::ID_NOT_ESTABLISHED,
    custom_resource::ID_API,
    references::ID,
    container_config::ID,
    image_pull::ID,
    oom_killed::ID,
    crash_loop::ID,
    app_messages::ID_PGDATA,
    app_messages::ID_BUCKET,
    job_failed::ID,
    unschedulable::ID,
    pvc_pending::ID,
    probe_failure::ID,
    service_endpoints::ID,
    service_endpoints::ID_PORT,
    load_balancer::ID,
    ingress::ID,
    ingress::ID_BACKEND,
    hpa::ID,
    webhook::ID,
    not_healthy::ID,
    not_healthy::ID_NOT_FOUND,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_id_has_an_explanation() {
        for id in IDS {
            let text = explain(id).unwrap_or_else(|| panic!("{id} has no explanation"));
            assert!(
                text.contains(id),
                "the explanation of {id} does not name it:\n{text}"
            );
        }
        assert_eq!(explain("no-such-diagnosis"), None);
    }
}
