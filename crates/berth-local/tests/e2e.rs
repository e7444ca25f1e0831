//! End-to-end tests of the local cluster: real etcd, kube-apiserver, controller-manager,
//! scheduler and kwok on 127.0.0.1. One shared cluster for the whole run (see
//! `berth_local::testing`), one namespace per test; the start/stop test uses a cluster of its own.

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod};
use kube::api::{ListParams, PostParams};
use kube::runtime::wait::await_condition;
use kube::{Api, Client};
use serde_json::json;

async fn create<K>(api: &Api<K>, value: serde_json::Value) -> K
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let obj: K = serde_json::from_value(value).expect("valid object");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("create")
}

/// Waits (watching, not polling) until the named object satisfies `cond`, or fails the test.
async fn wait_for<K>(api: &Api<K>, name: &str, what: &str, cond: impl Fn(&K) -> bool)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let fut = await_condition(api.clone(), name, move |o: Option<&K>| o.is_some_and(&cond));
    match tokio::time::timeout(Duration::from_secs(60), fut).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => panic!("watching {name} for {what}: {e}"),
        Err(_) => panic!(
            "{name} did not reach `{what}` within 60s: {:#?}",
            api.get(name).await
        ),
    }
}

async fn pods(client: &Client, ns: &str, selector: &str) -> Vec<Pod> {
    Api::<Pod>::namespaced(client.clone(), ns)
        .list(&ListParams::default().labels(selector))
        .await
        .unwrap()
        .items
}

fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[tokio::test]
async fn deployment_pods_become_ready_across_three_zones() {
    let client = berth_local::testing::client().await;
    let ns = berth_local::testing::namespace(&client, "zones").await;
    let deploys: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    create(
        &deploys,
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "topologySpreadConstraints": [{
                            "maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                            "whenUnsatisfiable": "DoNotSchedule",
                            "labelSelector": {"matchLabels": {"app": "web"}}
                        }],
                        "containers": [{"name": "web", "image": "nginx:1.27",
                            "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]
                    }
                }
            }
        }),
    )
    .await;
    wait_for(&deploys, "web", "3 available replicas", |d: &Deployment| {
        d.status.as_ref().and_then(|s| s.available_replicas) == Some(3)
    })
    .await;

    let pods = pods(&client, &ns, "app=web").await;
    assert_eq!(pods.len(), 3);
    assert!(pods.iter().all(pod_ready), "every pod Ready");
    let nodes: Api<Node> = Api::all(client.clone());
    let mut zones = BTreeSet::new();
    for p in &pods {
        let node = nodes
            .get(
                p.spec
                    .as_ref()
                    .unwrap()
                    .node_name
                    .as_ref()
                    .expect("scheduled"),
            )
            .await
            .unwrap();
        zones.insert(node.metadata.labels.unwrap()["topology.kubernetes.io/zone"].clone());
    }
    assert_eq!(zones.len(), 3, "one pod per zone: {zones:?}");
}

#[tokio::test]
async fn statefulset_claims_bind_to_precreated_volumes() {
    let client = berth_local::testing::client().await;
    let ns = berth_local::testing::namespace(&client, "volumes").await;
    let sts: Api<StatefulSet> = Api::namespaced(client.clone(), &ns);
    create(
        &sts,
        json!({
            "apiVersion": "apps/v1", "kind": "StatefulSet",
            "metadata": {"name": "db"},
            "spec": {
                "serviceName": "db", "replicas": 2,
                "selector": {"matchLabels": {"app": "db"}},
                "template": {
                    "metadata": {"labels": {"app": "db"}},
                    "spec": {"containers": [{"name": "db", "image": "postgres:16.4",
                        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data", "subPath": "pgdata"}]}]}
                },
                "volumeClaimTemplates": [{
                    "metadata": {"name": "data"},
                    "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": berth_local::objects::BLOCK_CLASS,
                             "resources": {"requests": {"storage": "5Gi"}}}
                }]
            }
        }),
    )
    .await;
    wait_for(&sts, "db", "2 ready replicas", |s: &StatefulSet| {
        s.status.as_ref().and_then(|s| s.ready_replicas) == Some(2)
    })
    .await;
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), &ns);
    for name in ["data-db-0", "data-db-1"] {
        wait_for(&pvcs, name, "Bound", |c: &PersistentVolumeClaim| {
            c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
        })
        .await;
        let pvc = pvcs.get(name).await.unwrap();
        let volume = pvc.spec.unwrap().volume_name.expect("bound to a volume");
        assert!(
            volume.starts_with("berth-block-"),
            "{name} bound to a pre-created volume, got {volume}"
        );
    }
}

/// Each test failure state puts the container where the annotation says.
#[tokio::test]
async fn annotated_pods_show_the_chosen_failure_state() {
    let client = berth_local::testing::client().await;
    let ns = berth_local::testing::namespace(&client, "failures").await;
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let cases = [
        ("image-pull-backoff", "ImagePullBackOff", None),
        ("err-image-pull", "ErrImagePull", None),
        ("invalid-image-name", "InvalidImageName", None),
        ("config-error", "CreateContainerConfigError", None),
        ("crash-loop", "CrashLoopBackOff", Some(("Error", 3))),
        ("oom-killed", "CrashLoopBackOff", Some(("OOMKilled", 137))),
    ];
    for (state, _, _) in &cases {
        create(
            &api,
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": state, "annotations": {
                    "berth.dev/test-state": state, "berth.dev/test-exit-code": "3"}},
                "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0"}]}
            }),
        )
        .await;
    }
    for (state, waiting, last) in cases {
        wait_for(&api, state, waiting, move |p: &Pod| {
            let Some(cs) = p
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|c| c.first())
            else {
                return false;
            };
            let w = cs
                .state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.as_deref());
            let t = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref());
            w == Some(waiting)
                && !cs.ready
                && match last {
                    None => true,
                    Some((reason, code)) => {
                        cs.restart_count > 0
                            && t.is_some_and(|t| {
                                t.reason.as_deref() == Some(reason) && t.exit_code == code
                            })
                    }
                }
        })
        .await;
    }

    create(
        &api,
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "not-ready", "annotations": {"berth.dev/test-state": "not-ready"}},
            "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0"}]}
        }),
    )
    .await;
    wait_for(&api, "not-ready", "Running but not Ready", |p: &Pod| {
        let s = p.status.as_ref();
        s.and_then(|s| s.phase.as_deref()) == Some("Running") && !pod_ready(p)
    })
    .await;
}

/// `readiness-failing` records the kubelet's Unhealthy event; `failed` ends the pod Failed
/// with the chosen exit code.
#[tokio::test]
async fn probe_events_and_failed_pods() {
    let client = berth_local::testing::client().await;
    let ns = berth_local::testing::namespace(&client, "probe-failed").await;
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    for (name, state) in [("probe", "readiness-failing"), ("failed", "failed")] {
        create(
            &api,
            json!({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "annotations": {
                    "berth.dev/test-state": state, "berth.dev/test-exit-code": "4"}},
                "spec": {"restartPolicy": "Never",
                    "containers": [{"name": "app", "image": "registry.example/app:1.0"}]}
            }),
        )
        .await;
    }
    wait_for(&api, "probe", "Running but not Ready", |p: &Pod| {
        let s = p.status.as_ref();
        s.and_then(|s| s.phase.as_deref()) == Some("Running") && !pod_ready(p)
    })
    .await;
    wait_for(&api, "failed", "Failed with exit code 4", |p: &Pod| {
        let s = p.status.as_ref();
        s.and_then(|s| s.phase.as_deref()) == Some("Failed")
            && s.and_then(|s| s.container_statuses.as_ref())
                .and_then(|c| c.first())
                .and_then(|c| c.state.as_ref())
                .and_then(|s| s.terminated.as_ref())
                .is_some_and(|t| t.exit_code == 4)
    })
    .await;
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), &ns);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let list = events
            .list(&ListParams::default().fields("involvedObject.name=probe"))
            .await
            .unwrap();
        if list.items.iter().any(|e| {
            e.reason.as_deref() == Some("Unhealthy")
                && e.type_.as_deref() == Some("Warning")
                && e.message
                    .as_deref()
                    .is_some_and(|m| m.starts_with("Readiness probe failed"))
        }) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no Unhealthy event: {:#?}",
            list.items
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Log lines served through a kwok `Logs` object come back through the API server, for the
/// current and the previous run.
#[tokio::test]
async fn container_logs_come_through_the_api_server() {
    let client = berth_local::testing::client().await;
    let ns = berth_local::testing::namespace(&client, "logs").await;
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    berth_local::testing::serve_logs(
        &client,
        &ns,
        "db",
        "postgres",
        &["first line", "second line"],
    )
    .await;
    create(
        &api,
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "db", "annotations": {"berth.dev/test-state": "crash-loop"}},
            "spec": {"containers": [{"name": "postgres", "image": "postgres:16.4"}]}
        }),
    )
    .await;
    wait_for(&api, "db", "Running", |p: &Pod| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await;
    for previous in [false, true] {
        let params = kube::api::LogParams {
            container: Some("postgres".into()),
            previous,
            tail_lines: Some(1),
            ..Default::default()
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let text = loop {
            match api.logs("db", &params).await {
                Ok(t) => break t,
                Err(e) => {
                    assert!(
                        std::time::Instant::now() < deadline,
                        "logs never served: {e}"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        assert_eq!(text, "second line\n", "previous={previous}");
    }
}

/// The real scheduler leaves a pod Pending when it asks more than any node has.
#[tokio::test]
async fn oversized_pod_stays_unschedulable() {
    let client = berth_local::testing::client().await;
    let ns = berth_local::testing::namespace(&client, "unschedulable").await;
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    create(
        &api,
        json!({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "huge"},
            "spec": {"containers": [{"name": "app", "image": "registry.example/app:1.0",
                "resources": {"requests": {"cpu": "64"}}}]}
        }),
    )
    .await;
    wait_for(
        &api,
        "huge",
        "PodScheduled=False/Unschedulable",
        |p: &Pod| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| {
                    c.iter().any(|c| {
                        c.type_ == "PodScheduled"
                            && c.status == "False"
                            && c.reason.as_deref() == Some("Unschedulable")
                    })
                })
        },
    )
    .await;
}
