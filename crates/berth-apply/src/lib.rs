//! Takes a planned stack onto a cluster, and back off it.
//!
//! The steps after `check` and `berth-plan`'s waves: server-side apply wave by wave with a
//! health wait between waves driven by watches ([`up`]), an ApplySet inventory with bounded,
//! compressed revisions in the cluster ([`inventory`]), prune after success, a per-stack
//! lock ([`lock`]), a dry-run diff ([`diff`]), [`status`] with [`drift`], teardown that keeps data
//! ([`down`]) and [`up::rollback`]. Health rules come from outside through
//! [`health::HealthRules`].
//!
//! Everything here needs a cluster; tests run against berth's local control plane.

pub mod apply;
pub mod cluster;
pub mod diff;
pub mod down;
pub mod drift;
pub mod error;
pub mod event;
pub mod health;
pub mod inventory;
pub mod lock;
pub mod logs;
pub mod namespaces;
pub mod prepare;
pub mod status;
pub mod up;
pub mod wait;

pub use cluster::{Cluster, ConnectOptions};
pub use error::{Error, ErrorClass, Result};
pub use event::{Action, Event};
pub use health::BerthHealth;
pub use inventory::Inventory;
pub use logs::Redactor;
pub use up::{Target, UpOptions, UpReport};

/// Installs the process-wide TLS provider (aws-lc-rs). Call once at the start of `main`
/// before connecting: with more than one provider linked, rustls cannot pick one by itself.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
