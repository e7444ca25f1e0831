//! berth's local cluster: a real Kubernetes control plane on 127.0.0.1, with no Docker.
//!
//! `up` runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok and
//! metrics-server as plain processes (built from source on first use, see [`binaries`]),
//! generates their PKI and a kubeconfig ([`pki`]), creates kwok nodes spread over three zones
//! and the storage of berth's `local` profile ([`objects`]), and returns when the nodes are
//! Ready, pods can be created and the metrics API answers.
//! Everything listens on 127.0.0.1 only; pod and service IPs are fake and never dialled.
//!
//! State lives in `<state root>/<name>/` (see [`paths`]): `pki/`, `etcd/`, `logs/`,
//! `kubeconfig` and `cluster.json` (the processes and their ports). A lock file serialises `up` and
//! `down` of one cluster across processes, so test binaries can share one cluster.
//!
//! # Repair keeps the address
//! `up` on a cluster whose processes all run and whose API server answers starts nothing. When
//! some died (a crash, SIGKILL, the OOM killer), `up` starts only those again, each on the
//! ports `cluster.json` recorded for it, like a kubelet restarting a static pod: the API
//! server comes back at the same `https://127.0.0.1:PORT`, with the same CA and serving
//! certificate (kept in `pki/`; the certificate names 127.0.0.1, not a port), so the kubeconfig
//! is left byte-identical and every client that holds it — a running `berth up`, a `kubectl`
//! watch, a test — reconnects by itself. The other components read the API server's address
//! from the kubeconfig, so they keep running through its restart; kwok's kubelet port, written
//! into every node, stays the same too.
//!
//! Only when another process listens on a recorded port does the component get a new one;
//! `up` reports it in [`Status::moved`], and what reads that address at start is restarted
//! with it (the API server when etcd moves; controller-manager, scheduler and kwok when the
//! API server moves, and then the kubeconfig is rewritten). A change of options or of berth's
//! setup ([`setup_fingerprint`]), or an API server that runs but does not answer, restarts
//! every process, on the same data and the same ports.
//!
//! # Metrics
//! kwok emulates each node's kubelet resource-metrics endpoint ([`METRICS`]); metrics-server
//! scrapes it every [`METRIC_RESOLUTION`] and serves `metrics.k8s.io` through the API server's
//! aggregator, so `kubectl top` works and HPAs act (the controller-manager syncs them every
//! [`HPA_SYNC_PERIOD`]). The aggregator reaches metrics-server through an `ExternalName`
//! Service naming 127.0.0.1 ([`objects::ensure_metrics_api`]): Endpoints and EndpointSlices
//! may not hold loopback addresses, and no kube-proxy runs to route a ClusterIP. A pod uses
//! what its `ResourceUsage` (kwok.x-k8s.io, named after the pod) says, else its annotations
//! `kwok.x-k8s.io/usage-cpu` / `-memory` per container, else almost nothing;
//! [`load`] drives `ResourceUsage` objects from a load curve.
//!
//! # Karpenter
//! With [`Options::autoscaler`] set to Karpenter, `up` also runs Karpenter's kwok build as a
//! process on 127.0.0.1, so pending pods get nodes of the instance types it picks and empty or
//! underused nodes go again; the fixed nodes stay as the system pool. See [`karpenter`].
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
//! the pod's name; `testing::serve_logs` (feature `testing`) writes such a file and object, so `kubectl logs` and
//! berth doctor read real log lines through the API server.

pub mod binaries;
pub mod karpenter;
pub mod load;
pub mod objects;
pub mod paths;
pub mod pki;
pub mod process;
#[cfg(feature = "testing")]
pub mod testing;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::{Deserialize, Serialize};

use crate::process::Proc;

/// kwok's stages: the normal node and pod lifecycle plus the test failure states.
pub const STAGES: &str = include_str!("stages.yaml");

/// kwok's emulated kubelet resource metrics (a `Metric`); kwok's config also gets the default
/// usage of pods ([`load::default_usage`]).
pub const METRICS: &str = include_str!("metrics.yaml");

/// How often the HPA controller syncs on the local cluster (upstream default 15s): shorter, so
/// tests and `berth local load` see HPAs react in seconds. Compare `berth simulate` with the
/// local cluster at this sync period.
pub const HPA_SYNC_PERIOD: Duration = Duration::from_secs(5);

/// How often metrics-server scrapes kwok's kubelet endpoints (its minimum; upstream default 60s).
pub const METRIC_RESOLUTION: Duration = Duration::from_secs(10);

/// Revision of how `start` runs the processes (flags, objects created before kwok). Raise it
/// when that changes, so running clusters are restarted with the new setup.
const SETUP_REVISION: &str =
    "3: metrics-server, kwok metrics and ResourceUsage, HPA sync 5s, requestheader auth";

/// A fingerprint of the stages, the setup revision and the Kubernetes version (FNV-1a, stable
/// across builds).
pub fn setup_fingerprint() -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let default_usage = load::default_usage();
    for part in [
        STAGES,
        METRICS,
        &default_usage,
        SETUP_REVISION,
        binaries::kubernetes_version(),
    ] {
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
         Install Go 1.26 or newer (the wrapper modules in testbed/go say `go 1.26.0`; a release from go.dev, or your distribution's newest golang package), \
         then run `berth local up` again."
    )]
    GoMissing,
    #[error(
        "Go 1.26 or newer is needed to build the local cluster (its modules say `go 1.26.0`); found: {0}"
    )]
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
    #[error("{0}")]
    Load(String),
    #[error(
        "the local cluster runs on Linux only (it runs etcd, kube-apiserver, the scheduler and kwok as Linux processes), and this is {0}.\n\
         Point berth at a cluster with --kubeconfig/--context instead, or run `berth local` on Linux (WSL 2 on Windows)."
    )]
    Unsupported(&'static str),
}

/// The local cluster's processes are Linux programs managed through `/proc`, sessions and
/// process groups: on any other system every `berth local` entry point refuses with
/// [`Error::Unsupported`] before it builds, starts or stops anything.
pub fn supported() -> Result<(), Error> {
    if cfg!(target_os = "linux") {
        Ok(())
    } else {
        Err(Error::Unsupported(std::env::consts::OS))
    }
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
    /// The node autoscaler that adds and removes nodes beside the fixed ones.
    #[serde(default)]
    pub autoscaler: karpenter::NodeAutoscaler,
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
            autoscaler: karpenter::NodeAutoscaler::None,
        }
    }
}

/// What `cluster.json` records of a running cluster.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct State {
    pub options: Options,
    pub kubernetes: String,
    /// [`setup_fingerprint`] of the berth that started the processes: a cluster started by a
    /// berth with other stages or flags is restarted (on the same data and ports) rather than
    /// reused.
    #[serde(default)]
    pub setup: String,
    pub api_port: u16,
    /// One entry per component, in start order, with its ports; a dead process keeps its entry
    /// until `up` starts it again, and its ports are what that start asks for first.
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

    /// An exclusive lock on the cluster, held until the returned file is dropped (closed).
    fn lock(&self) -> Result<File, Error> {
        std::fs::create_dir_all(&self.dir).map_err(Error::io(&self.dir))?;
        let path = self.dir.join("lock");
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(Error::io(&path))?;
        f.lock().map_err(Error::io(&path))?;
        Ok(f)
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
    /// The components this `up` started: all on a first start (or a start after a change of
    /// options or setup), the dead ones on a repair, none when it reused a healthy cluster.
    pub started: Vec<String>,
    /// Ports a component had and could not get back because another process listens there.
    /// Empty unless that happened; a moved API server means a changed kubeconfig.
    pub moved: Vec<Moved>,
}

/// A component started on a new port because another process had taken its recorded one.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Moved {
    /// The component, or `etcd (peer)` for etcd's peer port.
    pub component: String,
    pub from: u16,
    pub to: u16,
}

impl std::fmt::Display for Moved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} moved from 127.0.0.1:{} to 127.0.0.1:{}: another process listens on port {}",
            self.component, self.from, self.to, self.from
        )?;
        if self.component == APISERVER {
            write!(
                f,
                "; the kubeconfig now names the new port, so clients that read the old one must \
                 read it again"
            )?;
        }
        Ok(())
    }
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

/// The components of a cluster, in the order they start (and `cluster.json` lists them).
const ETCD: &str = "etcd";
const APISERVER: &str = "kube-apiserver";
const CONTROLLER_MANAGER: &str = "kube-controller-manager";
const SCHEDULER: &str = "kube-scheduler";
const KWOK: &str = "kwok";
const METRICS_SERVER: &str = "metrics-server";
const COMPONENTS: [&str; 6] = [
    ETCD,
    APISERVER,
    CONTROLLER_MANAGER,
    SCHEDULER,
    KWOK,
    METRICS_SERVER,
];

/// The components `opts` runs, in start order: [`COMPONENTS`], then the node autoscaler.
fn components(opts: &Options) -> Vec<&'static str> {
    let mut all = COMPONENTS.to_vec();
    if opts.autoscaler == karpenter::NodeAutoscaler::Karpenter {
        all.push(karpenter::COMPONENT);
    }
    all
}

/// What a component reads the address of when it starts (the API server etcd's from a flag,
/// the others the API server's from the kubeconfig): when that moves to a new port, the
/// component is restarted too.
fn depends_on(component: &str) -> Option<&'static str> {
    match component {
        APISERVER => Some(ETCD),
        CONTROLLER_MANAGER | SCHEDULER | KWOK | METRICS_SERVER | karpenter::COMPONENT => {
            Some(APISERVER)
        }
        _ => None,
    }
}

/// How many ports a component listens on: etcd its client and peer ports, Karpenter its
/// metrics and health-probe ports, the others one.
fn port_count(component: &str) -> usize {
    if component == ETCD || component == karpenter::COMPONENT {
        2
    } else {
        1
    }
}

/// Starts the cluster, or reuses it when it is healthy, or repairs it when some of its
/// processes died. Returns when nodes are Ready and the default ServiceAccount exists.
///
/// A repair starts the dead components again on the ports they had (recorded in
/// `cluster.json`), so the kubeconfig and every client holding it stay valid; see the crate
/// docs.
pub async fn up(opts: &Options) -> Result<Status, Error> {
    supported()?;
    let layout = Layout::of(&opts.name);
    let _lock = layout.lock()?;
    let bins = binaries::ensure_control_plane()?;
    let karpenter_bins = match opts.autoscaler {
        karpenter::NodeAutoscaler::Karpenter => Some(binaries::ensure_karpenter()?),
        karpenter::NodeAutoscaler::None => None,
    };

    let recorded = match layout.read_state() {
        Some(state) => {
            let same_setup = state.options == *opts && state.setup == setup_fingerprint();
            let alive = |name: &str| state.processes.iter().any(|p| p.name == name && p.alive());
            // An API server that runs beside a running etcd and does not answer is stuck.
            let stuck = alive(ETCD) && alive(APISERVER) && !api_ready(&layout.kubeconfig()).await;
            if !same_setup || stuck {
                // Stop everything, then start again on the same data and ports.
                for p in state.processes.iter().rev() {
                    p.stop(Duration::from_secs(10));
                }
            }
            state.processes
        }
        None => Vec::new(),
    };

    match start(&layout, &bins, karpenter_bins.as_ref(), opts, recorded).await {
        Ok(status) => Ok(status),
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

fn status_of(layout: &Layout, state: &State, started: Vec<String>, moved: Vec<Moved>) -> Status {
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
        reused: started.is_empty(),
        started,
        moved,
    }
}

fn write_secret_file(path: &Path, text: &str) -> Result<(), Error> {
    use std::io::Write;
    let mut options = File::options();
    options.create(true).write(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path).map_err(Error::io(path))?;
    f.write_all(text.as_bytes()).map_err(Error::io(path))
}

/// Writes the kubeconfig unless the file already says exactly `text`, so that a tool watching
/// the file sees no change when the address did not change; when it must write, it writes a
/// new file and renames it over the old one, so no reader sees half a file.
fn write_kubeconfig(path: &Path, text: &str) -> Result<(), Error> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(());
    }
    let tmp = path.with_extension("tmp");
    write_secret_file(&tmp, text)?;
    std::fs::rename(&tmp, path).map_err(Error::io(path))
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

/// Starts the components of one `up`, in order, each only when it is not running already (or
/// what it depends on moves), and records each start in `cluster.json` at once, so a failed
/// `up` knows what to stop.
struct Launcher<'a> {
    layout: &'a Layout,
    state: State,
    /// The components to start and their ports, held in `claim` until each starts.
    plan: Vec<(&'static str, Vec<u16>)>,
    claim: process::PortClaim,
    started: Vec<String>,
    moved: Vec<Moved>,
}

impl<'a> Launcher<'a> {
    /// Decides what starts where. `recorded` is what `cluster.json` had: a component that runs
    /// is kept, one that does not gets each of its recorded ports back when the port is free,
    /// else a new one (noted in [`Status::moved`]). A running component whose dependency
    /// moves is stopped and started again, on its own ports.
    fn plan(layout: &'a Layout, opts: &Options, recorded: Vec<Proc>) -> Result<Self, Error> {
        let state = State {
            options: opts.clone(),
            kubernetes: binaries::kubernetes_version().to_string(),
            setup: setup_fingerprint(),
            api_port: 0,
            // A dead component stays listed, with its ports, until it runs again.
            processes: components(opts)
                .iter()
                .filter_map(|c| recorded.iter().find(|p| p.name == *c).cloned())
                .collect(),
        };
        let recorded_ports = |p: &Proc| -> Vec<u16> {
            std::iter::once(p.port)
                .chain(p.other_ports.iter().copied())
                .collect()
        };

        // Recorded ports first, all of them, before any fresh one (see `PortClaim`).
        let mut claim = process::PortClaim::default();
        let mut reclaimed: Vec<(&'static str, Vec<u16>, Vec<bool>)> = Vec::new();
        for c in components(opts) {
            let old = state.processes.iter().find(|p| p.name == c);
            let running = old.filter(|p| p.alive());
            let dependency_moves = depends_on(c)
                .is_some_and(|d| reclaimed.iter().any(|(name, _, got)| *name == d && !got[0]));
            if running.is_some() && !dependency_moves {
                continue;
            }
            if let Some(p) = running {
                p.stop(Duration::from_secs(10));
            }
            let wanted = old.map(recorded_ports).unwrap_or_default();
            let got = (0..port_count(c))
                .map(|i| claim.reclaim(wanted.get(i).copied().unwrap_or(0)))
                .collect();
            reclaimed.push((c, wanted, got));
        }

        let mut plan = Vec::new();
        let mut moved = Vec::new();
        for (c, wanted, got) in reclaimed {
            let mut ports = Vec::new();
            for (i, got) in got.into_iter().enumerate() {
                let from = wanted.get(i).copied().unwrap_or(0);
                let port = if got {
                    from
                } else {
                    let to = claim.fresh()?;
                    if from != 0 {
                        moved.push(Moved {
                            component: if i == 0 {
                                c.to_string()
                            } else {
                                format!("{c} (peer)")
                            },
                            from,
                            to,
                        });
                    }
                    to
                };
                ports.push(port);
            }
            plan.push((c, ports));
        }

        let mut launcher = Launcher {
            layout,
            state,
            plan,
            claim,
            started: Vec::new(),
            moved,
        };
        launcher.state.api_port = launcher.port(APISERVER);
        Ok(launcher)
    }

    /// The port `component` serves on after this `up`.
    fn port(&self, component: &str) -> u16 {
        match self.plan.iter().find(|(c, _)| *c == component) {
            Some((_, ports)) => ports[0],
            None => self
                .state
                .processes
                .iter()
                .find(|p| p.name == component)
                .map_or(0, |p| p.port),
        }
    }

    /// Starts `component` with `args(its ports)` when it is to start; else returns it running.
    fn run(
        &mut self,
        component: &str,
        binary: &Path,
        args: impl FnOnce(&[u16]) -> Vec<String>,
    ) -> Result<Proc, Error> {
        self.run_with_env(component, binary, &[], args)
    }

    /// [`Launcher::run`] with environment variables for the process.
    fn run_with_env(
        &mut self,
        component: &str,
        binary: &Path,
        env: &[(&str, String)],
        args: impl FnOnce(&[u16]) -> Vec<String>,
    ) -> Result<Proc, Error> {
        let Some((_, ports)) = self.plan.iter().find(|(c, _)| *c == component) else {
            return self
                .state
                .processes
                .iter()
                .find(|p| p.name == component)
                .cloned()
                .ok_or_else(|| Error::Start(format!("{component} is not recorded")));
        };
        let ports = ports.clone();
        self.claim.release(&ports);
        let log = self.layout.logs().join(format!("{component}.log"));
        let mut proc =
            process::spawn_with_env(component, binary, &args(&ports), env, ports[0], &log)?;
        proc.other_ports = ports[1..].to_vec();
        match self
            .state
            .processes
            .iter_mut()
            .find(|p| p.name == component)
        {
            Some(p) => *p = proc.clone(),
            None => self.state.processes.push(proc.clone()),
        }
        self.started.push(component.to_string());
        self.layout.write_state(&self.state)?;
        Ok(proc)
    }

    fn status(self) -> Status {
        status_of(self.layout, &self.state, self.started, self.moved)
    }
}

/// Brings every component up (see [`Launcher::plan`]), makes sure of the nodes and storage,
/// and waits until the nodes are Ready.
async fn start(
    layout: &Layout,
    bins: &binaries::Binaries,
    karpenter_bins: Option<&binaries::Karpenter>,
    opts: &Options,
    recorded: Vec<Proc>,
) -> Result<Status, Error> {
    for d in [layout.logs(), layout.dir.join("etcd")] {
        std::fs::create_dir_all(&d).map_err(Error::io(&d))?;
    }
    ensure_pki(layout)?;
    let pki = layout.pki();
    let f = |name: &str| pki.join(name).display().to_string();
    let kubeconfig = layout.kubeconfig().display().to_string();
    let mut launcher = Launcher::plan(layout, opts, recorded)?;

    // etcd
    let etcd = launcher.run(ETCD, &bins.etcd, |ports| {
        let client_url = format!("http://127.0.0.1:{}", ports[0]);
        let peer_url = format!("http://127.0.0.1:{}", ports[1]);
        vec![
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
        ]
    })?;
    process::wait_listening(&etcd, Duration::from_secs(30))?;

    // kube-apiserver
    let server = format!("https://127.0.0.1:{}", launcher.port(APISERVER));
    let kc_text = pki::kubeconfig(
        &server,
        &format!("berth-local-{}", opts.name),
        &read(&pki.join("ca.crt"))?,
        &read(&pki.join("admin.crt"))?,
        &read(&pki.join("admin.key"))?,
    );
    write_kubeconfig(&layout.kubeconfig(), &kc_text)?;
    let api = launcher.run(APISERVER, &bins.kube_apiserver, |ports| {
        vec![
            format!("--etcd-servers=http://127.0.0.1:{}", etcd.port),
            "--etcd-prefix=/registry".into(),
            "--bind-address=127.0.0.1".into(),
            "--advertise-address=127.0.0.1".into(),
            format!("--secure-port={}", ports[0]),
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
            // Aggregated APIs (metrics-server) learn who the user is from these headers, which
            // they trust only from the API server's proxy client certificate.
            format!("--requestheader-client-ca-file={}", f("ca.crt")),
            "--requestheader-allowed-names=berth-admin".into(),
            "--requestheader-username-headers=X-Remote-User".into(),
            "--requestheader-group-headers=X-Remote-Group".into(),
            "--requestheader-extra-headers-prefix=X-Remote-Extra-".into(),
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local".into(),
            format!("--service-account-key-file={}", f("sa.pub")),
            format!("--service-account-signing-key-file={}", f("sa.key")),
            format!(
                "--cert-dir={}",
                layout.dir.join("apiserver-certs").display()
            ),
            "--profiling=false".into(),
        ]
    })?;
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
    objects::set_kubelet_port(&client, opts, launcher.port(KWOK)).await?;

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
    let kcm = launcher.run(CONTROLLER_MANAGER, &bins.kube_controller_manager, |ports| {
        let mut args = component_args(ports[0]);
        args.extend([
            format!("--root-ca-file={}", f("ca.crt")),
            format!("--service-account-private-key-file={}", f("sa.key")),
            "--use-service-account-credentials=false".into(),
            "--node-monitor-period=5s".into(),
            "--node-monitor-grace-period=40s".into(),
            format!(
                "--horizontal-pod-autoscaler-sync-period={}s",
                HPA_SYNC_PERIOD.as_secs()
            ),
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route".into(),
        ]);
        args
    })?;
    let sched = launcher.run(SCHEDULER, &bins.kube_scheduler, |ports| {
        component_args(ports[0])
    })?;

    let stages = layout.dir.join("kwok-stages.yaml");
    let kwok_config = format!("{STAGES}\n---\n{METRICS}\n---\n{}\n", load::default_usage());
    std::fs::write(&stages, kwok_config).map_err(Error::io(&stages))?;
    let kwok = launcher.run(KWOK, &bins.kwok, |ports| {
        vec![
            format!("--kubeconfig={kubeconfig}"),
            format!("--config={}", stages.display()),
            // Logs and ResourceUsage are read from objects (tests and `berth local load` write
            // them); the Metric and the default usage from the config file.
            "--enable-crds=Logs,ResourceUsage".into(),
            "--manage-all-nodes=true".into(),
            "--node-ip=127.0.0.1".into(),
            format!("--node-port={}", ports[0]),
            format!("--server-address=127.0.0.1:{}", ports[0]),
            "--node-lease-duration-seconds=40".into(),
            "--cidr=10.244.0.1/16".into(),
            format!("--tls-cert-file={}", f("admin.crt")),
            format!("--tls-private-key-file={}", f("admin.key")),
        ]
    })?;

    // metrics-server scrapes kwok's kubelet endpoints (each node's status names kwok's port;
    // `--kubelet-port` is the fallback) and serves metrics.k8s.io behind the API server.
    let kwok_port = launcher.port(KWOK);
    let metrics = launcher.run(METRICS_SERVER, &bins.metrics_server, |ports| {
        vec![
            format!("--kubeconfig={kubeconfig}"),
            format!("--authentication-kubeconfig={kubeconfig}"),
            format!("--authorization-kubeconfig={kubeconfig}"),
            "--bind-address=127.0.0.1".into(),
            format!("--secure-port={}", ports[0]),
            format!("--tls-cert-file={}", f("admin.crt")),
            format!("--tls-private-key-file={}", f("admin.key")),
            // kwok serves the admin certificate, which names 127.0.0.1: verify it with the CA.
            format!("--kubelet-certificate-authority={}", f("ca.crt")),
            "--kubelet-preferred-address-types=InternalIP".into(),
            "--kubelet-use-node-status-port".into(),
            format!("--kubelet-port={kwok_port}"),
            format!("--metric-resolution={}s", METRIC_RESOLUTION.as_secs()),
            // Must be below the resolution; kwok answers on loopback in milliseconds.
            "--kubelet-request-timeout=5s".into(),
        ]
    })?;

    for p in [&kcm, &sched, &kwok, &metrics] {
        process::wait_listening(p, Duration::from_secs(60))?;
    }
    objects::ensure_metrics_api(&client, metrics.port).await?;
    objects::wait_ready(&client, opts, Duration::from_secs(90)).await?;
    objects::wait_metrics_api(&client, Duration::from_secs(60))
        .await
        .map_err(|e| {
            Error::Start(format!(
                "{e}; last lines of {}:\n{}",
                metrics.log.display(),
                metrics.log_tail(15)
            ))
        })?;
    match karpenter_bins {
        Some(k) => start_karpenter(&mut launcher, &client, k, opts).await?,
        None => karpenter::remove(&client).await?,
    }
    Ok(launcher.status())
}

/// Karpenter, after what it needs (see [`karpenter`]); the default NodePool when the cluster
/// has none yet (the user's own, applied later, replace it).
async fn start_karpenter(
    launcher: &mut Launcher<'_>,
    client: &kube::Client,
    bins: &binaries::Karpenter,
    opts: &Options,
) -> Result<(), Error> {
    let kubeconfig = launcher.layout.kubeconfig().display().to_string();
    let types = karpenter::prepare(client, &bins.crds, &launcher.layout.dir, opts).await?;
    let proc = launcher.run_with_env(
        karpenter::COMPONENT,
        &bins.binary,
        &[("KUBECONFIG", kubeconfig)],
        |ports| karpenter::args(ports, &types),
    )?;
    let probe_port = proc.other_ports.first().copied().unwrap_or(0);
    karpenter::wait_ready(&proc, probe_port, Duration::from_secs(90)).await?;
    let pools = karpenter::node_pools(client)
        .list(&kube::api::ListParams::default())
        .await
        .map_err(Error::api("list NodePools"))?;
    if pools.items.is_empty() {
        karpenter::ensure_node_pools(client, opts, &[]).await?;
    }
    Ok(())
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(Error::io(path))
}

/// Stops every process of the cluster (SIGTERM, SIGKILL after `grace`) and returns what was
/// stopped. Keeps the cluster's data (etcd, PKI) unless `purge`, in which case its folder goes.
pub fn down(name: &str, grace: Duration, purge: bool) -> Result<Vec<Proc>, Error> {
    supported()?;
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
    supported()?;
    let layout = Layout::of(name);
    let state = layout
        .read_state()
        .ok_or_else(|| Error::NotCreated(name.to_string()))?;
    Ok(status_of(&layout, &state, Vec::new(), Vec::new()))
}
