//! One run per stack at a time: a Lease in the stack namespace.
//!
//! The holder renews the lease every few seconds while it works; a run that crashed stops
//! renewing, so its lease expires after [`LEASE_SECONDS`] and the next run takes it over.
//! Taking over uses the lease's resourceVersion, so two runs cannot both win.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::cluster::{Cluster, retry_until};
use crate::error::{self, Error, Result};

/// How long a lease lives without renewal.
pub const LEASE_SECONDS: i32 = 20;

/// A held lock; renews itself until [`StackLock::release`] (or the process dies).
pub struct StackLock {
    api: Api<Lease>,
    name: String,
    holder: String,
    renewer: JoinHandle<()>,
    lost: watch::Receiver<Option<String>>,
}

/// Resolves when the lock was taken by another holder (see [`StackLock::lost`]).
pub struct Lost(watch::Receiver<Option<String>>);

impl Lost {
    /// Waits until another run holds the lease, and returns its holder; never if that does not
    /// happen.
    pub async fn wait(&mut self) -> String {
        let holder = self
            .0
            .wait_for(Option::is_some)
            .await
            .map(|h| h.clone().unwrap_or_default());
        match holder {
            Ok(holder) => holder,
            Err(_) => std::future::pending().await,
        }
    }
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

fn expired(lease: &Lease) -> (bool, i64) {
    let Some(spec) = &lease.spec else {
        return (true, 0);
    };
    let holder = spec.holder_identity.as_deref().unwrap_or("");
    if holder.is_empty() || holder_is_dead(holder) {
        return (true, 0);
    }
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS));
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0.as_second())
        .unwrap_or(0);
    let left = renewed + duration - Timestamp::now().as_second();
    (left < 0, left)
}

/// This machine's name, as holder identities carry it.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "berth".into())
}

/// A holder `<host>/pid-<pid>/<nonce>` on this machine whose process is gone: a run that was
/// killed. Its lock is free at once instead of after the lease expires.
fn holder_is_dead(holder: &str) -> bool {
    let mut parts = holder.split('/');
    let (Some(h), Some(pid)) = (
        parts.next(),
        parts.next().and_then(|p| p.strip_prefix("pid-")),
    ) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    h == host()
        && pid != std::process::id()
        && std::path::Path::new("/proc/self").exists()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

impl StackLock {
    /// Takes the lock of `stack` in `namespace`, waiting for another holder until `wait_until`
    /// (pass `Instant::now()` to refuse at once), telling `on_wait` the holder once when it
    /// starts waiting. [`Error::Locked`] names the holder.
    pub async fn acquire(
        cluster: &Cluster,
        stack: &str,
        namespace: &str,
        wait_until: Instant,
        deadline: Instant,
        on_wait: &(dyn Fn(&str) + Sync),
    ) -> Result<StackLock> {
        let mut told = false;
        let api: Api<Lease> = Api::namespaced(cluster.client.clone(), namespace);
        let name = format!("berth.{stack}");
        let holder = format!(
            "{}/pid-{}/{}",
            host(),
            std::process::id(),
            Timestamp::now().as_nanosecond() % 1_000_000_007
        );
        loop {
            let current = cluster
                .retry(deadline, || api.get_opt(&name))
                .await
                .map_err(|e| Error::kube("reading the stack lock", e))?;
            let mut lease = current.clone().unwrap_or_default();
            let (free, left) = current.as_ref().map(expired).unwrap_or((true, 0));
            let mine = current
                .as_ref()
                .and_then(|l| l.spec.as_ref())
                .and_then(|s| s.holder_identity.as_deref())
                == Some(holder.as_str());
            if mine {
                // Our own earlier write succeeded but its answer was lost on the way back.
                return Ok(StackLock::held(api, name, holder));
            }
            if free {
                lease.metadata.name = Some(name.clone());
                lease.metadata.namespace = Some(namespace.to_string());
                let spec = lease.spec.get_or_insert_with(Default::default);
                spec.holder_identity = Some(holder.clone());
                spec.lease_duration_seconds = Some(LEASE_SECONDS);
                spec.acquire_time = Some(now());
                spec.renew_time = Some(now());
                let result = if current.is_some() {
                    // resourceVersion from the read: fails with 409 if someone else took it meanwhile.
                    api.replace(&name, &PostParams::default(), &lease).await
                } else {
                    api.create(&PostParams::default(), &lease).await
                };
                match result {
                    Ok(_) => return Ok(StackLock::held(api, name, holder)),
                    Err(e)
                        if matches!(error::status_code(&e), Some(409))
                            || error::is_transient(&e) => {}
                    Err(e) => return Err(Error::kube("taking the stack lock", e)),
                }
            } else if Instant::now() >= wait_until {
                let other = current
                    .and_then(|l| l.spec)
                    .and_then(|s| s.holder_identity)
                    .unwrap_or_default();
                return Err(Error::Locked {
                    stack: stack.into(),
                    holder: other,
                    namespace: namespace.into(),
                    lease: name,
                    expires_in_s: left,
                });
            } else if !told {
                told = true;
                let other = current
                    .as_ref()
                    .and_then(|l| l.spec.as_ref())
                    .and_then(|s| s.holder_identity.as_deref())
                    .unwrap_or("");
                on_wait(other);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    fn held(api: Api<Lease>, name: String, holder: String) -> StackLock {
        let (tx, lost) = watch::channel(None);
        let renewer = tokio::spawn(renew(api.clone(), name.clone(), holder.clone(), tx));
        StackLock {
            api,
            name,
            holder,
            renewer,
            lost,
        }
    }

    /// A future that resolves when another run took the lock (ours expired while we could not
    /// renew it): the run must stop applying.
    pub fn lost(&self) -> Lost {
        Lost(self.lost.clone())
    }

    /// Gives the lock up (clears the holder, so the next run need not wait for expiry). When
    /// the API server is known to be unreachable it tries for 2 seconds only (the lease then
    /// expires by itself); otherwise for 10.
    pub async fn release(self, unreachable: bool) {
        self.renewer.abort();
        // Retried: a lost answer or a transient error must not leave the lock held until it
        // expires. A replace that fails because the lease changed is re-read and retried.
        let patience = if unreachable { 2 } else { 10 };
        let deadline = Instant::now() + Duration::from_secs(patience);
        while Instant::now() < deadline {
            let current = retry_until(deadline, || self.api.get_opt(&self.name)).await;
            let Ok(Some(mut lease)) = current else { return };
            if lease
                .spec
                .as_ref()
                .and_then(|s| s.holder_identity.as_deref())
                != Some(self.holder.as_str())
            {
                return;
            }
            if let Some(spec) = lease.spec.as_mut() {
                spec.holder_identity = None;
            }
            let pp = PostParams::default();
            match retry_until(deadline, || self.api.replace(&self.name, &pp, &lease)).await {
                Ok(_) => return,
                Err(e) if matches!(error::status_code(&e), Some(409)) => continue,
                Err(_) => {
                    let dp = DeleteParams::default();
                    let _ = retry_until(deadline, || self.api.delete(&self.name, &dp)).await;
                    return;
                }
            }
        }
    }
}

async fn renew(api: Api<Lease>, name: String, holder: String, lost: watch::Sender<Option<String>>) {
    loop {
        tokio::time::sleep(Duration::from_secs((LEASE_SECONDS / 4) as u64)).await;
        let Ok(Some(mut lease)) = api.get_opt(&name).await else {
            continue;
        };
        let now_held_by = lease
            .spec
            .as_ref()
            .and_then(|s| s.holder_identity.clone())
            .unwrap_or_default();
        if now_held_by != holder {
            tracing::warn!("lost the stack lock {name} to {now_held_by:?}");
            let who = if now_held_by.is_empty() {
                "nobody (it was released by someone else)".to_string()
            } else {
                now_held_by
            };
            let _ = lost.send(Some(who));
            return;
        }
        if let Some(spec) = lease.spec.as_mut() {
            spec.renew_time = Some(now());
        }
        let _ = api.replace(&name, &PostParams::default(), &lease).await;
    }
}
