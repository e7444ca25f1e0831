//! A killed kube-apiserver is repaired on the address it had: `up` starts it again on its
//! recorded port, the kubeconfig stays byte-identical, and a client made before the kill (and
//! its watch) carries on. Only when another process holds the port does the API server move,
//! and `up` says so.
//!
//! A test binary of its own: it kills the API server of a cluster, so each test starts a
//! cluster of its own (`repair-<pid>-<test>`), one test at a time, and removes it at the end.
//! The time from the kill to the API server answering again is printed (run with
//! `--nocapture` to see it); it is measured, not asserted.

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use berth_local::process::Proc;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::api::{ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// One cluster at a time: two at once would share the machine's few cores for nothing.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A cluster of the test's own, stopped and deleted when the test ends, failed or not.
struct OwnCluster {
    opts: berth_local::Options,
}

impl OwnCluster {
    fn new(test: &str) -> OwnCluster {
        OwnCluster {
            opts: berth_local::Options {
                name: format!("repair-{}-{test}", std::process::id()),
                nodes: 2,
                ..Default::default()
            },
        }
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        if let Err(e) = berth_local::down(&self.opts.name, Duration::from_secs(5), true) {
            eprintln!("could not remove cluster {}: {e}", self.opts.name);
        }
    }
}

fn component(status: &berth_local::Status, name: &str) -> Proc {
    status
        .processes
        .iter()
        .find(|(p, _)| p.name == name)
        .map(|(p, _)| p.clone())
        .unwrap_or_else(|| panic!("{name} missing from {:?}", status.processes))
}

/// SIGKILL, as a crash or the OOM killer would; returns once the process is gone.
fn kill_hard(p: &Proc) {
    kill(Pid::from_raw(p.pid), Signal::SIGKILL).expect("SIGKILL");
    let deadline = Instant::now() + Duration::from_secs(10);
    while p.alive() {
        assert!(Instant::now() < deadline, "{} survived SIGKILL", p.name);
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn take_port(port: u16) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(("127.0.0.1", port)) {
            Ok(l) => return l,
            Err(e) if Instant::now() > deadline => panic!("could not take port {port}: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": {"k": "v"},
    }))
    .expect("a ConfigMap")
}

async fn node_count(client: &Client) -> usize {
    Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .expect("list nodes")
        .items
        .len()
}

fn pids(status: &berth_local::Status) -> Vec<(String, i32)> {
    status
        .processes
        .iter()
        .map(|(p, _)| (p.name.clone(), p.pid))
        .collect()
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).expect("read the kubeconfig")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_api_server_returns_on_its_address_and_old_clients_reconnect() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = OwnCluster::new("same");
    let first = berth_local::up(&cluster.opts).await.expect("first up");
    let kubeconfig = read(&first.kubeconfig);
    let api = component(&first, "kube-apiserver");

    // A client and a watch made before the kill.
    let client = berth_local::client(&first.kubeconfig)
        .await
        .expect("client");
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let watch_errors = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let errors = watch_errors.clone();
    let watch = tokio::spawn(async move {
        let mut ready = Some(ready_tx);
        let mut events = watcher(config_maps, watcher::Config::default())
            .default_backoff()
            .boxed();
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::InitDone) => {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(());
                    }
                }
                Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) => {
                    let _ = seen_tx.send(cm.metadata.name.unwrap_or_default());
                }
                Ok(_) => {}
                Err(_) => {
                    errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(30), ready_rx)
        .await
        .expect("the watch lists within 30s")
        .expect("the watch task runs");

    let killed = Instant::now();
    kill_hard(&api);
    assert!(!berth_local::status(&cluster.opts.name).unwrap().healthy());

    let repaired = berth_local::up(&cluster.opts).await.expect("repairing up");
    let up_took = killed.elapsed();
    assert_eq!(repaired.started, ["kube-apiserver"], "only the dead one");
    assert!(repaired.moved.is_empty(), "{:?}", repaired.moved);
    assert!(repaired.healthy(), "{:?}", repaired.processes);
    assert_eq!(repaired.server, first.server);
    assert_eq!(component(&repaired, "kube-apiserver").port, api.port);
    assert_ne!(component(&repaired, "kube-apiserver").pid, api.pid);
    for other in [
        "etcd",
        "kube-controller-manager",
        "kube-scheduler",
        "kwok",
        "metrics-server",
    ] {
        assert_eq!(
            component(&repaired, other).pid,
            component(&first, other).pid,
            "{other} kept running"
        );
    }
    assert!(
        read(&repaired.kubeconfig) == kubeconfig,
        "the kubeconfig changed"
    );

    // The client made before the kill works again.
    let old_api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let answered = loop {
        match old_api.list(&ListParams::default()).await {
            Ok(_) => break killed.elapsed(),
            Err(e) if killed.elapsed() < Duration::from_secs(60) => {
                eprintln!("old client not yet through: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the client made before the kill does not get through: {e}"),
        }
    };
    old_api
        .create(&PostParams::default(), &config_map("after-repair"))
        .await
        .expect("create through the old client");
    let seen = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(name) = seen_rx.recv().await {
            if name == "after-repair" {
                return true;
            }
        }
        false
    })
    .await;
    let watch_saw = killed.elapsed();
    watch.abort();
    assert!(
        matches!(seen, Ok(true)),
        "the watch started before the kill did not see a ConfigMap created after the repair"
    );
    eprintln!(
        "repair on the same port: kill -> `up` returned {:.2}s, -> old client answered {:.2}s, \
         -> pre-kill watch saw a new ConfigMap {:.2}s ({} watch errors in between)",
        up_took.as_secs_f64(),
        answered.as_secs_f64(),
        watch_saw.as_secs_f64(),
        watch_errors.load(std::sync::atomic::Ordering::Relaxed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_server_whose_port_was_taken_moves_and_says_so() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = OwnCluster::new("moved");
    let first = berth_local::up(&cluster.opts).await.expect("first up");
    let kubeconfig = read(&first.kubeconfig);
    let api = component(&first, "kube-apiserver");

    let killed = Instant::now();
    kill_hard(&api);
    // Another process takes the port before `up` runs (once the dead server's sockets are
    // closed, a few milliseconds after it is gone).
    let squatter = take_port(api.port);

    let repaired = berth_local::up(&cluster.opts).await.expect("repairing up");
    let up_took = killed.elapsed();
    let new_port = component(&repaired, "kube-apiserver").port;
    assert_ne!(new_port, api.port);
    assert_eq!(
        repaired.moved,
        [berth_local::Moved {
            component: "kube-apiserver".into(),
            from: api.port,
            to: new_port,
        }]
    );
    let said = repaired.moved[0].to_string();
    assert!(
        said.contains(&format!("127.0.0.1:{new_port}")) && said.contains("another process"),
        "{said}"
    );
    assert_eq!(repaired.server, format!("https://127.0.0.1:{new_port}"));
    // What reads the API server's address from the kubeconfig at start is started again.
    assert_eq!(
        repaired.started,
        [
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
            "metrics-server"
        ]
    );
    assert_eq!(
        component(&repaired, "etcd").pid,
        component(&first, "etcd").pid
    );
    assert!(repaired.healthy(), "{:?}", repaired.processes);
    assert!(
        read(&repaired.kubeconfig) != kubeconfig,
        "the kubeconfig names the new port"
    );

    let client = berth_local::client(&repaired.kubeconfig)
        .await
        .expect("client from the new kubeconfig");
    assert_eq!(node_count(&client).await, 2);
    eprintln!(
        "repair on a new port: kill -> `up` returned {:.2}s",
        up_took.as_secs_f64()
    );
    drop(squatter);

    // The next `up` finds it healthy on the new port and changes nothing.
    let again = berth_local::up(&cluster.opts).await.expect("third up");
    assert!(again.reused && again.moved.is_empty());
    assert_eq!(pids(&again), pids(&repaired));
    assert_eq!(again.server, repaired.server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_etcd_and_kwok_return_on_their_ports() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = OwnCluster::new("etcd-kwok");
    let first = berth_local::up(&cluster.opts).await.expect("first up");
    let kubeconfig = read(&first.kubeconfig);
    let client = berth_local::client(&first.kubeconfig)
        .await
        .expect("client");
    let etcd = component(&first, "etcd");
    let kwok = component(&first, "kwok");

    let killed = Instant::now();
    kill_hard(&etcd);
    kill_hard(&kwok);
    let repaired = berth_local::up(&cluster.opts).await.expect("repairing up");
    let up_took = killed.elapsed();
    assert_eq!(repaired.started, ["etcd", "kwok"]);
    assert!(repaired.moved.is_empty(), "{:?}", repaired.moved);
    assert!(repaired.healthy(), "{:?}", repaired.processes);
    let new_etcd = component(&repaired, "etcd");
    assert_eq!(
        (new_etcd.port, &new_etcd.other_ports),
        (etcd.port, &etcd.other_ports)
    );
    assert_eq!(component(&repaired, "kwok").port, kwok.port);
    assert_eq!(
        component(&repaired, "kube-apiserver").pid,
        component(&first, "kube-apiserver").pid,
        "the API server rode out etcd's restart"
    );
    assert!(
        read(&repaired.kubeconfig) == kubeconfig,
        "the kubeconfig changed"
    );

    // Every node still sends the API server to kwok's port for logs.
    for node in Api::<Node>::all(client.clone())
        .list(&ListParams::default())
        .await
        .expect("the client made before the kill lists nodes")
        .items
    {
        let port = node
            .status
            .and_then(|s| s.daemon_endpoints)
            .and_then(|d| d.kubelet_endpoint)
            .map(|e| e.port);
        assert_eq!(port, Some(i32::from(kwok.port)));
    }
    eprintln!(
        "repair of etcd and kwok: kill -> `up` returned {:.2}s",
        up_took.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_restarts_keep_every_port() {
    let _one = ONE_AT_A_TIME.lock().await;
    let cluster = OwnCluster::new("full");
    let first = berth_local::up(&cluster.opts).await.expect("first up");
    let kubeconfig = read(&first.kubeconfig);
    let ports = |s: &berth_local::Status| -> Vec<(String, u16, Vec<u16>)> {
        s.processes
            .iter()
            .map(|(p, _)| (p.name.clone(), p.port, p.other_ports.clone()))
            .collect()
    };

    // Started by a berth with another setup: every process restarts, on the same ports.
    let state_file = berth_local::Layout::of(&cluster.opts.name)
        .dir
        .join("cluster.json");
    let mut state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
    state["setup"] = "an older berth".into();
    std::fs::write(&state_file, state.to_string()).unwrap();
    let restarted = berth_local::up(&cluster.opts)
        .await
        .expect("up after a setup change");
    assert_eq!(restarted.started.len(), 6, "{:?}", restarted.started);
    assert!(restarted.moved.is_empty(), "{:?}", restarted.moved);
    assert_eq!(ports(&restarted), ports(&first));
    assert!(
        read(&restarted.kubeconfig) == kubeconfig,
        "the kubeconfig changed"
    );

    // An API server that runs but does not answer (stopped, as a hung process): the same.
    let api = component(&restarted, "kube-apiserver");
    kill(Pid::from_raw(api.pid), Signal::SIGSTOP).expect("SIGSTOP");
    let hung = Instant::now();
    let unstuck = berth_local::up(&cluster.opts)
        .await
        .expect("up after a hang");
    assert_eq!(unstuck.started.len(), 6, "{:?}", unstuck.started);
    assert!(unstuck.moved.is_empty(), "{:?}", unstuck.moved);
    assert_eq!(ports(&unstuck), ports(&first));
    assert!(
        read(&unstuck.kubeconfig) == kubeconfig,
        "the kubeconfig changed"
    );
    let client = berth_local::client(&unstuck.kubeconfig).await.unwrap();
    assert_eq!(node_count(&client).await, 2);
    eprintln!(
        "full restart of a hung API server: `up` returned after {:.2}s",
        hung.elapsed().as_secs_f64()
    );
}
