//! Findings for people and for machines.
//!
//! * [`human`]: like a compiler error (miette): `rule` and severity, the message, the snippet of
//!   the file with a label at the line and column, why it matters, and the fix. Colour only when
//!   asked (the CLI asks when stdout is a terminal).
//! * [`json`]: one stable document; each finding has `rule`, `severity`, `file`, `line`,
//!   `column`, `message`, `fix`.
//! * [`sarif`]: SARIF 2.1.0 for code-scanning tools, with rule metadata from the registry.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use berth_model::{Finding, Severity, SourceFile};
use miette::{
    Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource, SourceCode,
    SourceSpan,
};
use serde::Serialize;
use serde_json::{Value, json};

use crate::rules::{self, REGISTRY};

/// Output formats of `berth check --format`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
    Sarif,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "human" => Ok(Format::Human),
            "json" => Ok(Format::Json),
            "sarif" => Ok(Format::Sarif),
            _ => Err(format!(
                "unknown format `{s}` (expected human, json or sarif)"
            )),
        }
    }
}

/// Renders `findings` in `format`; `color` only matters for [`Format::Human`].
pub fn render(findings: &[Finding], format: Format, color: bool) -> String {
    match format {
        Format::Human => human(findings, color),
        Format::Json => json(findings),
        Format::Sarif => sarif(findings),
    }
}

/// Counts of findings per severity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

impl Summary {
    /// Counts `findings`.
    pub fn of(findings: &[Finding]) -> Summary {
        let mut s = Summary::default();
        for f in findings {
            match f.severity {
                Severity::Error => s.errors += 1,
                Severity::Warning => s.warnings += 1,
                Severity::Info => s.infos += 1,
            }
        }
        s
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
        write!(
            f,
            "{}, {}",
            plural(self.errors, "error"),
            plural(self.warnings, "warning")
        )?;
        if self.infos > 0 {
            write!(f, ", {}", plural(self.infos, "note"))?;
        }
        Ok(())
    }
}

/// The first sentence of a rule's "Why is this bad?" section: the label under the snippet.
pub fn why(rule_id: &str) -> Option<String> {
    let explain = rules::find(rule_id)?.explain;
    let section = explain.split("## Why is this bad?").nth(1)?.trim_start();
    let para = section.split("\n\n").next()?.replace('\n', " ");
    // The first full stop that ends a sentence (not one of an ellipsis).
    let bytes = para.as_bytes();
    let end = (1..bytes.len())
        .find(|&i| {
            bytes[i] == b'.' && bytes[i - 1] != b'.' && bytes.get(i + 1).is_none_or(|c| *c == b' ')
        })
        .map(|i| i + 1)
        .unwrap_or(para.len());
    Some(para[..end].trim().to_string())
}

/// A finding as a miette diagnostic.
struct Diag<'a> {
    finding: &'a Finding,
    source: Option<NamedSource<Arc<str>>>,
    span: Option<SourceSpan>,
    label: Option<String>,
    why: Option<String>,
}

impl fmt::Debug for Diag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Diag")
            .field("rule", &self.finding.rule)
            .finish()
    }
}

impl fmt::Display for Diag<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.finding.message)
    }
}

impl std::error::Error for Diag<'_> {}

impl Diagnostic for Diag<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(&self.finding.rule))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.finding.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
            Severity::Info => miette::Severity::Advice,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        let mut help = format!("fix: {}", self.finding.fix);
        if let Some(why) = &self.why {
            help.push_str(&format!(
                "\nwhy: {why} (berth explain {})",
                self.finding.rule
            ));
        }
        Some(Box::new(help))
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.source.as_ref().map(|s| s as &dyn SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let span = self.span?;
        Some(Box::new(std::iter::once(LabeledSpan::new_with_span(
            self.label.clone(),
            span,
        ))))
    }
}

/// The length of the token at `offset` (a key up to its `:`, a scalar up to the line end).
fn token_len(text: &str, offset: usize) -> usize {
    let rest = text.get(offset..).unwrap_or("");
    let line = rest.split('\n').next().unwrap_or("");
    let line = line.strip_prefix("- ").unwrap_or(line);
    let end = line
        .find(": ")
        .or_else(|| line.strip_suffix(':').map(str::len))
        .unwrap_or(line.trim_end().len());
    end.max(1).min(rest.len())
}

/// The texts of the findings' files, each read once per report (a manifest's text is read
/// back from disk: see [`SourceFile::text`]).
#[derive(Default)]
struct Texts(HashMap<*const SourceFile, Option<Arc<str>>>);

impl Texts {
    fn of(&mut self, src: &Arc<SourceFile>) -> Option<Arc<str>> {
        self.0
            .entry(Arc::as_ptr(src))
            .or_insert_with(|| src.text())
            .clone()
    }
}

fn diag<'f>(f: &'f Finding, texts: &mut Texts) -> Diag<'f> {
    let text = f
        .source
        .as_ref()
        .and_then(|src| Some((src, texts.of(src)?)));
    let (source, span) = match (text, f.span) {
        (Some((src, text)), Some((offset, len))) if (offset as usize) <= text.len() => {
            let offset = offset as usize;
            let len = if len == 0 {
                token_len(&text, offset)
            } else {
                len as usize
            };
            let named = NamedSource::new(src.path.display().to_string(), text);
            (Some(named), Some(SourceSpan::from((offset, len))))
        }
        _ => (None, None),
    };
    let label = rules::find(&f.rule).map(|r| r.summary.to_string());
    Diag {
        finding: f,
        source,
        span,
        label,
        why: why(&f.rule),
    }
}

/// Compiler-style text: one block per finding, then a summary line.
pub fn human(findings: &[Finding], color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false)
        .with_context_lines(1);
    let mut out = String::new();
    let mut texts = Texts::default();
    for f in findings {
        let d = diag(f, &mut texts);
        if d.source.is_some() {
            if handler.render_report(&mut out, &d).is_err() {
                plain(&mut out, f);
            }
        } else {
            plain(&mut out, f);
        }
        out.push('\n');
    }
    if findings.is_empty() {
        out.push_str("no findings\n");
    } else {
        out.push_str(&format!("{}\n", Summary::of(findings)));
    }
    out
}

fn plain(out: &mut String, f: &Finding) {
    let sev = match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    };
    out.push_str(&format!(
        "{sev}[{}]: {}\n  --> {}:{}:{}\n  fix: {}\n",
        f.rule,
        f.message,
        f.file.display(),
        f.line,
        f.column,
        f.fix
    ));
}

/// The stable JSON document of `berth check --format json`.
pub fn json(findings: &[Finding]) -> String {
    let doc = json!({
        "version": 1,
        "summary": Summary::of(findings),
        "findings": findings,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// SARIF 2.1.0: one run of the `berth` driver with every registered rule.
pub fn sarif(findings: &[Finding]) -> String {
    let rules: Vec<Value> = REGISTRY
        .iter()
        .map(|r| {
            json!({
                "id": r.id,
                "name": r.id,
                "shortDescription": {"text": r.summary},
                "fullDescription": {"text": why(r.id).unwrap_or_default()},
                "help": {"text": r.explain, "markdown": r.explain},
                "defaultConfiguration": {"level": level(r.severity)},
            })
        })
        .collect();
    let results: Vec<Value> = findings
        .iter()
        .map(|f| {
            let mut result = json!({
                "ruleId": f.rule,
                "level": level(f.severity),
                "message": {"text": format!("{}; fix: {}", f.message, f.fix)},
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": {"uri": f.file.to_string_lossy().replace('\\', "/")},
                        "region": {"startLine": f.line.max(1), "startColumn": f.column.max(1)},
                    }
                }],
            });
            if let Some(i) = REGISTRY.iter().position(|r| r.id == f.rule) {
                result["ruleIndex"] = json!(i);
            }
            result
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "berth",
                "informationUri": "https://github.com/berth-dev/berth",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// What `berth explain` prints without an argument: every rule, its severity and summary.
pub fn rule_list() -> String {
    let width = REGISTRY.iter().map(|r| r.id.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in REGISTRY {
        out.push_str(&format!(
            "{:width$}  {:7}  {}\n",
            r.id,
            level(r.severity),
            r.summary
        ));
    }
    out
}

/// What `berth explain ID` prints, or None for an unknown id.
pub fn explain(id: &str) -> Option<String> {
    let r = rules::find(id)?;
    Some(format!(
        "# {}\n\n{} (default severity: {})\n\n{}",
        r.id,
        r.summary,
        level(r.severity),
        r.explain
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing;

    const YAML: &str = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: nginx:latest
          readinessProbe: {httpGet: {path: /, port: 80}}
          resources:
            requests: {cpu: 100m, memory: 64Mi}
            limits: {memory: 128Mi}
---
apiVersion: autoscaling/v2beta2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 4
";

    fn findings() -> Vec<Finding> {
        crate::check(&testing::stack(YAML))
    }

    #[test]
    fn human_is_compiler_like() {
        insta::assert_snapshot!(human(&findings(), false));
    }

    #[test]
    fn json_is_stable() {
        insta::assert_snapshot!(json(&findings()));
    }

    #[test]
    fn sarif_has_rules_and_results() {
        let doc: Value = serde_json::from_str(&sarif(&findings())).unwrap();
        assert_eq!(doc["version"], "2.1.0");
        assert_eq!(
            doc["runs"][0]["tool"]["driver"]["rules"]
                .as_array()
                .unwrap()
                .len(),
            REGISTRY.len()
        );
        insta::assert_json_snapshot!(doc["runs"][0]["results"]);
    }

    #[test]
    fn explain_prints_the_rule_doc() {
        for r in REGISTRY {
            let text = explain(r.id).unwrap();
            for section in [
                "## What it does",
                "## Why is this bad?",
                "## Example",
                "## Fix",
            ] {
                assert!(text.contains(section), "{} lacks {section}", r.id);
            }
            assert!(why(r.id).is_some_and(|w| !w.is_empty()), "{}", r.id);
        }
        assert!(explain("nope").is_none());
        insta::assert_snapshot!(rule_list());
    }

    #[test]
    fn findings_without_source_render_plainly() {
        let f = Finding {
            rule: "schema".into(),
            severity: Severity::Error,
            file: "berth.yaml".into(),
            line: 1,
            column: 1,
            message: "Kubernetes 1.12 is not supported".into(),
            fix: "set kubernetes: 1.34".into(),
            span: None,
            source: None,
        };
        insta::assert_snapshot!(human(&[f], false));
    }
}
