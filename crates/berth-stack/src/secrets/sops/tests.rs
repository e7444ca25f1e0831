//! The reading side against files written here with the same crates, the way sops writes
//! them (the real sops binary encrypts the fixtures of `tests/sops.rs`): every way a file can
//! be wrong is refused, and no message holds a value.

use super::*;

const LASTMODIFIED: &str = "2026-11-30T03:00:00Z";

/// sops's encryption of one value (`type:str`).
fn enc(key: &[u8], plain: &str, aad: &str) -> String {
    let cipher = SopsCipher::new_from_slice(key).unwrap();
    let mut iv = [0u8; 32];
    getrandom::fill(&mut iv).unwrap();
    let nonce = Nonce::<U32>::from_slice(&iv);
    let sealed = cipher
        .encrypt(
            nonce,
            Payload {
                msg: plain.as_bytes(),
                aad: aad.as_bytes(),
            },
        )
        .unwrap();
    let (data, tag) = sealed.split_at(sealed.len() - 16);
    let b = |x: &[u8]| base64::engine::general_purpose::STANDARD.encode(x);
    format!(
        "ENC[AES256_GCM,data:{},iv:{},tag:{},type:str]",
        b(data),
        b(&iv),
        b(tag)
    )
}

/// A SOPS YAML file of `values` (path, value; a `db.password` path is nested) for `recipient`.
fn sops_file(recipient: &age::x25519::Recipient, values: &[(&str, &str)]) -> String {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).unwrap();
    let mut out = String::new();
    let mut hash = Sha512::new();
    let mut open_parent: Option<&str> = None;
    for (path, value) in values {
        let parts: Vec<&str> = path.split('.').collect();
        let aad = format!("{}:", parts.join(":"));
        if parts.len() == 2 {
            if open_parent != Some(parts[0]) {
                out.push_str(&format!("{}:\n", parts[0]));
                open_parent = Some(parts[0]);
            }
            out.push_str(&format!("    {}: {}\n", parts[1], enc(&key, value, &aad)));
        } else {
            open_parent = None;
            out.push_str(&format!("{}: {}\n", parts[0], enc(&key, value, &aad)));
        }
        hash.update(value.as_bytes());
    }
    let mac = hex_upper(&hash.finalize());
    let armored = age::encrypt_and_armor(recipient, &key).unwrap();
    let indented: String = armored
        .lines()
        .map(|l| format!("            {l}\n"))
        .collect();
    out.push_str(&format!(
        "sops:\n    age:\n        - recipient: {recipient}\n          enc: |\n{indented}    lastmodified: \"{LASTMODIFIED}\"\n    mac: {}\n    unencrypted_suffix: _unencrypted\n    version: 3.13.3\n",
        enc(&key, &mac, LASTMODIFIED)
    ));
    out
}

fn keys_of(identity: &age::x25519::Identity) -> AgeKeys {
    let text = format!("# test key\n{}\n", identity.to_string().expose_secret_str());
    AgeKeys::from_env(&|n| (n == "SOPS_AGE_KEY").then(|| text.clone()))
}

trait ExposeStr {
    fn expose_secret_str(&self) -> String;
}
impl ExposeStr for age::secrecy::SecretString {
    fn expose_secret_str(&self) -> String {
        use age::secrecy::ExposeSecret;
        self.expose_secret().to_string()
    }
}

const VALUES: &[(&str, &str)] = &[
    ("username", "molecule"),
    ("db.password", "s3cr3t-db"),
    ("db.host", "db.internal"),
];

#[test]
fn reads_the_value_at_a_path_with_the_right_age_key() {
    let id = age::x25519::Identity::generate();
    let file = sops_file(&id.to_public(), VALUES);
    let keys = keys_of(&id);
    let v = decrypt(file.as_bytes(), "db.password", &keys, None).unwrap();
    assert_eq!(v.expose(), b"s3cr3t-db");
    let v = decrypt(file.as_bytes(), "username", &keys, None).unwrap();
    assert_eq!(v.expose(), b"molecule");
}

#[test]
fn a_wrong_or_missing_age_key_is_refused_without_a_value() {
    let id = age::x25519::Identity::generate();
    let file = sops_file(&id.to_public(), VALUES);
    let other = age::x25519::Identity::generate();
    let e = decrypt(file.as_bytes(), "username", &keys_of(&other), None).unwrap_err();
    assert!(matches!(e, SopsError::NoKey(_)), "{e}");
    assert!(e.to_string().contains("is one of its recipients"), "{e}");
    let none = AgeKeys::from_env(&|_| None);
    let e = decrypt(file.as_bytes(), "username", &none, None).unwrap_err();
    assert!(e.to_string().contains("no age key found"), "{e}");
    for (_, v) in VALUES {
        assert!(!e.to_string().contains(v));
    }
}

#[test]
fn a_changed_value_or_a_moved_value_breaks_the_file() {
    let id = age::x25519::Identity::generate();
    let keys = keys_of(&id);
    let file = sops_file(&id.to_public(), VALUES);
    // A value moved to another key: its additional data (the path) no longer matches.
    let lines: Vec<&str> = file.lines().collect();
    let user = lines[0].split_once(": ").unwrap().1;
    let host = lines[3].split_once(": ").unwrap().1;
    let moved = file.replacen(user, host, 1);
    let e = decrypt(moved.as_bytes(), "db.password", &keys, None).unwrap_err();
    assert!(matches!(e, SopsError::Tampered(_)), "{e}");
    assert!(e.to_string().contains("`username`"), "{e}");
    // A value dropped: every remaining one decrypts, but the MAC no longer matches.
    let dropped: String = file
        .lines()
        .filter(|l| !l.contains("host:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let e = decrypt(dropped.as_bytes(), "db.password", &keys, None).unwrap_err();
    assert!(e.to_string().contains("MAC does not match"), "{e}");
}

#[test]
fn an_unknown_path_and_a_plain_file_are_refused() {
    let id = age::x25519::Identity::generate();
    let keys = keys_of(&id);
    let file = sops_file(&id.to_public(), VALUES);
    let e = decrypt(file.as_bytes(), "db.user", &keys, None).unwrap_err();
    assert_eq!(e, SopsError::NoSuchKey("db.user".into()));
    let e = decrypt(b"password: hunter2\n", "password", &keys, None).unwrap_err();
    assert!(matches!(e, SopsError::Format(_)), "{e}");
    assert!(!e.to_string().contains("hunter2"));
}
