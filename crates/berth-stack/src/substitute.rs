//! `${name}` placeholders, replaced scalar by scalar in parsed YAML.
//!
//! Substitution works on parsed values, never on text, so manifests stay valid YAML and every
//! position stays exact. It runs on the files and chart values a berth.yaml names; a plain
//! folder or file of manifests (no berth.yaml) is read exactly as written. The rules:
//! - only names the stack declares (`values:`, `--values FILE`, `--set`) are placeholders; any
//!   other `${NAME}` (a container's shell script, a dashboard, an envsubst template) is left
//!   exactly as written and is no finding;
//! - except an undeclared name close to a declared one ([`typo_of`]): that is a `placeholder`
//!   error with "did you mean", pointing at the placeholder itself, inside block and multi-line
//!   scalars too ([`placeholder_pos`]);
//! - a plain scalar that is only `${name}` takes the value's type (`replicas: ${replicas}` is a
//!   number when the value is one; a mapping value inserts a mapping);
//! - a placeholder inside text, or in a quoted or block scalar (`"${port}"`), is replaced by the
//!   value as text;
//! - `$${` is a literal `${`, whatever follows: `$${replicas}` renders `${replicas}`, and so
//!   does `$${HOST}` for an undeclared `HOST`. The escape does not depend on which names are
//!   declared, so it always means the same, and it is the way out when a name of another tool
//!   is close to a value's name (`$${HOST}` next to a value `host`). Text from elsewhere rarely
//!   holds `$${` (shell's `$$` followed by `{`);
//! - only `${name}` with a name of letters, digits, `_`, `-` and `.` is looked at; other
//!   `${...}` (shell's `${HOME:-/root}`) is left alone;
//! - a declared value never turns into an empty string: a null value inside text, or a list
//!   or mapping inside text, is an error, and the scalar is left as written.

use std::sync::Arc;

use berth_model::{Finding, Pos, Severity, SourceFile};
use berth_yaml::ScalarSource;
use indexmap::IndexMap;
use serde_json::Value;

use crate::manifest::{finding_at, nearest};

/// Rule id for placeholders that cannot be filled.
pub const PLACEHOLDER: &str = "placeholder";

/// A placeholder that could not be filled, at `pointer` of the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unfilled {
    /// JSON pointer of the scalar in its document.
    pub pointer: String,
    /// The placeholder's name, and which `${name}` of its scalar it is (0 for the first).
    pub name: String,
    pub nth: usize,
    /// Why it could not be filled.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

/// Substitute one manifest document of `file`, with a `placeholder` error for each placeholder
/// that cannot be filled, at the placeholder itself when its scalar's source is known.
pub(crate) fn document(
    file: &Arc<SourceFile>,
    doc: &mut berth_yaml::Document,
    values: &IndexMap<String, Value>,
    findings: &mut Vec<Finding>,
) {
    let mut unfilled = Vec::new();
    let mut value = std::mem::take(&mut doc.value);
    let quoted = |p: &str| doc.is_quoted(p);
    substitute(
        &mut value,
        &mut String::new(),
        values,
        &quoted,
        &mut unfilled,
    );
    doc.value = value;
    for u in unfilled {
        let at = doc
            .dollar_scalars
            .get(&u.pointer)
            .and_then(|s| placeholder_pos(file.kept_text(), s, &u.name, u.nth));
        let pos = at.unwrap_or_else(|| nearest(&doc.positions, &u.pointer));
        let mut finding = finding_at(file, PLACEHOLDER, Severity::Error, pos, u.message, u.fix);
        if at.is_some() {
            let len = u32::try_from(u.name.len() + 3).unwrap_or(0);
            finding.span = Some((pos.offset, len));
        }
        findings.push(finding);
    }
}

/// Replace placeholders in `value` (a document or a subtree at `pointer`). `quoted` holds the
/// pointers of scalars that were quoted in the source (see `berth_yaml::Document::is_quoted`).
pub fn substitute(
    value: &mut Value,
    pointer: &mut String,
    values: &IndexMap<String, Value>,
    quoted: &dyn Fn(&str) -> bool,
    out: &mut Vec<Unfilled>,
) {
    match value {
        Value::String(s) => {
            if !s.contains('$') {
                return;
            }
            let mut problems = Vec::new();
            if let Some(v) = substitute_str(s, values, !quoted(pointer), &mut problems) {
                *value = v;
            }
            out.extend(problems.into_iter().map(|p| Unfilled {
                pointer: pointer.clone(),
                ..p
            }));
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                substitute(item, pointer, values, quoted, out);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&berth_yaml::escape_pointer_token(k));
                substitute(v, pointer, values, quoted, out);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// The declared name that `name` is probably a misspelling of: the same name in another case
/// (`Replicas` for `replicas`), or, case ignored, within a Damerau-Levenshtein distance of 1
/// when the shorter of the two names has 4 to 7 characters and of 2 from 8 characters on
/// (`replicsa`, `imagee`, `image_tag` for `image-tag`). Shorter names only match by case:
/// `${A}` next to a value `B`, or a shell loop's `${i}` next to `n`, is another variable, not
/// a typo. The closest name wins, the first declared on a tie.
pub fn typo_of<'a>(name: &str, declared: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    let len = lower.chars().count();
    declared
        .into_iter()
        .filter_map(|d| {
            let d_lower = d.to_lowercase();
            let d_len = d_lower.chars().count();
            let allowed = (len.min(d_len) / 4).min(2);
            if len.abs_diff(d_len) > allowed {
                return None;
            }
            let distance = strsim::damerau_levenshtein(&lower, &d_lower);
            (distance <= allowed).then_some((distance, d))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, d)| d)
}

/// Where the `nth` `${name}` of a scalar stands in `text`, the file the scalar was read from.
///
/// The scalar's source is read with the same rules as its value. A placeholder never spans a
/// line break and holds no character that YAML escapes or folds, so it stands in the source
/// exactly as in the value, and the k-th `${name}` of the value is the k-th of the source:
/// exact for literal and folded block scalars, quoted and multi-line plain scalars alike (a
/// block scalar's source starts after its header, so a comment there is not counted). `None`
/// when it is not there (written with escapes, `"\x24{name}"`).
pub fn placeholder_pos(text: &str, scalar: &ScalarSource, name: &str, nth: usize) -> Option<Pos> {
    let src = text.get(scalar.start.offset as usize..scalar.end.offset as usize)?;
    let at = pieces(src)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Name { name: n, at } if n == name => Some(at),
            _ => None,
        })
        .nth(nth)?;
    let mut pos = scalar.start;
    let mut chars = src[..at].chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\n' || c == '\r' {
            if c == '\r' && chars.peek() == Some(&'\n') {
                chars.next();
            }
            pos.line += 1;
            pos.column = 1;
        } else {
            pos.column += 1;
        }
    }
    pos.offset += u32::try_from(at).ok()?;
    Some(pos)
}

/// One piece of a scalar: text, an escaped `${`, or a placeholder name with the byte offset
/// of its `$`.
#[derive(Debug)]
enum Piece<'a> {
    Text(&'a str),
    Escape,
    Name { name: &'a str, at: usize },
}

fn pieces(s: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while let Some(d) = s[i..].find('$') {
        let at = i + d;
        let after = &s[at..];
        if after.starts_with("$${") {
            out.push(Piece::Text(&s[start..at]));
            out.push(Piece::Escape);
            i = at + 3;
            start = i;
            continue;
        }
        if let Some(body) = after.strip_prefix("${")
            && let Some(end) = body.find('}')
            && is_name(&body[..end])
        {
            out.push(Piece::Text(&s[start..at]));
            out.push(Piece::Name {
                name: &body[..end],
                at,
            });
            i = at + 2 + end + 1;
            start = i;
            continue;
        }
        i = at + 1;
    }
    out.push(Piece::Text(&s[start..]));
    out.retain(|p| !matches!(p, Piece::Text("")));
    out
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// The new value of a scalar, `None` when it does not change (no declared placeholder and no
/// escape) or when it has a problem (in `problems`, with an empty pointer): a scalar with a
/// problem is left as written, never half filled.
fn substitute_str(
    s: &str,
    values: &IndexMap<String, Value>,
    typed: bool,
    problems: &mut Vec<Unfilled>,
) -> Option<Value> {
    let pieces = pieces(s);
    if typed
        && let [Piece::Name { name, .. }] = pieces.as_slice()
        && let Some(v) = values.get(*name)
    {
        return Some(v.clone());
    }
    // The problem with the placeholder that is piece `i`: counting which `${name}` of the
    // scalar it is only when there is a problem keeps long scalars (dashboards) linear.
    let problem = |i: usize, name: &str, message: String, fix: String| Unfilled {
        pointer: String::new(),
        name: name.to_string(),
        nth: pieces[..i]
            .iter()
            .filter(|p| matches!(p, Piece::Name { name: n, .. } if *n == name))
            .count(),
        message,
        fix,
    };
    let before = problems.len();
    let mut changed = false;
    let mut out = String::with_capacity(s.len());
    for (i, p) in pieces.iter().enumerate() {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Escape => {
                out.push_str("${");
                changed = true;
            }
            Piece::Name { name, .. } => match values.get(*name) {
                None => {
                    if let Some(near) = typo_of(name, values.keys().map(String::as_str)) {
                        problems.push(problem(
                            i,
                            name,
                            format!("`${{{name}}}` has no value; did you mean `{near}`?"),
                            format!(
                                "write `${{{near}}}`; if `${{{name}}}` is meant for another \
                                     tool (a shell variable), write `$${{{name}}}`, which renders \
                                     `${{{name}}}`"
                            ),
                        ));
                    }
                    out.push_str("${");
                    out.push_str(name);
                    out.push('}');
                }
                Some(v) => {
                    changed = true;
                    match v {
                        Value::String(v) => out.push_str(v),
                        Value::Number(n) => out.push_str(&n.to_string()),
                        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
                        Value::Null => problems.push(problem(
                            i,
                            name,
                            format!("`${{{name}}}` is null and cannot stand inside text"),
                            "give the value a text, number or boolean (a null never \
                                 becomes an empty string)"
                                .to_string(),
                        )),
                        Value::Array(_) | Value::Object(_) => problems.push(problem(
                            i,
                            name,
                            format!(
                                "`${{{name}}}` is a list or mapping and cannot stand inside text"
                            ),
                            format!(
                                "write it alone as a plain scalar (`key: ${{{name}}}`) to \
                                     insert it as a whole"
                            ),
                        )),
                    }
                }
            },
        }
    }
    (changed && problems.len() == before).then_some(Value::String(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(mut doc: Value, quoted: &[&str]) -> (Value, Vec<Unfilled>) {
        let values: IndexMap<String, Value> = [
            ("replicas", json!(3)),
            ("image", json!("nginx:1.27")),
            ("res", json!({"cpu": "100m"})),
            ("on", json!(true)),
            ("nothing", Value::Null),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let mut out = Vec::new();
        let q = |p: &str| quoted.contains(&p);
        substitute(&mut doc, &mut String::new(), &values, &q, &mut out);
        (doc, out)
    }

    #[test]
    fn typed_embedded_quoted_and_escaped() {
        let (v, errs) = run(
            json!({"replicas": "${replicas}", "image": "${image}", "tag": "img-${replicas}-${on}",
                   "res": "${res}", "port": "${replicas}", "esc": "$${replicas}", "shell": "${HOME:-/root} $x $"}),
            &["/port"],
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            v,
            json!({"replicas": 3, "image": "nginx:1.27", "tag": "img-3-true", "res": {"cpu": "100m"},
                   "port": "3", "esc": "${replicas}", "shell": "${HOME:-/root} $x $"})
        );
    }

    #[test]
    fn unknown_names_are_reported_at_their_scalar() {
        let (v, errs) = run(
            json!({"spec": {"containers": [{"image": "${imagee}"}]}}),
            &[],
        );
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].pointer, "/spec/containers/0/image");
        assert_eq!(
            errs[0].message,
            "`${imagee}` has no value; did you mean `image`?"
        );
        // The scalar is left as written, never emptied.
        assert_eq!(v["spec"]["containers"][0]["image"], json!("${imagee}"));
    }

    #[test]
    fn structured_or_null_values_inside_text_are_errors() {
        let (_, errs) = run(json!({"a": "x-${res}", "b": "x-${nothing}"}), &[]);
        assert_eq!(errs.len(), 2);
        let (v, errs) = run(json!({"a": "${nothing}"}), &[]);
        assert!(errs.is_empty());
        assert_eq!(v, json!({"a": null}));
    }

    #[test]
    fn undeclared_names_are_left_as_written() {
        let script = "echo ${FRONTEND_ADDR} ${STATUSCODE} ${i} ${HOME:-/root} $$ $i";
        let doc = json!({"a": "${FRONTEND_ADDR}", "script": script, "b": "${Image-x}"});
        let (v, errs) = run(doc.clone(), &["/script"]);
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(v, doc);
    }

    #[test]
    fn escapes_render_a_literal_dollar_brace_for_any_name() {
        let (v, errs) = run(
            json!({"declared": "$${replicas}", "undeclared": "$${HOST} and $${HOSTNAME##*-}",
                   "typo": "$${replicsa}", "mixed": "${replicas} $${replicas} ${FOO}"}),
            &[],
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(
            v,
            json!({"declared": "${replicas}", "undeclared": "${HOST} and ${HOSTNAME##*-}",
                   "typo": "${replicsa}", "mixed": "3 ${replicas} ${FOO}"})
        );
    }

    #[test]
    fn typos_are_errors_and_leave_the_scalar_as_written() {
        let (v, errs) = run(
            json!({"a": "${replicsa} ${Replicas} ${replicsa} ${replicas}", "b": "${IMAGE}"}),
            &[],
        );
        let got: Vec<(&str, &str, usize, &str)> = errs
            .iter()
            .map(|u| {
                (
                    u.pointer.as_str(),
                    u.name.as_str(),
                    u.nth,
                    u.message.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    "/a",
                    "replicsa",
                    0,
                    "`${replicsa}` has no value; did you mean `replicas`?"
                ),
                (
                    "/a",
                    "Replicas",
                    0,
                    "`${Replicas}` has no value; did you mean `replicas`?"
                ),
                (
                    "/a",
                    "replicsa",
                    1,
                    "`${replicsa}` has no value; did you mean `replicas`?"
                ),
                (
                    "/b",
                    "IMAGE",
                    0,
                    "`${IMAGE}` has no value; did you mean `image`?"
                ),
            ]
        );
        assert!(errs[0].fix.contains("`$${replicsa}`"), "{}", errs[0].fix);
        assert_eq!(
            v,
            json!({"a": "${replicsa} ${Replicas} ${replicsa} ${replicas}", "b": "${IMAGE}"})
        );
    }

    #[test]
    fn typo_threshold_grows_with_length() {
        let declared = [
            "B",
            "n",
            "tag",
            "port",
            "image",
            "replicas",
            "image-tag",
            "domain",
        ];
        let typo = |name: &str| typo_of(name, declared);
        // Short names: only another case.
        assert_eq!(typo("A"), None);
        assert_eq!(typo("i"), None);
        assert_eq!(typo("b"), Some("B"));
        assert_eq!(typo("TAG"), Some("tag"));
        assert_eq!(
            typo("tags"),
            None,
            "`tag` has 3 characters: no edits allowed"
        );
        assert_eq!(typo("pid"), None);
        // 4 to 7 characters: one edit (a transposition is one).
        assert_eq!(typo("prot"), Some("port"));
        assert_eq!(typo("PORTS"), Some("port"));
        assert_eq!(typo("imagee"), Some("image"));
        assert_eq!(typo("HOST"), None);
        assert_eq!(typo("domian"), Some("domain"));
        assert_eq!(typo("dommain1"), None, "two edits from a 6-character name");
        // 8 and more: two edits.
        assert_eq!(typo("replicsa"), Some("replicas"));
        assert_eq!(typo("Replica"), Some("replicas"));
        assert_eq!(typo("relpicsa"), Some("replicas"), "two transpositions");
        assert_eq!(
            typo("replcia"),
            None,
            "two edits, and the shorter name has 7 characters"
        );
        assert_eq!(typo("image_tag"), Some("image-tag"));
        assert_eq!(typo("imagetags"), Some("image-tag"));
        assert_eq!(typo("FRONTEND_ADDR"), None);
        assert_eq!(typo("STATUSCODE"), None);
    }

    /// The position `placeholder_pos` gives for each `${x}` of the scalar at `/s`, as
    /// (line, column, the source text there).
    fn positions(text: &str, name: &str) -> Vec<(u32, u32, String)> {
        let doc = berth_yaml::parse(text).documents.remove(0);
        let scalar = doc.dollar_scalars["/s"];
        (0..)
            .map_while(|nth| placeholder_pos(text, &scalar, name, nth))
            .map(|p| {
                let at = &text[p.offset as usize..];
                let end = at.find('}').map_or(at.len(), |i| i + 1);
                (p.line, p.column, at[..end].to_string())
            })
            .collect()
    }

    #[test]
    fn placeholders_are_found_inside_block_scalars() {
        let literal = "a: 1\ns: |  # ${x} in a comment is not content\n  echo $${x}\n    ${x} and ${x}\n\n  ${y}${x}\nt: 2\n";
        assert_eq!(
            positions(literal, "x"),
            [
                (4, 5, "${x}".into()),
                (4, 14, "${x}".into()),
                (6, 7, "${x}".into())
            ]
        );
        let folded = "s: >-\n  one ${x}\n  two\n   ${x}\n";
        assert_eq!(
            positions(folded, "x"),
            [(2, 7, "${x}".into()), (4, 4, "${x}".into())]
        );
        let crlf = "s: |\r\n  a\r\n  b ${x}\r\n";
        assert_eq!(positions(crlf, "x"), [(3, 5, "${x}".into())]);
    }

    #[test]
    fn placeholders_are_found_inside_quoted_and_plain_scalars() {
        let double = "s: \"first \\\" ${x}\n   second ${x} \\\n  ${x}\"\n";
        assert_eq!(
            positions(double, "x"),
            [
                (1, 14, "${x}".into()),
                (2, 11, "${x}".into()),
                (3, 3, "${x}".into())
            ]
        );
        let single = "s: 'it''s ${x}\n\n  ${x}'\n";
        assert_eq!(
            positions(single, "x"),
            [(1, 11, "${x}".into()), (3, 3, "${x}".into())]
        );
        let plain = "s: one ${x}\n  two ${x}\n";
        assert_eq!(
            positions(plain, "x"),
            [(1, 8, "${x}".into()), (2, 7, "${x}".into())]
        );
        let unicode = "s: \"é ${x}\"\n";
        assert_eq!(positions(unicode, "x"), [(1, 7, "${x}".into())]);
        // Written with an escape: not in the source as such.
        let escaped = "s: \"\\x24{x}\"\n";
        assert_eq!(positions(escaped, "x"), []);
    }

    #[test]
    fn keys_are_not_substituted() {
        let (v, _) = run(json!({"${image}": 1}), &[]);
        assert_eq!(v, json!({"${image}": 1}));
    }
}
