//! Starting, reusing, repairing and stopping a local cluster of its own (not the shared test
//! cluster): `up` is idempotent, repairs a cluster whose process died, and `down` leaves no
//! process and no listening port behind.

use std::time::Duration;

use berth_local::process::listening;

#[tokio::test]
async fn up_reuses_repairs_and_down_leaves_nothing_running() {
    let name = format!("lifecycle-{}", std::process::id());
    let opts = berth_local::Options {
        name: name.clone(),
        nodes: 2,
        ..Default::default()
    };

    let first = berth_local::up(&opts).await.expect("first up");
    assert!(!first.reused);
    assert!(first.healthy(), "{:?}", first.processes);
    let names: Vec<&str> = first
        .processes
        .iter()
        .map(|(p, _)| p.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "etcd",
            "kube-apiserver",
            "kube-controller-manager",
            "kube-scheduler",
            "kwok",
            "metrics-server"
        ]
    );

    // A second `up` finds it healthy and starts nothing.
    let second = berth_local::up(&opts).await.expect("second up");
    assert!(second.reused);
    assert_eq!(
        first
            .processes
            .iter()
            .map(|(p, _)| p.pid)
            .collect::<Vec<_>>(),
        second
            .processes
            .iter()
            .map(|(p, _)| p.pid)
            .collect::<Vec<_>>()
    );

    // Kill the scheduler behind berth's back: `up` notices and repairs the cluster.
    let scheduler = &second.processes[3].0;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(scheduler.pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    for _ in 0..100 {
        if !scheduler.alive() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!berth_local::status(&name).unwrap().healthy());
    let repaired = berth_local::up(&opts).await.expect("repairing up");
    assert!(!repaired.reused && repaired.healthy());
    // Only the scheduler, on the port it had.
    assert_eq!(repaired.started, ["kube-scheduler"]);
    assert_eq!(repaired.processes[3].0.port, scheduler.port);

    // Objects survive the restart: the data stays in etcd.
    let client = berth_local::client(&repaired.kubeconfig).await.unwrap();
    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client);
    assert_eq!(
        nodes.list(&Default::default()).await.unwrap().items.len(),
        2
    );

    let procs: Vec<_> = repaired.processes.iter().map(|(p, _)| p.clone()).collect();
    let stopped = berth_local::down(&name, Duration::from_secs(10), true).expect("down");
    // metrics-server too: nothing of the cluster keeps running.
    assert_eq!(stopped.len(), 6);
    for p in &procs {
        assert!(
            !p.alive(),
            "{} (pid {}) still runs after down",
            p.name,
            p.pid
        );
        for port in std::iter::once(p.port).chain(p.other_ports.iter().copied()) {
            assert!(
                !listening(port),
                "{} port {port} still listening after down",
                p.name
            );
        }
        // Nothing of its process group either.
        assert!(
            nix::sys::signal::killpg(nix::unistd::Pid::from_raw(p.pid), None).is_err(),
            "process group of {} still exists",
            p.name
        );
    }
    assert!(
        !berth_local::Layout::of(&name).dir.exists(),
        "--purge removed the state"
    );
}
