//! berth-yaml against kubectl's own YAML reader, document by document.
//!
//! berth-yaml promises to read a manifest the way `kubectl apply -f` does. This test holds it
//! to that: every input is read by berth-yaml and by `testbed/go/yamljson` (kubectl's reading
//! code: k8s.io/apimachinery's document splitter and sigs.k8s.io/yaml, see its main.go), and
//! both must give the same verdict for every document — read, with the same JSON, or refused.
//! The only differences allowed are the deliberate ones listed in berth-yaml's crate docs;
//! [`EXCEPTIONS`] names each one by input and document, and an exception that no longer
//! happens is an error too, so the list cannot go stale.
//!
//! Inputs: every file in `tests/differential/` (small, focused files written for this test),
//! the fuzz corpus `fuzz/corpus/yaml/` when it exists (it is not in git; its inputs that are
//! not UTF-8 are skipped, as the fuzz target reads bytes lossily), and the manifests of
//! `examples/` and `blueprints/`.
//!
//! JSON is compared the way the API server reads it: numbers are integers when the JSON text
//! is an integer that fits int64 and floats otherwise (Go prints the float 1e16 as
//! `10000000000000000`, which the API server reads as an integer; berth must send the same).
//!
//! The Go program is built once per version of its sources into `~/.cache/berth/` (needs Go;
//! the test fails, never skips, without it). Besides the verdicts, every document berth reads
//! is checked for its positions: every node has one, and its line and column match its byte
//! offset.

#[path = "../../../testbed/go/build_cached.rs"]
mod build_cached;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// Why berth deliberately reads a document differently from kubectl. Each variant is one
/// entry of "Deliberate differences from kubectl" in berth-yaml's crate docs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    /// kubectl keeps the last of two equal keys; berth refuses the document.
    DuplicateKey,
    /// kubectl replaces bytes that are not UTF-8 with U+FFFD (and decodes UTF-16 with a BOM);
    /// berth refuses a file that is not UTF-8.
    NotUtf8,
    /// kubectl reads the first document of a piece and ignores a second one (after `...`)
    /// without a word; berth refuses it.
    SecondDocument,
    /// kubectl's YAML 1.1 scanner refuses tabs that YAML 1.2 allows as separation; berth
    /// reads them.
    TabSeparation,
    /// kubectl allows 10,000 levels of nesting, berth 255.
    NestingLimit,
}

/// One deliberate difference: an input (path relative to the repository), the index of the
/// document in kubectl's list of verdicts, and why.
struct Exception {
    file: &'static str,
    doc: usize,
    reason: Reason,
}

const fn exception(file: &'static str, doc: usize, reason: Reason) -> Exception {
    Exception { file, doc, reason }
}

/// A file of the corpus, as a path relative to the repository.
macro_rules! concat_dir {
    ($file:literal) => {
        concat!("crates/berth-yaml/tests/differential/", $file)
    };
}

/// Every deliberate difference met by the inputs. Nothing else may differ.
const EXCEPTIONS: &[Exception] = {
    use Reason::*;
    &[
        exception(concat_dir!("duplicate-keys.yaml"), 0, DuplicateKey),
        exception(concat_dir!("duplicate-keys-flow.yaml"), 0, DuplicateKey),
        exception(
            concat_dir!("duplicate-keys-in-second-document.yaml"),
            1,
            DuplicateKey,
        ),
        exception(
            concat_dir!("duplicate-keys-int-float.yaml"),
            0,
            DuplicateKey,
        ),
        exception(concat_dir!("duplicate-keys-json.json"), 0, DuplicateKey),
        exception(concat_dir!("duplicate-keys-nested.yaml"), 0, DuplicateKey),
        exception(concat_dir!("duplicate-keys-number.yaml"), 0, DuplicateKey),
        exception(
            concat_dir!("duplicate-keys-quoted-plain.yaml"),
            0,
            DuplicateKey,
        ),
        exception(concat_dir!("duplicate-keys-resolved.yaml"), 0, DuplicateKey),
        exception(concat_dir!("non-utf8-in-comment.yaml"), 0, NotUtf8),
        exception(concat_dir!("non-utf8-latin1-value.yaml"), 0, NotUtf8),
        exception(concat_dir!("non-utf8-second-document.yaml"), 0, NotUtf8),
        exception(concat_dir!("utf16le-bom.yaml"), 0, NotUtf8),
        exception(concat_dir!("doc-end-then-content.yaml"), 0, SecondDocument),
        exception(concat_dir!("cr-only-separators.yaml"), 0, SecondDocument),
        exception(concat_dir!("tab-after-dash.yaml"), 0, TabSeparation),
        exception(concat_dir!("tab-line-only.yaml"), 0, TabSeparation),
        exception(concat_dir!("deep-flow-300.yaml"), 0, NestingLimit),
        exception(concat_dir!("deep-block-300.yaml"), 0, NestingLimit),
        exception(concat_dir!("deep-block-sequence-300.yaml"), 0, NestingLimit),
    ]
};

/// One document's verdict.
#[derive(Clone, Debug)]
enum Verdict {
    Read(Value),
    Refused(String),
}

fn main_repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn berth_reads_yaml_like_kubectl() {
    let repo = main_repo();
    let files = inputs(&repo);
    assert!(
        files.len() > 50,
        "only {} inputs found under {}",
        files.len(),
        repo.display()
    );
    let reference = yamljson(&repo);
    let kubectl = kubectl_verdicts(&reference, &files);

    let mut report = String::new();
    let mut disagreements = 0;
    let mut used = vec![false; EXCEPTIONS.len()];
    let mut documents = 0;
    let mut skipped = 0;
    for (file, path) in &files {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{file}: {e}"));
        let theirs = kubectl.get(file).cloned().unwrap_or_default();
        documents += theirs.len();
        let ours = match std::str::from_utf8(&bytes) {
            Ok(text) => {
                position_problems(file, text, &mut report, &mut disagreements);
                berth_verdicts(text)
            }
            // The fuzz target reads bytes lossily; such inputs say nothing about berth.
            Err(_) if file.starts_with("fuzz/") => {
                skipped += 1;
                continue;
            }
            // berth-stack refuses the whole file ("this file is not UTF-8 text").
            Err(_) => {
                let i = EXCEPTIONS
                    .iter()
                    .position(|e| e.file == file && e.reason == Reason::NotUtf8);
                match i {
                    Some(i) if theirs.iter().any(|v| matches!(v, Verdict::Read(_))) => {
                        used[i] = true;
                    }
                    _ => {
                        disagreements += 1;
                        let _ = writeln!(
                            report,
                            "{file}: not UTF-8, so berth refuses the file; kubectl: {theirs:?}"
                        );
                    }
                }
                continue;
            }
        };
        if ours.len() != theirs.len() {
            disagreements += 1;
            let _ = writeln!(
                report,
                "{file}: berth sees {} documents, kubectl {}\n  berth:   {}\n  kubectl: {}",
                ours.len(),
                theirs.len(),
                summary(&ours),
                summary(&theirs)
            );
            continue;
        }
        for (doc, (b, k)) in ours.iter().zip(&theirs).enumerate() {
            let exception = EXCEPTIONS
                .iter()
                .position(|e| e.file == file && e.doc == doc);
            let differs = match (b, k) {
                (Verdict::Read(b), Verdict::Read(k)) => !same_json(b, k),
                (Verdict::Refused(_), Verdict::Refused(_)) => false,
                _ => true,
            };
            match (differs, exception) {
                // An exception that no longer differs is reported below, once.
                (false, _) => {}
                (true, Some(i)) if expected(EXCEPTIONS[i].reason, b, k) => used[i] = true,
                _ => {
                    disagreements += 1;
                    let _ = writeln!(
                        report,
                        "{file} document {doc}:{}\n  berth:   {}\n  kubectl: {}",
                        exception.map_or(String::new(), |i| format!(
                            " (listed as {:?}, but that is not what differs)",
                            EXCEPTIONS[i].reason
                        )),
                        show(b),
                        show(k)
                    );
                }
            }
        }
    }
    for (e, used) in EXCEPTIONS.iter().zip(used) {
        if !used {
            disagreements += 1;
            let _ = writeln!(
                report,
                "{} document {}: listed as a deliberate difference ({:?}) but berth and kubectl \
                 agree there now; remove it from EXCEPTIONS",
                e.file, e.doc, e.reason
            );
        }
    }
    eprintln!(
        "compared {} inputs ({skipped} fuzz inputs skipped: not UTF-8), {documents} kubectl \
         documents, {} deliberate differences",
        files.len() - skipped,
        EXCEPTIONS.len()
    );
    assert!(
        disagreements == 0,
        "{disagreements} disagreements between berth-yaml and kubectl:\n{report}"
    );
}

/// Whether a listed difference is the one its reason describes.
fn expected(reason: Reason, berth: &Verdict, kubectl: &Verdict) -> bool {
    let refused_with = |text: &str| matches!(berth, Verdict::Refused(m) if m.contains(text));
    let kubectl_read = matches!(kubectl, Verdict::Read(_));
    match reason {
        Reason::DuplicateKey => kubectl_read && refused_with("duplicate key"),
        Reason::SecondDocument => kubectl_read && refused_with("second document"),
        Reason::NestingLimit => kubectl_read && refused_with("nest"),
        Reason::TabSeparation => {
            matches!(berth, Verdict::Read(_))
                && matches!(kubectl, Verdict::Refused(m) if m.contains("tab") || m.contains("cannot start any token"))
        }
        // Decided for the whole file, before any document (see the test).
        Reason::NotUtf8 => false,
    }
}

/// Every input, keyed by its path relative to the repository (which is how the Go program
/// is given them too, so its output names them the same way).
fn inputs(repo: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for dir in [
        "crates/berth-yaml/tests/differential",
        "fuzz/corpus/yaml",
        "examples",
        "blueprints",
    ] {
        let mut found = Vec::new();
        collect(&repo.join(dir), dir == "fuzz/corpus/yaml", &mut found);
        found.sort();
        for path in found {
            let rel = path
                .strip_prefix(repo)
                .expect("inside the repository")
                .to_string_lossy()
                .into_owned();
            out.push((rel, path));
        }
    }
    out
}

fn collect(dir: &Path, every_file: bool, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, every_file, out);
        } else if every_file
            || path
                .extension()
                .is_some_and(|e| e == "yaml" || e == "yml" || e == "json")
        {
            out.push(path);
        }
    }
}

/// berth's verdicts for one text, in document order, skipping what it skips (empty
/// documents and documents that are only null).
fn berth_verdicts(text: &str) -> Vec<Verdict> {
    let parsed = berth_yaml::parse(text);
    let mut by_index: Vec<(usize, Verdict)> = parsed
        .documents
        .into_iter()
        .map(|d| (d.index, Verdict::Read(d.value)))
        .chain(
            parsed
                .errors
                .into_iter()
                .map(|e| (e.doc, Verdict::Refused(e.to_string()))),
        )
        .collect();
    by_index.sort_by_key(|(i, _)| *i);
    by_index.into_iter().map(|(_, v)| v).collect()
}

/// Positions must exist for every node and agree with their byte offsets.
fn position_problems(file: &str, text: &str, report: &mut String, problems: &mut usize) {
    for doc in berth_yaml::parse(text).documents {
        let mut pointers = Vec::new();
        all_pointers(&doc.value, &mut String::new(), &mut pointers);
        let mut wanted = Vec::new();
        for p in pointers {
            match doc.positions.get(&p) {
                Some(pos) => wanted.push((pos.offset as usize, p, *pos)),
                None => {
                    *problems += 1;
                    let _ = writeln!(
                        report,
                        "{file} document {}: no position for {p:?}",
                        doc.index
                    );
                }
            }
        }
        // One walk over the text for all positions (long lines hold thousands of nodes).
        wanted.sort_by_key(|(offset, ..)| *offset);
        let mut wanted = wanted.into_iter().peekable();
        let (mut line, mut column) = (1usize, 1usize);
        let mut chars = text.char_indices().peekable();
        loop {
            let here = chars.peek().map_or(text.len(), |(i, _)| *i);
            while let Some((offset, p, pos)) = wanted.next_if(|(o, ..)| *o <= here) {
                if offset != here || (pos.line as usize, pos.column as usize) != (line, column) {
                    *problems += 1;
                    let _ = writeln!(
                        report,
                        "{file} document {}: {p:?} is said to be at {}:{} (offset {offset}), \
                         but that offset is {}",
                        doc.index,
                        pos.line,
                        pos.column,
                        if offset == here {
                            format!("at {line}:{column}")
                        } else {
                            "inside a character".to_string()
                        }
                    );
                }
            }
            let Some((_, c)) = chars.next() else { break };
            match c {
                // A line break is `\n`, `\r\n` or a lone `\r`.
                '\r' if chars.peek().is_some_and(|(_, n)| *n == '\n') => {}
                '\n' | '\r' => (line, column) = (line + 1, 1),
                // A byte-order mark starting a line takes no column (the parser skips it).
                '\u{feff}' if column == 1 => {}
                _ => column += 1,
            }
        }
    }
}

fn all_pointers(v: &Value, at: &mut String, out: &mut Vec<String>) {
    out.push(at.clone());
    let len = at.len();
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                at.push('/');
                at.push_str(&berth_yaml::escape_pointer_token(k));
                all_pointers(child, at, out);
                at.truncate(len);
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                let _ = write!(at, "/{i}");
                all_pointers(child, at, out);
                at.truncate(len);
            }
        }
        _ => {}
    }
}

/// JSON equality as the API server reads numbers (see the module docs).
fn same_json(a: &Value, b: &Value) -> bool {
    #[derive(PartialEq)]
    enum N {
        Int(i64),
        Float(f64),
    }
    let n = |n: &serde_json::Number| match n.as_i64() {
        Some(i) => N::Int(i),
        None => N::Float(n.as_f64().unwrap_or(f64::NAN)),
    };
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => n(x) == n(y),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_json(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, a)| y.get(k).is_some_and(|b| same_json(a, b)))
        }
        _ => a == b,
    }
}

fn show(v: &Verdict) -> String {
    match v {
        Verdict::Read(v) => {
            let s = v.to_string();
            if s.len() > 2000 {
                format!(
                    "read {}… ({} bytes)",
                    &s[..s.floor_char_boundary(2000)],
                    s.len()
                )
            } else {
                format!("read {s}")
            }
        }
        Verdict::Refused(e) => format!("refused: {e}"),
    }
}

fn summary(vs: &[Verdict]) -> String {
    vs.iter()
        .map(|v| match v {
            Verdict::Read(_) => "read",
            Verdict::Refused(_) => "refused",
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// kubectl's verdicts for all files, from one run of the Go program.
fn kubectl_verdicts(program: &Path, files: &[(String, PathBuf)]) -> BTreeMap<String, Vec<Verdict>> {
    let out = Command::new(program)
        .args(files.iter().map(|(rel, _)| rel))
        .current_dir(main_repo())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
    assert!(
        out.status.success(),
        "{} failed: {}",
        program.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut verdicts: BTreeMap<String, Vec<Verdict>> = BTreeMap::new();
    for line in String::from_utf8(out.stdout)
        .expect("yamljson prints UTF-8")
        .lines()
    {
        let v: Value = match serde_json::from_str(line) {
            Ok(v) => v,
            // serde_json stops at 128 levels of nesting, which only the deep files of the
            // corpus pass: the verdict is still known (the fields come in a fixed order).
            Err(e) if line.contains(r#","ok":true,"json":"#) => {
                let file = line
                    .strip_prefix(r#"{"file":""#)
                    .and_then(|rest| rest.split_once(r#"","ok""#))
                    .map(|(file, _)| file.to_string())
                    .unwrap_or_else(|| panic!("{e}: {line}"));
                let note = Value::String(format!("(too deep to compare: {e})"));
                verdicts.entry(file).or_default().push(Verdict::Read(note));
                continue;
            }
            Err(e) => panic!("{e}: {line}"),
        };
        let file = v["file"].as_str().expect("file").to_string();
        let verdict = if v["ok"] == Value::Bool(true) {
            Verdict::Read(v["json"].clone())
        } else {
            Verdict::Refused(v["error"].as_str().unwrap_or_default().to_string())
        };
        verdicts.entry(file).or_default().push(verdict);
    }
    verdicts
}

/// The reference program, built once per version of its sources.
fn yamljson(repo: &Path) -> PathBuf {
    build_cached::build_cached(
        &repo.join("testbed/go/yamljson"),
        &["go.mod", "go.sum", "main.go"],
        ".",
        "yamljson",
        "this test compares berth-yaml with kubectl's YAML reader, a Go program",
    )
}
