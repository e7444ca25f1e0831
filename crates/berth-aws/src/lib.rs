//! berth's AWS access, the only crate that links the AWS SDK for Rust.
//!
//! - [`secrets`]: [`Secrets`], the [`berth_stack::CloudSecrets`] of `berth up` — AWS Secrets
//!   Manager secrets, SSM parameters and the KMS data keys of SOPS files.
//! - [`efs`]: the EFS file systems of `cluster.fileSystems`, created by `berth cluster up` when
//!   missing (with their mount targets and NFS security group) and found again by tag.
//! - [`ec2`]: the EC2 calls of that step (subnets, security groups) as SigV4-signed Query API
//!   requests: the `aws-sdk-ec2` crate was the largest unit of berth's build (README "Speed").
//!
//! Credentials and region come the standard way ([`aws_config`]'s default chain: environment,
//! profile, SSO, web identity, container and instance roles); a region from berth.yaml's
//! `cluster.region` comes first. `AWS_ENDPOINT_URL` (and the per-service variants) point every
//! client elsewhere, which is how the tests reach moto on 127.0.0.1.
//!
//! The SDK is asynchronous and its callers here are not always: [`Aws::run`] drives a future on
//! a runtime of its own, on a thread of its own, so it works inside and outside tokio.

pub mod ec2;
pub mod efs;
pub mod secrets;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, OnceLock};

use aws_config::{BehaviorVersion, Region, SdkConfig};

pub use secrets::Secrets;

/// Loaded SDK configurations by region, and the runtime that drives the SDK.
#[derive(Default)]
pub struct Aws {
    configs: Mutex<HashMap<Option<String>, SdkConfig>>,
    runtime: OnceLock<Result<tokio::runtime::Runtime, String>>,
}

impl std::fmt::Debug for Aws {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aws").finish_non_exhaustive()
    }
}

impl Aws {
    /// Drive `future` to completion on berth-aws's runtime, from any thread.
    pub fn run<T: Send>(&self, future: impl Future<Output = T> + Send) -> Result<T, String> {
        let runtime = self
            .runtime
            .get_or_init(|| {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| format!("cannot start the AWS client's runtime: {e}"))
            })
            .as_ref()
            .map_err(Clone::clone)?;
        // A thread of its own: `block_on` inside another runtime's task would panic.
        std::thread::scope(|s| {
            s.spawn(|| runtime.block_on(future))
                .join()
                .map_err(|_| "the AWS client panicked".to_string())
        })
    }

    /// The SDK configuration for `region` (`None`: the profile's or `AWS_REGION`), loaded once.
    pub async fn config(&self, region: Option<&str>) -> SdkConfig {
        let key = region.map(str::to_string);
        if let Some(c) = self.configs.lock().ok().and_then(|m| m.get(&key).cloned()) {
            return c;
        }
        let mut loader = aws_config::defaults(BehaviorVersion::latest());
        if let Some(r) = region {
            loader = loader.region(Region::new(r.to_string()));
        }
        let config = loader.load().await;
        if let Ok(mut m) = self.configs.lock() {
            m.insert(key, config.clone());
        }
        config
    }
}

/// One sentence about an SDK error: the service's code and message when it answered
/// (`ResourceNotFoundException: …`), else why it could not be asked (no credentials, no
/// region, cannot connect). Service messages name resources, never secret values.
pub fn describe<E, R>(e: &aws_sdk_ssm::error::SdkError<E, R>) -> String
where
    E: aws_sdk_ssm::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_ssm::error::SdkError;
    match e {
        SdkError::ServiceError(s) => {
            let err = s.err();
            match (err.code(), err.message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                _ => aws_sdk_ssm::error::DisplayErrorContext(e).to_string(),
            }
        }
        // Not answered: what went wrong and why, without the SDK's debug dump of every layer.
        other => with_cause(other),
    }
}

/// An error and its innermost cause (`dispatch failure: Connection refused (os error 111)`).
pub(crate) fn with_cause(e: &dyn std::error::Error) -> String {
    let mut cause = None;
    let mut source = e.source();
    while let Some(s) = source {
        cause = Some(s.to_string());
        source = s.source();
    }
    match cause {
        Some(c) if c != e.to_string() => format!("{e}: {c}"),
        _ => e.to_string(),
    }
}

/// Whether the service said the thing asked for does not exist.
pub fn is_not_found<E, R>(e: &aws_sdk_ssm::error::SdkError<E, R>) -> bool
where
    E: aws_sdk_ssm::error::ProvideErrorMetadata,
{
    e.as_service_error()
        .and_then(|s| s.code())
        .is_some_and(|c| c.contains("NotFound"))
}
