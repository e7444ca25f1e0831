//! The last log lines of a pod, fit to show a person while `up` waits: secret values of the
//! stack redacted, long lines cut, control characters gone.
//!
//! An application that prints its configuration at start prints its database password with
//! it; the live view shows such lines on a shared CI log. So every line goes through a
//! [`Redactor`] built from the stack's Secrets before anything else sees it, and is cut only
//! after that (a cut first could leave half a value that no longer matches).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::error::{self, Error, Result};
use berth_model::REDACTED;

/// Lines longer than this (in characters, after redaction) are cut, with `…` at the end: a
/// table row, not a stack dump.
pub const MAX_LINE: usize = 200;

/// How long one log read may take: the wait calls this while it waits, and a slow node must
/// not hold it up.
const LOG_TIMEOUT: Duration = Duration::from_secs(5);

/// Replaces the stack's secret values in text with `<redacted>`. Built once per run from the
/// objects `up` applies (values materialized); holds the values in memory only.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Longest first, so a value that contains another is replaced whole.
    needles: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} values)", self.needles.len())
    }
}

impl Redactor {
    /// The values of every v1 Secret among `objects`: each `data` value decoded and as the
    /// base64 the manifest carries, each `stringData` value and its base64, and each line of
    /// a multi-line value (a key or certificate is printed line by line).
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = &'a Value>) -> Redactor {
        let mut needles = Vec::new();
        let mut add = |plain: &str, encoded: &str| {
            needles.push(plain.to_string());
            needles.push(encoded.to_string());
            if plain.contains('\n') {
                needles.extend(
                    plain
                        .lines()
                        .map(str::trim)
                        .filter(|l| l.len() >= 4)
                        .map(str::to_string),
                );
            }
        };
        for o in objects {
            if o.get("kind").and_then(Value::as_str) != Some("Secret")
                || o.get("apiVersion").and_then(Value::as_str) != Some("v1")
            {
                continue;
            }
            if let Some(Value::Object(data)) = o.get("data") {
                for v in data.values().filter_map(Value::as_str) {
                    let plain = STANDARD
                        .decode(v.trim())
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok());
                    add(plain.as_deref().unwrap_or(v), v);
                }
            }
            if let Some(Value::Object(data)) = o.get("stringData") {
                for v in data.values().filter_map(Value::as_str) {
                    add(v, &STANDARD.encode(v));
                }
            }
        }
        Redactor::new(needles)
    }

    /// A redactor for these values (empty ones are ignored).
    pub fn new(values: impl IntoIterator<Item = String>) -> Redactor {
        let mut needles: Vec<String> = values.into_iter().filter(|v| !v.is_empty()).collect();
        needles.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        needles.dedup();
        Redactor { needles }
    }

    /// `text` with every secret value replaced by `<redacted>`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for n in &self.needles {
            if out.contains(n.as_str()) {
                out = out.replace(n.as_str(), REDACTED);
            }
        }
        out
    }

    /// One log line as it may be shown: redacted, control characters (colours, carriage
    /// returns) dropped and tabs made spaces, then cut to [`MAX_LINE`] characters.
    pub fn line(&self, raw: &str) -> String {
        let redacted = self.redact(raw);
        let clean: String = redacted
            .chars()
            .filter_map(|c| match c {
                '\t' => Some(' '),
                c if c.is_control() => None,
                c => Some(c),
            })
            .collect();
        // ANSI colour sequences lose their ESC above; drop what is left of them (`[31m`).
        let clean = strip_csi_rests(&clean);
        match clean.char_indices().nth(MAX_LINE) {
            Some((cut, _)) => format!("{}…", &clean[..cut]),
            None => clean,
        }
    }
}

/// Removes `[` digits/semicolons `m` sequences left by ANSI colour codes whose ESC was dropped.
fn strip_csi_rests(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('[') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let len = after
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(after.len());
        if len > 0 && after[len..].starts_with('m') {
            rest = &after[len + 1..];
        } else {
            out.push('[');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

impl Cluster {
    /// The last `lines` log lines of `container` of pod `namespace/pod`, each passed through
    /// [`Redactor::line`]. With `container: None`, the first container that is not ready
    /// (the one that says why the pod is not), else the first container.
    ///
    /// A pod with no logs to show (gone, its container not started, a node that serves none
    /// or does not answer within 5 s) gives an empty list, not an error: the caller shows
    /// logs as extra evidence while it waits, and must not fail for want of it. Errors are
    /// for the API server refusing the read (401, 403: no `pods/log` right) or failing
    /// otherwise after the usual retries.
    pub async fn pod_log_tail(
        &self,
        namespace: &str,
        pod: &str,
        container: Option<&str>,
        lines: usize,
        redactor: &Redactor,
    ) -> Result<Vec<String>> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let deadline = Instant::now() + LOG_TIMEOUT;
        let what = || format!("reading the log of pod {namespace}/{pod}");
        let container = match container {
            Some(c) => c.to_string(),
            None => {
                let found = self.retry(deadline, || api.get_opt(pod)).await;
                match found.map_err(|e| Error::kube(what(), e))? {
                    Some(p) => match log_container(&p) {
                        Some(c) => c,
                        None => return Ok(Vec::new()),
                    },
                    None => return Ok(Vec::new()),
                }
            }
        };
        let params = LogParams {
            container: Some(container),
            tail_lines: Some(i64::try_from(lines).unwrap_or(i64::MAX)),
            ..Default::default()
        };
        let read =
            tokio::time::timeout(LOG_TIMEOUT, self.retry(deadline, || api.logs(pod, &params)))
                .await;
        let text = match read {
            Ok(Ok(text)) => text,
            // 400: the container is waiting to start or has no logs; 404: the pod is gone;
            // 500/502: the node's kubelet (kwok, when no Logs object names the pod) has none.
            Ok(Err(e)) if no_logs(&e) => return Ok(Vec::new()),
            Ok(Err(e)) => return Err(Error::kube(what(), e)),
            // A node slow to serve its log: nothing to show this time, the caller asks again.
            Err(_) => {
                tracing::debug!("{}: no answer within {LOG_TIMEOUT:?}", what());
                return Ok(Vec::new());
            }
        };
        let all: Vec<&str> = text.lines().collect();
        let from = all.len().saturating_sub(lines);
        Ok(all[from..].iter().map(|l| redactor.line(l)).collect())
    }
}

/// The container whose log says most about a pod that is not ready: the first container not
/// ready, else the first one.
fn log_container(pod: &Pod) -> Option<String> {
    let statuses = pod.status.as_ref()?.container_statuses.as_deref();
    let not_ready = statuses
        .into_iter()
        .flatten()
        .find(|s| !s.ready)
        .map(|s| s.name.clone());
    not_ready.or_else(|| {
        pod.spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .map(|c| c.name.clone())
    })
}

fn no_logs(e: &kube::Error) -> bool {
    matches!(error::status_code(e), Some(400 | 404 | 500 | 502))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stack() -> Vec<Value> {
        vec![
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"},
                "data": {"password": STANDARD.encode("hunter2-pw"), "key": STANDARD.encode("-----BEGIN KEY-----\nAAAABBBBCCCC\n-----END KEY-----\n")},
                "stringData": {"token": "tok-123456"}}),
            // Not a Secret: its values are shown as they are.
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"mode": "fast"}}),
        ]
    }

    #[test]
    fn secret_values_are_redacted_in_every_form() {
        let r = Redactor::from_objects(&stack());
        assert_eq!(
            r.line("connecting with password=hunter2-pw token tok-123456 mode fast"),
            "connecting with password=<redacted> token <redacted> mode fast"
        );
        // The base64 a manifest carries, and a line of a multi-line value.
        let b64 = STANDARD.encode("hunter2-pw");
        assert_eq!(
            r.line(&format!("env PW_B64={b64}")),
            "env PW_B64=<redacted>"
        );
        assert_eq!(r.line("key line AAAABBBBCCCC"), "key line <redacted>");
        assert_eq!(
            r.line(&format!(
                "token as base64 {}",
                STANDARD.encode("tok-123456")
            )),
            "token as base64 <redacted>"
        );
    }

    #[test]
    fn lines_without_secrets_are_left_alone_and_an_empty_stack_redacts_nothing() {
        let r = Redactor::from_objects(&stack());
        assert_eq!(r.line("listening on :8080"), "listening on :8080");
        assert_eq!(Redactor::default().line("hunter2-pw"), "hunter2-pw");
        // Empty values would match everywhere: ignored.
        let r = Redactor::from_objects(&[
            json!({"apiVersion": "v1", "kind": "Secret", "stringData": {"e": ""}}),
        ]);
        assert_eq!(r.line("plain"), "plain");
    }

    #[test]
    fn long_lines_are_cut_after_redaction_and_control_characters_dropped() {
        let r = Redactor::new(["s3cret-value".to_string()]);
        // The secret straddles the cut: redacted first, so no prefix of it survives.
        let line = format!("{}s3cret-value and more", "x".repeat(MAX_LINE - 5));
        let shown = r.line(&line);
        assert!(!shown.contains("s3cr"), "{shown}");
        assert_eq!(shown.chars().count(), MAX_LINE + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(
            r.line("\x1b[31mred\x1b[0m\tok\r"),
            "red ok",
            "colours and carriage returns would break the table"
        );
        assert_eq!(r.line("a [b] [1;2] list[0]"), "a [b] [1;2] list[0]");
        // Cut on a character boundary.
        let wide = "é".repeat(MAX_LINE + 10);
        assert_eq!(r.line(&wide).chars().count(), MAX_LINE + 1);
    }

    #[test]
    fn debug_shows_no_value() {
        let r = Redactor::new(["hunter2".to_string()]);
        assert_eq!(format!("{r:?}"), "Redactor(1 values)");
    }
}
