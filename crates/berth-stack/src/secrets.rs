//! Secrets that berth builds from `secrets:` in berth.yaml.
//!
//! Each entry becomes one Secret per namespace it lists ([`Origin::StackSecret`]). The objects
//! carry their keys but never their values: every value in them is [`REDACTED`], so an object
//! can be printed, diffed, checked or logged safely. The real values live in [`SecretData`]
//! (in memory only, redacted in `Debug`), and [`SecretData::materialize`] fills them in at the
//! last moment, for the apply request.
//!
//! Values come from a [`SecretSource`]: the process environment and files for `{env}` and
//! `{file}`, and, when `berth up` provides them, a terminal for `{prompt: true}` and the
//! cluster for `{generate: N}` (a generated value is kept from the cluster on every later run,
//! only generated when the cluster has none). SOPS files (`{sops: FILE, key: a.b}`) are
//! decrypted here ([`sops`]); AWS Secrets Manager and SSM Parameter Store values
//! (`{aws-secretsmanager: NAME, key: K}`, `{aws-ssm: /path}`) and KMS data keys come from
//! [`CloudSecrets`] (berth-aws), only in strict mode: `check` and `render` reach no cloud.
//!
//! Two modes ([`SecretMode`]): `Redact` (check, render, plan without values) reads nothing it
//! does not need and turns an unavailable value into a warning; `Strict` (up) needs every value
//! and makes an unavailable one an error. Rule id: `secret-source`.

use berth_model::GENERATED_KEYS_ANNOTATION;
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use base64::Engine;
use berth_model::{Finding, Object, ObjectKey, Origin, Pos, Positions, Severity, SourceFile};
use serde_json::{Map, Value, json};

pub mod sops;

use crate::manifest::finding_at;
use crate::stackfile::{SecretSpec, ValueSource};

/// The Secret type for image pull credentials.
pub const DOCKER_CONFIG_JSON: &str = "kubernetes.io/dockerconfigjson";
/// Rule id for secret values that cannot be had.
pub const SECRET_SOURCE: &str = "secret-source";
/// What stands in an object for a secret value (berth-model's, so a cluster log line redacted
/// by berth-apply reads the same).
pub use berth_model::REDACTED;

/// A secret value. Printing it (`Debug`, `Display`) shows `<redacted>`; its bytes are wiped
/// when it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Vec<u8>);

impl SecretValue {
    /// Wrap bytes that are secret.
    pub fn new(bytes: impl Into<Vec<u8>>) -> SecretValue {
        SecretValue(bytes.into())
    }

    /// The bytes, for building the apply request. Do not log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Drop for SecretValue {
    fn drop(&mut self) {
        for b in self.0.iter_mut() {
            // Through black_box so the wipe is not optimised away.
            wipe(b);
        }
    }
}

#[inline(never)]
fn wipe(b: &mut u8) {
    *std::hint::black_box(b) = 0;
}

/// Where secret values come from. Defaults: environment variables and files as given; no
/// terminal and no cluster. `berth up` implements `prompt` (a terminal) and `existing` (the
/// values of the Secrets already in the cluster).
pub trait SecretSource: Send + Sync {
    /// The value of an environment variable.
    fn env(&self, name: &str) -> Option<SecretValue> {
        std::env::var_os(name).map(|v| SecretValue::new(v.into_encoded_bytes()))
    }
    /// The bytes of a file (already resolved against the stack folder).
    fn file(&self, path: &Path) -> std::io::Result<SecretValue> {
        std::fs::read(path).map(SecretValue::new)
    }
    /// Ask the user for `secret`'s `key`. `None`: no terminal.
    fn prompt(&self, _secret: &str, _key: &str) -> Option<SecretValue> {
        None
    }
    /// The value `key` of Secret `secret` in `namespace` already has in the cluster.
    fn existing(&self, _namespace: &str, _secret: &str, _key: &str) -> Option<SecretValue> {
        None
    }
}

/// Secret stores in the cloud: what `{aws-secretsmanager}`, `{aws-ssm}` and the AWS KMS keys
/// of SOPS files read. berth-aws implements it with the AWS SDK. An `Err` is a sentence that
/// names the store and the entry (never a value): not found, access denied, no credentials.
pub trait CloudSecrets: Send + Sync + fmt::Debug {
    /// The secret string of Secrets Manager secret `name` (a name or an ARN) in `region`
    /// (`None`: the profile's region).
    fn secrets_manager(&self, region: Option<&str>, name: &str) -> Result<SecretValue, String>;
    /// The value of SSM parameter `name`, SecureStrings decrypted.
    fn ssm_parameter(&self, region: Option<&str>, name: &str) -> Result<SecretValue, String>;
    /// A SOPS data key encrypted with the KMS key `arn` (its region is the ARN's).
    fn kms_decrypt(
        &self,
        arn: &str,
        ciphertext: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<SecretValue, String>;
}

/// Rule id (bad input, exit 2) for a value a secret store does not give: a SOPS file that is
/// missing, tampered with or not decryptable with the keys at hand, a secret or parameter
/// that does not exist or may not be read. The stack names something that is not there.
pub const SECRET_STORE: &str = "secret-store";

/// Environment and files only: what `check` and `render` use.
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalSources;

impl SecretSource for LocalSources {}

/// Whether secret values are needed (`up`) or only their keys (`check`, `render`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SecretMode {
    #[default]
    /// Keys only: unavailable values are warnings (check, render).
    Redact,
    /// Every value is needed: unavailable ones are errors (up).
    Strict,
}

/// The values of the stack's Secrets, by object. Empty in [`SecretMode::Redact`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretData {
    values: BTreeMap<ObjectKey, BTreeMap<String, SecretValue>>,
}

impl fmt::Debug for SecretData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys: BTreeMap<String, Vec<&String>> = self
            .values
            .iter()
            .map(|(k, v)| (k.to_string(), v.keys().collect()))
            .collect();
        f.debug_struct("SecretData")
            .field("keys", &keys)
            .finish_non_exhaustive()
    }
}

impl SecretData {
    /// True when no value is held.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The value of one key of one Secret.
    pub fn get(&self, object: &ObjectKey, key: &str) -> Option<&SecretValue> {
        self.values.get(object)?.get(key)
    }

    /// The object's value as the API server must receive it: for a stack Secret whose values
    /// are held, `data` with the real (base64) values. Anything else is returned unchanged.
    /// The result holds secrets: send it, never print or store it.
    pub fn materialize(&self, object: &Object) -> Value {
        let mut value = object.value.clone();
        if object.origin != Origin::StackSecret {
            return value;
        }
        let Some(held) = self.values.get(&object.key()) else {
            return value;
        };
        if let Some(Value::Object(data)) = value.get_mut("data") {
            for (k, v) in data.iter_mut() {
                if let Some(secret) = held.get(k) {
                    *v = Value::String(
                        base64::engine::general_purpose::STANDARD.encode(secret.expose()),
                    );
                }
            }
        }
        value
    }
}

/// Build the Secret objects of `secrets:` and, in strict mode, their values.
pub(crate) struct Build<'a> {
    pub stack_file: &'a Arc<SourceFile>,
    pub positions: &'a Positions,
    pub root: &'a Path,
    pub namespace: &'a str,
    pub mode: SecretMode,
    pub source: &'a dyn SecretSource,
    /// AWS Secrets Manager, SSM and KMS; `None`: those sources are errors in strict mode.
    pub cloud: Option<&'a dyn CloudSecrets>,
    /// `cluster.region` of berth.yaml: where the AWS sources are read (else the profile's).
    pub region: Option<&'a str>,
}

impl Build<'_> {
    fn pos(&self, pointer: &str) -> Pos {
        crate::manifest::nearest(self.positions, pointer)
    }

    pub fn run(
        &self,
        secrets: &indexmap::IndexMap<String, SecretSpec>,
        data: &mut SecretData,
        findings: &mut Vec<Finding>,
    ) -> Vec<Object> {
        let mut objects = Vec::new();
        for (name, spec) in secrets {
            let base = format!("/secrets/{}", berth_yaml::escape_pointer_token(name));
            let namespaces: Vec<&str> = if spec.namespaces.is_empty() {
                vec![self.namespace]
            } else {
                spec.namespaces.iter().map(String::as_str).collect()
            };
            let docker = spec.type_.as_deref() == Some(DOCKER_CONFIG_JSON);
            // Resolve each key once, shared by every namespace's copy.
            let mut values: BTreeMap<String, SecretValue> = BTreeMap::new();
            let mut complete = true;
            for (key, src) in &spec.data {
                let pointer = format!("{base}/data/{}", berth_yaml::escape_pointer_token(key));
                match self.resolve(name, key, src, &namespaces, &pointer, findings) {
                    Some(v) => {
                        values.insert(key.clone(), v);
                    }
                    None => complete = false,
                }
            }
            let keys: Vec<String> = if docker {
                vec![".dockerconfigjson".to_string()]
            } else {
                spec.data.keys().cloned().collect()
            };
            if docker && complete && self.mode == SecretMode::Strict {
                let config = docker_config(&values);
                values = BTreeMap::from([(".dockerconfigjson".to_string(), config)]);
            }
            // Keys whose value berth generated: nowhere else to get them back from, so
            // `down` keeps such a Secret with the data (unless --purge).
            let generated: Vec<&str> = spec
                .data
                .iter()
                .filter(|(_, src)| src.generate.is_some())
                .map(|(k, _)| k.as_str())
                .collect();
            for ns in &namespaces {
                let object_data: Map<String, Value> =
                    keys.iter().map(|k| (k.clone(), json!(REDACTED))).collect();
                let mut value = json!({
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": {
                        "name": name,
                        "namespace": ns,
                        "labels": {"app.kubernetes.io/managed-by": "berth"},
                    },
                    "type": spec.type_.as_deref().unwrap_or("Opaque"),
                    "data": object_data,
                });
                if !generated.is_empty() {
                    value["metadata"]["annotations"] =
                        json!({GENERATED_KEYS_ANNOTATION: generated.join(",")});
                }
                let mut positions = BTreeMap::new();
                positions.insert(String::new(), self.pos(&base));
                positions.insert("/metadata/name".to_string(), self.pos(&base));
                positions.insert(
                    "/metadata/namespace".to_string(),
                    self.pos(&format!("{base}/namespaces")),
                );
                positions.insert("/type".to_string(), self.pos(&format!("{base}/type")));
                positions.insert("/data".to_string(), self.pos(&format!("{base}/data")));
                for k in spec.data.keys() {
                    let t = berth_yaml::escape_pointer_token(k);
                    positions.insert(format!("/data/{t}"), self.pos(&format!("{base}/data/{t}")));
                }
                let object = Object {
                    value,
                    file: self.stack_file.clone(),
                    doc: 0,
                    component: String::new(),
                    origin: Origin::StackSecret,
                    positions: Arc::new(positions.into()),
                };
                if self.mode == SecretMode::Strict && complete {
                    data.values.insert(object.key(), values.clone());
                }
                objects.push(object);
            }
        }
        objects
    }

    fn resolve(
        &self,
        name: &str,
        key: &str,
        src: &ValueSource,
        namespaces: &[&str],
        pointer: &str,
        findings: &mut Vec<Finding>,
    ) -> Option<SecretValue> {
        let strict = self.mode == SecretMode::Strict;
        let (severity, consequence) = if strict {
            (Severity::Error, "")
        } else {
            (Severity::Warning, "; its value is left out of this run")
        };
        let mut report = |message: String, fix: &str| {
            findings.push(finding_at(
                self.stack_file,
                SECRET_SOURCE,
                severity,
                self.pos(pointer),
                message + consequence,
                fix,
            ));
        };
        if let Some(var) = &src.env {
            let v = self.source.env(var);
            if v.is_none() {
                report(
                    format!(
                        "secret `{name}` key `{key}` comes from the environment variable `{var}`, which is not set"
                    ),
                    &format!("export {var}=... before running berth"),
                );
            }
            return v.filter(|_| strict);
        }
        if let Some(file) = &src.file {
            let path = self.root.join(file);
            return match self.source.file(&path) {
                Ok(v) => Some(v).filter(|_| strict),
                Err(e) => {
                    report(
                        format!(
                            "secret `{name}` key `{key}` comes from the file `{file}`, which cannot be read: {e}"
                        ),
                        "create the file (and keep it out of version control)",
                    );
                    None
                }
            };
        }
        if let Some(file) = &src.sops {
            let path = self.root.join(file);
            let what = format!("secret `{name}` key `{key}` comes from the SOPS file `{file}`");
            let k = src.key.as_deref().unwrap_or_default();
            let bytes = match self.source.file(&path) {
                Ok(b) => b,
                Err(e) => {
                    self.store_error(findings, pointer, format!("{what}, which cannot be read: {e}"), "create it with `sops --encrypt`, or fix the path (relative to the stack folder)");
                    return None;
                }
            };
            if !strict {
                return None;
            }
            let var = |n: &str| {
                self.source
                    .env(n)
                    .map(|v| String::from_utf8_lossy(v.expose()).into_owned())
            };
            let keys = sops::AgeKeys::from_env(&var);
            return match sops::decrypt(bytes.expose(), k, &keys, self.cloud) {
                Ok(v) => Some(v),
                Err(e) => {
                    let fix = match e {
                        sops::SopsError::NoKey(_) => {
                            "give the age key in SOPS_AGE_KEY or SOPS_AGE_KEY_FILE (or ~/.config/sops/age/keys.txt), or AWS credentials for its KMS key"
                        }
                        sops::SopsError::NoSuchKey(_) => {
                            "name a key the file has, with dots between levels (`db.password`)"
                        }
                        _ => "re-encrypt or edit the file with `sops`",
                    };
                    self.store_error(findings, pointer, format!("{what}, which {e}"), fix);
                    None
                }
            };
        }
        if let Some(secret) = &src.aws_secretsmanager {
            let what = match &src.key {
                Some(k) => format!(
                    "secret `{name}` key `{key}` comes from key `{k}` of the AWS Secrets Manager secret `{secret}`"
                ),
                None => format!(
                    "secret `{name}` key `{key}` comes from the AWS Secrets Manager secret `{secret}`"
                ),
            };
            let text = self.cloud_value(findings, pointer, &what, |c| {
                c.secrets_manager(self.region, secret)
            })?;
            let Some(k) = &src.key else {
                return Some(text);
            };
            let field = serde_json::from_slice::<Value>(text.expose())
                .ok()
                .and_then(|mut v| v.get_mut(k.as_str()).map(Value::take));
            return match field {
                Some(Value::String(s)) => Some(SecretValue::new(s)),
                Some(Value::Null) | None => {
                    self.store_error(findings, pointer, format!("{what}, which has no such JSON key"), "name a key of the secret's JSON, or leave `key:` out for a plain-text secret");
                    None
                }
                Some(other) => Some(SecretValue::new(other.to_string())),
            };
        }
        if let Some(param) = &src.aws_ssm {
            let what =
                format!("secret `{name}` key `{key}` comes from the AWS SSM parameter `{param}`");
            return self.cloud_value(findings, pointer, &what, |c| {
                c.ssm_parameter(self.region, param)
            });
        }
        if src.prompt == Some(true) {
            if !strict {
                findings.push(finding_at(
                    self.stack_file,
                    SECRET_SOURCE,
                    Severity::Info,
                    self.pos(pointer),
                    format!("secret `{name}` key `{key}` is asked on the terminal by `berth up`"),
                    "nothing to do",
                ));
                return None;
            }
            let v = self.source.prompt(name, key);
            if v.is_none() {
                report(
                    format!(
                        "secret `{name}` key `{key}` must be typed in, and there is no terminal to ask on"
                    ),
                    "run berth up on a terminal, or give the value as `{ env: VAR }`",
                );
            }
            return v;
        }
        if let Some(n) = src.generate {
            if !strict {
                return None;
            }
            if let Some(v) = namespaces
                .iter()
                .find_map(|ns| self.source.existing(ns, name, key))
            {
                return Some(v);
            }
            return match generate(n as usize) {
                Ok(v) => Some(v),
                Err(e) => {
                    report(
                        format!("cannot generate secret `{name}` key `{key}`: {e}"),
                        "check the system's random source",
                    );
                    None
                }
            };
        }
        None
    }
}

impl Build<'_> {
    /// A value from the cloud (strict mode only); a store's refusal is a [`SECRET_STORE`] error.
    fn cloud_value(
        &self,
        findings: &mut Vec<Finding>,
        pointer: &str,
        what: &str,
        read: impl FnOnce(&dyn CloudSecrets) -> Result<SecretValue, String>,
    ) -> Option<SecretValue> {
        if self.mode != SecretMode::Strict {
            return None;
        }
        let Some(cloud) = self.cloud else {
            self.store_error(
                findings,
                pointer,
                format!("{what}, and this command reads no cloud secrets"),
                "run it with `berth up`",
            );
            return None;
        };
        match read(cloud) {
            Ok(v) => Some(v),
            Err(e) => {
                self.store_error(findings, pointer, format!("{what}: {e}"), "create it, or give berth's AWS identity read access to it (AWS_PROFILE, AWS_REGION or `cluster.region`)");
                None
            }
        }
    }

    /// A [`SECRET_STORE`] finding: an error in strict mode, a warning otherwise.
    fn store_error(&self, findings: &mut Vec<Finding>, pointer: &str, message: String, fix: &str) {
        let (severity, message) = if self.mode == SecretMode::Strict {
            (Severity::Error, message)
        } else {
            (
                Severity::Warning,
                message + "; `berth up` will refuse to run",
            )
        };
        findings.push(finding_at(
            self.stack_file,
            SECRET_STORE,
            severity,
            self.pos(pointer),
            message,
            fix,
        ));
    }
}

/// `{"auths": {registry: {username, password, auth}}}` for an image pull Secret.
fn docker_config(values: &BTreeMap<String, SecretValue>) -> SecretValue {
    let text = |k: &str| {
        values
            .get(k)
            .map(|v| String::from_utf8_lossy(v.expose()).into_owned())
            .unwrap_or_default()
    };
    let (registry, username, password) = (text("registry"), text("username"), text("password"));
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let config =
        json!({"auths": {registry: {"username": username, "password": password, "auth": auth}}});
    SecretValue::new(config.to_string())
}

/// A random value of `n` letters and digits.
pub fn generate(n: usize) -> Result<SecretValue, getrandom::Error> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut out = Vec::with_capacity(n);
    let mut buf = [0u8; 64];
    while out.len() < n {
        getrandom::fill(&mut buf)?;
        // Rejection sampling: 248 = 4 × 62, so every letter is equally likely.
        out.extend(
            buf.iter()
                .filter(|b| **b < 248)
                .map(|b| ALPHABET[(*b % 62) as usize])
                .take(n - out.len()),
        );
    }
    Ok(SecretValue::new(out))
}

#[cfg(test)]
mod tests;
