use std::sync::Arc;

use berth_model::{Component, Object, Origin, SourceFile};
use serde_json::{Value, json};

use super::*;

fn obj(component: &str, value: Value) -> Object {
    Object {
        value,
        file: Arc::new(SourceFile::new("m.yaml", "")),
        doc: 0,
        component: component.into(),
        origin: Origin::Manifest,
        positions: Default::default(),
    }
}

fn meta(api: &str, kind: &str, ns: Option<&str>, name: &str) -> Value {
    let mut v = json!({"apiVersion": api, "kind": kind, "metadata": {"name": name}});
    if let Some(ns) = ns {
        v["metadata"]["namespace"] = json!(ns);
    }
    v
}

fn with(mut v: Value, key: &str, extra: Value) -> Value {
    v[key] = extra;
    v
}

fn names(objects: &[Object], plan: &Plan) -> Vec<Vec<String>> {
    plan.waves
        .iter()
        .map(|w| w.iter().map(|&i| objects[i].display_name()).collect())
        .collect()
}

fn deployment(ns: &str, name: &str, pod_spec: Value) -> Value {
    with(
        meta("apps/v1", "Deployment", Some(ns), name),
        "spec",
        json!({"selector": {"matchLabels": {"app": name}},
               "template": {"metadata": {"labels": {"app": name}}, "spec": pod_spec}}),
    )
}

#[test]
fn the_issue_stack_orders_crd_namespace_data_workloads_and_hpa() {
    let objects = vec![
        obj(
            "app",
            with(
                meta(
                    "autoscaling/v2",
                    "HorizontalPodAutoscaler",
                    Some("shop"),
                    "web",
                ),
                "spec",
                json!({"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}}),
            ),
        ),
        obj(
            "app",
            deployment(
                "shop",
                "web",
                json!({"containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "cfg"}}],
            "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "p"}}}]}]}),
            ),
        ),
        obj("app", meta("v1", "ConfigMap", Some("shop"), "cfg")),
        obj("app", meta("v1", "Secret", Some("shop"), "creds")),
        obj("app", meta("example.com/v1", "Widget", Some("shop"), "w1")),
        obj(
            "app",
            with(
                meta(
                    "apiextensions.k8s.io/v1",
                    "CustomResourceDefinition",
                    None,
                    "widgets.example.com",
                ),
                "spec",
                json!({"group": "example.com", "names": {"kind": "Widget", "plural": "widgets"}}),
            ),
        ),
        obj("app", meta("v1", "Namespace", None, "shop")),
        obj(
            "app",
            with(
                meta("v1", "Service", Some("shop"), "db"),
                "spec",
                json!({"clusterIP": "None", "selector": {"app": "db"}}),
            ),
        ),
        obj(
            "app",
            with(
                meta("apps/v1", "StatefulSet", Some("shop"), "db"),
                "spec",
                json!({"serviceName": "db",
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": []}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"storageClassName": "fast"}}]}),
            ),
        ),
        obj(
            "app",
            meta("storage.k8s.io/v1", "StorageClass", None, "fast"),
        ),
        obj(
            "app",
            with(
                meta("batch/v1", "Job", Some("shop"), "migrate"),
                "spec",
                json!({"template": {"spec": {"containers": [{"name": "m", "envFrom": [{"secretRef": {"name": "creds"}}]}]}}}),
            ),
        ),
    ];
    let plan = plan(&objects, &[]).unwrap();
    assert_eq!(
        names(&objects, &plan),
        vec![
            vec![
                "CustomResourceDefinition/widgets.example.com",
                "Namespace/shop",
                "StorageClass/fast"
            ],
            vec![
                "Secret/shop/creds",
                "ConfigMap/shop/cfg",
                "Service/shop/db",
                "Widget/shop/w1"
            ],
            vec![
                "Deployment/shop/web",
                "StatefulSet/shop/db",
                "Job/shop/migrate"
            ],
            vec!["HorizontalPodAutoscaler/shop/web"],
        ]
    );
    assert_eq!(plan.order().count(), objects.len());
}

#[test]
fn objects_that_need_nothing_share_one_wave() {
    let objects: Vec<Object> = (0..5)
        .map(|i| obj("a", meta("v1", "ConfigMap", Some("x"), &format!("c{i}"))))
        .collect();
    let plan = plan(&objects, &[]).unwrap();
    assert_eq!(plan.waves.len(), 1);
    assert_eq!(plan.waves[0].len(), 5);
}

#[test]
fn a_component_waits_for_every_object_of_the_components_in_its_after() {
    let objects = vec![
        obj(
            "kafka",
            deployment("k", "zookeeper", json!({"containers": []})),
        ),
        obj("kafka", meta("v1", "ConfigMap", Some("k"), "zk")),
        obj("apps", meta("v1", "ConfigMap", Some("a"), "settings")),
    ];
    let components = vec![
        Component {
            name: "kafka".into(),
            after: vec![],
            disabled: false,
        },
        Component {
            name: "apps".into(),
            after: vec!["kafka".into()],
            disabled: false,
        },
    ];
    let plan = plan(&objects, &components).unwrap();
    assert_eq!(
        names(&objects, &plan),
        vec![
            vec!["ConfigMap/k/zk", "Deployment/k/zookeeper"],
            vec!["ConfigMap/a/settings"]
        ]
    );
}

#[test]
fn a_cycle_is_a_finding_that_names_its_objects() {
    let objects = vec![
        obj(
            "a",
            with(
                meta("autoscaling/v2", "HorizontalPodAutoscaler", Some("x"), "h"),
                "spec",
                json!({"scaleTargetRef": {"kind": "Deployment", "name": "d"}}),
            ),
        ),
        obj(
            "a",
            deployment(
                "x",
                "d",
                json!({"serviceAccountName": "sa", "containers": []}),
            ),
        ),
        // `b` comes after `a`, but `a`'s Deployment uses `b`'s account.
        obj("b", meta("v1", "ServiceAccount", Some("x"), "sa")),
    ];
    let components = vec![
        Component {
            name: "a".into(),
            after: vec![],
            disabled: false,
        },
        Component {
            name: "b".into(),
            after: vec!["a".into()],
            disabled: false,
        },
    ];
    let err = plan(&objects, &components).unwrap_err();
    assert_eq!(err.rule, "dependency-cycle");
    assert!(err.is_bad_input());
    assert!(err.message.contains("Deployment/x/d"), "{}", err.message);
    assert!(
        err.message.contains("ServiceAccount/x/sa"),
        "{}",
        err.message
    );
    assert!(err.message.contains("component `a`"), "{}", err.message);
}

#[test]
fn direct_references_order_and_a_direct_cycle_names_both_objects() {
    let objects = vec![
        obj(
            "a",
            with(
                meta("v1", "Secret", Some("x"), "tok"),
                "type",
                json!("kubernetes.io/service-account-token"),
            ),
        ),
        obj("a", meta("v1", "ServiceAccount", Some("x"), "sa")),
    ];
    let mut objects = objects;
    objects[0].value["metadata"]["annotations"] =
        json!({"kubernetes.io/service-account.name": "sa"});
    let token_after_account = plan(&objects, &[]).unwrap();
    assert_eq!(token_after_account.waves, vec![vec![1], vec![0]]);
    let mut hpa = meta("autoscaling/v2", "HorizontalPodAutoscaler", Some("x"), "h");
    hpa["spec"] = json!({"scaleTargetRef": {"kind": "HorizontalPodAutoscaler", "name": "h2"}});
    let mut hpa2 = meta("autoscaling/v2", "HorizontalPodAutoscaler", Some("x"), "h2");
    hpa2["spec"] = json!({"scaleTargetRef": {"kind": "HorizontalPodAutoscaler", "name": "h"}});
    let objects = vec![obj("a", hpa), obj("a", hpa2)];
    let err = plan(&objects, &[]).unwrap_err();
    assert!(
        err.message.contains("HorizontalPodAutoscaler/x/h ->"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("HorizontalPodAutoscaler/x/h2"),
        "{}",
        err.message
    );
}

#[test]
fn webhooks_come_after_their_backends_and_before_what_they_intercept() {
    let objects = vec![
        obj("hook", deployment("sys", "hook", json!({"containers": []}))),
        obj(
            "hook",
            with(
                meta("v1", "Service", Some("sys"), "hook"),
                "spec",
                json!({"selector": {"app": "hook"}}),
            ),
        ),
        obj(
            "hook",
            with(
                meta(
                    "admissionregistration.k8s.io/v1",
                    "ValidatingWebhookConfiguration",
                    None,
                    "check",
                ),
                "webhooks",
                json!([{"name": "c.example.com",
                "clientConfig": {"service": {"namespace": "sys", "name": "hook"}},
                "rules": [{"apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments"], "operations": ["CREATE"]}]}]),
            ),
        ),
        obj("app", deployment("shop", "web", json!({"containers": []}))),
        obj("app", meta("v1", "ConfigMap", Some("shop"), "untouched")),
    ];
    let plan = plan(&objects, &[]).unwrap();
    assert_eq!(
        names(&objects, &plan),
        vec![
            vec![
                "ConfigMap/shop/untouched",
                "Service/sys/hook",
                "Deployment/sys/hook"
            ],
            vec!["ValidatingWebhookConfiguration/check"],
            vec!["Deployment/shop/web"],
        ]
    );
}

/// A webhook's `objectSelector` (here `matchExpressions`, as Istio's sidecar injector writes
/// it) decides which objects it intercepts: only those wait for it.
#[test]
fn webhooks_intercept_only_what_their_object_selector_matches() {
    let labelled = |name: &str, labels: Value| {
        let mut d = deployment("shop", name, json!({"containers": []}));
        d["metadata"]["labels"] = labels;
        d
    };
    let objects = vec![
        obj(
            "hook",
            with(
                meta(
                    "admissionregistration.k8s.io/v1",
                    "MutatingWebhookConfiguration",
                    None,
                    "inject",
                ),
                "webhooks",
                json!([{"name": "inject.example.com",
                "clientConfig": {"url": "https://hook.example.com"},
                "objectSelector": {"matchExpressions": [
                    {"key": "inject", "operator": "NotIn", "values": ["false"]},
                    {"key": "tier", "operator": "In", "values": ["web", "api"]}]},
                "rules": [{"apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments"], "operations": ["CREATE"]}]}]),
            ),
        ),
        obj("app", labelled("web", json!({"tier": "web"}))),
        obj(
            "app",
            labelled("opted-out", json!({"tier": "web", "inject": "false"})),
        ),
        obj("app", labelled("batch", json!({"tier": "batch"}))),
    ];
    let plan = plan(&objects, &[]).unwrap();
    assert_eq!(
        names(&objects, &plan),
        vec![
            vec![
                "Deployment/shop/batch",
                "Deployment/shop/opted-out",
                "MutatingWebhookConfiguration/inject"
            ],
            vec!["Deployment/shop/web"],
        ]
    );
}

/// The backends of a webhook's Service are found by the Service's selector in every kind with
/// pods (a bare Pod, a CronJob's template), not only under `spec.template`.
#[test]
fn webhook_backends_are_pods_of_any_workload_kind() {
    let objects = vec![
        obj(
            "hook",
            with(
                meta("v1", "Pod", Some("sys"), "hook"),
                "metadata",
                json!({"name": "hook", "namespace": "sys", "labels": {"app": "hook"}}),
            ),
        ),
        obj(
            "hook",
            with(
                meta("v1", "Service", Some("sys"), "hook"),
                "spec",
                json!({"selector": {"app": "hook"}}),
            ),
        ),
        obj(
            "hook",
            with(
                meta(
                    "admissionregistration.k8s.io/v1",
                    "ValidatingWebhookConfiguration",
                    None,
                    "check",
                ),
                "webhooks",
                json!([{"name": "c.example.com",
                "clientConfig": {"service": {"namespace": "sys", "name": "hook"}},
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"], "operations": ["CREATE"]}]}]),
            ),
        ),
    ];
    let plan = plan(&objects, &[]).unwrap();
    assert_eq!(
        names(&objects, &plan),
        vec![
            vec!["Service/sys/hook", "Pod/sys/hook"],
            vec!["ValidatingWebhookConfiguration/check"],
        ]
    );
}

/// Pods wait for the PriorityClass and RuntimeClass they name (the API refuses them before).
#[test]
fn pods_come_after_their_priority_and_runtime_classes() {
    let objects = vec![
        obj(
            "app",
            deployment(
                "shop",
                "web",
                json!({"priorityClassName": "high", "runtimeClassName": "kata",
                       "containers": [{"name": "c"}]}),
            ),
        ),
        obj(
            "app",
            with(
                meta("scheduling.k8s.io/v1", "PriorityClass", None, "high"),
                "value",
                json!(1000),
            ),
        ),
        obj("app", meta("node.k8s.io/v1", "RuntimeClass", None, "kata")),
    ];
    let plan = plan(&objects, &[]).unwrap();
    assert_eq!(
        names(&objects, &plan),
        vec![
            vec!["PriorityClass/high", "RuntimeClass/kata"],
            vec!["Deployment/shop/web"],
        ]
    );
}

#[test]
fn teardown_removes_load_balancers_first_then_reverses_the_waves() {
    let objects = vec![
        obj("a", meta("v1", "Namespace", None, "shop")),
        obj(
            "a",
            with(
                meta("v1", "Service", Some("shop"), "lb"),
                "spec",
                json!({"type": "LoadBalancer"}),
            ),
        ),
        obj("a", meta("v1", "ConfigMap", Some("shop"), "cfg")),
        obj(
            "a",
            deployment(
                "shop",
                "web",
                json!({"volumes": [{"configMap": {"name": "cfg"}}]}),
            ),
        ),
        obj(
            "a",
            with(
                meta("networking.k8s.io/v1", "Ingress", Some("shop"), "web"),
                "spec",
                json!({"defaultBackend": {"service": {"name": "lb"}}}),
            ),
        ),
    ];
    let plan = plan(&objects, &[]).unwrap();
    let down: Vec<Vec<String>> = plan
        .teardown(&objects)
        .iter()
        .map(|w| w.iter().map(|&i| objects[i].display_name()).collect())
        .collect();
    assert_eq!(
        down,
        vec![
            vec!["Service/shop/lb", "Ingress/shop/web"],
            vec!["Deployment/shop/web"],
            vec!["ConfigMap/shop/cfg"],
            vec!["Namespace/shop"],
        ]
    );
}

#[test]
fn references_to_objects_outside_the_stack_do_not_order_anything() {
    let objects = vec![obj(
        "a",
        deployment("x", "d", json!({"serviceAccountName": "external"})),
    )];
    let plan = plan(&objects, &[]).unwrap();
    assert_eq!(plan.waves, vec![vec![0]]);
    assert!(plan.dependencies(0).is_empty());
}

#[test]
fn a_thousand_objects_plan_in_few_waves() {
    let mut objects = vec![obj("a", meta("v1", "Namespace", None, "big"))];
    for i in 0..500 {
        objects.push(obj(
            "a",
            meta("v1", "ConfigMap", Some("big"), &format!("c{i}")),
        ));
        objects.push(obj(
            "a",
            deployment(
                "big",
                &format!("d{i}"),
                json!({"volumes": [{"configMap": {"name": format!("c{i}")}}]}),
            ),
        ));
    }
    let plan = plan(&objects, &[]).unwrap();
    assert_eq!(
        plan.waves.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![1, 500, 500]
    );
}

fn depending(mut v: Value, on: &str) -> Value {
    v["metadata"]["annotations"] = json!({ DEPENDS_ON: on });
    v
}

#[test]
fn depends_on_orders_objects_nothing_else_relates() {
    let objects = vec![
        obj(
            "app",
            depending(
                meta("v1", "ConfigMap", Some("shop"), "after"),
                "/namespaces/shop/ConfigMap/first, rbac.authorization.k8s.io/ClusterRole/reader",
            ),
        ),
        obj("app", meta("v1", "ConfigMap", Some("shop"), "first")),
        obj(
            "app",
            meta(
                "rbac.authorization.k8s.io/v1",
                "ClusterRole",
                None,
                "reader",
            ),
        ),
    ];
    let plan = plan(&objects, &[]).unwrap();
    let waves = names(&objects, &plan);
    let wave_of = |name: &str| {
        waves
            .iter()
            .position(|w| w.iter().any(|n| n.ends_with(name)))
            .unwrap()
    };
    assert!(wave_of("/after") > wave_of("/first"), "{waves:?}");
    assert!(wave_of("/after") > wave_of("/reader"), "{waves:?}");
}

#[test]
fn depends_on_adds_nothing_for_unknown_wrong_group_or_malformed_names() {
    let base = || {
        vec![
            obj("app", meta("v1", "ConfigMap", Some("shop"), "first")),
            obj("app", meta("v1", "ConfigMap", Some("shop"), "second")),
        ]
    };
    let alone = plan(&base(), &[]).unwrap();
    assert_eq!(alone.waves.len(), 1);
    for on in [
        "/namespaces/shop/ConfigMap/missing",
        "apps/namespaces/shop/ConfigMap/first",
        "ConfigMap/first",
        "/namespaces//ConfigMap/first",
        "",
        "/namespaces/shop/ConfigMap/second",
    ] {
        let mut objects = base();
        objects[1].value = depending(objects[1].value.clone(), on);
        let p = plan(&objects, &[]).unwrap();
        assert_eq!(
            p.waves.len(),
            1,
            "`{on}` added an edge: {:?}",
            names(&objects, &p)
        );
    }
}

#[test]
fn a_cycle_through_depends_on_is_a_cycle() {
    let objects = vec![
        obj(
            "app",
            depending(
                meta("v1", "ConfigMap", Some("shop"), "a"),
                "/namespaces/shop/ConfigMap/b",
            ),
        ),
        obj(
            "app",
            depending(
                meta("v1", "ConfigMap", Some("shop"), "b"),
                "/namespaces/shop/ConfigMap/a",
            ),
        ),
    ];
    let finding = plan(&objects, &[]).unwrap_err();
    assert_eq!(finding.rule, "dependency-cycle");
}

#[test]
fn depends_on_entries_are_read_as_kpt_writes_them() {
    let o = obj(
        "app",
        depending(
            meta("v1", "ConfigMap", Some("shop"), "x"),
            " /namespaces/shop/Secret/db ,apps/namespaces/shop/StatefulSet/pg,bad, storage.k8s.io/StorageClass/fast",
        ),
    );
    let d = depends_on(&o);
    assert_eq!(
        d,
        [
            Dependency {
                group: "",
                kind: "Secret",
                namespace: Some("shop"),
                name: "db"
            },
            Dependency {
                group: "apps",
                kind: "StatefulSet",
                namespace: Some("shop"),
                name: "pg"
            },
            Dependency {
                group: "storage.k8s.io",
                kind: "StorageClass",
                namespace: None,
                name: "fast"
            },
        ]
    );
}

/// Runs `plan` to the end with `Schedule`, marking objects done in `finish` order whenever
/// they have started; returns the display names in the order they started.
fn run_graph(objects: &[Object], plan: &Plan, finish_first: &[&str]) -> Vec<String> {
    let (mut s, mut ready) = Schedule::start(plan);
    let mut started: Vec<usize> = Vec::new();
    let mut running: Vec<usize> = Vec::new();
    loop {
        for i in ready.drain(..) {
            started.push(i);
            running.push(i);
        }
        if running.is_empty() {
            break;
        }
        // Finish a preferred object if it runs, else the oldest running one.
        let pick = finish_first
            .iter()
            .find_map(|n| {
                running
                    .iter()
                    .position(|&i| objects[i].display_name() == *n)
            })
            .unwrap_or(0);
        let i = running.remove(pick);
        ready = s.done(i);
    }
    assert!(s.finished(), "every object ran");
    started.iter().map(|&i| objects[i].display_name()).collect()
}

#[test]
fn the_graph_starts_an_independent_component_without_waiting_for_a_slow_one() {
    // Component a: a slow Deployment, then a2 (after: a). Component b: a ConfigMap and the
    // Deployment that mounts it, independent of a.
    let objects = vec![
        obj("a", deployment("x", "slow", json!({"containers": []}))),
        obj("a2", meta("v1", "ConfigMap", Some("x"), "a2")),
        obj("b", meta("v1", "ConfigMap", Some("x"), "cfg")),
        obj(
            "b",
            deployment(
                "x",
                "b2",
                json!({"volumes": [{"configMap": {"name": "cfg"}}]}),
            ),
        ),
    ];
    let components = vec![
        Component {
            name: "a".into(),
            after: vec![],
            disabled: false,
        },
        Component {
            name: "a2".into(),
            after: vec!["a".into()],
            disabled: false,
        },
        Component {
            name: "b".into(),
            after: vec![],
            disabled: false,
        },
    ];
    let plan = plan(&objects, &components).unwrap();
    // The waves put b2 beside a2, after the slow Deployment's wave.
    assert_eq!(plan.waves.len(), 2, "{:?}", names(&objects, &plan));
    // The graph: with the slow Deployment still running, the ConfigMap finishes and b2 starts.
    let order = run_graph(&objects, &plan, &["ConfigMap/x/cfg", "Deployment/x/b2"]);
    let at = |n: &str| order.iter().position(|o| o == n).unwrap();
    assert!(at("Deployment/x/b2") < at("ConfigMap/x/a2"), "{order:?}");
    // Must not: a2 never starts before the component it is after.
    let (mut s, ready) = Schedule::start(&plan);
    let names_of =
        |v: &[usize]| -> Vec<String> { v.iter().map(|&i| objects[i].display_name()).collect() };
    assert_eq!(
        names_of(&ready),
        vec!["ConfigMap/x/cfg", "Deployment/x/slow"]
    );
    assert_eq!(names_of(&s.done(2)), vec!["Deployment/x/b2"]);
    assert!(s.done(3).is_empty(), "a2 waits for the slow Deployment");
    assert_eq!(names_of(&s.done(0)), vec!["ConfigMap/x/a2"]);
}

#[test]
fn cluster_definitions_still_go_before_everything_else_in_the_graph() {
    let objects = vec![
        obj("app", meta("v1", "ConfigMap", Some("x"), "cfg")),
        obj(
            "app",
            meta("storage.k8s.io/v1", "StorageClass", None, "fast"),
        ),
        obj("app", meta("v1", "Namespace", None, "x")),
    ];
    let plan = plan(&objects, &[]).unwrap();
    let (mut s, ready) = Schedule::start(&plan);
    assert_eq!(ready, vec![2, 1], "the Namespace, then the class");
    assert!(
        s.done(1).is_empty(),
        "the ConfigMap waits for every definition"
    );
    assert_eq!(s.done(2), vec![0]);
}

#[test]
fn prepended_namespaces_come_before_every_object_in_the_graph() {
    let mut objects = vec![
        obj("app", meta("v1", "ConfigMap", Some("x"), "cfg")),
        obj("app", meta("v1", "ConfigMap", Some("y"), "other")),
    ];
    let mut plan = plan(&objects, &[]).unwrap();
    objects.insert(0, obj("", meta("v1", "Namespace", None, "x")));
    plan.prepend_wave(1);
    assert_eq!(plan.len(), 3);
    assert_eq!(plan.waves, vec![vec![0], vec![1, 2]]);
    let (mut s, ready) = Schedule::start(&plan);
    assert_eq!(ready, vec![0]);
    assert_eq!(s.done(0), vec![1, 2]);
    assert!(
        plan.dependencies(1).is_empty(),
        "the prepended point is no object"
    );
}

fn in_wave(mut v: Value, wave: &str) -> Value {
    v["metadata"]["annotations"] = json!({ SYNC_WAVE: wave });
    v
}

#[test]
fn argo_sync_waves_order_objects_nothing_else_relates() {
    let objects = vec![
        obj(
            "app",
            in_wave(meta("v1", "ConfigMap", Some("x"), "late"), "2"),
        ),
        obj("app", meta("v1", "ConfigMap", Some("x"), "default")),
        obj(
            "app",
            in_wave(meta("v1", "ConfigMap", Some("x"), "early"), "-1"),
        ),
        obj(
            "app",
            in_wave(meta("v1", "ConfigMap", Some("x"), "also-late"), " 2 "),
        ),
    ];
    let plan = plan(&objects, &[]).unwrap();
    assert_eq!(
        names(&objects, &plan),
        vec![
            vec!["ConfigMap/x/early"],
            vec!["ConfigMap/x/default"],
            vec!["ConfigMap/x/also-late", "ConfigMap/x/late"],
        ]
    );
    let (mut s, ready) = Schedule::start(&plan);
    assert_eq!(ready, vec![2]);
    assert_eq!(s.done(2), vec![1]);
    assert_eq!(s.done(1), vec![3, 0]);
}

#[test]
fn one_sync_wave_or_a_malformed_one_adds_no_edge() {
    for waves in [["5", "5"], ["0", "zero"], ["", "0"]] {
        let objects = vec![
            obj(
                "app",
                in_wave(meta("v1", "ConfigMap", Some("x"), "a"), waves[0]),
            ),
            obj(
                "app",
                in_wave(meta("v1", "ConfigMap", Some("x"), "b"), waves[1]),
            ),
        ];
        let plan = plan(&objects, &[]).unwrap();
        assert_eq!(plan.waves.len(), 1, "{waves:?} added an edge");
        assert!(plan.dependencies(0).is_empty() && plan.dependencies(1).is_empty());
    }
}

#[test]
fn a_cycle_through_a_sync_wave_names_the_wave() {
    // `first` (wave 0) mounts `settings`, which is in wave 1: it would wait for itself.
    let objects = vec![
        obj(
            "app",
            deployment(
                "x",
                "first",
                json!({"volumes": [{"configMap": {"name": "settings"}}]}),
            ),
        ),
        obj(
            "app",
            in_wave(meta("v1", "ConfigMap", Some("x"), "settings"), "1"),
        ),
    ];
    let finding = plan(&objects, &[]).unwrap_err();
    assert_eq!(finding.rule, "dependency-cycle");
    assert!(
        finding.message.contains("argocd.argoproj.io/sync-wave 0"),
        "{}",
        finding.message
    );
}
