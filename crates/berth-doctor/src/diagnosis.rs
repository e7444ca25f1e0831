//! A diagnosis: what is wrong, the evidence quoted from the cluster, and the fix, pointing at
//! the manifest line where the fix belongs. Rendered for people and as one JSON object.

use std::fmt::Write;
use std::path::PathBuf;

use berth_model::{Object, Severity};
use serde::Serialize;

/// Where a piece of evidence was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EvidenceKind {
    /// An Event the cluster recorded (`reason: message`).
    Event,
    /// A status condition or container state.
    Condition,
    /// A container log line.
    Log,
    /// A field of a live object's spec or status, or the absence of an object.
    State,
}

/// One quoted fact that supports a diagnosis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// Where the fact was read.
    pub kind: EvidenceKind,
    /// The object the fact is about (`Pod/shop/web-5d8f-x2k9p`, `Node/worker-1`).
    pub subject: String,
    /// The fact, quoted as the cluster wrote it where it can be.
    pub text: String,
}

/// One diagnosis of the stack: the JSON shape `berth doctor --format json` prints per line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// Stable id of the diagnosis (`crash-loop`, `pvc-pending`, ...); `berth explain` knows them.
    pub id: &'static str,
    /// `error`: the stack does not work this way; `warning`: it may, or will once something
    /// outside the stack acts (a load-balancer controller, a rollout finishing).
    pub severity: Severity,
    /// The stack object the diagnosis is about (`Deployment/shop/web`).
    pub object: String,
    /// Where the fix belongs in the stack's manifests, when berth can tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// 1-based line in `file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// 1-based column in `file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// What is wrong, in one sentence.
    pub cause: String,
    /// The facts quoted from the cluster that show it.
    pub evidence: Vec<Evidence>,
    /// What to do about it.
    pub fix: String,
    /// What the diagnosis is about beyond its object (`Secret/flow/flow-db`), so that two rules
    /// finding the same thing from two sides report it once.
    #[serde(skip)]
    pub(crate) topic: Option<String>,
}

impl Diagnosis {
    /// A diagnosis about `object` pointing at the node `pointer` of its manifest.
    pub fn at(
        id: &'static str,
        severity: Severity,
        object: &Object,
        pointer: &str,
        cause: impl Into<String>,
        fix: impl Into<String>,
    ) -> Diagnosis {
        let pos = object.pos(pointer);
        let located = pos.line > 0;
        Diagnosis {
            id,
            severity,
            object: object.display_name(),
            file: located.then(|| object.file.path.clone()),
            line: located.then_some(pos.line),
            column: located.then_some(pos.column),
            cause: cause.into(),
            evidence: Vec::new(),
            fix: fix.into(),
            topic: None,
        }
    }

    /// A diagnosis about a live object that has no manifest in the stack (a webhook
    /// configuration installed by someone else, say).
    pub fn live(
        id: &'static str,
        severity: Severity,
        object: impl Into<String>,
        cause: impl Into<String>,
        fix: impl Into<String>,
    ) -> Diagnosis {
        Diagnosis {
            id,
            severity,
            object: object.into(),
            file: None,
            line: None,
            column: None,
            cause: cause.into(),
            evidence: Vec::new(),
            fix: fix.into(),
            topic: None,
        }
    }

    /// Adds a piece of evidence.
    pub fn with(
        mut self,
        kind: EvidenceKind,
        subject: impl Into<String>,
        text: impl Into<String>,
    ) -> Diagnosis {
        self.evidence.push(Evidence {
            kind,
            subject: subject.into(),
            text: text.into(),
        });
        self
    }

    pub(crate) fn topic(mut self, topic: impl Into<String>) -> Diagnosis {
        self.topic = Some(topic.into());
        self
    }

    /// The diagnosis as a person reads it, like a compiler error:
    ///
    /// ```text
    /// error[crash-loop]: Deployment/shop/web: container `web` keeps crashing: ...
    ///   --> web/deployment.yaml:21:13
    ///   = event BackOff (Pod/shop/web-5d8f-x2k9p): Back-off restarting failed container
    ///   = fix: ...
    /// ```
    pub fn render(&self) -> String {
        let mut s = String::new();
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        let _ = writeln!(s, "{level}[{}]: {}: {}", self.id, self.object, self.cause);
        if let (Some(file), Some(line), Some(col)) = (&self.file, self.line, self.column) {
            let _ = writeln!(s, "  --> {}:{line}:{col}", file.display());
        }
        for e in &self.evidence {
            let kind = match e.kind {
                EvidenceKind::Event => "event",
                EvidenceKind::Condition => "condition",
                EvidenceKind::Log => "log",
                EvidenceKind::State => "state",
            };
            let _ = writeln!(s, "  = {kind} ({}): {}", e.subject, e.text);
        }
        let _ = writeln!(s, "  = fix: {}", self.fix);
        s
    }
}
