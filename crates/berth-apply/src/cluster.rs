//! A connection to one cluster: the client, what kinds it serves, and retries.
//!
//! Discovery uses the aggregated API (two requests) and is re-run when an object names a
//! kind the cached discovery does not know, which is what happens right after a CRD was
//! created. Every call that may hit a transient failure goes through [`Cluster::retry`].

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use kube::api::{Api, DynamicObject};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Discovery, Scope};
use kube::{Client, Config};
use serde_json::Value;
use tokio::sync::RwLock;
use tokio::time::Instant;

use crate::error::{self, Error, Result};
use berth_model::ObjectKey;

/// How to reach the cluster: kubectl's rules.
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// A kubeconfig file; `None` means `$KUBECONFIG`, then `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// A context of that kubeconfig; `None` means its current context.
    pub context: Option<String>,
}

/// How long berth rides out an API server it cannot reach before it gives up (exit 3).
pub const OUTAGE_GRACE: Duration = Duration::from_secs(30);

/// A connected cluster. Cheap to clone (the client and the discovery cache are shared).
#[derive(Clone)]
pub struct Cluster {
    pub client: Client,
    /// The API server URL, for messages.
    pub server: String,
    /// How long the API server may stay unreachable before a command gives up
    /// ([`OUTAGE_GRACE`] unless set).
    pub outage_grace: Duration,
    /// Whether the API server answers, as the last requests and watches saw it.
    pub reach: Arc<Reach>,
    discovery: Arc<RwLock<Discovery>>,
}

/// Since when the API server has been unreachable (connection refused, reset, timed out), as
/// requests and watches report it; cleared by any answer.
#[derive(Debug, Default)]
pub struct Reach(std::sync::Mutex<Option<Outage>>);

/// An ongoing loss of connection to the API server.
#[derive(Clone, Debug)]
pub struct Outage {
    /// When the first failure was seen.
    pub since: Instant,
    /// The same, as wall-clock time for messages.
    pub at: k8s_openapi::jiff::Timestamp,
    /// The last error seen.
    pub last_error: String,
}

impl Reach {
    /// A request or watch could not reach the API server.
    pub fn lost(&self, error: &str) {
        if let Ok(mut o) = self.0.lock() {
            match o.as_mut() {
                Some(outage) => outage.last_error = error.to_string(),
                None => {
                    *o = Some(Outage {
                        since: Instant::now(),
                        at: k8s_openapi::jiff::Timestamp::now(),
                        last_error: error.to_string(),
                    })
                }
            }
        }
    }
    /// The API server answered.
    pub fn ok(&self) {
        if let Ok(mut o) = self.0.lock() {
            *o = None;
        }
    }
    /// The ongoing outage, if any.
    pub fn outage(&self) -> Option<Outage> {
        self.0.lock().ok().and_then(|o| o.clone())
    }
}

/// A kind resolved through discovery: how to build its `Api`.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub resource: ApiResource,
    pub namespaced: bool,
}

impl Cluster {
    /// Connects, checks that the API server answers and accepts the credentials, and runs
    /// discovery. Errors are [`Error::Unreachable`] or [`Error::Kubeconfig`] (exit code 3).
    pub async fn connect(opts: &ConnectOptions) -> Result<Cluster> {
        let kc_opts = KubeConfigOptions {
            context: opts.context.clone(),
            ..Default::default()
        };
        // `KUBECONFIG=a:b` (a list, merged as kubectl does) arrives as one path from the
        // command line: kube reads the variable itself then.
        let listed = opts
            .kubeconfig
            .as_ref()
            .filter(|p| !p.exists() && std::env::split_paths(p.as_os_str()).count() > 1);
        let kubeconfig = if listed.is_some() {
            None
        } else {
            opts.kubeconfig.as_ref()
        };
        if kubeconfig.is_none()
            && listed.is_none()
            && let Some(why) = no_kubeconfig()
        {
            return Err(Error::Kubeconfig(why));
        }
        let mut config = match kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path)
                    .map_err(|e| Error::Kubeconfig(format!("{}: {e}", path.display())))?;
                Config::from_custom_kubeconfig(kc, &kc_opts).await
            }
            None => Config::from_kubeconfig(&kc_opts).await,
        }
        .map_err(|e| Error::Kubeconfig(e.to_string()))?;
        // berth retries on its own, bounded by --timeout; the client's retry layer would
        // stack a second, unbounded backoff under it.
        config.default_retry = false;
        config.connect_timeout = Some(Duration::from_secs(10));
        config.read_timeout = Some(Duration::from_secs(60));
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(|e| Error::Unreachable {
            server: server.clone(),
            reason: e.to_string(),
        })?;
        let unreachable = |e: kube::Error| {
            let reason = match error::status_code(&e) {
                Some(401) => "the API server refused the credentials (401 Unauthorized); log in again or pick another --context".to_string(),
                Some(403) => "the credentials may not read the API (403 Forbidden); use an account that may".to_string(),
                _ if error::is_connection(&e) => {
                    format!("{e}; is the cluster running and the server address right? (`berth local up` starts the local one)")
                }
                _ => e.to_string(),
            };
            Error::Unreachable {
                server: server.clone(),
                reason,
            }
        };
        let deadline = Instant::now() + Duration::from_secs(8);
        let probe = client.clone();
        let retry_probe = retry_until(deadline, || {
            let c = probe.clone();
            async move { c.apiserver_version().await }
        });
        retry_probe.await.map_err(unreachable)?;
        let discovery = discover(&client, deadline).await.map_err(unreachable)?;
        Ok(Cluster {
            client,
            server,
            outage_grace: OUTAGE_GRACE,
            reach: Arc::default(),
            discovery: Arc::new(RwLock::new(discovery)),
        })
    }

    /// Resolves `apiVersion`/`kind` to an API resource, re-running discovery once when the
    /// cached one does not know it (a CRD applied moments ago).
    pub async fn resolve(&self, api_version: &str, kind: &str) -> Option<Resolved> {
        let (group, version) = match api_version.rsplit_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        if let Some(r) = self.lookup(&gvk).await {
            return Some(r);
        }
        self.refresh().await;
        self.lookup(&gvk).await
    }

    async fn lookup(&self, gvk: &GroupVersionKind) -> Option<Resolved> {
        let d = self.discovery.read().await;
        d.resolve_gvk(gvk)
            .map(|(ar, caps): (ApiResource, ApiCapabilities)| Resolved {
                resource: ar,
                namespaced: caps.scope == Scope::Namespaced,
            })
    }

    /// Resolves a group and kind (no version) to the group's recommended version, from the
    /// cached discovery.
    pub async fn resolve_recommended(&self, group: &str, kind: &str) -> Option<Resolved> {
        let d = self.discovery.read().await;
        d.get(group)
            .and_then(|g| g.recommended_kind(kind))
            .map(|(ar, caps)| Resolved {
                resource: ar,
                namespaced: caps.scope == Scope::Namespaced,
            })
    }

    /// Re-runs discovery (after CRDs were established). Failures keep the old cache.
    pub async fn refresh(&self) {
        if let Ok(d) = discover(&self.client, Instant::now() + Duration::from_secs(20)).await {
            *self.discovery.write().await = d;
        }
    }

    /// The dynamic API for objects of `resolved` in `namespace` (ignored for cluster-scoped).
    pub fn api(&self, resolved: &Resolved, namespace: Option<&str>) -> Api<DynamicObject> {
        match (resolved.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &resolved.resource),
            (true, None) => Api::default_namespaced_with(self.client.clone(), &resolved.resource),
            (false, _) => Api::all_with(self.client.clone(), &resolved.resource),
        }
    }

    /// The API for the object `value`, or [`Error::UnknownKind`].
    pub async fn api_for(
        &self,
        key: &ObjectKey,
        value: &Value,
    ) -> Result<(Api<DynamicObject>, Resolved)> {
        let api_version = value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let resolved =
            self.resolve(api_version, &key.kind)
                .await
                .ok_or_else(|| Error::UnknownKind {
                    object: key.clone(),
                    api_version: api_version.to_string(),
                    kind: key.kind.clone(),
                })?;
        Ok((self.api(&resolved, key.namespace.as_deref()), resolved))
    }

    /// Runs `op` until it succeeds, fails with a non-transient error, or `deadline` passes;
    /// transient errors (429, 5xx, reset connections) back off from 50 ms up to 2 s.
    pub async fn retry<T, F, Fut>(
        &self,
        deadline: Instant,
        op: F,
    ) -> std::result::Result<T, kube::Error>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, kube::Error>>,
    {
        retry_within(deadline, self.outage_grace, Some(&self.reach), op).await
    }

    /// The error to end a command with when the API server has been unreachable for longer
    /// than [`Cluster::outage_grace`]; `None` while it answers or the outage is shorter.
    pub fn outage_error(&self) -> Option<Error> {
        let o = self.reach.outage()?;
        (o.since.elapsed() >= self.outage_grace).then(|| Error::Unreachable {
            server: self.server.clone(),
            reason: format!(
                "lost the connection at {} and it did not come back within {}s (last error: {})",
                o.at.strftime("%H:%M:%S UTC"),
                self.outage_grace.as_secs(),
                o.last_error
            ),
        })
    }
}

/// Why there is no kubeconfig at all (where berth looked, and `--local`), or `None` when
/// there may be one.
fn no_kubeconfig() -> Option<String> {
    if std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty()) {
        return None;
    }
    let home = std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from);
    let default = home.map(|h| h.join(".kube").join("config"));
    match default {
        Some(path) if path.exists() => None,
        Some(path) => Some(format!(
            "$KUBECONFIG is not set and {} does not exist; pass --kubeconfig FILE (and --context NAME), or --local to use berth's own local cluster",
            path.display()
        )),
        None => Some(
            "$KUBECONFIG is not set and there is no home folder to find ~/.kube/config in; pass --kubeconfig FILE, or --local to use berth's own local cluster".into(),
        ),
    }
}

/// Aggregated discovery (two requests), retried like every other call.
async fn discover(
    client: &Client,
    deadline: Instant,
) -> std::result::Result<Discovery, kube::Error> {
    retry_until(deadline, || Discovery::new(client.clone()).run_aggregated()).await
}

/// See [`Cluster::retry`] (with [`OUTAGE_GRACE`]).
pub async fn retry_until<T, F, Fut>(deadline: Instant, op: F) -> std::result::Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, kube::Error>>,
{
    retry_within(deadline, OUTAGE_GRACE, None, op).await
}

/// Runs `op` until it succeeds, fails with a non-transient error, `deadline` passes, or the
/// API server stays unreachable (connection errors only) for `grace`; tells `reach` what it saw.
async fn retry_within<T, F, Fut>(
    deadline: Instant,
    grace: Duration,
    reach: Option<&Reach>,
    mut op: F,
) -> std::result::Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, kube::Error>>,
{
    let mut delay = Duration::from_millis(50);
    let mut unreachable_since: Option<Instant> = None;
    loop {
        let result = op().await;
        match &result {
            Err(e) if error::is_connection(e) => {
                if let Some(r) = reach {
                    r.lost(&e.to_string());
                }
                // The outage began when any request or watch first saw it: once it is older
                // than the grace, every call in flight gives up at its next failure (a wave of
                // 300 objects must not wait out the grace once per object).
                let mine = *unreachable_since.get_or_insert_with(Instant::now);
                let since = reach
                    .and_then(Reach::outage)
                    .map_or(mine, |o| o.since.min(mine));
                if since.elapsed() >= grace {
                    return result;
                }
            }
            _ => {
                if let Some(r) = reach {
                    r.ok();
                }
                unreachable_since = None;
            }
        }
        match result {
            Ok(v) => return Ok(v),
            Err(e) if error::is_transient(&e) && Instant::now() + delay < deadline => {
                tracing::debug!("transient error, retrying in {delay:?}: {e}");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(e) => return Err(e),
        }
    }
}

impl Cluster {
    /// The data of Secret `namespace/name` (key → bytes), or `None` when it does not exist.
    /// For reading back `generate:` values; the caller must never print or store them.
    pub async fn secret_data(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<Option<std::collections::BTreeMap<String, Vec<u8>>>> {
        let api: Api<k8s_openapi::api::core::v1::Secret> =
            Api::namespaced(self.client.clone(), namespace);
        let deadline = Instant::now() + Duration::from_secs(30);
        let got = self
            .retry(deadline, || api.get_opt(name))
            .await
            .map_err(|e| Error::kube(format!("reading Secret {namespace}/{name}"), e))?;
        Ok(got.map(|s| {
            s.data
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| (k, v.0))
                .collect()
        }))
    }
}
