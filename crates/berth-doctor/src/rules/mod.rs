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

/// The ids of every diagnosis berth can make (some rules make several).
pub const IDS: &[&str] = &[
    custom_resource::ID,
    custom_resource::ID_NOT_ESTABLISHED,
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
