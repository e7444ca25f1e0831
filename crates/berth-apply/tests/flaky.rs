//! `up` through a loopback proxy that resets connections and answers 503 to a share of
//! requests must still converge, without failing and without duplicating anything.
//!
//! The proxy speaks plain HTTP to berth and forwards with a client of the real local cluster.
//! Deterministic shares: every 7th connection is reset on accept, every 5th request gets a 503
//! Status, every 11th request is forwarded and then its connection dropped before the answer
//! (the write happened, the client never hears of it).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use berth_apply::up::{self, object_from_value};
use berth_apply::{Cluster, ConnectOptions, Event, Inventory, Target, UpOptions};
use berth_model::Profile;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;

#[derive(Default)]
struct Counters {
    connections: AtomicUsize,
    requests: AtomicUsize,
    resets: AtomicUsize,
    unavailable: AtomicUsize,
    lost_answers: AtomicUsize,
}

async fn forward(
    upstream: kube::Client,
    c: Arc<Counters>,
    req: Request<Incoming>,
) -> Result<Response<kube::client::Body>, std::io::Error> {
    let n = c.requests.fetch_add(1, Ordering::SeqCst) + 1;
    if n.is_multiple_of(5) {
        c.unavailable.fetch_add(1, Ordering::SeqCst);
        let body = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "flaky proxy: try again",
            "reason": "ServiceUnavailable", "code": 503});
        return Ok(Response::builder()
            .status(503)
            .header("content-type", "application/json")
            .body(kube::client::Body::from(body.to_string().into_bytes()))
            .expect("static response"));
    }
    let (parts, body) = req.into_parts();
    let bytes = body
        .collect()
        .await
        .map_err(std::io::Error::other)?
        .to_bytes();
    let mut out = Request::builder().method(parts.method).uri(parts.uri);
    for (k, v) in parts.headers.iter() {
        if k != "host" {
            out = out.header(k, v);
        }
    }
    let out = out
        .body(kube::client::Body::from(bytes))
        .map_err(std::io::Error::other)?;
    let resp = upstream.send(out).await.map_err(std::io::Error::other)?;
    if n.is_multiple_of(11) {
        c.lost_answers.fetch_add(1, Ordering::SeqCst);
        return Err(std::io::Error::other("flaky proxy: answer lost"));
    }
    Ok(resp)
}

async fn start_proxy(upstream: kube::Client) -> (u16, Arc<Counters>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let counters = Arc::new(Counters::default());
    let c = counters.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let n = c.connections.fetch_add(1, Ordering::SeqCst) + 1;
            if n.is_multiple_of(7) {
                c.resets.fetch_add(1, Ordering::SeqCst);
                #[allow(deprecated)]
                let _ = stream.set_linger(Some(Duration::ZERO));
                drop(stream);
                continue;
            }
            let upstream = upstream.clone();
            let c = c.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req| forward(upstream.clone(), c.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (port, counters)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn up_through_a_proxy_that_resets_and_answers_503_converges_without_duplicates() {
    berth_apply::install_crypto_provider();
    let real = berth_local::testing::kubeconfig();
    let direct = Cluster::connect(&ConnectOptions {
        kubeconfig: Some(real),
        context: None,
    })
    .await
    .expect("direct");
    let (port, counters) = start_proxy(direct.client.clone()).await;
    let dir = std::env::temp_dir().join(format!("berth-flaky-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: flaky\n  cluster: {{server: \"http://127.0.0.1:{port}\"}}\n\
             users:\n- name: anon\n  user: {{}}\ncontexts:\n- name: flaky\n  context: {{cluster: flaky, user: anon}}\ncurrent-context: flaky\n"
        ),
    )
    .unwrap();
    let flaky = Cluster::connect(&ConnectOptions {
        kubeconfig: Some(kubeconfig),
        context: None,
    })
    .await
    .expect("connect through the proxy");

    let ns = format!("flaky-{port}");
    let mut values_list =
        vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})];
    for i in 0..40 {
        values_list.push(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("c{i}"), "namespace": ns}, "data": {"i": i.to_string()}}));
    }
    for i in 0..5 {
        values_list.push(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": format!("d{i}"), "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": format!("d{i}")}},
                "template": {"metadata": {"labels": {"app": format!("d{i}")}},
                    "spec": {"containers": [{"name": "c", "image": "nginx:1.27.1", "envFrom": [{"configMapRef": {"name": format!("c{i}")}}]}]}}}}));
    }
    let objects: Vec<_> = values_list
        .into_iter()
        .map(|v| object_from_value(v, "app"))
        .collect();
    let values = BTreeMap::new();
    let target = Target {
        stack: "flaky",
        namespace: &ns,
        objects: &objects,
        components: &[],
        values: &values,
        profile: Profile::Local,
    };
    let rules = berth_apply::BerthHealth {
        load_balancer_controller: false,
    };
    let sink = |_e: Event| {};
    let opts = UpOptions {
        timeout: Duration::from_secs(180),
        ..UpOptions::default()
    };
    let report = up::up(&flaky, target, &opts, &rules, &sink)
        .await
        .expect("up through the flaky proxy");
    assert_eq!(
        report.created + report.configured + report.unchanged,
        objects.len()
    );
    let again = up::up(&flaky, target, &opts, &rules, &sink)
        .await
        .expect("second up through the flaky proxy");
    assert_eq!(again.configured + again.created, 0, "{again:?}");

    // The proxy really interfered.
    assert!(counters.unavailable.load(Ordering::SeqCst) > 0);
    assert!(counters.resets.load(Ordering::SeqCst) > 0);
    assert!(counters.lost_answers.load(Ordering::SeqCst) > 0);

    // Nothing duplicated: exactly the objects, one revision per run, one lock, one parent.
    let cms: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
        kube::Api::namespaced(direct.client.clone(), &ns);
    let names: Vec<String> = cms
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert_eq!(
        names
            .iter()
            .filter(|n| n.starts_with('c') && n[1..].parse::<u32>().is_ok())
            .count(),
        40,
        "{names:?}"
    );
    let rs: kube::Api<k8s_openapi::api::apps::v1::ReplicaSet> =
        kube::Api::namespaced(direct.client.clone(), &ns);
    assert_eq!(
        rs.list(&Default::default()).await.unwrap().items.len(),
        5,
        "a rollout happened twice"
    );
    let inv = Inventory::new("flaky", &ns);
    let history = inv
        .history(
            &direct,
            tokio::time::Instant::now() + Duration::from_secs(30),
        )
        .await
        .unwrap();
    assert_eq!(
        history.iter().map(|h| h.revision).collect::<Vec<_>>(),
        vec![1, 2]
    );
}
