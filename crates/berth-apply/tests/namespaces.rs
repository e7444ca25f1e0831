//! End-to-end: objects in a namespace that neither the stack nor the cluster has (a kustomize
//! base's `namespace: kafka`, a vendor manifest) get that namespace from berth, in the first
//! wave and labelled as created for the stack; `down` keeps it, `down --purge` removes it; a
//! namespace that already exists is never taken over.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use berth_apply::down::{self, DownOptions};
use berth_apply::namespaces::CREATED_BY;
use berth_apply::up::{self, object_from_value};
use berth_apply::{Event, Inventory, Target, UpOptions};
use berth_model::{Object, Profile};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::Api;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_nobody_creates_is_created_kept_and_purged_and_others_are_left_alone() {
    let cluster = common::cluster().await;
    let client = berth_local::testing::client().await;
    // The stack's home, one namespace that exists already (another team's), one nobody has.
    let home = berth_local::testing::namespace(&client, "ns-home").await;
    let existing = berth_local::testing::namespace(&client, "ns-existing").await;
    let missing = format!("{home}-kafka");
    let objects: Vec<Object> = [
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": missing}, "data": {"x": "1"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": existing}, "data": {"x": "1"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": home}, "data": {"x": "1"}}),
    ]
    .into_iter()
    .map(|v| object_from_value(v, "vendor"))
    .collect();
    let values = BTreeMap::new();
    let target = Target {
        stack: "vendor",
        namespace: &home,
        objects: &objects,
        components: &[],
        values: &values,
        profile: Profile::Local,
    };
    let opts = UpOptions {
        timeout: Duration::from_secs(60),
        ..UpOptions::default()
    };
    let events = std::sync::Mutex::new(Vec::new());
    let sink = |e: Event| events.lock().unwrap().push(e);
    let plan = berth_apply::diff::plan(&cluster, target, false, 8, Duration::from_secs(60)).await;
    let first = up::up(
        &cluster,
        target,
        &opts,
        &berth_apply::BerthHealth::default(),
        &sink,
    )
    .await;
    let second = up::up(
        &cluster,
        target,
        &opts,
        &berth_apply::BerthHealth::default(),
        &sink,
    )
    .await;
    let nss: Api<Namespace> = Api::all(client.clone());
    let created = nss.get_opt(&missing).await.expect("read");
    let foreign = nss.get_opt(&existing).await.expect("read");
    let inv = Inventory::new("vendor", &home);
    let dopts = DownOptions {
        purge: false,
        timeout: Duration::from_secs(60),
        concurrency: 8,
    };
    let kept = down::down(&cluster, &inv, &dopts, &sink).await;
    let after_down = nss.get_opt(&missing).await.expect("read");
    // Bring it back and purge.
    let third = up::up(
        &cluster,
        target,
        &opts,
        &berth_apply::BerthHealth::default(),
        &sink,
    )
    .await;
    let purged = down::down(
        &cluster,
        &inv,
        &DownOptions {
            purge: true,
            ..dopts
        },
        &sink,
    )
    .await;
    let after_purge = nss.get_opt(&missing).await.expect("read");
    for n in [&home, &existing, &missing] {
        berth_local::testing::delete_namespace(&client, n).await;
    }

    let plan = plan.expect("plan");
    assert!(
        format!("{plan:?}").contains(&missing),
        "plan does not show the namespace berth will create: {plan:?}"
    );
    first.expect("up creates the namespace the objects need");
    let second = second.expect("second up");
    assert_eq!((second.created, second.configured), (0, 0), "{second:?}");
    let label = |n: &Option<Namespace>| {
        n.as_ref()
            .and_then(|n| n.metadata.labels.as_ref())
            .and_then(|l| l.get(CREATED_BY).cloned())
    };
    assert_eq!(label(&created).as_deref(), Some("vendor"));
    assert_eq!(
        label(&foreign),
        None,
        "an existing namespace was taken over"
    );
    kept.expect("down");
    assert!(
        after_down.is_some_and(|n| n.metadata.deletion_timestamp.is_none()),
        "down deleted a namespace"
    );
    third.expect("up again");
    purged.expect("down --purge");
    assert!(
        after_purge.is_none_or(|n| n.metadata.deletion_timestamp.is_some()),
        "down --purge kept the namespace berth created"
    );
}
