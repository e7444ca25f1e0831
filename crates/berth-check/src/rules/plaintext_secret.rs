//! `plaintext-secret`: credentials written into manifests.

use berth_model::ValueExt;
use berth_model::{Origin, Severity};
use serde_json::Value;

use super::{Out, Rule};
use crate::context::Context;
use crate::k8s;

/// The rule's registry entry.
pub const RULE: Rule = Rule {
    id: "plaintext-secret",
    severity: Severity::Warning,
    summary: "credentials written into manifests (Secret literals, password-like env values)",
    explain: EXPLAIN,
    run,
};

const EXPLAIN: &str = "\
## What it does
Finds Secrets whose `data` or `stringData` hold literal values in a manifest file, and container
`env` entries whose name looks like a credential (`PASSWORD`, `SECRET`, `TOKEN`, `API_KEY`,
`ACCESS_KEY`, `PRIVATE_KEY`, `CREDENTIALS`) with a literal `value`. Placeholders (`<password>`,
`${password}`, empty values) are not reported. No finding shows a value: in the snippets under
every finding, berth masks each Secret value and literal credential with `*`.

## Why is this bad?
A manifest is committed, copied and shared; its Secret values end up in git history, CI logs and
chat. base64 in `data` is an encoding, not encryption. An env value in a Deployment is visible to
everyone who can read the Deployment.

## Example
```yaml
kind: Secret
stringData:
  postgresql-password: postgres
```

## Fix
Declare the Secret in berth.yaml so berth builds it at apply time from the environment, a file
outside the repository, a prompt, or a generated value that is kept across runs:
```yaml
secrets:
  openremote-secret:
    data:
      postgresql-password: { generate: 32 }
```
and reference it with `valueFrom.secretKeyRef` instead of an env `value`.
";

const CREDENTIAL_WORDS: &[&str] = &[
    "PASSWORD",
    "PASSWD",
    "SECRET",
    "TOKEN",
    "API_KEY",
    "APIKEY",
    "ACCESS_KEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
];

/// True for values that stand for a credential rather than being one.
fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    v.is_empty()
        || (v.starts_with('<') && v.ends_with('>'))
        || (v.starts_with("${") && v.ends_with('}'))
        || (v.starts_with("{{") && v.ends_with("}}"))
        || v.chars().all(|c| c == '*' || c == 'x' || c == 'X')
        || has_angle_placeholder(v)
}

/// A template still to be filled in: `Password=<password>;Host=<host>`.
fn has_angle_placeholder(v: &str) -> bool {
    v.split('<').skip(1).any(|rest| {
        rest.split_once('>').is_some_and(|(word, _)| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ' ' | '.'))
        })
    })
}

fn decode_base64(s: &str) -> Option<String> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in s.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
            bits &= (1 << n) - 1;
        }
    }
    String::from_utf8(out).ok()
}

fn run(ctx: &Context<'_>, out: &mut Out<'_>) {
    for (i, field, key, value) in secret_values(ctx) {
        let o = ctx.object(i);
        let Some(text) = value.as_str() else { continue };
        let plain = if field == "data" {
            decode_base64(text).unwrap_or_else(|| text.to_string())
        } else {
            text.to_string()
        };
        if is_placeholder(&plain) {
            continue;
        }
        out.at(
            o,
            &format!("/{field}/{}", k8s::escape(key)),
            format!("{} has the literal value of `{key}` in the manifest ({field})", o.display_name()),
            format!(
                "move `{}` to berth.yaml `secrets:` (env, file, prompt or generate) and delete the literal",
                o.name()
            ),
        );
    }
    for cred in env_credentials(ctx) {
        let o = ctx.object(cred.object);
        out.at(
            o,
            &cred.pointer,
            format!(
                "env `{}` of container `{}` in {} holds a literal credential",
                cred.name,
                cred.container,
                o.display_name()
            ),
            "put the value in a Secret (berth.yaml `secrets:`) and use `valueFrom.secretKeyRef`",
        );
    }
}

/// Every `data`/`stringData` entry of the Secrets written in manifests (not those berth builds
/// from `secrets:`): (object, field, key, value). [`crate::redact`] masks them all.
pub(crate) fn secret_values<'s>(
    ctx: &Context<'s>,
) -> Vec<(usize, &'static str, &'s str, &'s Value)> {
    let mut out = Vec::new();
    for &i in ctx.of_kind("Secret") {
        let o = ctx.object(i);
        if matches!(o.origin, Origin::StackSecret) {
            continue;
        }
        for field in ["stringData", "data"] {
            if let Some(map) = o.value.get(field).and_then(Value::as_object) {
                out.extend(map.iter().map(|(k, v)| (i, field, k.as_str(), v)));
            }
        }
    }
    out
}

/// A container env variable holding a literal credential.
pub(crate) struct EnvCredential<'s> {
    pub object: usize,
    /// JSON pointer of the variable's `value`.
    pub pointer: String,
    pub name: &'s str,
    pub container: &'s str,
}

/// The env variables of every pod template that hold literal credentials.
pub(crate) fn env_credentials<'s>(ctx: &Context<'s>) -> Vec<EnvCredential<'s>> {
    let mut out = Vec::new();
    for t in &ctx.pod_templates {
        for c in t.containers() {
            let Some(env) = c.value.member("env").and_then(Value::as_array) else {
                continue;
            };
            for (n, var) in env.iter().enumerate() {
                let name = var.member("name").and_then(Value::as_str).unwrap_or("");
                let value = var.member("value").and_then(Value::as_str);
                if value.is_some_and(|v| env_holds_credential(name, v)) {
                    out.push(EnvCredential {
                        object: t.object,
                        pointer: format!("{}/env/{n}/value", c.pointer()),
                        name,
                        container: c.name(),
                    });
                }
            }
        }
    }
    out
}

/// True when the env variable `name` holds a literal credential `value` (not a placeholder, not
/// where a credential is).
fn env_holds_credential(name: &str, value: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    CREDENTIAL_WORDS.iter().any(|w| upper.contains(w))
        && !is_placeholder(value)
        && !looks_like_reference(&upper, value)
}

/// `*_FILE`, `*_PATH` and `*_SECRET_NAME` variables name where a credential is, not the credential.
fn looks_like_reference(upper_name: &str, value: &str) -> bool {
    upper_name.ends_with("_FILE")
        || upper_name.ends_with("_PATH")
        || upper_name.ends_with("_NAME")
        || upper_name.ends_with("_REF")
        || value.starts_with('/')
        || value.starts_with("$(")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::{check, render};

    #[test]
    fn fires_on_literals_without_printing_them() {
        let f = check(
            &RULE,
            "
apiVersion: v1
kind: Secret
metadata: {name: openremote-secret}
data:
  admin-password: czNjcjN0cHc=
  empty: ''
stringData:
  postgresql-password: pg-pass-123
  account: <boomi-account-id>
  url: 'Host=<host>;Password=<password>'
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - name: db
      image: postgres:17.2
      env:
        - {name: POSTGRES_PASSWORD, value: hunter2}
        - {name: POSTGRES_PASSWORD_FILE, value: /run/secrets/pw}
        - {name: POSTGRES_USER, value: app}
",
        );
        assert_eq!(f.len(), 3);
        let text = render(&f);
        for secret in ["czNjcjN0cHc", "s3cr3tpw", "pg-pass-123", "hunter2"] {
            assert!(!text.contains(secret), "leaked {secret}: {text}");
        }
        insta::assert_snapshot!(text);
    }

    #[test]
    fn silent_on_placeholders_and_refs() {
        let f = check(
            &RULE,
            "
apiVersion: v1
kind: Secret
metadata: {name: boomi-secret}
stringData:
  password: <password>
  token: ${token}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - name: db
      image: postgres:17.2
      env:
        - name: POSTGRES_PASSWORD
          valueFrom: {secretKeyRef: {name: db, key: password}}
",
        );
        assert!(f.is_empty(), "{f:#?}");
    }

    #[test]
    fn base64_decoding() {
        assert_eq!(decode_base64("c2VjcmV0").as_deref(), Some("secret"));
        assert_eq!(
            decode_base64("PHBhc3N3b3JkPg==").as_deref(),
            Some("<password>")
        );
    }
}
