//! berth's local cluster: a real Kubernetes control plane on 127.0.0.1, with no Docker.
//!
//! `up` runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok as plain
//! processes (built from source on first use, see [`binaries`]), generates their PKI and a
//! kubeconfig ([`pki`]), creates kwok nodes spread over three zones and the storage of berth's
//! `local` profile ([`objects`]), and returns when the nodes are Ready and pods can be created.
//! Everything listens on 127.0.0.1 only; pod and service IPs are fake and never dialled.
//!
//! State lives in `<state root>/<name>/` (see [`paths`]): `pki/`, `etcd/`, `logs/`,
//! `kubeconfig` and `cluster.json` (the processes and ports). A lock file serialises `up` and
//! `down` of one cluster across processes, so test binaries can share one cluster.
//!
//! # Failure states for tests
//! kwok plays the kubelet, following [`STAGES`]. A pod annotated `berth.dev/test-state` gets:
//! - `image-pull-backoff` / `err-image-pull` / `invalid-image-name`: containers waiting with
//!   that reason (phase Pending);
//! - `config-error`: containers waiting with `CreateContainerConfigError`;
//! - `crash-loop`: waiting `CrashLoopBackOff`, `berth.dev/test-restarts` restarts (default 5),
//!   last state terminated with exit code `berth.dev/test-exit-code` (default 1);
//! - `crash-once`: like `crash-loop`, then Running and Ready two seconds later;
//! - `pull-failing`: `ErrImagePull` and `ImagePullBackOff` in turn, as a kubelet retrying a pull
//!   that keeps failing;
//! - `oom-killed`: like `crash-loop` with last state `OOMKilled`, exit code 137;
//! - `not-ready`: running but never Ready;
//! - `readiness-failing`: like `not-ready`, and kwok records the `Unhealthy` event a kubelet
//!   writes for a failing readiness probe;
//! - `failed`: phase Failed, containers terminated with exit code `berth.dev/test-exit-code`
//!   (default 1), as a Job's failed attempt (the real Job controller then counts it).
//!
//! `berth.dev/test-message` overrides the message. Unschedulable pods need no annotation: the
//! real scheduler leaves pods Pending when their requests exceed the nodes' allocatable.
//!
//! # Container logs for tests
//! kwok serves a pod's container logs from a file named by a `Logs` object (kwok.x-k8s.io) of
//! the pod's name; [`testing::serve_logs`] writes such a file and object, so `kubectl logs` and
//! berth doctor read real log lines through the API server.

pub mod binaries;
pub mod objects;
pub mod paths;
pub mod pki;
pub mod process;
pub mod testing;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

use crate::process::Proc;

/// kwok's stages: the normal node and pod lifecycle plus the test failure states.
pub const STAGES: &str = include_str!("stages.yaml");

/// Revision of how `start` runs the processes (flags, objects created before kwok). Raise it
/// when that changes, so running clusters are restarted with the new setup.
const SETUP_REVISION: &str = "2: kwok --enable-crds=Logs, kubelet port set on every start";

/// A fingerprint of the stages, the setup revision and the Kubernetes version (FNV-1a, stable
/// across builds).
pub fn setup_fingerprint() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [STAGES, SETUP_REVISION, binaries::kubernetes_version()] {
        for b in part.bytes().chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// What went wrong with the local cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "Go is needed to build the local cluster's binaries on first use, and `go` was not found.\n\
         Install Go 1.24 or newer (Debian/Ubuntu: `apt-get install golang-1.24` or newer, or a release from go.dev), \
         then run `berth local up` again."
    )]
    GoMissing,
    #[error("Go 1.24 or newer is needed to build the local cluster; found: {0}")]
    GoTooOld(String),
    #[error("building the local cluster failed: {0}")]
    Build(String),
    #[error("starting the local cluster failed: {0}")]
    Start(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("generating the cluster's certificates failed: {0}")]
    Pki(String),
    #[error("talking to the local API server ({what}): {source}")]
    Api {
        what: &'static str,
        source: Box<kube::Error>,
    },
    #[error("the local cluster `{0}` does not exist; start it with `berth local up`")]
    NotCreated(String),
}

impl Error {
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
        move |source| Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    pub(crate) fn api(what: &'static str) -> impl FnOnce(kube::Error) -> Error {
        move |source| Error::Api {
            what,
            source: Box::new(source),
        }
    }
}

/// How the local cluster is laid out.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Options {
    /// Name of the cluster (its state folder and kubeconfig context `berth-local-<name>`).
    pub name: String,
    pub nodes: u32,
    pub zones: Vec<String>,
    pub region: String,
    /// Allocatable CPU of each node (a Kubernetes quantity).
    pub cpu: String,
    /// Allocatable memory of each node (a Kubernetes quantity).
    pub memory: String,
    pub pods: u32,
    /// Pre-created volumes per zone (block) and in all (shared).
    pub volumes_per_zone: u32,
    pub volume_size: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            name: "default".into(),
            nodes: 3,
            zones: vec!["local-a".into(), "local-b".into(), "local-c".into()],
            region: "local".into(),
            cpu: "8".into(),
            memory: "32Gi".into(),
            pods: 110,
            volumes_per_zone: 10,
            volume_size: "100Gi".into(),
        }
    }
}

/// What `cluster.json` records of a running cluster.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub options: Options,
    pub kubernetes: String,
    /// [`setup_fingerprint`] of the berth that started the processes: a cluster started by a
    /// berth with other stages or flags is restarted (on the same data) rather than reused.
    #[serde(default)]
    pub setup: String,
    pub api_port: u16,
    pub processes: Vec<Proc>,
}

/// A cluster's folder and the files in it.
#[derive(Clone, Debug)]
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    pub fn of(name: &str) -> Layout {
        Layout {
            dir: paths::state_root().join(name),
        }
    }
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.join("kubeconfig")
    }
    fn state(&self) -> PathBuf {
        self.dir.join("cluster.json")
    }
    fn pki(&self) -> PathBuf {
        self.dir.join("pki")
    }
    fn logs(&self) -> PathBuf {
        self.dir.join("logs")
    }

    fn read_state(&self) -> Option<State> {
        let text = std::fs::read_to_string(self.state()).ok()?;
        serde_json::from_str(&text).ok()
    }

    fn write_state(&self, state: &State) -> Result<(), Error> {
        let text = serde_json::to_string_pretty(state).expect("state serialises");
        let tmp = self.state().with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(Error::io(&tmp))?;
        std::fs::rename(&tmp, self.state()).map_err(Error::io(&self.state()))
    }

    /// An exclusive lock on the cluster, held until the returned guard is dropped.
    fn lock(&self) -> Result<Flock<File>, Error> {
        std::fs::create_dir_all(&self.dir).map_err(Error::io(&self.dir))?;
        let path = self.dir.join("lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::io(&path))?;
        Flock::lock(f, FlockArg::LockExclusive).map_err(|(_, e)| Error::io(&path)(e.into()))
    }
}

/// Installs aws-lc-rs as rustls' process-wide crypto provider (kube builds its TLS config from
/// it). Idempotent; every berth entry point that talks to a cluster calls it.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A kube client for the cluster whose kubeconfig is at `path`.
pub async fn client(path: &Path) -> Result<kube::Client, Error> {
    install_crypto_provider();
    let kc = Kubeconfig::read_from(path)
        .map_err(|e| Error::Start(format!("{}: {e}", path.display())))?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .map_err(|e| Error::Start(format!("{}: {e}", path.display())))?;
    kube::Client::try_from(config).map_err(Error::api("build client"))
}

/// The outcome of `up` and what `status` reports.
#[derive(Clone, Debug, Serialize)]
pub struct Status {
    pub name: String,
    pub kubeconfig: PathBuf,
    pub server: String,
    pub kubernetes: String,
    /// Each process and whether it is alive.
    pub processes: Vec<(Proc, bool)>,
    /// True when `up` found a healthy cluster and started nothing.
    pub reused: bool,
}

impl Status {
    pub fn healthy(&self) -> bool {
        !self.processes.is_empty() && self.processes.iter().all(|(_, alive)| *alive)
    }
}

async fn api_ready(kubeconfig: &Path) -> bool {
    let Ok(client) = client(kubeconfig).await else {
        return false;
    };
    let req = http_get("/readyz");
    matches!(
        tokio::time::timeout(Duration::from_secs(3), client.request_text(req)).await,
        Ok(Ok(body)) if body.trim() == "ok"
    )
}

fn http_get(path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path)
        .body(Vec::new())
        .expect("a GET request builds")
}

/// Starts the cluster, or reuses it when it is healthy, or repairs it when some of its
/// processes died. Returns when nodes are Ready and the default ServiceAccount exists.
pub async fn up(opts: &Options) -> Result<Status, Error> {
    let layout = Layout::of(&opts.name);
    let _lock = layout.lock()?;
    let bins = binaries::ensure_control_plane()?;

    if let Some(state) = layout.read_state() {
        let all_alive = !state.processes.is_empty() && state.processes.iter().all(Proc::alive);
        if all_alive
            && state.options == *opts
            && state.setup == setup_fingerprint()
            && api_ready(&layout.kubeconfig()).await
        {
            let client = client(&layout.kubeconfig()).await?;
            objects::ensure_nodes(&client, opts).await?;
            objects::ensure_storage(&client, opts).await?;
            if let Some(kwok) = state.processes.iter().find(|p| p.name == "kwok") {
                objects::set_kubelet_port(&client, opts, kwok.port).await?;
            }
            objects::wait_ready(&client, opts, Duration::from_secs(60)).await?;
            return Ok(status_of(&layout, &state, true));
        }
        // Stale or changed: stop whatever is left, then start afresh on the same data.
        for p in state.processes.iter().rev() {
            p.stop(Duration::from_secs(10));
        }
    }

    match start(&layout, &bins, opts).await {
        Ok(state) => Ok(status_of(&layout, &state, false)),
        Err(e) => {
            // Leave nothing running behind a failed start.
            if let Some(state) = layout.read_state() {
                for p in state.processes.iter().rev() {
                    p.stop(Duration::from_secs(5));
                }
            }
            Err(e)
        }
    }
}

fn status_of(layout: &Layout, state: &State, reused: bool) -> Status {
    Status {
        name: state.options.name.clone(),
        kubeconfig: layout.kubeconfig(),
        server: format!("https://127.0.0.1:{}", state.api_port),
        kubernetes: state.kubernetes.clone(),
        processes: state
            .processes
            .iter()
            .map(|p| (p.clone(), p.alive()))
            .collect(),
        reused,
    }
}

fn write_secret_file(path: &Path, text: &str) -> Result<(), Error> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = File::options()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(Error::io(path))?;
    f.write_all(text.as_bytes()).map_err(Error::io(path))
}

/// Reads the cluster's PKI from `pki/`, generating it on first start.
fn ensure_pki(layout: &Layout) -> Result<(), Error> {
    let dir = layout.pki();
    if dir.join("sa.pub").is_file() {
        return Ok(());
    }
    std::fs::create_dir_all(&dir).map_err(Error::io(&dir))?;
    let pki = pki::generate()?;
    for (file, text) in [
        ("ca.crt", &pki.ca_cert),
        ("ca.key", &pki.ca_key),
        ("admin.crt", &pki.admin_cert),
        ("admin.key", &pki.admin_key),
        ("sa.key", &pki.sa_key),
        ("sa.pub", &pki.sa_pub),
    ] {
        write_secret_file(&dir.join(file), text)?;
    }
    Ok(())
}

async fn start(layout: &Layout, bins: &binaries::Binaries, opts: &Options) -> Result<State, Error> {
    for d in [layout.logs(), layout.dir.join("etcd")] {
        std::fs::create_dir_all(&d).map_err(Error::io(&d))?;
    }
    ensure_pki(layout)?;
    let pki = layout.pki();
    let f = |name: &str| pki.join(name).display().to_string();
    let log = |name: &str| layout.logs().join(format!("{name}.log"));
    let kubeconfig = layout.kubeconfig().display().to_string();

    let mut state = State {
        options: opts.clone(),
        kubernetes: binaries::kubernetes_version().to_string(),
        setup: setup_fingerprint(),
        api_port: 0,
        processes: Vec::new(),
    };
    let launch = |state: &mut State, proc: Proc| -> Result<(), Error> {
        state.processes.push(proc);
        layout.write_state(state)
    };

    // etcd
    let [etcd_port, peer_port] = process::free_ports()?;
    let client_url = format!("http://127.0.0.1:{etcd_port}");
    let peer_url = format!("http://127.0.0.1:{peer_port}");
    let etcd_args = vec![
        "--name=berth-local".to_string(),
        format!("--data-dir={}", layout.dir.join("etcd").display()),
        format!("--listen-client-urls={client_url}"),
        format!("--advertise-client-urls={client_url}"),
        format!("--listen-peer-urls={peer_url}"),
        format!("--initial-advertise-peer-urls={peer_url}"),
        format!("--initial-cluster=berth-local={peer_url}"),
        "--auto-compaction-retention=1".into(),
        "--quota-backend-bytes=8589934592".into(),
        "--unsafe-no-fsync=true".into(),
        "--log-level=warn".into(),
    ];
    let mut etcd = process::spawn("etcd", &bins.etcd, &etcd_args, etcd_port, &log("etcd"))?;
    etcd.other_ports.push(peer_port);
    launch(&mut state, etcd.clone())?;
    process::wait_listening(&etcd, Duration::from_secs(30))?;

    // kube-apiserver
    let [api_port] = process::free_ports()?;
    state.api_port = api_port;
    let server = format!("https://127.0.0.1:{api_port}");
    let kc_text = pki::kubeconfig(
        &server,
        &format!("berth-local-{}", opts.name),
        &read(&pki.join("ca.crt"))?,
        &read(&pki.join("admin.crt"))?,
        &read(&pki.join("admin.key"))?,
    );
    write_secret_file(&layout.kubeconfig(), &kc_text)?;
    let api_args = vec![
        format!("--etcd-servers={client_url}"),
        "--etcd-prefix=/registry".into(),
        "--bind-address=127.0.0.1".into(),
        "--advertise-address=127.0.0.1".into(),
        format!("--secure-port={api_port}"),
        "--endpoint-reconciler-type=none".into(),
        "--service-cluster-ip-range=10.96.0.0/16".into(),
        "--allow-privileged=true".into(),
        "--authorization-mode=Node,RBAC".into(),
        format!("--client-ca-file={}", f("ca.crt")),
        format!("--tls-cert-file={}", f("admin.crt")),
        format!("--tls-private-key-file={}", f("admin.key")),
        format!("--kubelet-client-certificate={}", f("admin.crt")),
        format!("--kubelet-client-key={}", f("admin.key")),
        "--kubelet-preferred-address-types=InternalIP".into(),
        format!("--proxy-client-cert-file={}", f("admin.crt")),
        format!("--proxy-client-key-file={}", f("admin.key")),
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
        format!("--service-account-key-file={}", f("sa.pub")),
        format!("--service-account-signing-key-file={}", f("sa.key")),
        format!(
            "--cert-dir={}",
            layout.dir.join("apiserver-certs").display()
        ),
        "--profiling=false".into(),
    ];
    let api = process::spawn(
        "kube-apiserver",
        &bins.kube_apiserver,
        &api_args,
        api_port,
        &log("kube-apiserver"),
    )?;
    launch(&mut state, api.clone())?;
    process::wait_listening(&api, Duration::from_secs(60))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while !api_ready(&layout.kubeconfig()).await {
        if !api.alive() || std::time::Instant::now() > deadline {
            return Err(Error::Start(format!(
                "kube-apiserver did not become ready; last lines of {}:\n{}",
                api.log.display(),
                api.log_tail(15)
            )));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Nodes and storage exist before kwok starts, so kwok finds them with their capacity set.
    let client = client(&layout.kubeconfig()).await?;
    objects::ensure_nodes(&client, opts).await?;
    objects::ensure_storage(&client, opts).await?;
    objects::ensure_kwok_crds(&client, Duration::from_secs(30)).await?;
    let [kcm_port, sched_port, kwok_port] = process::free_ports()?;
    objects::set_kubelet_port(&client, opts, kwok_port).await?;

    let component_args = |port: u16| {
        vec![
            format!("--kubeconfig={kubeconfig}"),
            format!("--authentication-kubeconfig={kubeconfig}"),
            format!("--authorization-kubeconfig={kubeconfig}"),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={port}"),
            "--leader-elect=false".into(),
            "--kube-api-qps=500".into(),
            "--kube-api-burst=1000".into(),
        ]
    };
    let mut kcm_args = component_args(kcm_port);
    kcm_args.extend([
        format!("--root-ca-file={}", f("ca.crt")),
        format!("--service-account-private-key-file={}", f("sa.key")),
        "--use-service-account-credentials=false".into(),
        "--node-monitor-period=5s".into(),
        "--node-monitor-grace-period=40s".into(),
        "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route".into(),
    ]);
    let kcm = process::spawn(
        "kube-controller-manager",
        &bins.kube_controller_manager,
        &kcm_args,
        kcm_port,
        &log("kube-controller-manager"),
    )?;
    launch(&mut state, kcm.clone())?;

    let sched = process::spawn(
        "kube-scheduler",
        &bins.kube_scheduler,
        &component_args(sched_port),
        sched_port,
        &log("kube-scheduler"),
    )?;
    launch(&mut state, sched.clone())?;

    let stages = layout.dir.join("kwok-stages.yaml");
    std::fs::write(&stages, STAGES).map_err(Error::io(&stages))?;
    let kwok_args = vec![
        format!("--kubeconfig={kubeconfig}"),
        format!("--config={}", stages.display()),
        "--enable-crds=Logs".into(),
        "--manage-all-nodes=true".into(),
        "--node-ip=127.0.0.1".into(),
        format!("--node-port={kwok_port}"),
        format!("--server-address=127.0.0.1:{kwok_port}"),
        "--node-lease-duration-seconds=40".into(),
        "--cidr=10.244.0.1/16".into(),
        format!("--tls-cert-file={}", f("admin.crt")),
        format!("--tls-private-key-file={}", f("admin.key")),
    ];
    let kwok = process::spawn("kwok", &bins.kwok, &kwok_args, kwok_port, &log("kwok"))?;
    launch(&mut state, kwok.clone())?;

    for p in [&kcm, &sched, &kwok] {
        process::wait_listening(p, Duration::from_secs(60))?;
    }
    objects::wait_ready(&client, opts, Duration::from_secs(90)).await?;
    Ok(state)
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(Error::io(path))
}

/// Stops every process of the cluster (SIGTERM, SIGKILL after `grace`) and returns what was
/// stopped. Keeps the cluster's data (etcd, PKI) unless `purge`, in which case its folder goes.
pub fn down(name: &str, grace: Duration, purge: bool) -> Result<Vec<Proc>, Error> {
    let layout = Layout::of(name);
    if !layout.dir.exists() {
        return Ok(Vec::new());
    }
    let lock = layout.lock()?;
    let mut stopped = Vec::new();
    if let Some(mut state) = layout.read_state() {
        for p in state.processes.iter().rev() {
            if p.alive() {
                p.stop(grace);
                stopped.push(p.clone());
            }
        }
        state.processes.clear();
        layout.write_state(&state)?;
    }
    if purge {
        drop(lock);
        std::fs::remove_dir_all(&layout.dir).map_err(Error::io(&layout.dir))?;
    }
    Ok(stopped)
}

/// What runs where, without changing anything. `Err(NotCreated)` when the cluster was never started.
pub fn status(name: &str) -> Result<Status, Error> {
    let layout = Layout::of(name);
    let state = layout
        .read_state()
        .ok_or_else(|| Error::NotCreated(name.to_string()))?;
    Ok(status_of(&layout, &state, true))
}
