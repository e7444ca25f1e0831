//! End-to-end: real failures on berth's local cluster (a real API server, controller-manager and
//! scheduler; kwok plays the kubelet), diagnosed by `diagnose` exactly as `berth doctor` does.
//!
//! Container states come from kwok's failure stages (`berth.dev/test-state`), scheduling from
//! the real scheduler, claims from the real volume binder, endpoints from the real EndpointSlice
//! controller. Every test takes its own namespace; generated names are redacted in snapshots.
//! The shared cluster starts on first use (see `berth_local::testing`).

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use berth_doctor::{Diagnosis, diagnose};
use kube::api::Api;

use common::*;

/// The human output, with generated names redacted, under the snapshot `local__<name>`.
fn snapshot(name: &str, ns: &str, ds: &[Diagnosis]) {
    let text = render(ds);
    settings(ns).bind(|| insta::assert_snapshot!(name, text));
}

const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: NS
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations: ANNOTATIONS
    spec:
      containers:
        - name: web
          image: registry.example.com/shop/web:1.4.2
          ports: [{name: http, containerPort: 8080}]
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {memory: 256Mi}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: NS
spec:
  selector: {app: SELECTOR}
  ports: [{name: http, port: 80, targetPort: http}]
"#;

/// A one-replica StatefulSet `name` whose pod carries `annotations` (a flow mapping) and runs
/// `containers` (list items at the pod spec's indentation); `rest` follows the template
/// (volumeClaimTemplates).
fn statefulset(name: &str, annotations: &str, containers: &str, rest: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: {name}, namespace: NS}}\nspec:\n  serviceName: {name}\n  replicas: 1\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n      annotations: {annotations}\n    spec:\n      containers:\n{containers}{rest}"
    )
}

/// Held by tests that create a StorageClass or read the list of classes, so one test's class
/// never shows in another's diagnosis.
static STORAGE_CLASSES: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn web(annotations: &str, selector: &str) -> String {
    WEB.replace("ANNOTATIONS", annotations)
        .replace("SELECTOR", selector)
}

#[tokio::test]
async fn healthy_stack_has_no_diagnosis() {
    let (client, ns) = setup("doctor-healthy").await;
    let objects = stack(&web("{}", "web"), &ns);
    apply(&client, &objects).await;
    // Wait for the stack to be healthy by berth's own rules, then expect silence.
    let ds = diagnose_until(&client, &objects, |ds| ds.is_empty()).await;
    assert_eq!(ids(&ds), Vec::<&str>::new());
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn image_pull_backoff() {
    let (client, ns) = setup("doctor-pull").await;
    let objects = stack(
        &web("{berth.dev/test-state: image-pull-backoff}", "web"),
        &ns,
    );
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| both_pods(ds, "image-pull")).await;
    assert_eq!(ds[0].id, "image-pull");
    assert_eq!(
        (ds[0].file.as_deref(), ds[0].line),
        (
            Some(Path::new("app.yaml")),
            Some(line_of(&web("", ""), "image:"))
        )
    );
    snapshot("local_image_pull", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn crash_loop_without_logs_under_kwok() {
    let (client, ns) = setup("doctor-crash").await;
    let objects = stack(
        &web(
            "{berth.dev/test-state: crash-loop, berth.dev/test-exit-code: \"3\"}",
            "web",
        ),
        &ns,
    );
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| both_pods(ds, "crash-loop")).await;
    let d = ds.iter().find(|d| d.id == "crash-loop").unwrap();
    assert!(d.cause.contains("code 3"), "{}", d.cause);
    assert!(d.evidence.iter().any(|e| e.text == "no logs available"));
    snapshot("local_crash_loop", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn oom_killed_jvm() {
    let (client, ns) = setup("doctor-oom").await;
    let yaml = statefulset(
        "molecule",
        "{berth.dev/test-state: oom-killed}",
        r#"        - name: atom
          image: boomi/molecule:5.0.1
          env:
            - {name: ATOM_VMOPTIONS_OVERRIDES, value: "-Xmx1536m"}
          resources:
            requests: {cpu: 500m, memory: 1536Mi}
            limits: {memory: 1536Mi}
"#,
        "",
    );
    let objects = stack(&yaml, &ns);
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| ids(ds).contains(&"oom-killed")).await;
    let d = ds.iter().find(|d| d.id == "oom-killed").unwrap();
    assert!(
        d.cause.contains("-Xmx1536m") && d.cause.contains("1536Mi"),
        "{}",
        d.cause
    );
    assert!(d.fix.contains("1844Mi"), "{}", d.fix);
    snapshot("local_oom_killed", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn secret_in_another_namespace() {
    let (client, ns) = setup("doctor-secret").await;
    let other = berth_local::testing::namespace(&client, "other-secret").await;
    // Named after this test's namespace, so Secrets left by earlier runs do not show up.
    let secret = stack(
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: {ns}-db, namespace: NS}}\nstringData: {{url: postgres://db}}\n"
        ),
        &other,
    );
    apply(&client, &secret).await;
    let yaml = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: flow-runtime, namespace: NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: flow}}
  template:
    metadata:
      labels: {app: flow}
      annotations: {berth.dev/test-state: config-error, berth.dev/test-message: 'secret "NS-db" not found'}
    spec:
      containers:
        - name: runtime
          image: manywho/flow:7.2.1
          env:
            - name: DATABASE_URL
              valueFrom: {secretKeyRef: {name: NS-db, key: url}}
"#;
    let objects = stack(yaml, &ns);
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| {
        ds.first().is_some_and(|d| {
            d.id == "missing-reference"
                && d.evidence
                    .iter()
                    .any(|e| e.text.contains("CreateContainerConfigError"))
        })
    })
    .await;
    assert_eq!(ids(&ds), ["missing-reference"]);
    assert!(
        ds[0]
            .cause
            .contains(&format!("exists in namespace `{other}`")),
        "{}",
        ds[0].cause
    );
    snapshot("local_secret_other_namespace", &ns, &ds);
    cleanup(&client, &[&ns, &other]).await;
}

#[tokio::test]
async fn unschedulable_by_the_real_scheduler() {
    let (client, ns) = setup("doctor-sched").await;
    let objects = stack(&web("{}", "web").replace("cpu: 100m", "cpu: \"64\""), &ns);
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| both_pods(ds, "unschedulable")).await;
    let d = ds.iter().find(|d| d.id == "unschedulable").unwrap();
    assert!(
        d.cause
            .contains("requests 64 cpu, more than any node can offer"),
        "{}",
        d.cause
    );
    snapshot("local_unschedulable", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn pvc_with_a_missing_storage_class() {
    let (client, ns) = setup("doctor-pvc").await;
    let _classes = STORAGE_CLASSES.lock().await;
    let yaml = "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data, namespace: NS}\nspec:\n  accessModes: [ReadWriteOnce]\n  storageClassName: manual\n  resources: {requests: {storage: 1Gi}}\n";
    let objects = stack(yaml, &ns);
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| {
        ds.iter().any(|d| {
            d.id == "pvc-pending"
                && d.evidence
                    .iter()
                    .any(|e| e.text.contains("ProvisioningFailed"))
        })
    })
    .await;
    assert!(
        ds[0].cause.contains("`manual`, which does not exist"),
        "{}",
        ds[0].cause
    );
    snapshot("local_pvc_missing_class", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn service_selector_matches_no_pod() {
    let (client, ns) = setup("doctor-svc").await;
    let objects = stack(&web("{}", "webapp"), &ns);
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| {
        ids(ds) == ["service-no-endpoints"]
            && ds[0].evidence.iter().any(|e| e.text.contains("app=web"))
    })
    .await;
    assert_eq!(ds[0].line, Some(line_of(&web("", ""), "selector: {app:")));
    snapshot("local_service_selector", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn custom_resource_without_its_crd() {
    let (client, ns) = setup("doctor-crd").await;
    let yaml = "apiVersion: argoproj.io/v1alpha1\nkind: EventBus\nmetadata: {name: default, namespace: NS}\nspec: {jetstream: {version: latest}}\n";
    let objects = stack(yaml, &ns);
    let ds = diagnose(&client, &objects).await.expect("diagnose");
    assert_eq!(ids(&ds), ["crd-missing"]);
    snapshot("local_crd_missing", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}

/// The name of the first pod labelled `label` in `ns`, waiting up to 60 s for it to appear.
async fn pod_named(client: &kube::Client, ns: &str, label: &str) -> String {
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), ns);
    let start = Instant::now();
    loop {
        let list = pods
            .list(&kube::api::ListParams::default().labels(label))
            .await
            .expect("list pods");
        if let Some(name) = list.items.first().and_then(|p| p.metadata.name.clone()) {
            return name;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no pod with {label}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn failed_job_by_the_real_job_controller() {
    let (client, ns) = setup("doctor-job").await;
    let yaml = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: create-buckets, namespace: NS}
spec:
  backoffLimit: 0
  template:
    metadata:
      labels: {job: create-buckets}
      annotations: {berth.dev/test-state: failed, berth.dev/test-exit-code: "1"}
    spec:
      restartPolicy: Never
      containers:
        - name: mc
          image: minio/mc:RELEASE.2025-08-13T08-35-41Z
          command: [mc, mb, minio/orders]
"#;
    let objects = stack(yaml, &ns);
    apply(&client, &objects).await;
    // kwok fails the attempt as a kubelet would report it; the real Job controller does the
    // rest. The attempt's log is served through kwok, as a kubelet serves a container's log.
    let pod = pod_named(&client, &ns, "job=create-buckets").await;
    berth_local::testing::serve_logs(
        &client,
        &ns,
        &pod,
        "mc",
        &[
            "Added `minio` successfully.",
            "mc: <ERROR> Unable to make bucket `minio/orders`. Access Denied.",
        ],
    )
    .await;
    // `FailureTarget` comes first; wait for the final `Failed`.
    let ds = diagnose_until(&client, &objects, |ds| {
        ds.iter().any(|d| {
            d.id == "job-failed"
                && d.evidence.iter().any(|e| e.text.starts_with("Failed=True"))
                && d.evidence.iter().any(|e| e.text.contains("Access Denied"))
        })
    })
    .await;
    assert!(
        ds[0].cause.contains("container `mc` exited with code 1"),
        "{}",
        ds[0].cause
    );
    assert!(
        ds[0]
            .evidence
            .iter()
            .any(|e| e.text.contains("BackoffLimitExceeded"))
    );
    snapshot("local_job_failed", &ns, &ds);
}

#[tokio::test]
async fn failing_readiness_probe() {
    let (client, ns) = setup("doctor-probe").await;
    // kwok keeps the pod unready and records the kubelet's `Unhealthy` event.
    let objects = stack(
        &web("{berth.dev/test-state: readiness-failing}", "web")
            .replace("replicas: 2", "replicas: 1")
            .replace(
                "          ports: [{name: http, containerPort: 8080}]\n",
                "          ports: [{name: http, containerPort: 8080}]\n          readinessProbe: {httpGet: {path: /healthz, port: http}}\n",
            ),
        &ns,
    );
    apply(&client, &objects).await;
    // kwok records the event and the pod's status in one step; wait until both are seen.
    let ds = diagnose_until(&client, &objects, |ds| {
        ds.iter()
            .any(|d| d.id == "probe-failure" && d.cause.contains("container `web`"))
            && ds.iter().any(|d| {
                d.id == "service-no-endpoints"
                    && d.evidence.iter().any(|e| e.text.contains("not Ready"))
            })
    })
    .await;
    assert_eq!(ds[0].id, "probe-failure");
    assert_eq!(
        ds[0].line,
        Some(line_of(&web("", ""), "ports:") + 1),
        "{:#?}",
        ds[0]
    );
    assert!(
        ds[0]
            .evidence
            .iter()
            .any(|e| e.text.contains("Readiness probe failed")),
        "{:#?}",
        ds[0]
    );
    snapshot("local_probe_failure", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}

/// The local cluster runs metrics-server (the metrics API is there): an HPA on CPU whose
/// target's container has no CPU request cannot scale and is diagnosed; with the request it
/// is not. (The metrics API missing altogether is `analyse.rs`'s `hpa-no-metrics`.)
#[tokio::test]
async fn hpa_on_a_container_without_a_request() {
    let hpa = "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web, namespace: NS}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}\n  minReplicas: 2\n  maxReplicas: 5\n  metrics:\n    - type: Resource\n      resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}\n";
    let (client, ns) = setup("doctor-hpa").await;
    let without = web("{}", "web").replace(
        "requests: {cpu: 100m, memory: 128Mi}",
        "requests: {memory: 128Mi}",
    );
    let objects = stack(&format!("{without}---\n{hpa}"), &ns);
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| ids(ds) == ["hpa-cannot-scale"]).await;
    assert!(
        ds[0].cause.contains("have no cpu request"),
        "{}",
        ds[0].cause
    );
    snapshot("local_hpa_no_request", &ns, &ds);

    // Must not: the same HPA on a container with a CPU request, metrics served.
    let (client, ns) = setup("doctor-hpa-ok").await;
    let objects = stack(&format!("{}---\n{hpa}", web("{}", "web")), &ns);
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| ds.is_empty()).await;
    assert_eq!(ids(&ds), Vec::<&str>::new());
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn claim_waits_for_an_unschedulable_pod() {
    let (client, ns) = setup("doctor-wffc").await;
    let yaml = statefulset(
        "postgres",
        "{}",
        r#"        - name: postgres
          image: postgres:17.2
          resources: {requests: {cpu: "64", memory: 1Gi}}
          volumeMounts: [{name: data, mountPath: /var/lib/postgresql/data, subPath: pgdata}]
"#,
        r#"  volumeClaimTemplates:
    - metadata: {name: data}
      spec:
        accessModes: [ReadWriteOnce]
        storageClassName: berth-local-block
        resources: {requests: {storage: 1Gi}}
"#,
    );
    let objects = stack(&yaml, &ns);
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| {
        ids(ds).contains(&"unschedulable")
            && ds.iter().any(|d| {
                d.id == "pvc-pending"
                    && d.evidence
                        .iter()
                        .any(|e| e.text.starts_with("WaitForFirstConsumer"))
            })
    })
    .await;
    let pvc = ds.iter().find(|d| d.id == "pvc-pending").unwrap();
    assert!(
        pvc.cause
            .contains("waits for pod `postgres-0`, which cannot be scheduled"),
        "{}",
        pvc.cause
    );
    snapshot("local_wffc_unschedulable", &ns, &ds);
}

#[tokio::test]
async fn load_balancer_without_a_controller_and_a_misnamed_port() {
    let (client, ns) = setup("doctor-lb").await;
    let yaml = web("{}", "web").replace(
        "spec:\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: http}]\n",
        "spec:\n  type: LoadBalancer\n  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: web-http}]\n",
    );
    let objects = stack(&yaml, &ns);
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| {
        ids(ds) == ["service-port", "load-balancer-pending"]
    })
    .await;
    assert!(
        ds.iter().all(
            |d| d.id != "load-balancer-pending" || d.severity == berth_model::Severity::Warning
        )
    );
    snapshot("local_lb_and_port", &ns, &ds);
}

#[tokio::test]
async fn webhook_whose_service_does_not_exist() {
    let (client, ns) = setup("doctor-webhook").await;
    // failurePolicy Ignore and a group nobody uses: harmless to the other tests on the cluster.
    let yaml = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: NS-webhook}
webhooks:
  - name: validate.berth-test.example.com
    failurePolicy: Ignore
    sideEffects: None
    admissionReviewVersions: [v1]
    clientConfig:
      service: {namespace: NS, name: events-webhook, port: 443}
    rules:
      - {apiGroups: [berth-test.example.com], apiVersions: [v1], operations: [CREATE], resources: [widgets]}
"#;
    let objects = stack(yaml, &ns);
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| {
        ids(ds).contains(&"webhook-no-endpoints")
    })
    .await;
    let mine: Vec<&Diagnosis> = ds.iter().filter(|d| d.object.contains(&ns)).collect();
    assert_eq!(mine.len(), 1, "{ds:#?}");
    assert_eq!(mine[0].severity, berth_model::Severity::Warning);
    let _ =
        Api::<k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration>::all(
            client.clone(),
        )
        .delete(&format!("{ns}-webhook"), &Default::default())
        .await;
    snapshot(
        "local_webhook",
        &ns,
        &mine.into_iter().cloned().collect::<Vec<_>>(),
    );
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn postgres_refusing_a_volume_root_from_its_log() {
    let (client, ns) = setup("doctor-pgdata").await;
    let yaml = statefulset(
        "postgresql",
        "{berth.dev/test-state: crash-loop}",
        r#"        - name: postgres
          image: postgres:16.4
          resources: {requests: {cpu: 250m, memory: 512Mi}}
          volumeMounts:
            - {name: data, mountPath: /var/lib/postgresql/data}
"#,
        r#"  volumeClaimTemplates:
    - metadata: {name: data}
      spec:
        accessModes: [ReadWriteOnce]
        resources: {requests: {storage: 10Gi}}
"#,
    );
    // What postgres:16 prints when PGDATA is the root of a fresh ext4 volume.
    berth_local::testing::serve_logs(
        &client,
        &ns,
        "postgresql-0",
        "postgres",
        &[
            "The files belonging to this database system will be owned by user \"postgres\".",
            "This user must also own the server process.",
            "initdb: error: directory \"/var/lib/postgresql/data\" exists but is not empty",
            "initdb: detail: It contains a lost+found directory, perhaps due to it being a mount point.",
            "initdb: hint: Using a mount point directly as the data directory is not recommended.",
            "Create a subdirectory under the mount point.",
        ],
    )
    .await;
    let objects = stack(&yaml, &ns);
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| {
        ids(ds).contains(&"postgres-lost-found")
    })
    .await;
    assert_eq!(ids(&ds), ["postgres-lost-found"]);
    assert_eq!(
        ds[0].line,
        Some(line_of(&yaml.replace("NS", &ns), "volumeMounts:"))
    );
    snapshot("local_postgres_lost_found", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn crash_loop_behind_a_missing_bucket_from_its_log() {
    let (client, ns) = setup("doctor-bucket").await;
    let yaml = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: model-sensor, namespace: NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: model-sensor}}
  template:
    metadata:
      labels: {app: model-sensor}
      annotations: {berth.dev/test-state: crash-loop}
    spec:
      containers:
        - name: sensor
          image: quay.io/argoproj/argo-events:v1.9.6
          resources: {requests: {cpu: 100m, memory: 128Mi}}
          env:
            - {name: BUCKET, value: models}
"#;
    let objects = stack(yaml, &ns);
    apply(&client, &objects).await;
    let pod = pod_named(&client, &ns, "app=model-sensor").await;
    berth_local::testing::serve_logs(
        &client,
        &ns,
        &pod,
        "sensor",
        &[
            r#"{"level":"info","msg":"starting sensor server","sensorName":"model-sensor"}"#,
            r#"{"level":"fatal","msg":"failed to listen to bucket notifications","error":"NoSuchBucket: The specified bucket does not exist, bucket: models"}"#,
        ],
    )
    .await;
    let ds = diagnose_until(&client, &objects, |ds| ids(ds).contains(&"missing-bucket")).await;
    assert_eq!(ids(&ds), ["missing-bucket"]);
    assert!(ds[0].cause.contains("bucket `models`"), "{}", ds[0].cause);
    snapshot("local_missing_bucket", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn ingress_without_a_controller_and_a_missing_backend() {
    let (client, ns) = setup("doctor-ingress").await;
    let yaml = format!(
        "{}---\n{}",
        web("{}", "web"),
        r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop, namespace: NS}
spec:
  ingressClassName: berth-test-nginx
  rules:
    - host: shop.example.com
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}
          - {path: /api, pathType: Prefix, backend: {service: {name: api, port: {number: 8080}}}}
"#
    );
    let objects = stack(&yaml, &ns);
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| {
        ids(ds) == ["ingress-backend", "ingress-no-address"]
    })
    .await;
    assert_eq!(
        ds[0].line,
        Some(line_of(&yaml, "name: api")),
        "{:#?}",
        ds[0]
    );
    snapshot("local_ingress", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn crd_whose_names_clash_is_not_established() {
    let (client, ns) = setup("doctor-crd-clash").await;
    let crd = |plural: &str, kind: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: {plural}.NS.example.com}}\nspec:\n  group: NS.example.com\n  scope: Namespaced\n  names: {{plural: {plural}, kind: {kind}, listKind: WidgetList}}\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}\n"
        )
    };
    // Another CRD of the group already uses the list kind `WidgetList`.
    let first = stack(&crd("widgets", "Widget"), &ns);
    apply(&client, &first).await;
    let yaml = format!(
        "{}---\napiVersion: NS.example.com/v1\nkind: Gizmo\nmetadata: {{name: g1, namespace: NS}}\nspec: {{size: 3}}\n",
        crd("gizmos", "Gizmo")
    );
    let objects = stack(&yaml, &ns);
    apply(&client, &objects[..1]).await;
    let ds = diagnose_until(&client, &objects, |ds| {
        ids(ds).contains(&"crd-not-established")
            && ds.iter().any(|d| {
                d.evidence.iter().any(|e| e.text.contains("WidgetList"))
                    && d.evidence
                        .iter()
                        .any(|e| e.text.starts_with("Established=False"))
            })
    })
    .await;
    let crds: Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
        Api::all(client.clone());
    for plural in ["widgets", "gizmos"] {
        let _ = crds
            .delete(&format!("{plural}.{ns}.example.com"), &Default::default())
            .await;
    }
    snapshot("local_crd_not_established", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn removed_api_version_is_not_served() {
    let (client, ns) = setup("doctor-removed-api").await;
    // The Boomi Molecule manifests' autoscaler: autoscaling/v2beta2 was removed in 1.26.
    let yaml = r#"
apiVersion: autoscaling/v2beta2
kind: HorizontalPodAutoscaler
metadata: {name: molecule, namespace: NS}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: molecule}
  minReplicas: 3
  maxReplicas: 10
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
"#;
    let objects = stack(yaml, &ns);
    let ds = diagnose(&client, &objects).await.expect("diagnose");
    assert_eq!(ids(&ds), ["api-not-served"]);
    assert_eq!(ds[0].line, Some(line_of(yaml, "apiVersion:")));
    snapshot("local_api_not_served", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn non_root_container_whose_image_runs_as_root() {
    let (client, ns) = setup("doctor-nonroot").await;
    let yaml = web(
        r#"{berth.dev/test-state: config-error, berth.dev/test-message: 'container has runAsNonRoot and image will run as root (pod: "web", container: web)'}"#,
        "web",
    )
    .replace(
        "    spec:\n      containers:",
        "    spec:\n      securityContext: {runAsNonRoot: true}\n      containers:",
    );
    let objects = stack(&yaml, &ns);
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| both_pods(ds, "container-config")).await;
    assert_eq!(ids(&ds), ["container-config"]);
    assert_eq!(ds[0].line, Some(line_of(&yaml, "runAsNonRoot: true")));
    snapshot("local_run_as_non_root", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn crash_loop_quotes_its_last_log_lines() {
    let (client, ns) = setup("doctor-crash-logs").await;
    let yaml = statefulset(
        "orders",
        r#"{berth.dev/test-state: crash-loop, berth.dev/test-exit-code: "1"}"#,
        r#"        - name: orders
          image: registry.example.com/shop/orders:2.3.0
          resources: {requests: {cpu: 100m, memory: 256Mi}}
"#,
        "",
    );
    berth_local::testing::serve_logs(
        &client,
        &ns,
        "orders-0",
        "orders",
        &[
            "orders 2.3.0 starting",
            "loading configuration from /etc/orders/config.yaml",
            "Error: connect ECONNREFUSED kafka:9092",
        ],
    )
    .await;
    let objects = stack(&yaml, &ns);
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| {
        ds.iter().any(|d| {
            d.id == "crash-loop" && d.evidence.iter().any(|e| e.text.contains("ECONNREFUSED"))
        })
    })
    .await;
    assert_eq!(ids(&ds), ["crash-loop"]);
    snapshot("local_crash_loop_logs", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn missing_key_and_service_account_named_from_the_api() {
    let (client, ns) = setup("doctor-refs").await;
    let yaml = r#"
apiVersion: v1
kind: Secret
metadata: {name: flow-db, namespace: NS}
stringData: {username: flow}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: flow, namespace: NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: flow}}
  template:
    metadata:
      labels: {app: flow}
    spec:
      serviceAccountName: flow-runner
      containers:
        - name: flow
          image: manywho/flow:7.2.1
          resources: {requests: {cpu: 100m, memory: 256Mi}}
          env:
            - name: DB_PASSWORD
              valueFrom: {secretKeyRef: {name: flow-db, key: password}}
"#;
    let objects = stack(yaml, &ns);
    apply(&client, &objects).await;
    // No pod can be created without its ServiceAccount: the real ReplicaSet controller says so.
    let ds = diagnose_until(&client, &objects, |ds| {
        ds.iter().filter(|d| d.id == "missing-reference").count() == 2
            && ds
                .iter()
                .any(|d| d.evidence.iter().any(|e| e.text.contains("FailedCreate")))
    })
    .await;
    let causes: Vec<&str> = ds.iter().map(|d| d.cause.as_str()).collect();
    assert!(
        causes
            .iter()
            .any(|c| c.contains("ServiceAccount `flow-runner`")),
        "{causes:#?}"
    );
    assert!(
        causes.iter().any(|c| c.contains("key `password`")),
        "{causes:#?}"
    );
    snapshot("local_missing_references", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn invalid_image_name() {
    let (client, ns) = setup("doctor-image-name").await;
    let yaml = web("{berth.dev/test-state: invalid-image-name}", "web")
        .replace(
            "registry.example.com/shop/web:1.4.2",
            "registry.example.com/Shop/Web:1.4.2",
        )
        .replace("replicas: 2", "replicas: 1");
    let objects = stack(&yaml, &ns);
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| ids(ds).contains(&"image-pull")).await;
    assert!(ds[0].cause.contains("InvalidImageName"), "{}", ds[0].cause);
    snapshot("local_invalid_image_name", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn node_selector_and_a_volume_in_another_zone_by_the_real_scheduler() {
    let (client, ns) = setup("doctor-zones").await;
    // `api` asks for an instance type no node has; `db` is pinned to local-a while its volume
    // lives in local-b (a zonal disk created in another zone, the EBS case).
    let yaml = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      nodeSelector: {node.kubernetes.io/instance-type: m5.2xlarge}
      containers:
        - name: api
          image: registry.example.com/shop/api:3.1.0
          resources: {requests: {cpu: 100m, memory: 128Mi}}
---
apiVersion: v1
kind: PersistentVolume
metadata: {name: NS-data}
spec:
  capacity: {storage: 10Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  claimRef: {namespace: NS, name: data}
  hostPath: {path: /var/lib/berth-test/NS}
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions:
            - {key: topology.kubernetes.io/zone, operator: In, values: [local-b]}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: NS}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  volumeName: NS-data
  resources: {requests: {storage: 10Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      nodeSelector: {topology.kubernetes.io/zone: local-a}
      containers:
        - name: db
          image: postgres:17.2
          resources: {requests: {cpu: 100m, memory: 256Mi}}
          volumeMounts: [{name: data, mountPath: /var/lib/postgresql/data, subPath: pgdata}]
      volumes:
        - {name: data, persistentVolumeClaim: {claimName: data}}
"#;
    let objects = stack(yaml, &ns);
    apply(&client, &objects).await;
    // The PV controller binds the pre-bound claim on its next sync (up to ~15 s).
    let ds = diagnose_until(&client, &objects, |ds| {
        ids(ds) == ["unschedulable", "unschedulable"]
            && ds.iter().any(|d| d.cause.contains("exclude each other"))
    })
    .await;
    // The volume goes before any assertion can fail, so it never outlives the test.
    let _ = Api::<k8s_openapi::api::core::v1::PersistentVolume>::all(client.clone())
        .delete(&format!("{ns}-data"), &Default::default())
        .await;
    let causes: Vec<&str> = ds.iter().map(|d| d.cause.as_str()).collect();
    assert!(
        causes.iter().any(|c| c.contains("instance-type")),
        "{causes:#?}"
    );
    assert!(causes.iter().any(|c| c.contains("local-b")), "{causes:#?}");
    snapshot("local_selector_and_volume_zone", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn claims_without_a_running_provisioner_and_shared_on_block_storage() {
    let (client, ns) = setup("doctor-claims").await;
    let classes = STORAGE_CLASSES.lock().await;
    // The EKS profile's class on a cluster without the EBS CSI driver.
    let yaml = r#"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {name: NS-gp3}
provisioner: ebs.csi.aws.com
volumeBindingMode: Immediate
parameters: {type: gp3}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: NS}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: NS-gp3
  resources: {requests: {storage: 10Gi}}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: uploads, namespace: NS}
spec:
  accessModes: [ReadWriteMany]
  storageClassName: NS-gp3
  resources: {requests: {storage: 10Gi}}
"#;
    let objects = stack(yaml, &ns);
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| {
        ds.iter()
            .filter(|d| {
                d.id == "pvc-pending"
                    && d.evidence
                        .iter()
                        .any(|e| e.text.starts_with("ExternalProvisioning"))
            })
            .count()
            == 2
    })
    .await;
    // The class goes before any assertion can fail, so it never outlives the test.
    let _ = Api::<k8s_openapi::api::storage::v1::StorageClass>::all(client.clone())
        .delete(&format!("{ns}-gp3"), &Default::default())
        .await;
    drop(classes);
    let causes: Vec<&str> = ds.iter().map(|d| d.cause.as_str()).collect();
    assert!(
        causes.iter().any(|c| c.contains("ReadWriteMany")),
        "{causes:#?}"
    );
    snapshot("local_claims_provisioner_rwx", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}

#[tokio::test]
async fn hpa_whose_target_does_not_exist() {
    let (client, ns) = setup("doctor-hpa-target").await;
    let yaml = "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: worker, namespace: NS}\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: worker}\n  minReplicas: 1\n  maxReplicas: 4\n  metrics:\n    - type: Resource\n      resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}\n";
    let objects = stack(yaml, &ns);
    apply(&client, &objects).await;
    let ds = diagnose_until(&client, &objects, |ds| {
        ds.iter().any(|d| {
            d.id == "hpa-cannot-scale"
                && d.evidence.iter().any(|e| e.text.contains("FailedGetScale"))
        })
    })
    .await;
    assert_eq!(ids(&ds), ["hpa-cannot-scale"]);
    snapshot("local_hpa_target_missing", &ns, &ds);
    cleanup(&client, &[&ns]).await;
}
