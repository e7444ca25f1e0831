//! End-to-end tests of up / plan / prune / down / status / history / rollback on berth's local
//! cluster (a real kube-apiserver, controller-manager, scheduler and kwok nodes). One cluster
//! is shared by the whole test binary; each test works in namespaces of its own.

mod common;

use common::{cluster, rules, unique};

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use berth_apply::diff::{self, Change};
use berth_apply::down::{self, DownOptions};
use berth_apply::status;
use berth_apply::up::{self, object_from_value};
use berth_apply::{Error, Event, Inventory, Target, UpOptions};
use berth_model::{Component, Object, Profile};
use serde_json::{Value, json};

fn objects(values: Vec<Value>) -> Vec<Object> {
    values
        .into_iter()
        .map(|v| object_from_value(v, "app"))
        .collect()
}

struct Events(Mutex<Vec<Event>>);
impl Events {
    fn new() -> Events {
        Events(Mutex::new(Vec::new()))
    }
    fn sink(&self) -> impl Fn(Event) + Sync + '_ {
        move |e| self.0.lock().unwrap().push(e)
    }
}

fn opts(timeout: u64) -> UpOptions {
    UpOptions {
        timeout: Duration::from_secs(timeout),
        ..UpOptions::default()
    }
}

/// The stack of issue #4: a CRD and its custom resources, a namespace created by the stack,
/// Secrets/ConfigMaps, a PVC-backed StatefulSet, a Deployment, a Service, a Job and an HPA.
fn issue_stack(ns: &str, group: &str) -> Vec<Value> {
    let plural = "widgets";
    vec![
        json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.{group}")},
            "spec": {"group": group, "scope": "Namespaced",
                "names": {"plural": plural, "singular": "widget", "kind": "Widget"},
                "versions": [{"name": "v1", "served": true, "storage": true,
                    "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                        "spec": {"type": "object", "properties": {"size": {"type": "integer"}}}}}}}]}}),
        json!({"apiVersion": format!("{group}/v1"), "kind": "Widget", "metadata": {"name": "w1", "namespace": ns}, "spec": {"size": 1}}),
        json!({"apiVersion": format!("{group}/v1"), "kind": "Widget", "metadata": {"name": "w2", "namespace": ns}, "spec": {"size": 2}}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": ns}, "stringData": {"password": "hunter2-val"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": ns}, "data": {"mode": "fast"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "extra", "namespace": ns}, "data": {"x": "1"}}),
        json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "shared", "namespace": ns},
            "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "berth-local-shared", "resources": {"requests": {"storage": "1Gi"}}}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": ns},
            "spec": {"clusterIP": "None", "selector": {"app": "db"}, "ports": [{"port": 5432}]}}),
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": ns},
            "spec": {"serviceName": "db", "replicas": 1, "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres:16.4",
                    "envFrom": [{"secretRef": {"name": "creds"}}],
                    "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql/data"}]}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"],
                    "storageClassName": "berth-local-block", "resources": {"requests": {"storage": "1Gi"}}}}]}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": ns},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx:1.27.1",
                    "envFrom": [{"configMapRef": {"name": "settings"}}],
                    "resources": {"requests": {"cpu": "100m"}},
                    "volumeMounts": [{"name": "shared", "mountPath": "/shared"}]}],
                    "volumes": [{"name": "shared", "persistentVolumeClaim": {"claimName": "shared"}}]}}}}),
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}),
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": ns},
            "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "busybox:1.36",
                "envFrom": [{"secretRef": {"name": "creds"}}]}]}}}}),
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web", "namespace": ns},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 5,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]}}),
    ]
}

fn target<'a>(
    stack: &'a str,
    ns: &'a str,
    objects: &'a [Object],
    values: &'a BTreeMap<String, Value>,
) -> Target<'a> {
    Target {
        stack,
        namespace: ns,
        objects,
        components: &[],
        values,
        profile: Profile::Local,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn issue_stack_up_is_idempotent_prunes_keeps_data_and_goes_down() {
    let cluster = cluster().await;
    let ns = unique("issue");
    let group = format!("{}.berth.test", unique("g"));
    let values = BTreeMap::new();
    let stack = "issue";
    let all = objects(issue_stack(&ns, &group));

    // 1. One `up` brings everything up, exit 0 (Ok).
    let events = Events::new();
    let sink = events.sink();
    let report = up::up(
        &cluster,
        target(stack, &ns, &all, &values),
        &opts(120),
        rules(),
        &sink,
    )
    .await
    .expect("first up");
    assert_eq!(report.created, all.len(), "{report:?}");
    assert_eq!(report.revision, 1);

    // 2. A second `up` changes nothing, and `plan` says so.
    let events2 = Events::new();
    let sink2 = events2.sink();
    let again = up::up(
        &cluster,
        target(stack, &ns, &all, &values),
        &opts(120),
        rules(),
        &sink2,
    )
    .await
    .expect("second up");
    assert_eq!(
        (again.created, again.configured),
        (0, 0),
        "second up changed something: {again:?}"
    );
    let plan = diff::plan(
        &cluster,
        target(stack, &ns, &all, &values),
        false,
        8,
        Duration::from_secs(60),
    )
    .await
    .expect("plan");
    assert!(
        plan.is_empty(),
        "plan after an unchanged up is not empty: {plan:#?}"
    );

    // 3. Removing an object prunes it; removing a PVC keeps it.
    let fewer: Vec<Object> = all
        .iter()
        .filter(|o| !matches!(o.name(), "extra" | "shared") || o.kind() == "Namespace")
        .cloned()
        .collect();
    let fewer: Vec<Object> = fewer
        .into_iter()
        .filter(|o| !(o.kind() == "Deployment" || o.kind() == "HorizontalPodAutoscaler"))
        .collect();
    let plan = diff::plan(
        &cluster,
        target(stack, &ns, &fewer, &values),
        false,
        8,
        Duration::from_secs(60),
    )
    .await
    .expect("plan with fewer");
    assert!(
        plan.prune
            .iter()
            .any(|c| matches!(c, Change::Prune { object, kept: false } if object.name == "extra")),
        "{plan:#?}"
    );
    assert!(
        plan.prune
            .iter()
            .any(|c| matches!(c, Change::Prune { object, kept: true } if object.name == "shared")),
        "{plan:#?}"
    );
    let report = up::up(
        &cluster,
        target(stack, &ns, &fewer, &values),
        &opts(120),
        rules(),
        &sink2,
    )
    .await
    .expect("up with fewer");
    assert!(
        report
            .pruned
            .iter()
            .any(|k| k.name == "extra" && k.kind == "ConfigMap"),
        "{report:?}"
    );
    assert!(
        report
            .kept
            .iter()
            .any(|k| k.name == "shared" && k.kind == "PersistentVolumeClaim"),
        "{report:?}"
    );
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(cluster.client.clone(), &ns);
    assert!(
        cms.get_opt("extra").await.unwrap().is_none(),
        "pruned ConfigMap still exists"
    );
    let pvcs: kube::Api<k8s_openapi::api::core::v1::PersistentVolumeClaim> =
        kube::Api::namespaced(cluster.client.clone(), &ns);
    assert!(
        pvcs.get_opt("shared").await.unwrap().is_some(),
        "a PVC that left the stack was deleted"
    );

    // 4. status and history.
    let inv = Inventory::new(stack, &ns);
    let st = status::status(&cluster, &inv, rules(), Duration::from_secs(30))
        .await
        .expect("status");
    assert_eq!(st.revision, Some(3));
    assert!(st.all_current(), "{st:#?}");
    let history = inv
        .history(
            &cluster,
            tokio::time::Instant::now() + Duration::from_secs(30),
        )
        .await
        .expect("history");
    assert_eq!(
        history.iter().map(|h| h.revision).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert!(history.iter().all(|h| h.outcome == "succeeded"));

    // 5. Secret values are never stored in a revision.
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(cluster.client.clone(), &ns);
    let rev = inv
        .revision(
            &cluster,
            3,
            tokio::time::Instant::now() + Duration::from_secs(30),
        )
        .await
        .expect("revision 3");
    assert!(!serde_json::to_string(&rev).unwrap().contains("hunter2-val"));
    let stored = secrets
        .get("berth.issue.v3")
        .await
        .expect("revision secret");
    assert!(
        stored
            .data
            .unwrap()
            .values()
            .all(|v| !String::from_utf8_lossy(&v.0).contains("s3cret"))
    );

    // 6. down keeps the data objects and lists them; down --purge removes them too.
    let preview = down::preview(&cluster, &inv, false, Duration::from_secs(30))
        .await
        .expect("down preview");
    let kept: Vec<String> = preview.keep.iter().map(|k| k.to_string()).collect();
    assert!(
        kept.contains(&format!("PersistentVolumeClaim/{ns}/data-db-0")),
        "{kept:?}"
    );
    assert!(
        kept.contains(&format!("PersistentVolumeClaim/{ns}/shared")),
        "{kept:?}"
    );
    assert!(kept.contains(&format!("Namespace/{ns}")), "{kept:?}");
    assert!(
        kept.iter()
            .any(|k| k.starts_with("CustomResourceDefinition/")),
        "{kept:?}"
    );
    let dopts = DownOptions {
        purge: false,
        timeout: Duration::from_secs(120),
        concurrency: 16,
    };
    let report = down::down(&cluster, &inv, &dopts, &sink2)
        .await
        .expect("down");
    assert!(report.delete.iter().any(|k| k.kind == "StatefulSet"));
    let sts: kube::Api<k8s_openapi::api::apps::v1::StatefulSet> =
        kube::Api::namespaced(cluster.client.clone(), &ns);
    assert!(sts.get_opt("db").await.unwrap().is_none());
    assert!(
        pvcs.get_opt("data-db-0").await.unwrap().is_some(),
        "down deleted a volumeClaimTemplate PVC"
    );
    assert!(
        pvcs.get_opt("shared").await.unwrap().is_some(),
        "down deleted a PVC"
    );

    let dopts = DownOptions {
        purge: true,
        ..dopts
    };
    let report = down::down(&cluster, &inv, &dopts, &sink2)
        .await
        .expect("down --purge");
    assert!(report.keep.is_empty(), "{report:?}");
    assert!(
        pvcs.get_opt("data-db-0").await.unwrap().is_none(),
        "down --purge kept a PVC"
    );
    let nss: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(cluster.client.clone());
    assert!(
        nss.get_opt(&ns).await.unwrap().is_none(),
        "down --purge kept the namespace"
    );
}

fn failing_deployment(ns: &str, name: &str, annotations: Value, extra_pod_spec: Value) -> Value {
    let mut pod_spec =
        json!({"containers": [{"name": "app", "image": "registry.example/app:1.0"}]});
    if let (Some(p), Some(extra)) = (pod_spec.as_object_mut(), extra_pod_spec.as_object()) {
        for (k, v) in extra {
            p.insert(k.clone(), v.clone());
        }
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}, "annotations": annotations}, "spec": pod_spec}}})
}

async fn expect_fast_failure(value: Value, ns: &str, cause: &str) {
    let cluster = cluster().await;
    let all = objects(vec![value]);
    let values = BTreeMap::new();
    let events = Events::new();
    let sink = events.sink();
    let started = std::time::Instant::now();
    let err = up::up(
        &cluster,
        target(&unique("fail"), ns, &all, &values),
        &opts(240),
        rules(),
        &sink,
    )
    .await
    .expect_err("up must fail");
    match &err {
        Error::Unhealthy { message, .. } => assert!(
            message.to_lowercase().contains(cause),
            "cause `{cause}` not in: {message}"
        ),
        other => panic!("expected an unhealthy object, got: {other}"),
    }
    eprintln!(
        "{cause}: up failed after {:?} with: {err}",
        started.elapsed()
    );
    // Not a timing assertion: the run must end on the diagnosis, long before its timeout.
    assert!(
        started.elapsed() < Duration::from_secs(200),
        "failed only at the timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_pull_failure_stops_up_with_the_cause() {
    let ns = unique("pull");
    let d = failing_deployment(
        &ns,
        "app",
        // A pull that keeps failing, as a kubelet retries it: a single failed pull is within
        // the failure budget (a registry's 429 passes), the retries are not.
        json!({"berth.dev/test-state": "pull-failing"}),
        json!({}),
    );
    expect_fast_failure(d, &ns, "image").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_loop_stops_up_with_the_cause() {
    let ns = unique("crash");
    let d = failing_deployment(
        &ns,
        "app",
        json!({"berth.dev/test-state": "crash-loop"}),
        json!({}),
    );
    expect_fast_failure(d, &ns, "crash").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unschedulable_pod_stops_up_with_the_cause() {
    let ns = unique("sched");
    let d = failing_deployment(
        &ns,
        "app",
        json!({}),
        json!({"nodeSelector": {"berth.test/no-such-node": "x"}}),
    );
    expect_fast_failure(d, &ns, "schedul").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_up_of_the_same_stack_is_refused_while_the_first_holds_the_lock() {
    let cluster = cluster().await;
    let ns = unique("lock");
    let stack = "locked";
    let values = BTreeMap::new();
    // A Deployment that never becomes ready keeps the first run inside its wait.
    let slow = objects(vec![failing_deployment(
        &ns,
        "slow",
        json!({"berth.dev/test-state": "not-ready"}),
        json!({}),
    )]);
    let cm = objects(vec![
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": ns}}),
    ]);
    let sink = |_e: Event| {};
    let first_opts = opts(20);
    let first = up::up(
        &cluster,
        target(stack, &ns, &slow, &values),
        &first_opts,
        rules(),
        &sink,
    );
    let second = async {
        // Wait until the first run holds the lease, then try.
        let leases: kube::Api<k8s_openapi::api::coordination::v1::Lease> =
            kube::Api::namespaced(cluster.client.clone(), &ns);
        for _ in 0..100 {
            if leases
                .get_opt(&format!("berth.{stack}"))
                .await
                .ok()
                .flatten()
                .and_then(|l| l.spec?.holder_identity)
                .is_some()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        up::up(
            &cluster,
            target(stack, &ns, &cm, &values),
            &opts(20),
            rules(),
            &sink,
        )
        .await
    };
    let (first, second) = tokio::join!(first, second);
    assert!(
        matches!(second, Err(Error::Locked { .. })),
        "second up was not refused: {second:?}"
    );
    assert!(first.is_err(), "the not-ready deployment should time out");
    // After the first run ends, the lock is free again.
    let third = up::up(
        &cluster,
        target(stack, &ns, &cm, &values),
        &opts(60),
        rules(),
        &sink,
    )
    .await;
    assert!(third.is_ok(), "{third:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dependency_cycle_is_bad_input_and_nothing_is_applied() {
    let cluster = cluster().await;
    let ns = unique("cycle");
    let values = BTreeMap::new();
    let all = vec![
        object_from_value(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "namespace": ns}}),
            "a",
        ),
        object_from_value(
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b", "namespace": ns}}),
            "b",
        ),
    ];
    let components = vec![
        Component {
            name: "a".into(),
            after: vec!["b".into()],
            disabled: false,
        },
        Component {
            name: "b".into(),
            after: vec!["a".into()],
            disabled: false,
        },
    ];
    let t = Target {
        stack: "cycle",
        namespace: &ns,
        objects: &all,
        components: &components,
        values: &values,
        profile: Profile::Local,
    };
    let sink = |_e: Event| {};
    let err = up::up(&cluster, t, &opts(30), rules(), &sink)
        .await
        .expect_err("cycle");
    assert_eq!(err.class(), berth_apply::ErrorClass::BadInput);
    let nss: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(cluster.client.clone());
    assert!(
        nss.get_opt(&ns).await.unwrap().is_none(),
        "something was written before the cycle was found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_an_earlier_revision_and_rereads_secret_values() {
    let cluster = cluster().await;
    let ns = unique("rollback");
    let stack = "rb";
    let values = BTreeMap::new();
    let sink = |_e: Event| {};
    let v1 = objects(vec![
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": ns}, "stringData": {"k": "kept-value"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": ns}, "data": {"v": "one"}}),
    ]);
    up::up(
        &cluster,
        target(stack, &ns, &v1, &values),
        &opts(60),
        rules(),
        &sink,
    )
    .await
    .expect("up v1");
    let v2 = objects(vec![
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": ns}, "stringData": {"k": "kept-value"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": ns}, "data": {"v": "two"}}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new", "namespace": ns}}),
    ]);
    up::up(
        &cluster,
        target(stack, &ns, &v2, &values),
        &opts(60),
        rules(),
        &sink,
    )
    .await
    .expect("up v2");
    let report = up::rollback(
        &cluster,
        &Inventory::new(stack, &ns),
        Profile::Local,
        1,
        &opts(60),
        rules(),
        &sink,
    )
    .await
    .expect("rollback");
    assert_eq!(report.revision, 3);
    assert!(report.pruned.iter().any(|k| k.name == "new"));
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(cluster.client.clone(), &ns);
    assert_eq!(cms.get("c").await.unwrap().data.unwrap()["v"], "one");
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(cluster.client.clone(), &ns);
    assert_eq!(
        secrets.get("s").await.unwrap().data.unwrap()["k"].0,
        b"kept-value"
    );
    let inv = Inventory::new(stack, &ns);
    let history = inv
        .history(
            &cluster,
            tokio::time::Instant::now() + Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(history.last().and_then(|h| h.rollback_of), Some(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_render_never_prunes_the_stack() {
    let cluster = cluster().await;
    let ns = unique("empty");
    let values = BTreeMap::new();
    let sink = |_e: Event| {};
    let one = objects(vec![
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": ns}}),
    ]);
    up::up(
        &cluster,
        target("empty", &ns, &one, &values),
        &opts(60),
        rules(),
        &sink,
    )
    .await
    .expect("up");
    let err = up::up(
        &cluster,
        target("empty", &ns, &[], &values),
        &opts(60),
        rules(),
        &sink,
    )
    .await
    .expect_err("empty");
    assert!(matches!(err, Error::EmptyRender), "{err}");
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(cluster.client.clone(), &ns);
    assert!(cms.get_opt("c").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_owned_by_another_manager_is_a_conflict_with_the_options_and_force_takes_it() {
    let cluster = cluster().await;
    let ns = unique("conflict");
    let values = BTreeMap::new();
    let sink = |_e: Event| {};
    let nss: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(cluster.client.clone());
    let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
    nss.patch(
        &ns,
        &kube::api::PatchParams::apply("someone-else"),
        &kube::api::Patch::Apply(&body),
    )
    .await
    .unwrap();
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(cluster.client.clone(), &ns);
    let theirs = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": ns}, "data": {"mode": "theirs"}});
    cms.patch(
        "c",
        &kube::api::PatchParams::apply("someone-else"),
        &kube::api::Patch::Apply(&theirs),
    )
    .await
    .unwrap();

    let ours = objects(vec![
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": ns}, "data": {"mode": "ours"}}),
    ]);
    let err = up::up(
        &cluster,
        target("conflict", &ns, &ours, &values),
        &opts(60),
        rules(),
        &sink,
    )
    .await
    .expect_err("conflict");
    let text = err.to_string();
    assert!(matches!(err, Error::Conflict { .. }), "{text}");
    assert!(
        text.contains("someone-else") && text.contains("--force-conflicts"),
        "{text}"
    );
    assert_eq!(cms.get("c").await.unwrap().data.unwrap()["mode"], "theirs");

    let mut forced = opts(60);
    forced.apply.force_conflicts = true;
    up::up(
        &cluster,
        target("conflict", &ns, &ours, &values),
        &forced,
        rules(),
        &sink,
    )
    .await
    .expect("forced up");
    assert_eq!(cms.get("c").await.unwrap().data.unwrap()["mode"], "ours");
}
