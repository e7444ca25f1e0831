//! One run per stack at a time: a Lease in the stack namespace.
//!
//! The holder renews the lease every few seconds while it works; a run that crashed stops
//! renewing, so its lease expires after [`LEASE_SECONDS`] and the next run takes it over.
//! Taking over uses the lease's resourceVersion, so two runs cannot both win.
//!
//! What to do with the lease read (take it, wait, or see it is ours already; whether it
//! expired or its holder is a dead process on this machine) is decided by pure functions,
//! unit-tested here; the cluster behaviour is tested in `tests/e2e.rs`.

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

/// Whether a lease can be taken, and in how many seconds it expires if not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Expiry {
    /// No live holder: nobody holds it, its holder is known dead, or it was not renewed in
    /// time.
    free: bool,
    /// Seconds until it expires (0 when free for another reason than expiry).
    left_s: i64,
}

/// [`Expiry`] of `lease` at `now_s` (Unix seconds); `dead` says whether a holder identity names
/// a process known to be gone.
fn expiry(lease: &Lease, now_s: i64, dead: impl Fn(&str) -> bool) -> Expiry {
    let Some(spec) = &lease.spec else {
        return Expiry {
            free: true,
            left_s: 0,
        };
    };
    let holder = spec.holder_identity.as_deref().unwrap_or("");
    if holder.is_empty() || dead(holder) {
        return Expiry {
            free: true,
            left_s: 0,
        };
    }
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(LEASE_SECONDS));
    let renewed = spec
        .renew_time
        .as_ref()
        .or(spec.acquire_time.as_ref())
        .map(|t| t.0.as_second())
        .unwrap_or(0);
    let left = renewed + duration - now_s;
    Expiry {
        free: left < 0,
        left_s: left,
    }
}

/// The holder identity of a lease, if any.
fn holder_of(lease: &Lease) -> Option<&str> {
    lease.spec.as_ref()?.holder_identity.as_deref()
}

/// What `acquire` does with the lease it read.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Decision {
    /// We hold it already (our earlier write succeeded but its answer was lost).
    Ours,
    /// Nobody holds it: take it, replacing the lease if it exists, else creating it.
    Take { exists: bool },
    /// Someone else holds it, for `left_s` more seconds unless renewed.
    Held { by: String, left_s: i64 },
}

/// Decides about the lease `current` (None when there is none) for `holder` at `now_s`.
fn decide(
    current: Option<&Lease>,
    holder: &str,
    now_s: i64,
    dead: impl Fn(&str) -> bool,
) -> Decision {
    let Some(lease) = current else {
        return Decision::Take { exists: false };
    };
    if holder_of(lease) == Some(holder) {
        return Decision::Ours;
    }
    let e = expiry(lease, now_s, dead);
    if e.free {
        Decision::Take { exists: true }
    } else {
        Decision::Held {
            by: holder_of(lease).unwrap_or("").to_string(),
            left_s: e.left_s,
        }
    }
}

/// This machine's name, as holder identities carry it: the kernel's on Linux, else the
/// environment's (`COMPUTERNAME` on Windows, `HOSTNAME` where shells export it).
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "berth".into())
}

/// The identity a run holds the lease under: `<host>/pid-<pid>/<nonce>`.
fn holder_identity(host: &str, pid: u32, nonce: i128) -> String {
    format!("{host}/pid-{pid}/{nonce}")
}

/// Host and process id of a holder identity written by [`holder_identity`].
fn parse_holder(holder: &str) -> Option<(&str, u32)> {
    let mut parts = holder.split('/');
    let host = parts.next()?;
    let pid = parts.next()?.strip_prefix("pid-")?.parse().ok()?;
    Some((host, pid))
}

/// Whether `holder` is a run on `host` (this machine), other than `own_pid`, whose process
/// `gone` says has exited. Holders from other machines are never known dead.
fn holder_is_dead_on(holder: &str, host: &str, own_pid: u32, gone: impl Fn(u32) -> bool) -> bool {
    let Some((h, pid)) = parse_holder(holder) else {
        return false;
    };
    h == host && pid != own_pid && gone(pid)
}

/// A holder `<host>/pid-<pid>/<nonce>` on this machine whose process is gone: a run that was
/// killed. Its lock is free at once instead of after the lease expires.
fn holder_is_dead(holder: &str) -> bool {
    holder_is_dead_on(holder, &host(), std::process::id(), process_gone)
}

/// Whether process `pid` of this machine has exited, where the system can say so cheaply:
/// Linux's `/proc`. Elsewhere (Windows, macOS) a process is never known gone, so a killed
/// run's lock frees when its lease expires, as a holder on another machine's does.
fn process_gone(pid: u32) -> bool {
    cfg!(target_os = "linux")
        && std::path::Path::new("/proc/self").exists()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Whom a lost lock went to, as the run is told.
fn lost_to(now_held_by: String) -> String {
    if now_held_by.is_empty() {
        "nobody (it was released by someone else)".to_string()
    } else {
        now_held_by
    }
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
        let holder = holder_identity(
            &host(),
            std::process::id(),
            Timestamp::now().as_nanosecond() % 1_000_000_007,
        );
        loop {
            let current = cluster
                .retry(deadline, || api.get_opt(&name))
                .await
                .map_err(|e| Error::kube("reading the stack lock", e))?;
            match decide(
                current.as_ref(),
                &holder,
                Timestamp::now().as_second(),
                holder_is_dead,
            ) {
                Decision::Ours => return Ok(StackLock::held(api, name, holder)),
                Decision::Take { exists } => {
                    let mut lease = current.unwrap_or_default();
                    lease.metadata.name = Some(name.clone());
                    lease.metadata.namespace = Some(namespace.to_string());
                    let spec = lease.spec.get_or_insert_with(Default::default);
                    spec.holder_identity = Some(holder.clone());
                    spec.lease_duration_seconds = Some(LEASE_SECONDS);
                    spec.acquire_time = Some(now());
                    spec.renew_time = Some(now());
                    let result = if exists {
                        // resourceVersion from the read: fails with 409 if someone else took it
                        // meanwhile.
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
                }
                Decision::Held { by, left_s } => {
                    if Instant::now() >= wait_until {
                        return Err(Error::Locked {
                            stack: stack.into(),
                            holder: by,
                            namespace: namespace.into(),
                            lease: name,
                            expires_in_s: left_s,
                        });
                    } else if !told {
                        told = true;
                        on_wait(&by);
                    }
                }
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
            if holder_of(&lease) != Some(self.holder.as_str()) {
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
            let _ = lost.send(Some(lost_to(now_held_by)));
            return;
        }
        if let Some(spec) = lease.spec.as_mut() {
            spec.renew_time = Some(now());
        }
        let _ = api.replace(&name, &PostParams::default(), &lease).await;
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::coordination::v1::LeaseSpec;

    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn at(s: i64) -> MicroTime {
        MicroTime(Timestamp::from_second(s).unwrap())
    }

    fn lease(holder: Option<&str>, renewed: Option<i64>, duration: Option<i32>) -> Lease {
        Lease {
            spec: Some(LeaseSpec {
                holder_identity: holder.map(str::to_string),
                renew_time: renewed.map(at),
                lease_duration_seconds: duration,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn alive(_: &str) -> bool {
        false
    }

    #[test]
    fn a_lease_is_held_until_its_duration_after_the_last_renewal() {
        let l = lease(Some("other/pid-1/2"), Some(NOW - 5), Some(20));
        assert_eq!(
            expiry(&l, NOW, alive),
            Expiry {
                free: false,
                left_s: 15
            }
        );
        let l = lease(Some("other/pid-1/2"), Some(NOW - 20), Some(20));
        assert!(!expiry(&l, NOW, alive).free, "not before it has passed");
        let l = lease(Some("other/pid-1/2"), Some(NOW - 21), Some(20));
        assert_eq!(
            expiry(&l, NOW, alive),
            Expiry {
                free: true,
                left_s: -1
            }
        );
    }

    #[test]
    fn expiry_falls_back_to_the_acquire_time_and_the_default_duration() {
        let mut l = lease(Some("other/pid-1/2"), None, None);
        l.spec.as_mut().unwrap().acquire_time = Some(at(NOW - 10));
        assert_eq!(expiry(&l, NOW, alive).left_s, i64::from(LEASE_SECONDS) - 10);
        // Neither time: taken at the epoch, long expired.
        let l = lease(Some("other/pid-1/2"), None, Some(20));
        assert!(expiry(&l, NOW, alive).free);
    }

    #[test]
    fn a_lease_without_a_live_holder_is_free_at_once() {
        let free = Expiry {
            free: true,
            left_s: 0,
        };
        assert_eq!(expiry(&Lease::default(), NOW, alive), free, "no spec");
        assert_eq!(
            expiry(&lease(None, Some(NOW), Some(20)), NOW, alive),
            free,
            "released"
        );
        assert_eq!(
            expiry(&lease(Some(""), Some(NOW), Some(20)), NOW, alive),
            free
        );
        let fresh = lease(Some("here/pid-7/1"), Some(NOW), Some(20));
        assert_eq!(
            expiry(&fresh, NOW, |h| h == "here/pid-7/1"),
            free,
            "dead holder"
        );
    }

    #[test]
    fn acquire_takes_a_free_lease_and_waits_for_a_held_one() {
        let me = "here/pid-1/9";
        assert_eq!(
            decide(None, me, NOW, alive),
            Decision::Take { exists: false },
            "no lease: create it"
        );
        let held = lease(Some("there/pid-2/3"), Some(NOW - 5), Some(20));
        assert_eq!(
            decide(Some(&held), me, NOW, alive),
            Decision::Held {
                by: "there/pid-2/3".into(),
                left_s: 15
            }
        );
        let expired = lease(Some("there/pid-2/3"), Some(NOW - 60), Some(20));
        assert_eq!(
            decide(Some(&expired), me, NOW, alive),
            Decision::Take { exists: true },
            "taken over by a replace at its resourceVersion"
        );
        let released = lease(None, Some(NOW), Some(20));
        assert_eq!(
            decide(Some(&released), me, NOW, alive),
            Decision::Take { exists: true }
        );
        let dead = lease(Some("here/pid-2/3"), Some(NOW), Some(20));
        assert_eq!(
            decide(Some(&dead), me, NOW, |_| true),
            Decision::Take { exists: true }
        );
    }

    #[test]
    fn acquire_recognises_its_own_lease_even_when_it_looks_expired() {
        let me = "here/pid-1/9";
        let mine = lease(Some(me), Some(NOW - 600), Some(20));
        assert_eq!(decide(Some(&mine), me, NOW, alive), Decision::Ours);
        // Same host and pid, other nonce: another run of this process, not ours.
        let other = lease(Some("here/pid-1/8"), Some(NOW), Some(20));
        assert!(matches!(
            decide(Some(&other), me, NOW, alive),
            Decision::Held { .. }
        ));
    }

    #[test]
    fn a_holder_is_dead_only_if_it_ran_here_as_another_process_that_is_gone() {
        let gone = |_| true;
        assert!(holder_is_dead_on("box/pid-42/7", "box", 1, gone));
        assert!(
            !holder_is_dead_on("box/pid-42/7", "box", 1, |_| false),
            "still running"
        );
        assert!(
            !holder_is_dead_on("other/pid-42/7", "box", 1, gone),
            "another machine's process cannot be checked"
        );
        assert!(
            !holder_is_dead_on("box/pid-1/7", "box", 1, gone),
            "this process"
        );
        for malformed in ["box", "box/42/7", "box/pid-x/7", ""] {
            assert!(!holder_is_dead_on(malformed, "box", 1, gone), "{malformed}");
        }
    }

    #[test]
    fn holder_identities_round_trip() {
        let id = holder_identity("box", 42, 123);
        assert_eq!(id, "box/pid-42/123");
        assert_eq!(parse_holder(&id), Some(("box", 42)));
    }

    #[test]
    fn a_lost_lock_names_who_took_it() {
        assert_eq!(lost_to("x/pid-1/2".into()), "x/pid-1/2");
        assert_eq!(
            lost_to(String::new()),
            "nobody (it was released by someone else)"
        );
    }
}
