//! The NodePools `berth cluster config --nodes karpenter` writes for a blueprint, adapted to
//! the local kwok provider (`berth_local::karpenter::adapt_node_pool`: the KWOKNodeClass for
//! the EC2NodeClass, the local zones, the requirements kwok's instance types can meet), applied
//! to the local cluster running the real Karpenter, provision nodes for the blueprint's pods.
//!
//! The pods are the blueprint's workloads as the scheduler and Karpenter see them: each
//! workload's pod spec (requests, node selector, affinity, tolerations) with a stand-in image
//! and without its volumes (the blueprint's EBS and EFS claims have no provisioner here). Each
//! also requires `karpenter.sh/nodepool` In the generated pools, so only those pools, and not
//! the cluster's default pool or its fixed nodes, can take it: a pod the generated requirements
//! do not admit stays Pending and fails the test.
//!
//! Uses the Karpenter test cluster (`<BERTH_TEST_CLUSTER>-karpenter`), started if needed.

mod common;

use std::time::{Duration, Instant};

use berth_cluster::{Options, config};
use berth_model::{NodeMode, Stack};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

use common::blueprint;

/// One pod per workload of `stack`: its pod spec as scheduling sees it (see the file docs).
fn pods(stack: &Stack, ns: &str, pools: &[String]) -> Vec<Value> {
    let mut out = Vec::new();
    for o in &stack.objects {
        let kind = o.value["kind"].as_str().unwrap_or("");
        if !["Deployment", "StatefulSet"].contains(&kind) {
            continue;
        }
        let Some((_, spec)) = berth_model::pod_spec::pod_spec(kind, &o.value) else {
            continue;
        };
        let name = o.value["metadata"]["name"].as_str().unwrap_or("w");
        let containers: Vec<Value> = spec["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                json!({"name": c["name"], "image": "registry.example.com/stand-in:1.0.0",
                    "resources": c["resources"]})
            })
            .collect();
        let mut affinity = spec.get("affinity").cloned().unwrap_or_else(|| json!({}));
        let pool_term = json!({"key": "karpenter.sh/nodepool", "operator": "In", "values": pools});
        let required =
            &mut affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"];
        match required["nodeSelectorTerms"].as_array_mut() {
            Some(terms) if !terms.is_empty() => {
                for t in terms {
                    match t["matchExpressions"].as_array_mut() {
                        Some(e) => e.push(pool_term.clone()),
                        None => t["matchExpressions"] = json!([pool_term]),
                    }
                }
            }
            _ => *required = json!({"nodeSelectorTerms": [{"matchExpressions": [pool_term]}]}),
        }
        out.push(json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns},
            "spec": {
                "containers": containers,
                "nodeSelector": spec.get("nodeSelector").cloned().unwrap_or(json!({})),
                "affinity": affinity,
                "tolerations": spec.get("tolerations").cloned().unwrap_or(json!([])),
            },
        }));
    }
    out
}

/// Deletes the applied pools when dropped (Karpenter then removes their nodes), also when
/// the test fails.
struct PoolsGuard(Vec<String>);
impl Drop for PoolsGuard {
    fn drop(&mut self) {
        let names = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let client = berth_local::testing::karpenter_client().await;
                for name in names {
                    let _ = berth_local::karpenter::node_pools(&client)
                        .delete(&name, &DeleteParams::default())
                        .await;
                }
            });
        })
        .join();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_nodepools_provision_nodes_for_the_blueprints_pods_on_the_local_cluster() {
    let stack = blueprint("openremote", &[]);
    let files = config(
        &stack,
        &Options {
            nodes: Some(NodeMode::Karpenter),
            ..Options::default()
        },
    )
    .expect("cluster config");
    let generated: Vec<&Value> = files
        .nodepools
        .iter()
        .filter(|o| berth_model::karpenter::is_nodepool(o))
        .collect();
    assert!(!generated.is_empty(), "no NodePool generated");

    let client = berth_local::testing::karpenter_client().await;
    let zones = berth_local::testing::karpenter_options().zones;
    let mut names = Vec::new();
    let mut changes = Vec::new();
    for pool in &generated {
        let (local, mut notes) = berth_local::karpenter::adapt_node_pool(pool, &zones);
        changes.append(&mut notes);
        let name = local["metadata"]["name"].as_str().unwrap().to_string();
        berth_local::karpenter::node_pools(&client)
            .patch(
                &name,
                &PatchParams::apply("berth-test").force(),
                &Patch::Apply(&local),
            )
            .await
            .unwrap_or_else(|e| panic!("apply the adapted NodePool {name}: {e}"));
        names.push(name);
    }
    let _guard = PoolsGuard(names.clone());
    // The cloud's node class and zones went; what kwok has no counterpart for is named.
    assert!(
        changes.iter().any(|c| c.contains("EC2NodeClass")),
        "{changes:#?}"
    );

    let ns = berth_local::testing::namespace(&client, "blueprint-pools").await;
    let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let wanted = pods(&stack, &ns, &names);
    assert!(wanted.len() >= 3, "the blueprint's workloads: {wanted:#?}");
    for p in &wanted {
        let pod: Pod = serde_json::from_value(p.clone()).expect("a Pod");
        api.create(&PostParams::default(), &pod)
            .await
            .unwrap_or_else(|e| panic!("create pod {}: {e}", p["metadata"]["name"]));
    }

    // Every pod runs, on a Ready node one of the generated pools launched.
    let nodes: Api<Node> = Api::all(client.clone());
    let start = Instant::now();
    let placed = loop {
        let list = api.list(&ListParams::default()).await.expect("list pods");
        let running: Vec<(String, String)> = list
            .items
            .iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .filter_map(|p| {
                Some((
                    p.metadata.name.clone()?,
                    p.spec.as_ref()?.node_name.clone()?,
                ))
            })
            .collect();
        if running.len() == wanted.len() {
            break running;
        }
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "pods not running on the generated pools' nodes: {:#?}",
            list.items
                .iter()
                .map(|p| (
                    &p.metadata.name,
                    p.status.as_ref().and_then(|s| s.conditions.clone())
                ))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    for (pod, node) in &placed {
        let node = nodes.get(node).await.expect("the pod's node");
        let pool = node
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("karpenter.sh/nodepool"))
            .cloned();
        assert!(
            pool.as_ref().is_some_and(|p| names.contains(p)),
            "pod {pod} runs on a node of {pool:?}"
        );
        let zone = node
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("topology.kubernetes.io/zone"))
            .cloned()
            .unwrap_or_default();
        assert!(zones.contains(&zone), "node in zone {zone}");
    }

    // Must not: a pod the generated pools do not admit (arm64; they keep the blueprint's
    // amd64) gets no node from them: Karpenter refuses it with the requirement as its reason.
    let mut arm = wanted[0].clone();
    arm["metadata"]["name"] = json!("arm64-stand-in");
    arm["spec"]["nodeSelector"] = json!({"kubernetes.io/arch": "arm64"});
    let arm: Pod = serde_json::from_value(arm).expect("a Pod");
    api.create(&PostParams::default(), &arm)
        .await
        .expect("create the arm64 pod");
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), &ns);
    let start = Instant::now();
    let refusal = loop {
        let list = events
            .list(&ListParams::default().fields("involvedObject.name=arm64-stand-in"))
            .await
            .expect("list events");
        let refusal = list.items.into_iter().find(|e| {
            e.reason.as_deref() == Some("FailedScheduling")
                && e.source.as_ref().and_then(|s| s.component.as_deref()) == Some("karpenter")
        });
        if let Some(e) = refusal {
            break e.message.unwrap_or_default();
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "Karpenter said nothing about the arm64 pod"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    assert!(refusal.contains("kubernetes.io/arch"), "{refusal}");
    let arm = api.get("arm64-stand-in").await.expect("the arm64 pod");
    assert_eq!(
        arm.spec.and_then(|s| s.node_name),
        None,
        "the arm64 pod was placed"
    );
    berth_local::testing::delete_namespace(&client, &ns).await;
}
