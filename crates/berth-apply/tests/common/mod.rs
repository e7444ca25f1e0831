//! What the end-to-end test binaries of berth-apply share: a connection to the local test
//! cluster, berth's health rules, and unique names.

#![allow(dead_code)] // each test binary uses its own part

use berth_apply::health::HealthRules;
use berth_apply::{Cluster, ConnectOptions};

/// A connection to the shared local test cluster (started if needed).
pub async fn cluster() -> Cluster {
    berth_apply::install_crypto_provider();
    Cluster::connect(&ConnectOptions {
        kubeconfig: Some(berth_local::testing::kubeconfig()),
        context: None,
    })
    .await
    .expect("connect to the local test cluster")
}

/// berth's health rules for the local cluster (no load-balancer controller).
pub fn rules() -> &'static dyn HealthRules {
    &berth_apply::BerthHealth {
        load_balancer_controller: false,
    }
}

/// A unique suffix per test, so namespaces and cluster-scoped names never collide.
pub fn unique(prefix: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{prefix}-{:x}", (n ^ std::process::id()) % 0xfffff)
}
