//! Server-side apply of objects, one at a time or a wave in parallel.

use std::time::Duration;

use berth_model::ObjectKey;
use futures::StreamExt;
use kube::api::{DynamicObject, Patch, PatchParams};
use serde_json::Value;
use tokio::time::Instant;

use crate::cluster::{Cluster, Resolved};
use crate::error::{self, Error, Result};
use crate::inventory::FIELD_MANAGER;

/// How objects are applied.
#[derive(Clone, Copy, Debug)]
pub struct ApplyOptions {
    /// Take over fields other managers own (`--force-conflicts`).
    pub force_conflicts: bool,
    /// Server-side dry run: validated, defaulted, admitted, not stored.
    pub dry_run: bool,
    /// How many requests run at once.
    pub concurrency: usize,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            force_conflicts: false,
            dry_run: false,
            concurrency: 16,
        }
    }
}

/// The object as the server returned it after the apply.
#[derive(Clone, Debug)]
pub struct Applied {
    pub key: ObjectKey,
    pub resolved: Resolved,
    pub live: Value,
}

/// Applies `value` (server-side apply, field manager `berth`), retrying transient errors and
/// kinds the API server does not serve yet (a CRD created moments ago) until `deadline`.
pub async fn apply_one(
    cluster: &Cluster,
    key: &ObjectKey,
    value: &Value,
    opts: ApplyOptions,
    deadline: Instant,
) -> Result<Applied> {
    apply_as(cluster, key, value, FIELD_MANAGER, opts, deadline).await
}

/// [`apply_one`] with another field manager.
pub async fn apply_as(
    cluster: &Cluster,
    key: &ObjectKey,
    value: &Value,
    manager: &str,
    opts: ApplyOptions,
    deadline: Instant,
) -> Result<Applied> {
    let (api, resolved) = loop {
        match cluster.api_for(key, value).await {
            Ok(found) => break found,
            // Established CRDs can take a moment to show up in discovery.
            Err(Error::UnknownKind { .. })
                if Instant::now() + Duration::from_millis(500) < deadline
                    && opts_waits_for_kind(key) =>
            {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e),
        }
    };
    let mut pp = PatchParams::apply(manager);
    if opts.force_conflicts {
        pp = pp.force();
    }
    if opts.dry_run {
        pp = pp.dry_run();
    }
    let result: std::result::Result<DynamicObject, kube::Error> = {
        let patch = Patch::Apply(value);
        cluster
            .retry(deadline, || api.patch(&key.name, &pp, &patch))
            .await
    };
    match result {
        Ok(obj) => Ok(Applied {
            key: key.clone(),
            resolved,
            live: serde_json::to_value(&obj).unwrap_or(Value::Null),
        }),
        Err(kube::Error::Api(s)) if s.code == 409 => Err(Error::Conflict {
            object: key.clone(),
            message: s.message.clone(),
        }),
        Err(e @ kube::Error::Api(_)) if error::status_code(&e) == Some(403) => {
            Err(Error::kube(format!("applying {key}"), e))
        }
        Err(kube::Error::Api(s)) if (400..500).contains(&s.code) => Err(Error::Rejected {
            object: key.clone(),
            message: s.message.clone(),
        }),
        Err(e) => Err(Error::kube(format!("applying {key}"), e)),
    }
}

/// Custom resources may be applied before discovery knows their kind; built-in kinds are
/// known at once, so a miss there is a real error and fails fast.
fn opts_waits_for_kind(key: &ObjectKey) -> bool {
    key.group.contains('.') && !key.group.ends_with(".k8s.io")
}

/// Applies all `objects` with at most `opts.concurrency` requests in flight. Returns the
/// applied objects in input order, or every error (all objects are attempted, so one run
/// reports every rejected object, not only the first).
pub async fn apply_all(
    cluster: &Cluster,
    objects: &[(ObjectKey, Value)],
    opts: ApplyOptions,
    deadline: Instant,
    on_applied: &(dyn Fn(&Applied) + Sync),
) -> std::result::Result<Vec<Applied>, Vec<Error>> {
    let results: Vec<(usize, Result<Applied>)> = futures::stream::iter(objects.iter().enumerate())
        .map(|(i, (key, value))| async move {
            let r = apply_one(cluster, key, value, opts, deadline).await;
            if let Ok(a) = &r {
                on_applied(a);
            }
            (i, r)
        })
        .buffer_unordered(opts.concurrency.max(1))
        .collect()
        .await;
    let mut ok: Vec<Option<Applied>> = vec![None; objects.len()];
    let mut errors = Vec::new();
    for (i, r) in results {
        match r {
            Ok(a) => ok[i] = Some(a),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(ok.into_iter().flatten().collect())
    } else {
        Err(errors)
    }
}

/// Whether an error of [`apply_one`] means "the object is fine, the cluster is not".
pub fn is_cluster_problem(e: &Error) -> bool {
    matches!(e, Error::Kube { source, .. } if error::is_connection(source))
}
