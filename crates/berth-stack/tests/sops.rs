//! `{ sops: FILE, key: a.b }` secrets against files the real sops tool encrypted: sops is built
//! from its Go module (`testbed/go/sops`, once per version) and encrypts the fixtures here with
//! a fresh age key, in YAML and JSON. The right key gives the values; a wrong key, no key, a
//! missing file, a missing path or a file edited by hand gives a `secret-store` error that names
//! the file and never a value.

#[path = "../../../testbed/go/build_cached.rs"]
mod build_cached;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use berth_model::{ObjectKey, Severity};
use berth_stack::secrets::SECRET_STORE;
use berth_stack::{LoadOptions, Loaded, SecretMode, SecretSource, SecretValue, load};

fn sops_binary() -> PathBuf {
    build_cached::build_cached(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testbed/go/sops"),
        &["go.mod", "go.sum"],
        "github.com/getsops/sops/v3/cmd/sops",
        "sops",
        "this test decrypts files the sops tool encrypted",
    )
}

/// The environment berth sees: only what the test gives (no HOME, so no default keys file).
#[derive(Debug)]
struct Env(BTreeMap<String, String>);

impl SecretSource for Env {
    fn env(&self, name: &str) -> Option<SecretValue> {
        self.0.get(name).map(|v| SecretValue::new(v.as_bytes()))
    }
}

const PLAIN: &str =
    "db:\n    user: molecule\n    password: s3cr3t-db-pw\napi_token: tok-123456\nport: 5432\n";
const VALUES: &[&str] = &["molecule", "s3cr3t-db-pw", "tok-123456"];

/// `sops --encrypt` of `PLAIN` (as `ext`) for `recipient`, written to `dir/secrets.<ext>`.
fn encrypt(dir: &Path, recipient: &str, ext: &str) -> PathBuf {
    let plain = dir.join(format!("plain.{ext}"));
    let text = if ext == "json" {
        r#"{"db": {"user": "molecule", "password": "s3cr3t-db-pw"}, "api_token": "tok-123456", "port": 5432}"#
    } else {
        PLAIN
    };
    std::fs::write(&plain, text).unwrap();
    let out = Command::new(sops_binary())
        .args(["--encrypt", "--age", recipient])
        .arg(&plain)
        .current_dir(dir)
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_FILE")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sops --encrypt: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(&plain).unwrap();
    let path = dir.join(format!("secrets.{ext}"));
    std::fs::write(&path, &out.stdout).unwrap();
    let written = String::from_utf8_lossy(&out.stdout);
    assert!(written.contains("ENC[AES256_GCM,"), "{written}");
    for v in VALUES {
        assert!(!written.contains(v), "sops left {v} in clear");
    }
    path
}

fn stack(dir: &Path, file: &str, key: &str) {
    std::fs::write(
        dir.join("berth.yaml"),
        format!(
            "stack: s\nnamespace: app\nsecrets:\n  db:\n    data:\n      password: {{ sops: {file}, key: {key} }}\n      token: {{ sops: {file}, key: api_token }}\n"
        ),
    )
    .unwrap();
}

fn load_with(dir: &Path, env: &[(&str, String)]) -> Loaded {
    let options = LoadOptions {
        secret_mode: SecretMode::Strict,
        secret_source: Some(Arc::new(Env(env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()))),
        ..LoadOptions::default()
    };
    load(dir, &options)
}

fn value(l: &Loaded, key: &str) -> Option<String> {
    let object = ObjectKey {
        group: String::new(),
        kind: "Secret".into(),
        namespace: Some("app".into()),
        name: "db".into(),
    };
    l.secrets
        .get(&object, key)
        .map(|v| String::from_utf8(v.expose().to_vec()).unwrap())
}

/// The `secret-store` errors, checked to hold no value.
fn store_errors(l: &Loaded) -> Vec<String> {
    let errors: Vec<String> = l
        .findings
        .iter()
        .filter(|f| f.rule == SECRET_STORE && f.severity == Severity::Error)
        .map(|f| format!("{}:{}: {}", f.file.display(), f.line, f.message))
        .collect();
    for e in &errors {
        for v in VALUES {
            assert!(!e.contains(v), "a value in {e}");
        }
    }
    errors
}

struct Keys {
    identity: String,
    recipient: String,
}

fn keys() -> Keys {
    let id = age::x25519::Identity::generate();
    use age::secrecy::ExposeSecret;
    Keys {
        identity: id.to_string().expose_secret().to_string(),
        recipient: id.to_public().to_string(),
    }
}

#[test]
fn values_of_a_sops_yaml_and_json_file_with_the_age_key() {
    let k = keys();
    for ext in ["yaml", "json"] {
        let dir = tempfile::tempdir().unwrap();
        encrypt(dir.path(), &k.recipient, ext);
        stack(dir.path(), &format!("secrets.{ext}"), "db.password");
        // The key as sops takes it: in SOPS_AGE_KEY, or in the file SOPS_AGE_KEY_FILE names.
        let l = load_with(dir.path(), &[("SOPS_AGE_KEY", k.identity.clone())]);
        assert!(store_errors(&l).is_empty(), "{:?}", l.findings);
        assert_eq!(value(&l, "password").as_deref(), Some("s3cr3t-db-pw"));
        assert_eq!(value(&l, "token").as_deref(), Some("tok-123456"));
        let key_file = dir.path().join("keys.txt");
        std::fs::write(&key_file, format!("# created: now\n{}\n", k.identity)).unwrap();
        let l = load_with(
            dir.path(),
            &[("SOPS_AGE_KEY_FILE", key_file.display().to_string())],
        );
        assert_eq!(
            value(&l, "password").as_deref(),
            Some("s3cr3t-db-pw"),
            "{ext}"
        );
    }
}

#[test]
fn the_default_keys_file_is_where_sops_looks() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    encrypt(dir.path(), &k.recipient, "yaml");
    stack(dir.path(), "secrets.yaml", "db.user");
    let config = dir.path().join("config");
    std::fs::create_dir_all(config.join("sops/age")).unwrap();
    std::fs::write(config.join("sops/age/keys.txt"), &k.identity).unwrap();
    let l = load_with(
        dir.path(),
        &[("XDG_CONFIG_HOME", config.display().to_string())],
    );
    assert_eq!(value(&l, "password").as_deref(), Some("molecule"));
}

#[test]
fn a_wrong_key_no_key_or_a_missing_file_is_an_error_naming_the_file() {
    let k = keys();
    let other = keys();
    let dir = tempfile::tempdir().unwrap();
    encrypt(dir.path(), &k.recipient, "yaml");
    stack(dir.path(), "secrets.yaml", "db.password");

    let l = load_with(dir.path(), &[("SOPS_AGE_KEY", other.identity.clone())]);
    let errors = store_errors(&l);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].contains(
            "berth.yaml:6: secret `db` key `password` comes from the SOPS file `secrets.yaml`"
        ),
        "{errors:?}"
    );
    assert!(
        errors[0].contains("none of the age keys found (SOPS_AGE_KEY) is one of its recipients"),
        "{errors:?}"
    );
    assert!(l.secrets.is_empty());

    let l = load_with(dir.path(), &[]);
    let errors = store_errors(&l);
    assert!(errors[0].contains("no age key found"), "{errors:?}");

    stack(dir.path(), "missing.yaml", "db.password");
    let l = load_with(dir.path(), &[("SOPS_AGE_KEY", k.identity.clone())]);
    let errors = store_errors(&l);
    assert!(
        errors[0].contains("`missing.yaml`, which cannot be read"),
        "{errors:?}"
    );
}

#[test]
fn a_missing_path_or_a_hand_edited_file_is_an_error() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    let file = encrypt(dir.path(), &k.recipient, "yaml");
    let env = [("SOPS_AGE_KEY", k.identity.clone())];

    stack(dir.path(), "secrets.yaml", "db.passwd");
    let errors = store_errors(&load_with(dir.path(), &env));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("has no value at `db.passwd`"),
        "{errors:?}"
    );

    // `port: 5432` turned into 5433 by hand: it still decrypts, the MAC no longer matches.
    let text = std::fs::read_to_string(&file).unwrap();
    let port_line = text.lines().find(|l| l.starts_with("port:")).unwrap();
    assert!(port_line.contains("type:int"), "{port_line}");
    let edited = text.replace(port_line, "port: ENC[AES256_GCM,data:AAAA,iv:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:int]");
    std::fs::write(&file, edited).unwrap();
    stack(dir.path(), "secrets.yaml", "db.password");
    let errors = store_errors(&load_with(dir.path(), &env));
    assert!(errors[0].contains("its value at `port`"), "{errors:?}");
}

#[test]
fn check_and_render_read_no_key() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    encrypt(dir.path(), &k.recipient, "yaml");
    stack(dir.path(), "secrets.yaml", "db.password");
    // Redact mode: no key needed, no error, the keys are there, no value.
    let l = load(dir.path(), &LoadOptions::default());
    assert!(!l.has_errors(), "{:?}", l.findings);
    assert!(l.secrets.is_empty());
    let secret = l
        .stack
        .unwrap()
        .objects
        .into_iter()
        .find(|o| o.kind() == "Secret")
        .unwrap();
    assert_eq!(
        secret.value["data"],
        serde_json::json!({"password": berth_stack::secrets::REDACTED, "token": berth_stack::secrets::REDACTED})
    );
}
