//! Namespaces that the stack's objects need and nothing creates.
//!
//! A kustomize base that sets `namespace: kafka`, or a vendor manifest, puts objects in a
//! namespace that neither the stack declares nor the cluster has; applying them fails halfway
//! (`namespaces "kafka" not found`). berth adds such a namespace to the stack as a Namespace
//! object labelled [`CREATED_BY`] with the stack's name, so it goes in the first wave, `plan`
//! shows it, and it is a member like any other: kept by `down` unless `--purge`, kept by a
//! prune unless `--prune-data`. A namespace that exists and was not created by this stack is
//! never touched (`default`, `kube-system`, one another team made).

use std::collections::BTreeSet;

use berth_model::Object;
use berth_plan::Plan;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use serde_json::json;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::error::{self, Error, Result};
use crate::up::{Target, object_from_value};

/// Label on a Namespace berth created because objects of stack `<value>` needed it.
pub const CREATED_BY: &str = "berth.dev/created-for-stack";

/// The target's objects and, before them, a Namespace for every namespace they use that the
/// stack does not declare and the cluster does not have (or that berth created for this stack
/// before), with their plan: `plan` (the target's, when the caller has it) with the added
/// namespaces in a first wave of their own. The stack namespace is left out: `up` creates it
/// unowned, as the home of the inventory.
pub async fn complete(
    cluster: &Cluster,
    target: &Target<'_>,
    plan: Option<Plan>,
    deadline: Instant,
) -> Result<(Vec<Object>, Plan)> {
    let mut plan = match plan {
        Some(plan) => plan,
        None => berth_plan::plan(target.objects, target.components).map_err(Error::Plan)?,
    };
    let (stack, stack_namespace, objects) = (target.stack, target.namespace, target.objects);
    let declared: BTreeSet<&str> = objects
        .iter()
        .filter(|o| o.kind() == "Namespace" && o.group().is_empty())
        .map(Object::name)
        .collect();
    let used: BTreeSet<&str> = objects
        .iter()
        .filter_map(Object::namespace)
        .filter(|ns| *ns != stack_namespace && !declared.contains(ns))
        .collect();
    let api: Api<Namespace> = Api::all(cluster.client.clone());
    let mut added = Vec::new();
    for ns in used {
        let live = match cluster.retry(deadline, || api.get_opt(ns)).await {
            Ok(live) => live,
            // Credentials limited to namespaces may not read them: leave them as they are.
            Err(e) if error::status_code(&e) == Some(403) => continue,
            Err(e) => return Err(Error::kube(format!("reading namespace {ns}"), e)),
        };
        let ours = live.as_ref().is_none_or(|n| {
            n.metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(CREATED_BY))
                .is_some_and(|s| s == stack)
        });
        if ours {
            added.push(object_from_value(
                json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": ns, "labels": {CREATED_BY: stack}}}),
                "",
            ));
        }
    }
    plan.prepend_wave(added.len());
    added.extend(objects.iter().cloned());
    Ok((added, plan))
}
