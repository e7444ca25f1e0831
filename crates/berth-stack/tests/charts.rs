//! Charts from where users keep them, rendered by a real helm: a chart repository and an OCI
//! registry served on 127.0.0.1 by the test, and a local chart folder with a dependency.
//!
//! The fixture charts (`tests/fixtures/charts/`): `web` (a CRD in `crds/`, a Deployment that
//! uses the values `replicas` and `greeting` and the labels of its dependency) and `common`
//! (the library chart it depends on, as `file://../common`). The repository is a folder that
//! `helm package` and `helm repo index` filled, served by a small HTTP server in the test; the
//! registry is the CNCF distribution registry, built once from `testbed/go/registry`.
//!
//! helm is found like berth finds it (`$BERTH_HELM`, `PATH`, `~/.cache/berth/local/helm-*/helm`),
//! and a missing helm or Go fails these tests rather than skipping them. Every helm here, the
//! test's and berth's, keeps its state in the test's temporary folders.

#[path = "../../../testbed/go/build_cached.rs"]
mod build_cached;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use berth_model::{Object, Severity};
use berth_stack::helm::{find_helm, is_network_failure};
use berth_stack::{LoadOptions, Loaded, load};
use serde_json::json;
use tempfile::TempDir;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/charts")
}

fn helm_binary() -> PathBuf {
    find_helm().unwrap_or_else(|| {
        panic!(
            "these tests render charts with a real helm, and none was found: set BERTH_HELM, put \
             helm on PATH, or build it into ~/.cache/berth/local/helm-<version>/helm"
        )
    })
}

/// A helm for the test's own steps (package, index, push), its state in `home`.
fn helm(home: &Path, args: &[&str]) {
    let out = Command::new(helm_binary())
        .args(args)
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .output()
        .expect("run helm");
    assert!(
        out.status.success(),
        "helm {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_tree(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// Every file under `dir`, path → content: to show a folder was not written to.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

/// The fixture charts packaged: `web-1.2.3.tgz` (with `common` inside it) and
/// `common-0.1.0.tgz` in `<tmp>/repo` with their `index.yaml`.
struct Packaged {
    tmp: TempDir,
}

impl Packaged {
    fn new() -> Packaged {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        copy_tree(&fixtures(), &src);
        let home = tmp.path().join("helm");
        let repo = tmp.path().join("repo");
        let s = |p: &Path| p.to_str().unwrap().to_string();
        helm(&home, &["dependency", "build", &s(&src.join("web"))]);
        for chart in ["web", "common"] {
            helm(
                &home,
                &["package", &s(&src.join(chart)), "--destination", &s(&repo)],
            );
        }
        helm(&home, &["repo", "index", &s(&repo)]);
        Packaged { tmp }
    }

    fn repo(&self) -> PathBuf {
        self.tmp.path().join("repo")
    }

    fn helm_home(&self) -> PathBuf {
        self.tmp.path().join("helm")
    }
}

/// Files of a folder served over HTTP on 127.0.0.1 until dropped.
struct FileServer {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FileServer {
    fn serve(dir: PathBuf) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let _ = answer(stream, &dir);
                }
            }
        });
        FileServer {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One HTTP/1.1 exchange: GET a file of `dir`, or 404; the connection closes after it.
fn answer(stream: TcpStream, dir: &Path) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split('?').next().unwrap_or("").trim_start_matches('/');
    let file = (!path.split('/').any(|p| p == ".." || p.is_empty()))
        .then(|| dir.join(path))
        .filter(|p| p.is_file());
    let mut stream = stream;
    match file.map(std::fs::read) {
        Some(Ok(body)) => {
            write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            stream.write_all(&body)?;
        }
        _ => {
            stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )?;
        }
    }
    stream.flush()
}

/// A port on 127.0.0.1 that nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A stack with one chart component `web` (`chart` as written in berth.yaml), rendered by
/// berth with its cache in `<tmp>/cache`.
fn render(tmp: &Path, chart: &str) -> Loaded {
    let stack = tmp.join("stack");
    std::fs::create_dir_all(&stack).unwrap();
    std::fs::write(
        stack.join("berth.yaml"),
        format!(
            "stack: charts\nnamespace: apps\ncomponents:\n  web:\n    chart: {chart}\n    \
             namespace: shop\n    values: {{ replicas: 3, greeting: hi }}\n"
        ),
    )
    .unwrap();
    load(
        &stack,
        &LoadOptions {
            helm: Some(helm_binary()),
            chart_cache: Some(tmp.join("cache")),
            ..LoadOptions::default()
        },
    )
}

/// The objects of the `web` chart as it renders with the stack's values: the CRD from
/// `crds/`, and the Deployment with the values and the labels of the `common` dependency.
fn assert_web_rendered(l: &Loaded) {
    let messages: Vec<&str> = l.findings.iter().map(|f| f.message.as_str()).collect();
    assert!(
        !l.findings.iter().any(|f| f.severity == Severity::Error),
        "{messages:#?}"
    );
    let objects: &[Object] = &l.stack.as_ref().expect("a stack").objects;
    let names: Vec<String> = objects.iter().map(Object::display_name).collect();
    assert_eq!(
        names,
        [
            "CustomResourceDefinition/widgets.example.com",
            "Deployment/shop/web"
        ]
    );
    let d = &objects[1].value;
    assert_eq!(d["spec"]["replicas"], json!(3));
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["env"][0],
        json!({ "name": "GREETING", "value": "hi" })
    );
    assert_eq!(
        d["metadata"]["labels"]["app.kubernetes.io/part-of"],
        json!("common-library")
    );
}

#[test]
fn a_chart_from_a_repository_renders_with_its_crds_and_values() {
    let charts = Packaged::new();
    let server = FileServer::serve(charts.repo());
    let tmp = tempfile::tempdir().unwrap();
    let l = render(
        tmp.path(),
        &format!("{{ repo: {}, name: web, version: 1.2.3 }}", server.url()),
    );
    assert_web_rendered(&l);
    // helm's state went to berth's cache: the repository's index is there.
    let repository_cache = tmp.path().join("cache/helm/cache/repository");
    assert!(
        std::fs::read_dir(&repository_cache).is_ok_and(|mut d| d.next().is_some()),
        "nothing in {}",
        repository_cache.display()
    );
}

#[test]
fn a_wrong_chart_version_is_a_chart_error_naming_the_version() {
    let charts = Packaged::new();
    let server = FileServer::serve(charts.repo());
    let tmp = tempfile::tempdir().unwrap();
    let l = render(
        tmp.path(),
        &format!("{{ repo: {}, name: web, version: 9.9.9 }}", server.url()),
    );
    let helm: Vec<_> = l.findings.iter().filter(|f| f.rule == "helm").collect();
    assert_eq!(helm.len(), 1, "{:#?}", l.findings);
    assert_eq!(helm[0].severity, Severity::Error);
    assert!(helm[0].message.contains("9.9.9"), "{}", helm[0].message);
    assert!(!is_network_failure(helm[0]), "{}", helm[0].message);
}

#[test]
fn an_unreachable_repository_is_a_network_failure_naming_its_url() {
    let tmp = tempfile::tempdir().unwrap();
    let port = closed_port();
    // A local chart whose dependency's repository is out of reach.
    let web = tmp.path().join("stack/charts/web");
    copy_tree(&fixtures().join("web"), &web);
    let chart_yaml = web.join("Chart.yaml");
    let text = std::fs::read_to_string(&chart_yaml).unwrap();
    let dependency_repo = format!("http://127.0.0.1:{port}/deps");
    std::fs::write(
        &chart_yaml,
        text.replace("file://../common", &dependency_repo),
    )
    .unwrap();
    for (chart, repo) in [
        (
            format!("{{ repo: http://127.0.0.1:{port}, name: web, version: 1.2.3 }}"),
            format!("http://127.0.0.1:{port}"),
        ),
        (
            format!("{{ repo: oci://127.0.0.1:{port}/charts, name: web, version: 1.2.3 }}"),
            format!("oci://127.0.0.1:{port}/charts"),
        ),
        ("{ path: charts/web }".to_string(), dependency_repo.clone()),
    ] {
        let l = render(tmp.path(), &chart);
        let helm: Vec<_> = l.findings.iter().filter(|f| f.rule == "helm").collect();
        assert_eq!(helm.len(), 1, "{:#?}", l.findings);
        let f = helm[0];
        assert_eq!(f.severity, Severity::Error);
        assert!(is_network_failure(f), "{}", f.message);
        assert!(
            f.message
                .contains(&format!("cannot reach {repo} (the connection was refused)")),
            "{}",
            f.message
        );
    }
}

#[test]
fn a_local_chart_gets_its_file_dependency_without_writing_into_its_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let charts = tmp.path().join("stack/charts");
    copy_tree(&fixtures(), &charts);
    let before = tree(&charts);
    for _ in 0..2 {
        // The second render uses the copy built by the first.
        let l = render(tmp.path(), "{ path: charts/web }");
        assert_web_rendered(&l);
        assert_eq!(tree(&charts), before, "the chart folders were written to");
    }
    let built: Vec<_> = std::fs::read_dir(tmp.path().join("cache/charts"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(built.len(), 1, "{built:?}");
    // An edit to the dependency is a new build.
    let tpl = charts.join("common/templates/_labels.tpl");
    let text = std::fs::read_to_string(&tpl).unwrap();
    std::fs::write(&tpl, text.replace("common-library", "common-library-2")).unwrap();
    let l = render(tmp.path(), "{ path: charts/web }");
    let deployment = &l.stack.as_ref().unwrap().objects[1].value;
    assert_eq!(
        deployment["metadata"]["labels"]["app.kubernetes.io/part-of"],
        json!("common-library-2")
    );
}

#[test]
fn a_local_chart_gets_its_repository_dependency_without_helm_repo_add() {
    let charts = Packaged::new();
    let server = FileServer::serve(charts.repo());
    let tmp = tempfile::tempdir().unwrap();
    let web = tmp.path().join("stack/charts/web");
    copy_tree(&fixtures().join("web"), &web);
    let chart_yaml = web.join("Chart.yaml");
    let text = std::fs::read_to_string(&chart_yaml).unwrap();
    std::fs::write(&chart_yaml, text.replace("file://../common", &server.url())).unwrap();
    // Without a Chart.lock (helm resolves the version from the index) ...
    let before = tree(&web);
    let l = render(tmp.path(), "{ path: charts/web }");
    assert_web_rendered(&l);
    assert_eq!(tree(&web), before, "the chart folder was written to");
    // ... and with one, as `helm dependency update` writes it (made on a scratch copy): with a
    // lock, helm takes only repositories that are in its repositories.yaml.
    let scratch = tmp.path().join("scratch");
    copy_tree(&web, &scratch);
    helm(
        &charts.helm_home(),
        &["dependency", "update", scratch.to_str().unwrap()],
    );
    std::fs::copy(scratch.join("Chart.lock"), web.join("Chart.lock")).unwrap();
    let before = tree(&web);
    let l = render(tmp.path(), "{ path: charts/web }");
    assert_web_rendered(&l);
    assert_eq!(tree(&web), before, "the chart folder was written to");
}

#[test]
fn a_local_chart_with_vendored_dependencies_renders_in_place() {
    let tmp = tempfile::tempdir().unwrap();
    let charts = tmp.path().join("stack/charts");
    copy_tree(&fixtures(), &charts);
    // Vendored as an unpacked folder in charts/: nothing to build, nothing copied.
    copy_tree(&charts.join("common"), &charts.join("web/charts/common"));
    let l = render(tmp.path(), "{ path: charts/web }");
    assert_web_rendered(&l);
    assert!(!tmp.path().join("cache/charts").exists());
}

/// The CNCF distribution registry, built once per version of `testbed/go/registry`.
fn registry_binary() -> PathBuf {
    build_cached::build_cached(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testbed/go/registry"),
        &["go.mod", "go.sum"],
        "github.com/distribution/distribution/v3/cmd/registry",
        "registry",
        "this test pushes a chart to an OCI registry, the CNCF distribution registry",
    )
}

/// An OCI registry on 127.0.0.1, stopped when dropped.
struct Registry {
    child: Child,
    port: u16,
}

impl Registry {
    fn start(dir: &Path) -> Registry {
        let port = closed_port();
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("registry.log")).unwrap();
        let child = Command::new(registry_binary())
            .arg("serve")
            .arg(&config)
            // No tracing exporter: the registry talks to nothing but the test.
            .env("OTEL_TRACES_EXPORTER", "none")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start the registry");
        let mut registry = Registry { child, port };
        let start = Instant::now();
        loop {
            if registry.answers() {
                return registry;
            }
            let log = std::fs::read_to_string(dir.join("registry.log")).unwrap_or_default();
            if let Ok(Some(status)) = registry.child.try_wait() {
                panic!("the registry exited ({status}):\n{log}");
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the registry did not answer on 127.0.0.1:{port} within 30s:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether `GET /v2/` answers 200 (the OCI distribution API's version check).
    fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = write!(
            s,
            "GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        );
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        reply.starts_with("HTTP/1.1 200")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_chart_from_an_oci_registry_renders_over_plain_http_on_loopback() {
    let charts = Packaged::new();
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start(tmp.path());
    let oci = format!("oci://127.0.0.1:{}/charts", registry.port);
    let tgz = charts.repo().join("web-1.2.3.tgz");
    helm(
        &charts.helm_home(),
        &["push", tgz.to_str().unwrap(), &oci, "--plain-http"],
    );
    let l = render(
        tmp.path(),
        &format!("{{ repo: {oci}, name: web, version: 1.2.3 }}"),
    );
    assert_web_rendered(&l);
    // A version the registry does not have is the chart's error, not the network's.
    let l = render(
        tmp.path(),
        &format!("{{ repo: {oci}, name: web, version: 9.9.9 }}"),
    );
    let helm: Vec<_> = l.findings.iter().filter(|f| f.rule == "helm").collect();
    assert_eq!(helm.len(), 1, "{:#?}", l.findings);
    assert!(helm[0].message.contains("9.9.9"), "{}", helm[0].message);
    assert!(!is_network_failure(helm[0]), "{}", helm[0].message);
}

/// What berth hands helm, seen by a stand-in that prints its arguments and environment: plain
/// HTTP for a loopback registry only, and helm's state in berth's cache. (helm 3.22 falls
/// back to HTTP by itself when a registry answers HTTPS in plain HTTP, so the real registry
/// above cannot tell.)
#[cfg(unix)]
#[test]
fn plain_http_goes_to_loopback_registries_only_and_helms_state_to_berths_cache() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path().join("helm");
    std::fs::write(
        &fake,
        "#!/bin/sh\nprintf 'apiVersion: v1\\nkind: ConfigMap\\nmetadata:\\n  name: %s\\ndata:\\n  \
         args: \"%s\"\\n  homes: \"%s %s %s\"\\n' \"$2\" \"$*\" \"$HELM_CONFIG_HOME\" \
         \"$HELM_CACHE_HOME\" \"$HELM_DATA_HOME\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let stack = tmp.path().join("stack");
    std::fs::create_dir_all(&stack).unwrap();
    std::fs::write(
        stack.join("berth.yaml"),
        "stack: charts\ncomponents:\n  \
         here:\n    chart: { repo: oci://127.0.0.1:5000/charts, name: web, version: 1.2.3 }\n  \
         there:\n    chart: { repo: oci://registry.example.com/charts/, name: web, version: 1.2.3 }\n  \
         classic:\n    chart: { repo: http://localhost:8080, name: web, version: 1.2.3 }\n",
    )
    .unwrap();
    let cache = tmp.path().join("cache");
    let l = load(
        &stack,
        &LoadOptions {
            helm: Some(fake),
            chart_cache: Some(cache.clone()),
            ..LoadOptions::default()
        },
    );
    assert!(l.findings.is_empty(), "{:#?}", l.findings);
    let objects = &l.stack.as_ref().unwrap().objects;
    let data = |name: &str| {
        let o = objects.iter().find(|o| o.name() == name).expect(name);
        (
            o.value["data"]["args"].as_str().unwrap().to_string(),
            o.value["data"]["homes"].as_str().unwrap().to_string(),
        )
    };
    let (args, homes) = data("here");
    assert!(
        args.starts_with(
            "template here oci://127.0.0.1:5000/charts/web --plain-http --version 1.2.3 "
        ),
        "{args}"
    );
    let h = cache.join("helm");
    assert_eq!(
        homes,
        format!(
            "{} {} {}",
            h.join("config").display(),
            h.join("cache").display(),
            h.join("data").display()
        )
    );
    let (args, _) = data("there");
    assert!(
        args.starts_with("template there oci://registry.example.com/charts/web --version 1.2.3 "),
        "{args}"
    );
    let (args, _) = data("classic");
    assert!(
        args.starts_with("template classic web --repo http://localhost:8080 --version 1.2.3 "),
        "{args}"
    );
}
