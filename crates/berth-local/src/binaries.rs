//! Finding and building the binaries the local cluster runs.
//!
//! The Go wrapper modules in `testbed/go/` (committed with their go.sum) pin every version;
//! they are embedded here so an installed `berth` can build its local cluster anywhere Go is
//! available. Binaries go to `<cache>/<component>-<version>/`, so a build happens once per
//! version and machine; building is idempotent and a failed build leaves nothing half-written.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, paths};

/// A Go wrapper module: its directory name and its go.mod/go.sum.
struct Wrapper {
    name: &'static str,
    go_mod: &'static str,
    go_sum: &'static str,
}

const K8S: Wrapper = Wrapper {
    name: "k8s",
    go_mod: include_str!("../../../testbed/go/k8s/go.mod"),
    go_sum: include_str!("../../../testbed/go/k8s/go.sum"),
};
const ETCD: Wrapper = Wrapper {
    name: "etcd",
    go_mod: include_str!("../../../testbed/go/etcd/go.mod"),
    go_sum: include_str!("../../../testbed/go/etcd/go.sum"),
};
const KWOK: Wrapper = Wrapper {
    name: "kwok",
    go_mod: include_str!("../../../testbed/go/kwok/go.mod"),
    go_sum: include_str!("../../../testbed/go/kwok/go.sum"),
};
const METRICS_SERVER: Wrapper = Wrapper {
    name: "metrics-server",
    go_mod: include_str!("../../../testbed/go/metrics-server/go.mod"),
    go_sum: include_str!("../../../testbed/go/metrics-server/go.sum"),
};
const KARPENTER: Wrapper = Wrapper {
    name: "karpenter",
    go_mod: include_str!("../../../testbed/go/karpenter/go.mod"),
    go_sum: include_str!("../../../testbed/go/karpenter/go.sum"),
};
const PEERS: Wrapper = Wrapper {
    name: "peers",
    go_mod: include_str!("../../../testbed/go/peers/go.mod"),
    go_sum: include_str!("../../../testbed/go/peers/go.sum"),
};

impl Wrapper {
    /// The version the wrapper's go.mod requires for `module` (inside or outside a require block).
    fn version(&self, module: &str) -> &'static str {
        self.go_mod
            .lines()
            .map(|l| l.trim().trim_start_matches("require").trim())
            .find_map(|l| {
                let mut parts = l.split_whitespace();
                (parts.next() == Some(module))
                    .then(|| parts.next())
                    .flatten()
            })
            .unwrap_or_else(|| panic!("embedded go.mod of {} does not require {module}", self.name))
    }
}

/// One binary to build: the package path, the file name, the wrapper it builds from, and the
/// cache folder (component and version) it goes to.
struct Target {
    package: &'static str,
    file: &'static str,
    wrapper: &'static Wrapper,
    component: &'static str,
    module: &'static str,
}

const CONTROL_PLANE: &[Target] = &[
    Target {
        package: "go.etcd.io/etcd/server/v3",
        file: "etcd",
        wrapper: &ETCD,
        component: "etcd",
        module: "go.etcd.io/etcd/server/v3",
    },
    Target {
        package: "sigs.k8s.io/kwok/cmd/kwok",
        file: "kwok",
        wrapper: &KWOK,
        component: "kwok",
        module: "sigs.k8s.io/kwok",
    },
    Target {
        package: "sigs.k8s.io/metrics-server/cmd/metrics-server",
        file: "metrics-server",
        wrapper: &METRICS_SERVER,
        component: "metrics-server",
        module: "sigs.k8s.io/metrics-server",
    },
    Target {
        package: "k8s.io/kubernetes/cmd/kube-apiserver",
        file: "kube-apiserver",
        wrapper: &K8S,
        component: "kubernetes",
        module: "k8s.io/kubernetes",
    },
    Target {
        package: "k8s.io/kubernetes/cmd/kube-controller-manager",
        file: "kube-controller-manager",
        wrapper: &K8S,
        component: "kubernetes",
        module: "k8s.io/kubernetes",
    },
    Target {
        package: "k8s.io/kubernetes/cmd/kube-scheduler",
        file: "kube-scheduler",
        wrapper: &K8S,
        component: "kubernetes",
        module: "k8s.io/kubernetes",
    },
    Target {
        package: "k8s.io/kubernetes/cmd/kubectl",
        file: "kubectl",
        wrapper: &K8S,
        component: "kubernetes",
        module: "k8s.io/kubernetes",
    },
];

/// Karpenter's kwok build, the node autoscaler of `berth local up --autoscaler karpenter`: built
/// only when a cluster asks for it (it takes longer than the control plane and a newer Go).
const KARPENTER_TARGET: Target = Target {
    package: "sigs.k8s.io/karpenter/kwok",
    file: "karpenter",
    wrapper: &KARPENTER,
    component: "karpenter",
    module: "sigs.k8s.io/karpenter",
};

/// The Go toolchain Karpenter needs: its go.mod says `go 1.26.9`, newer than the Go berth asks
/// for. With `GOTOOLCHAIN` set to it, the go command fetches that release from the module proxy
/// (once per machine, about 76 MB) and builds with it.
pub const KARPENTER_TOOLCHAIN: &str = "go1.27.3";

const PEER_TOOLS: &[Target] = &[
    Target {
        package: "helm.sh/helm/v3/cmd/helm",
        file: "helm",
        wrapper: &PEERS,
        component: "helm",
        module: "helm.sh/helm/v3",
    },
    Target {
        package: "github.com/yannh/kubeconform/cmd/kubeconform",
        file: "kubeconform",
        wrapper: &PEERS,
        component: "kubeconform",
        module: "github.com/yannh/kubeconform",
    },
];

impl Target {
    fn version(&self) -> &'static str {
        self.wrapper.version(self.module)
    }

    fn dir(&self) -> PathBuf {
        paths::cache_root().join(format!("{}-{}", self.component, self.version()))
    }

    fn path(&self) -> PathBuf {
        self.dir().join(self.file)
    }

    /// `GOTOOLCHAIN` for the build: the machine's Go, except for Karpenter (see
    /// [`KARPENTER_TOOLCHAIN`]).
    fn toolchain(&self) -> &'static str {
        if self.component == "karpenter" {
            KARPENTER_TOOLCHAIN
        } else {
            "local"
        }
    }

    /// `-ldflags` for the build; Kubernetes binaries get their version stamped in, as the
    /// official build does, so `/version` reports it.
    fn ldflags(&self) -> String {
        let mut flags = String::from("-s -w");
        if self.component == "kubernetes" {
            let v = self.version();
            let minor = v.split('.').nth(1).unwrap_or("0");
            for p in [
                "k8s.io/component-base/version",
                "k8s.io/client-go/pkg/version",
            ] {
                flags.push_str(&format!(
                    " -X {p}.gitVersion={v} -X {p}.gitMajor=1 -X {p}.gitMinor={minor} \
                     -X {p}.gitTreeState=clean -X {p}.gitCommit=berth-local \
                     -X {p}.buildDate=1970-01-01T00:00:00Z"
                ));
            }
        }
        flags
    }
}

/// Paths of the control-plane binaries, all present.
#[derive(Clone, Debug)]
pub struct Binaries {
    pub etcd: PathBuf,
    pub kwok: PathBuf,
    /// Serves `metrics.k8s.io` (kubectl top, the HPA) from kwok's emulated kubelet metrics.
    pub metrics_server: PathBuf,
    pub kube_apiserver: PathBuf,
    pub kube_controller_manager: PathBuf,
    pub kube_scheduler: PathBuf,
    pub kubectl: PathBuf,
}

/// The versions the local cluster runs, e.g. for `berth local status`.
pub fn versions() -> Vec<(&'static str, &'static str)> {
    vec![
        ("kubernetes", K8S.version("k8s.io/kubernetes")),
        ("etcd", ETCD.version("go.etcd.io/etcd/server/v3")),
        ("kwok", KWOK.version("sigs.k8s.io/kwok")),
        (
            "metrics-server",
            METRICS_SERVER.version("sigs.k8s.io/metrics-server"),
        ),
    ]
}

/// The Kubernetes version the local cluster runs (`v1.34.4`).
pub fn kubernetes_version() -> &'static str {
    K8S.version("k8s.io/kubernetes")
}

/// Karpenter's kwok build and the CRD YAML of its module (NodePool, NodeClaim, NodeOverlay,
/// CapacityBuffer, KWOKNodeClass), copied next to the binary when it is built.
#[derive(Clone, Debug)]
pub struct Karpenter {
    pub binary: PathBuf,
    pub crds: Vec<PathBuf>,
}

/// The CRD files of `sigs.k8s.io/karpenter` that Karpenter's kwok build watches, as paths in
/// the module.
const KARPENTER_CRDS: &[&str] = &[
    "pkg/apis/crds/karpenter.sh_nodepools.yaml",
    "pkg/apis/crds/karpenter.sh_nodeclaims.yaml",
    "pkg/apis/crds/karpenter.sh_nodeoverlays.yaml",
    "pkg/apis/crds/autoscaling.x-k8s.io_capacitybuffers.yaml",
    "kwok/apis/crds/karpenter.kwok.sh_kwoknodeclasses.yaml",
];

/// The Karpenter version `--autoscaler karpenter` runs.
pub fn karpenter_version() -> &'static str {
    KARPENTER_TARGET.version()
}

fn karpenter_paths() -> Karpenter {
    let crds_dir = KARPENTER_TARGET.dir().join("crds");
    Karpenter {
        binary: KARPENTER_TARGET.path(),
        crds: KARPENTER_CRDS
            .iter()
            .map(|f| crds_dir.join(f.rsplit('/').next().unwrap_or(f)))
            .collect(),
    }
}

/// Builds Karpenter's kwok build when missing (with [`KARPENTER_TOOLCHAIN`]) and copies its
/// CRDs out of the module, printing progress to stderr.
pub fn ensure_karpenter() -> Result<Karpenter, Error> {
    let paths = karpenter_paths();
    if !paths.crds.iter().all(|p| p.is_file()) {
        copy_karpenter_crds(&paths)?;
    }
    build_missing(std::slice::from_ref(&KARPENTER_TARGET))?;
    Ok(paths)
}

/// Copies the CRD YAML from the module's folder in the Go module cache (`go mod download`
/// puts it there and says where), each file renamed into place.
fn copy_karpenter_crds(paths: &Karpenter) -> Result<(), Error> {
    let go = go_binary()?;
    let t = &KARPENTER_TARGET;
    let src = paths::cache_root().join("src").join(t.wrapper.name);
    write_if_changed(&src.join("go.mod"), t.wrapper.go_mod)?;
    write_if_changed(&src.join("go.sum"), t.wrapper.go_sum)?;
    let out = Command::new(&go)
        .current_dir(&src)
        .env("GOTOOLCHAIN", t.toolchain())
        .env("GOFLAGS", "-mod=mod")
        .args(["mod", "download", "-json"])
        .arg(format!("{}@{}", t.module, t.version()))
        .output()
        .map_err(|e| Error::Build(format!("could not run {}: {e}", go.display())))?;
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let Some(dir) = info["Dir"].as_str().filter(|_| out.status.success()) else {
        return Err(Error::Build(format!(
            "`go mod download {}@{}` failed: {}{}",
            t.module,
            t.version(),
            info["Error"].as_str().unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr)
        )));
    };
    for (file, dest) in KARPENTER_CRDS.iter().zip(&paths.crds) {
        let from = Path::new(dir).join(file);
        let text = std::fs::read_to_string(&from).map_err(Error::io(&from))?;
        if let Some(d) = dest.parent() {
            std::fs::create_dir_all(d).map_err(Error::io(d))?;
        }
        let tmp = dest.with_extension("copying");
        std::fs::write(&tmp, text).map_err(Error::io(&tmp))?;
        std::fs::rename(&tmp, dest).map_err(Error::io(dest))?;
    }
    Ok(())
}

/// Where a peer tool (`helm`, `kubeconform`) is or would be built.
pub fn peer_tool_path(name: &str) -> Option<PathBuf> {
    PEER_TOOLS.iter().find(|t| t.file == name).map(Target::path)
}

/// The control-plane binaries if they are all built, without building anything.
pub fn find() -> Option<Binaries> {
    CONTROL_PLANE
        .iter()
        .all(|t| t.path().is_file())
        .then(paths_of_control_plane)
}

fn paths_of_control_plane() -> Binaries {
    let p = |file: &str| {
        CONTROL_PLANE
            .iter()
            .find(|t| t.file == file)
            .map(Target::path)
            .unwrap_or_default()
    };
    Binaries {
        etcd: p("etcd"),
        kwok: p("kwok"),
        metrics_server: p("metrics-server"),
        kube_apiserver: p("kube-apiserver"),
        kube_controller_manager: p("kube-controller-manager"),
        kube_scheduler: p("kube-scheduler"),
        kubectl: p("kubectl"),
    }
}

/// Builds whatever control-plane binary is missing, printing progress to stderr, and returns
/// the paths. Needs Go ≥ 1.26 (the wrapper modules' `go` line) and the Go module proxy.
pub fn ensure_control_plane() -> Result<Binaries, Error> {
    crate::supported()?;
    build_missing(CONTROL_PLANE)?;
    Ok(paths_of_control_plane())
}

/// Builds the peer tools used by benchmarks (helm, kubeconform) when missing. Returns, for
/// each, its path or the reason it could not be built — a peer that fails to build does not
/// stop the others.
pub fn ensure_peer_tools() -> Vec<(&'static str, Result<PathBuf, Error>)> {
    PEER_TOOLS
        .iter()
        .map(|t| {
            (
                t.file,
                build_missing(std::slice::from_ref(t)).map(|()| t.path()),
            )
        })
        .collect()
}

fn build_missing(targets: &[Target]) -> Result<(), Error> {
    let missing: Vec<&Target> = targets.iter().filter(|t| !t.path().is_file()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let go = go_binary()?;
    let src = paths::cache_root().join("src");
    for t in missing {
        let dir = src.join(t.wrapper.name);
        write_if_changed(&dir.join("go.mod"), t.wrapper.go_mod)?;
        write_if_changed(&dir.join("go.sum"), t.wrapper.go_sum)?;
        let dest = t.path();
        let tmp = dest.with_extension("building");
        std::fs::create_dir_all(dest.parent().unwrap_or(Path::new(".")))
            .map_err(Error::io(&dest))?;
        eprintln!(
            "berth: building {} {} from source (first use; this takes a few minutes)",
            t.file,
            t.version()
        );
        let started = std::time::Instant::now();
        let status = Command::new(&go)
            .current_dir(&dir)
            .env("CGO_ENABLED", "0")
            .env("GOTOOLCHAIN", t.toolchain())
            .env("GOFLAGS", "-mod=mod")
            .args([
                "build",
                "-trimpath",
                "-tags",
                "selinux,notest",
                "-ldflags",
                &t.ldflags(),
                "-o",
            ])
            .arg(&tmp)
            .arg(t.package)
            .status()
            .map_err(|e| Error::Build(format!("could not run {}: {e}", go.display())))?;
        if !status.success() {
            let _ = std::fs::remove_file(&tmp);
            return Err(Error::Build(format!(
                "`go build {}` failed ({status}); the Go output above says why",
                t.package
            )));
        }
        std::fs::rename(&tmp, &dest).map_err(Error::io(&dest))?;
        eprintln!(
            "berth: built {} in {:.0?}",
            dest.display(),
            started.elapsed()
        );
    }
    Ok(())
}

fn write_if_changed(path: &Path, text: &str) -> Result<(), Error> {
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(Error::io(dir))?;
    }
    std::fs::write(path, text).map_err(Error::io(path))
}

/// The `go` command, or an error that says exactly what to install.
fn go_binary() -> Result<PathBuf, Error> {
    let candidates = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("go"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let go = candidates
        .into_iter()
        .chain([PathBuf::from("/usr/local/go/bin/go")])
        .find(|p| p.is_file())
        .ok_or(Error::GoMissing)?;
    let out = Command::new(&go)
        .arg("version")
        .output()
        .map_err(|_| Error::GoMissing)?;
    let text = String::from_utf8_lossy(&out.stdout);
    // "go version go1.26.8 linux/amd64"
    let minor = text
        .split_whitespace()
        .nth(2)
        .and_then(|v| v.strip_prefix("go1."))
        .and_then(|v| v.split('.').next())
        .and_then(|v| v.parse::<u32>().ok());
    match minor {
        // The wrapper modules say `go 1.26.0` and build with GOTOOLCHAIN=local: an older Go
        // would fail there with a less clear message.
        Some(m) if m >= 26 => Ok(go),
        _ => Err(Error::GoTooOld(text.trim().to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_come_from_the_embedded_wrappers() {
        assert!(
            kubernetes_version().starts_with("v1.3"),
            "{}",
            kubernetes_version()
        );
        assert!(ETCD.version("go.etcd.io/etcd/server/v3").starts_with("v3."));
        assert!(KWOK.version("sigs.k8s.io/kwok").starts_with("v0."));
        assert!(
            METRICS_SERVER
                .version("sigs.k8s.io/metrics-server")
                .starts_with("v0.")
        );
        assert!(PEERS.version("helm.sh/helm/v3").starts_with("v3."));
        assert!(karpenter_version().starts_with("v1."));
    }

    #[test]
    fn kubernetes_binaries_get_their_version_stamped() {
        let t = CONTROL_PLANE
            .iter()
            .find(|t| t.file == "kube-apiserver")
            .unwrap();
        let flags = t.ldflags();
        assert!(flags.contains(&format!(
            "k8s.io/component-base/version.gitVersion={}",
            t.version()
        )));
        let minor = t.version().split('.').nth(1).unwrap();
        assert!(flags.contains(&format!("gitMinor={minor} ")));
        assert_eq!(CONTROL_PLANE[0].ldflags(), "-s -w");
    }

    #[test]
    fn only_karpenter_builds_with_the_newer_toolchain() {
        assert_eq!(KARPENTER_TARGET.toolchain(), KARPENTER_TOOLCHAIN);
        assert!(CONTROL_PLANE.iter().all(|t| t.toolchain() == "local"));
        // Its go.mod says the Go it needs; the toolchain named must be at least that.
        assert!(KARPENTER.go_mod.contains("\ngo 1.26.9\n"));
    }
}
