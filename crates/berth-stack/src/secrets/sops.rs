//! SOPS files (`{ sops: FILE, key: path.in.file }`), read as the sops tool writes them.
//!
//! A SOPS file is YAML or JSON whose leaf values are `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]`
//! and whose `sops:` mapping holds the metadata: the data key encrypted to each `age` recipient
//! and each AWS `kms` key, `lastmodified`, and `mac`, the encrypted SHA-512 of every value. Here:
//! 1. the data key is decrypted with an age identity ([`AgeKeys`], found where sops looks for
//!    them) or, failing that, with an AWS KMS key through [`CloudSecrets::kms_decrypt`];
//! 2. every value is decrypted with AES-256-GCM (sops's 32-byte IV; the additional data is the
//!    value's path, `a:b:`), the crypto of the `aes-gcm` crate;
//! 3. the MAC is checked as sops checks it (values in file order, the additional data of the MAC
//!    being `lastmodified`), so a file edited by hand or a value moved between keys is refused;
//! 4. the value at `key` (dots between mapping keys, numbers index lists) is returned.
//!
//! Errors name the file, the key and what is wrong, never a value. Not read: the dotenv, INI
//! and binary formats of sops, PGP, GCP/Azure KMS, Vault and age plugin/SSH keys.

use std::collections::BTreeMap;
use std::path::PathBuf;

use aes_gcm::aead::consts::U32;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha512};

use super::{CloudSecrets, SecretValue};

/// AES-256-GCM with the 32-byte nonce sops uses (Go's `NewGCMWithNonceSize(block, 32)`).
type SopsCipher = AesGcm<Aes256, U32>;

/// Why a value could not be read from a SOPS file. The text never holds a secret.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SopsError {
    /// Not YAML/JSON, or no `sops:` metadata.
    #[error("is not a SOPS file: {0}")]
    Format(String),
    /// No key of the file could be decrypted.
    #[error("{0}")]
    NoKey(String),
    /// A value does not decrypt, or the MAC does not match.
    #[error("{0}")]
    Tampered(String),
    /// The path names nothing in the file.
    #[error("has no value at `{0}`")]
    NoSuchKey(String),
}

/// The age identities sops would use: `SOPS_AGE_KEY` (the keys themselves),
/// `SOPS_AGE_KEY_FILE`, and the default `sops/age/keys.txt` in the user's configuration folder
/// (`$XDG_CONFIG_HOME`, else `~/.config` on Linux; `~/Library/Application Support` on macOS;
/// `%AppData%` on Windows).
pub struct AgeKeys {
    identities: Vec<Box<dyn age::Identity>>,
    /// Where keys were looked for, for the error message.
    looked: Vec<String>,
}

impl AgeKeys {
    /// The identities of the environment `var` reads (the process environment in berth).
    pub fn from_env(var: &dyn Fn(&str) -> Option<String>) -> AgeKeys {
        let mut keys = AgeKeys {
            identities: Vec::new(),
            looked: Vec::new(),
        };
        if let Some(text) = var("SOPS_AGE_KEY") {
            keys.looked.push("SOPS_AGE_KEY".into());
            keys.add(text.as_bytes());
        }
        if let Some(path) = var("SOPS_AGE_KEY_FILE") {
            keys.looked.push(format!("SOPS_AGE_KEY_FILE ({path})"));
            if let Ok(bytes) = std::fs::read(&path) {
                keys.add(&SecretValue::new(bytes).0);
            }
        }
        if let Some(path) = default_keys_file(var) {
            keys.looked.push(path.display().to_string());
            if let Ok(bytes) = std::fs::read(&path) {
                keys.add(&SecretValue::new(bytes).0);
            }
        }
        keys
    }

    fn add(&mut self, text: &[u8]) {
        // A file that is not an age identity file adds nothing; the message lists where we
        // looked, and the parse error could quote the file.
        if let Ok(file) = age::IdentityFile::from_buffer(text)
            && let Ok(ids) = file.into_identities()
        {
            self.identities.extend(ids);
        }
    }
}

/// `sops/age/keys.txt` in the user's configuration folder, as Go's `os.UserConfigDir`.
fn default_keys_file(var: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let base = if cfg!(windows) {
        PathBuf::from(var("AppData")?)
    } else if cfg!(target_os = "macos") {
        PathBuf::from(var("HOME")?).join("Library/Application Support")
    } else if let Some(x) = var("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        PathBuf::from(x)
    } else {
        PathBuf::from(var("HOME")?).join(".config")
    };
    Some(base.join("sops/age/keys.txt"))
}

/// The value at `key` of the SOPS file `text`, after checking the file's MAC.
pub fn decrypt(
    text: &[u8],
    key: &str,
    age_keys: &AgeKeys,
    cloud: Option<&dyn CloudSecrets>,
) -> Result<SecretValue, SopsError> {
    let text = std::str::from_utf8(text).map_err(|_| SopsError::Format("not UTF-8".into()))?;
    let parsed = berth_yaml::parse(text);
    if let Some(e) = parsed.errors.first() {
        // Position only: the message of a syntax error may quote the line.
        return Err(SopsError::Format(format!(
            "not YAML or JSON (line {})",
            e.pos.line
        )));
    }
    let Some(Value::Object(mut doc)) = parsed.documents.into_iter().next().map(|d| d.value) else {
        return Err(SopsError::Format("not a mapping".into()));
    };
    let Some(Value::Object(meta)) = doc.remove("sops") else {
        return Err(SopsError::Format(
            "no `sops:` metadata (encrypt it with `sops --encrypt`)".into(),
        ));
    };
    let data_key = data_key(&meta, age_keys, cloud)?;
    let rules = Rules::from(&meta);
    let mut walk = Walk {
        key: &data_key,
        rules: &rules,
        hash: Sha512::new(),
        found: None,
        wanted: key.split('.').collect(),
    };
    walk.value(&Value::Object(doc), &mut Vec::new(), &mut Vec::new())?;
    let mac = hex_upper(&walk.hash.finalize());
    let lastmodified = meta
        .get("lastmodified")
        .and_then(Value::as_str)
        .ok_or_else(|| SopsError::Format("no `sops.lastmodified`".into()))?;
    let stored = meta
        .get("mac")
        .and_then(Value::as_str)
        .ok_or_else(|| SopsError::Format("no `sops.mac`".into()))?;
    let stored = decrypt_value(stored, &data_key, lastmodified).map_err(|_| {
        SopsError::Tampered(
            "its MAC does not decrypt: the file was changed after sops wrote it".into(),
        )
    })?;
    if stored.0 != mac.as_bytes() {
        return Err(SopsError::Tampered(
            "its MAC does not match its values: the file was changed after sops wrote it (edit it with `sops`)".into(),
        ));
    }
    walk.found
        .ok_or_else(|| SopsError::NoSuchKey(key.to_string()))
}

/// The data key, from the first age or KMS entry that decrypts.
fn data_key(
    meta: &serde_json::Map<String, Value>,
    age_keys: &AgeKeys,
    cloud: Option<&dyn CloudSecrets>,
) -> Result<SecretValue, SopsError> {
    let entries = |name: &str| -> Vec<&serde_json::Map<String, Value>> {
        meta.get(name)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_object).collect())
            .unwrap_or_default()
    };
    let mut tried = Vec::new();
    let age_entries = entries("age");
    if !age_entries.is_empty() {
        for entry in &age_entries {
            let Some(enc) = entry.get("enc").and_then(Value::as_str) else {
                continue;
            };
            if age_keys.identities.is_empty() {
                break;
            }
            let reader = age::armor::ArmoredReader::new(enc.as_bytes());
            let Ok(decryptor) = age::Decryptor::new(reader) else {
                continue;
            };
            let ids = age_keys
                .identities
                .iter()
                .map(|i| -> &dyn age::Identity { i.as_ref() });
            if let Ok(mut r) = decryptor.decrypt(ids) {
                let mut key = SecretValue::new(Vec::new());
                if std::io::Read::read_to_end(&mut r, &mut key.0).is_ok() {
                    return Ok(key);
                }
            }
        }
        let recipients: Vec<&str> = age_entries
            .iter()
            .filter_map(|e| e.get("recipient").and_then(Value::as_str))
            .collect();
        tried.push(if age_keys.identities.is_empty() {
            format!(
                "no age key found (looked in {})",
                if age_keys.looked.is_empty() {
                    "SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and sops/age/keys.txt".to_string()
                } else {
                    age_keys.looked.join(", ")
                }
            )
        } else {
            format!(
                "none of the age keys found ({}) is one of its recipients ({})",
                age_keys.looked.join(", "),
                recipients.join(", ")
            )
        });
    }
    for entry in entries("kms") {
        let (Some(arn), Some(enc)) = (
            entry.get("arn").and_then(Value::as_str),
            entry.get("enc").and_then(Value::as_str),
        ) else {
            continue;
        };
        let Ok(blob) = base64::engine::general_purpose::STANDARD.decode(enc) else {
            continue;
        };
        let context: BTreeMap<String, String> = entry
            .get("context")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        match cloud {
            None => tried.push(format!("AWS KMS key {arn}: no AWS access in this command")),
            Some(c) => match c.kms_decrypt(arn, &blob, &context) {
                Ok(key) => return Ok(key),
                Err(e) => tried.push(format!("AWS KMS key {arn}: {e}")),
            },
        }
    }
    if tried.is_empty() {
        tried.push("it has no age or AWS KMS key".into());
    }
    Err(SopsError::NoKey(format!(
        "cannot be decrypted: {}",
        tried.join("; ")
    )))
}

/// Which values are encrypted: sops's `unencrypted_suffix`, `encrypted_suffix`,
/// `unencrypted_regex` and `encrypted_regex` (the regex forms are refused: berth has no regex
/// engine, and guessing would break the MAC), and `mac_only_encrypted`.
struct Rules {
    unencrypted_suffix: Option<String>,
    encrypted_suffix: Option<String>,
    unsupported: Option<String>,
    mac_only_encrypted: bool,
}

impl From<&serde_json::Map<String, Value>> for Rules {
    fn from(meta: &serde_json::Map<String, Value>) -> Rules {
        let text = |k: &str| {
            meta.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let unsupported = [
            "unencrypted_regex",
            "encrypted_regex",
            "unencrypted_comment_regex",
            "encrypted_comment_regex",
        ]
        .into_iter()
        .find(|k| text(k).is_some())
        .map(str::to_string);
        Rules {
            unencrypted_suffix: text("unencrypted_suffix"),
            encrypted_suffix: text("encrypted_suffix"),
            unsupported,
            mac_only_encrypted: meta.get("mac_only_encrypted") == Some(&Value::Bool(true)),
        }
    }
}

impl Rules {
    fn encrypted(&self, path: &[String]) -> bool {
        if let Some(s) = &self.unencrypted_suffix {
            return !path.iter().any(|p| p.ends_with(s.as_str()));
        }
        if let Some(s) = &self.encrypted_suffix {
            return path.iter().any(|p| p.ends_with(s.as_str()));
        }
        true
    }
}

/// Walks the tree as sops does: mapping keys extend the path, list items do not.
struct Walk<'a> {
    key: &'a SecretValue,
    rules: &'a Rules,
    hash: Sha512,
    found: Option<SecretValue>,
    wanted: Vec<&'a str>,
}

impl Walk<'_> {
    /// `path`: the mapping keys (sops's path); `at`: keys and list indexes (the user's `key:`).
    fn value(
        &mut self,
        v: &Value,
        path: &mut Vec<String>,
        at: &mut Vec<String>,
    ) -> Result<(), SopsError> {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    path.push(k.clone());
                    at.push(k.clone());
                    self.value(v, path, at)?;
                    path.pop();
                    at.pop();
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    at.push(i.to_string());
                    self.value(v, path, at)?;
                    at.pop();
                }
            }
            Value::Null => {}
            leaf => {
                if let Some(k) = &self.rules.unsupported {
                    return Err(SopsError::Format(format!(
                        "it uses `{k}`, which berth does not read; use `unencrypted_suffix`"
                    )));
                }
                let encrypted = self.rules.encrypted(path);
                let plain = match leaf {
                    Value::String(s) if encrypted => {
                        let aad = format!("{}:", path.join(":"));
                        decrypt_value(s, self.key, &aad).map_err(|e| {
                            SopsError::Tampered(format!("its value at `{}` {e}", at.join(".")))
                        })?
                    }
                    other => SecretValue::new(plain_bytes(other)),
                };
                if !self.rules.mac_only_encrypted || encrypted {
                    self.hash.update(plain.expose());
                }
                if at
                    .iter()
                    .map(String::as_str)
                    .eq(self.wanted.iter().copied())
                {
                    self.found = Some(plain);
                }
            }
        }
        Ok(())
    }
}

/// A value sops left in clear, as its MAC reads it (Go's `ToBytes`).
fn plain_bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Bool(true) => b"True".to_vec(),
        Value::Bool(false) => b"False".to_vec(),
        other => other.to_string().into_bytes(),
    }
}

/// One `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` value; `""` stays `""` (sops does not
/// encrypt empty values).
fn decrypt_value(text: &str, key: &SecretValue, aad: &str) -> Result<SecretValue, &'static str> {
    if text.is_empty() {
        return Ok(SecretValue::new(Vec::new()));
    }
    let body = text
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|t| t.strip_suffix(']'))
        .ok_or("is not encrypted by sops (no ENC[AES256_GCM,…])")?;
    let mut parts: BTreeMap<&str, &str> = BTreeMap::new();
    for part in body.split(',') {
        if let Some((k, v)) = part.split_once(':') {
            parts.insert(k, v);
        }
    }
    let b64 = |k: &str| {
        parts
            .get(k)
            .and_then(|v| base64::engine::general_purpose::STANDARD.decode(v).ok())
            .ok_or("is not a well-formed ENC[…] value")
    };
    let (data, iv, tag) = (b64("data")?, b64("iv")?, b64("tag")?);
    if iv.len() != 32 || tag.len() != 16 || key.expose().len() != 32 {
        return Err("is not a well-formed ENC[…] value");
    }
    let cipher = SopsCipher::new_from_slice(key.expose()).map_err(|_| "has a bad data key")?;
    let mut sealed = data;
    sealed.extend_from_slice(&tag);
    cipher
        .decrypt(
            Nonce::<U32>::from_slice(&iv),
            Payload {
                msg: &sealed,
                aad: aad.as_bytes(),
            },
        )
        .map(SecretValue::new)
        .map_err(|_| "does not decrypt with the file's data key (changed or moved by hand?)")
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests;
