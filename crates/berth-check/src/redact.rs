//! Secret values never reach `berth check`'s output.
//!
//! A finding carries its file's text for the snippet under the message, and a snippet shows the
//! lines around the finding too. So before findings leave [`crate::check_rules`], every file that
//! holds a Secret's `data`/`stringData` value or a literal credential in a container's `env`
//! (the values `plaintext-secret` is about) is replaced, in the findings that point into it, by a
//! copy whose secret values are overwritten with `*`, byte for byte: every line, column and
//! offset stays what it was, and no finding, whatever its rule, can show a value beside it.

use std::collections::HashMap;
use std::sync::Arc;

use berth_model::{Finding, Object, SourceFile};

use crate::context::Context;
use crate::k8s;
use crate::rules::plaintext_secret::{env_credentials, secret_values};

/// Replaces the source of every finding that points into a file holding secret values by the
/// masked copy of that file.
pub fn redact(ctx: &Context<'_>, findings: &mut [Finding]) {
    let mut keys: HashMap<*const SourceFile, (Arc<SourceFile>, Vec<u32>)> = HashMap::new();
    let mut add = |o: &Object, pointer: &str| {
        if let Some(pos) = o.positions.get(pointer) {
            keys.entry(Arc::as_ptr(&o.file))
                .or_insert_with(|| (o.file.clone(), Vec::new()))
                .1
                .push(pos.offset);
        }
    };
    for (i, field, key, _) in secret_values(ctx) {
        add(ctx.object(i), &format!("/{field}/{}", k8s::escape(key)));
    }
    for cred in env_credentials(ctx) {
        add(ctx.object(cred.object), &cred.pointer);
    }
    if keys.is_empty() {
        return;
    }
    let masked: HashMap<*const SourceFile, Arc<SourceFile>> = keys
        .into_iter()
        .map(|(ptr, (file, offsets))| {
            // A file that cannot be read back gets no snippet rather than an unmasked one.
            let text = file.text().map(|t| mask(&t, &offsets)).unwrap_or_default();
            let copy = SourceFile::new(file.path.clone(), text);
            (ptr, Arc::new(copy))
        })
        .collect();
    for f in findings {
        if let Some(copy) = f.source.as_ref().and_then(|s| masked.get(&Arc::as_ptr(s))) {
            f.source = Some(copy.clone());
        }
    }
}

/// `text` with the value of each mapping entry whose key starts at one of `key_offsets`
/// overwritten by `*` (plain, quoted, flow and block scalars).
pub fn mask(text: &str, key_offsets: &[u32]) -> String {
    let mut bytes = text.as_bytes().to_vec();
    for &offset in key_offsets {
        for (start, end) in value_ranges(text, offset as usize) {
            for b in &mut bytes[start..end] {
                if !b.is_ascii_whitespace() {
                    *b = b'*';
                }
            }
        }
    }
    // Only whole characters were replaced (UTF-8 continuation bytes are never ASCII, and every
    // byte of a masked range became `*`), so the text is still UTF-8.
    String::from_utf8(bytes).unwrap_or_default()
}

/// The byte ranges of the value of the mapping entry whose key starts at `offset`.
fn value_ranges(text: &str, offset: usize) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let line_start = text[..offset.min(text.len())]
        .rfind('\n')
        .map_or(0, |i| i + 1);
    let line_end = text[offset.min(text.len())..]
        .find('\n')
        .map_or(text.len(), |i| offset + i);
    // The key: quoted, or plain up to `: `.
    let mut i = offset;
    if let Some(q @ (b'"' | b'\'')) = bytes.get(i) {
        i = quoted_end(bytes, i, *q);
    }
    let Some(colon) = text[i..line_end].find(':').map(|c| i + c) else {
        // Not a `key: value` line as expected: hide the rest of the line.
        return vec![(offset, line_end)];
    };
    i = colon + 1;
    while i < line_end && matches!(bytes[i], b' ' | b'\t') {
        i += 1;
    }
    let indent = line_indent(text, line_start, offset);
    match bytes.get(i) {
        Some(b'|' | b'>') => vec![(line_end, more_indented_end(text, line_end, indent))],
        Some(q @ (b'"' | b'\'')) if i < line_end => vec![(i, quoted_end(bytes, i, *q))],
        _ if i >= line_end || bytes[i] == b'#' || bytes[i] == b'\r' => {
            // The value is on the lines below.
            vec![(line_end, more_indented_end(text, line_end, indent))]
        }
        _ => {
            let in_flow = {
                let before = &text[line_start..offset];
                before.matches(['{', '[']).count() > before.matches(['}', ']']).count()
            };
            let rest = &text[i..line_end];
            let mut end = rest.len();
            if let Some(c) = rest.find(" #") {
                end = end.min(c);
            }
            if in_flow && let Some(c) = rest.find([',', '}', ']']) {
                end = end.min(c);
            }
            vec![(i, i + rest[..end].trim_end().len())]
        }
    }
}

/// The offset just past the quoted scalar that opens at `start` with `quote`.
fn quoted_end(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b'\'' if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The column of the key that starts at `offset`, counting a sequence's `- ` as indentation.
fn line_indent(text: &str, line_start: usize, offset: usize) -> usize {
    let before = &text[line_start..offset];
    if before.chars().all(|c| c == ' ' || c == '-') {
        before.len()
    } else {
        // A key inside a flow mapping: its block owner's indentation.
        before.len() - before.trim_start().len()
    }
}

/// The end of the lines after `from` that are blank or indented more than `indent`.
fn more_indented_end(text: &str, from: usize, indent: usize) -> usize {
    let mut end = from;
    let mut pos = from;
    while pos < text.len() {
        let start = pos + 1;
        if start > text.len() {
            break;
        }
        let stop = text[start..].find('\n').map_or(text.len(), |i| start + i);
        let line = &text[start..stop];
        let content = line.trim_end_matches('\r');
        if content.trim().is_empty() {
            pos = stop;
            continue;
        }
        if content.len() - content.trim_start().len() <= indent {
            break;
        }
        end = stop;
        pos = stop;
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(text: &str, key: &str) -> String {
        let offset = text.find(key).unwrap() as u32;
        mask(text, &[offset])
    }

    #[test]
    fn plain_quoted_and_flow_values() {
        assert_eq!(
            masked("a: 1\npw: hunter2\nb: 2\n", "pw"),
            "a: 1\npw: *******\nb: 2\n"
        );
        assert_eq!(masked("pw: 'it''s' # c\n", "pw"), "pw: ******* # c\n");
        assert_eq!(masked("pw: \"a\\\"b\"\n", "pw"), "pw: ******\n");
        assert_eq!(masked("pw: abc # comment\n", "pw"), "pw: *** # comment\n");
        assert_eq!(
            masked("- {name: DB_PASSWORD, value: hunter2}\n", "value"),
            "- {name: DB_PASSWORD, value: *******}\n"
        );
        assert_eq!(masked("{pw: a b, x: y}\n", "pw"), "{pw: * *, x: y}\n");
    }

    #[test]
    fn block_scalars_and_values_below() {
        let text = "data:\n  key: |\n    line one\n\n    line two\n  other: kept\n";
        assert_eq!(
            masked(text, "key"),
            "data:\n  key: |\n    **** ***\n\n    **** ***\n  other: kept\n"
        );
        let text = "env:\n- name: TOKEN\n  value:\n    abc\n- name: B\n";
        assert_eq!(
            masked(text, "value"),
            "env:\n- name: TOKEN\n  value:\n    ***\n- name: B\n"
        );
    }

    /// All rules, the human report: no secret value in any snippet (each finding shows the lines
    /// around it, which hold the other values), while the values that are not secret still show.
    #[test]
    fn check_output_shows_no_secret_value() {
        let stack = crate::rules::testing::stack(
            "
apiVersion: v1
kind: Secret
metadata: {name: openremote-secret}
data:
  admin-password: czNjcjN0cHc=
  keycloak-password: a2V5Y2xvYWs=
stringData:
  postgresql-password: pg-pass-123
  tls.key: |
    -----BEGIN PRIVATE KEY-----
    MIIEvQIBADANBgkq
    -----END PRIVATE KEY-----
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - name: db
      image: postgres:latest
      env:
        - {name: POSTGRES_USER, value: app-user}
        - {name: POSTGRES_PASSWORD, value: hunter2}
        - name: API_TOKEN
          value: \"tok en\"
        - {name: POSTGRES_PASSWORD_FILE, value: /run/secrets/pw}
",
        );
        let findings = crate::check(&stack);
        let rules: Vec<&str> = findings.iter().map(|f| f.rule.as_str()).collect();
        assert!(rules.contains(&"plaintext-secret"), "{rules:?}");
        assert!(rules.contains(&"mutable-image"), "{rules:?}");
        let text = crate::report::human(&findings, false);
        for secret in [
            "czNjcjN0cHc",
            "a2V5Y2xvYWs",
            "pg-pass-123",
            "MIIEvQIBADANBgkq",
            "PRIVATE KEY",
            "hunter2",
            "tok en",
        ] {
            assert!(!text.contains(secret), "leaked {secret}:\n{text}");
        }
        // Must not: what is not a secret is shown as written.
        for kept in [
            "POSTGRES_USER, value: app-user",
            "/run/secrets/pw",
            "postgres:latest",
        ] {
            assert!(text.contains(kept), "masked {kept}:\n{text}");
        }
        // Positions are unchanged: the findings point where they did.
        let image = findings.iter().find(|f| f.rule == "mutable-image").unwrap();
        assert_eq!((image.line, image.column), (21, 7));
    }

    #[test]
    fn keeps_lengths_crlf_and_utf8() {
        let text = "a: ok\r\npw: pässwörd\r\nb: 2\r\n";
        let out = masked(text, "pw");
        assert_eq!(out.len(), text.len());
        assert_eq!(out, "a: ok\r\npw: **********\r\nb: 2\r\n");
    }
}
