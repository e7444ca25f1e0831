//! Helpers shared by the doctor's end-to-end test binaries: a stack from inline YAML, applying
//! it, diagnosing until the cluster has settled, and snapshots with generated names redacted.
#![allow(dead_code)] // each test binary uses its own subset

use std::path::Path;
use std::time::{Duration, Instant};

use berth_doctor::{Diagnosis, diagnose};
use berth_model::Object;

/// Parses `yaml` (with `NS` standing for the test namespace) as the stack file `app.yaml`.
pub fn stack(yaml: &str, ns: &str) -> Vec<Object> {
    let text = yaml.replace("NS", ns);
    let (objects, findings) = berth_stack::parse_manifest_str(Path::new("app.yaml"), &text, "app");
    assert!(
        findings
            .iter()
            .all(|f| f.severity != berth_model::Severity::Error),
        "{findings:?}"
    );
    objects
}

pub async fn apply(client: &kube::Client, objects: &[Object]) {
    berth_local::testing::apply(client, objects.iter().map(|o| &o.value)).await;
}

/// Diagnoses until `done` holds (controllers and kwok take a moment), or fails after 90 s.
pub async fn diagnose_until(
    client: &kube::Client,
    objects: &[Object],
    done: impl Fn(&[Diagnosis]) -> bool,
) -> Vec<Diagnosis> {
    let start = Instant::now();
    loop {
        let ds = diagnose(client, objects).await.expect("diagnose");
        if done(&ds) {
            return ds;
        }
        if start.elapsed() > Duration::from_secs(90) {
            panic!("diagnoses never settled: {ds:#?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// True when a diagnosis `id` covers both replicas of the `web` Deployment (kwok and the
/// scheduler reach the two pods one after the other).
pub fn both_pods(ds: &[Diagnosis], id: &str) -> bool {
    ds.iter().any(|d| {
        d.id == id
            && d.evidence
                .iter()
                .any(|e| e.text.starts_with("2 pods have this problem"))
    })
}

pub fn ids(ds: &[Diagnosis]) -> Vec<&str> {
    ds.iter().map(|d| d.id).collect()
}

/// Snapshot settings that redact the test namespace, generated pod and ReplicaSet names and
/// event counts. Each test binary asserts under its own name:
/// `settings(ns).bind(|| insta::assert_snapshot!(name, text))`.
pub fn settings(ns: &str) -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&regex_escape(ns), "[ns]");
    // Other test namespaces (`<prefix>-<hex>`), before the hash filters below: a hex suffix
    // made only of letters and digits of Kubernetes' alphabet (`2b5d7`) looks like a hash.
    settings.add_filter(r"\b(other|doctor)-[a-z]+-[0-9a-f]{1,6}\b", "[other-ns]");
    // Kubernetes' generated suffixes use an alphabet without vowels (`rand.SafeEncodeString`),
    // so words in names (`create-buckets`, `hpa-cannot-scale`) are never taken for hashes.
    // Pods of a ReplicaSet: `<deployment>-<pod-template-hash: 6 to 10>-<5>`.
    settings.add_filter(
        r"-[bcdfghjklmnpqrstvwxz2456789]{6,10}-[bcdfghjklmnpqrstvwxz2456789]{5}\b",
        "-[hash]",
    );
    // Job pods: `<job>-<5 characters of Kubernetes' random alphabet>`.
    settings.add_filter(r"-[bcdfghjklmnpqrstvwxz2456789]{5}\b", "-[hash]");
    // ReplicaSets: `<deployment>-<pod-template-hash>`.
    settings.add_filter(r"-[bcdfghjklmnpqrstvwxz2456789]{6,10}\b", "-[hash]");
    // How often a controller repeated an event (once, or `(x3)`) depends on timing.
    settings.add_filter(r" \(x[0-9]+\)", "");
    settings
}

/// The human rendering of diagnoses, as `berth doctor` prints them.
pub fn render(ds: &[Diagnosis]) -> String {
    ds.iter().map(Diagnosis::render).collect()
}

pub fn regex_escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                format!("\\{c}")
            }
        })
        .collect()
}

/// Deletes a test's namespaces (best effort: a failed test leaves them for inspection).
pub async fn cleanup(client: &kube::Client, namespaces: &[&str]) {
    for ns in namespaces {
        berth_local::testing::delete_namespace(client, ns).await;
    }
}

pub async fn setup(prefix: &str) -> (kube::Client, String) {
    let client = berth_local::testing::client().await;
    let ns = berth_local::testing::namespace(&client, prefix).await;
    (client, ns)
}

/// The 1-based line of the first line of `text` containing `needle`.
pub fn line_of(text: &str, needle: &str) -> u32 {
    text.lines()
        .position(|l| l.contains(needle))
        .expect("needle") as u32
        + 1
}
