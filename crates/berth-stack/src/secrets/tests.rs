use super::*;
use crate::stackfile::parse_stack_file;
use std::path::PathBuf;
use std::sync::Mutex;

/// A source with fixed answers that records what it was asked.
#[derive(Default)]
struct Fake {
    env: BTreeMap<String, String>,
    prompt: Option<String>,
    existing: BTreeMap<(String, String, String), String>,
    asked: Mutex<Vec<String>>,
}

impl SecretSource for Fake {
    fn env(&self, name: &str) -> Option<SecretValue> {
        self.asked.lock().unwrap().push(format!("env {name}"));
        self.env.get(name).map(|v| SecretValue::new(v.as_bytes()))
    }
    fn file(&self, path: &Path) -> std::io::Result<SecretValue> {
        self.asked
            .lock()
            .unwrap()
            .push(format!("file {}", path.display()));
        match path.file_name().and_then(|n| n.to_str()) {
            Some("present") => Ok(SecretValue::new("from-file")),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not found",
            )),
        }
    }
    fn prompt(&self, secret: &str, key: &str) -> Option<SecretValue> {
        self.asked
            .lock()
            .unwrap()
            .push(format!("prompt {secret}/{key}"));
        self.prompt.as_ref().map(|v| SecretValue::new(v.as_bytes()))
    }
    fn existing(&self, ns: &str, secret: &str, key: &str) -> Option<SecretValue> {
        self.existing
            .get(&(ns.into(), secret.into(), key.into()))
            .map(|v| SecretValue::new(v.as_bytes()))
    }
}

const STACK: &str = "stack: s\nsecrets:\n  app:\n    namespaces: [a, b]\n    data:\n      user: { env: APP_USER }\n      pw: { file: secrets/present }\n      token: { generate: 24 }\n      typed: { prompt: true }\n  pull:\n    type: kubernetes.io/dockerconfigjson\n    data:\n      registry: { env: REG }\n      username: { env: REG_USER }\n      password: { file: secrets/missing }\n";

fn build(mode: SecretMode, fake: &Fake) -> (Vec<Object>, SecretData, Vec<Finding>) {
    let file = Arc::new(SourceFile::new(
        PathBuf::from("berth.yaml"),
        Arc::from(STACK),
    ));
    let (sf, findings) = parse_stack_file(&file);
    assert!(findings.is_empty(), "{findings:?}");
    let sf = sf.unwrap();
    let b = Build {
        stack_file: &file,
        positions: &sf.positions,
        root: Path::new("/stack"),
        namespace: "default",
        mode,
        source: fake,
        cloud: None,
        region: None,
    };
    let mut data = SecretData::default();
    let mut findings = Vec::new();
    let objects = b.run(&sf.secrets, &mut data, &mut findings);
    (objects, data, findings)
}

fn summary(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|f| format!("{}:{} {:?} {}", f.line, f.column, f.severity, f.message))
        .collect()
}

#[test]
fn redact_mode_builds_objects_without_values_and_warns() {
    let fake = Fake::default();
    let (objects, data, findings) = build(SecretMode::Redact, &fake);
    assert!(data.is_empty());
    let keys: Vec<String> = objects.iter().map(|o| o.display_name()).collect();
    assert_eq!(
        keys,
        ["Secret/a/app", "Secret/b/app", "Secret/default/pull"]
    );
    assert_eq!(objects[0].origin, Origin::StackSecret);
    assert_eq!(
        objects[0].value["data"],
        json!({"user": REDACTED, "pw": REDACTED, "token": REDACTED, "typed": REDACTED})
    );
    assert_eq!(objects[2].value["type"], json!(DOCKER_CONFIG_JSON));
    assert_eq!(
        objects[2].value["data"],
        json!({".dockerconfigjson": REDACTED})
    );
    // A finding about a key points at the key in berth.yaml.
    assert_eq!(objects[0].pos("/data/pw").line, 7);
    insta::assert_snapshot!(summary(&findings).join("\n"), @r"
    6:7 Warning secret `app` key `user` comes from the environment variable `APP_USER`, which is not set; its value is left out of this run
    9:7 Info secret `app` key `typed` is asked on the terminal by `berth up`
    13:7 Warning secret `pull` key `registry` comes from the environment variable `REG`, which is not set; its value is left out of this run
    14:7 Warning secret `pull` key `username` comes from the environment variable `REG_USER`, which is not set; its value is left out of this run
    15:7 Warning secret `pull` key `password` comes from the file `secrets/missing`, which cannot be read: not found; its value is left out of this run
    ");
    // Nothing was prompted for in redact mode.
    assert!(
        !fake
            .asked
            .lock()
            .unwrap()
            .iter()
            .any(|a| a.starts_with("prompt"))
    );
}

#[test]
fn strict_mode_holds_values_keeps_generated_ones_and_materializes() {
    let mut fake = Fake::default();
    fake.env.insert("APP_USER".into(), "alice".into());
    fake.prompt = Some("typed-in".into());
    fake.existing.insert(
        ("b".into(), "app".into(), "token".into()),
        "kept-from-cluster".into(),
    );
    let (objects, data, findings) = build(SecretMode::Strict, &fake);
    // `pull` cannot be completed: errors, and no values held for it.
    let errors: Vec<&Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert_eq!(errors.len(), 3, "{:?}", summary(&findings));
    assert!(data.get(&objects[2].key(), ".dockerconfigjson").is_none());

    let a = &objects[0];
    assert_eq!(data.get(&a.key(), "user").unwrap().expose(), b"alice");
    assert_eq!(data.get(&a.key(), "pw").unwrap().expose(), b"from-file");
    assert_eq!(data.get(&a.key(), "typed").unwrap().expose(), b"typed-in");
    assert_eq!(
        data.get(&a.key(), "token").unwrap().expose(),
        b"kept-from-cluster"
    );
    // Both copies share one value.
    assert_eq!(
        data.get(&objects[1].key(), "token"),
        data.get(&a.key(), "token")
    );

    let real = data.materialize(a);
    assert_eq!(real["data"]["user"], json!("YWxpY2U="));
    // The object itself still holds no value.
    assert_eq!(a.value["data"]["user"], json!(REDACTED));
    // And printing the data shows no value.
    let printed = format!("{data:?} {}", data.get(&a.key(), "user").unwrap());
    assert!(
        !printed.contains("alice") && printed.contains("<redacted>"),
        "{printed}"
    );
}

#[test]
fn docker_config_json_is_built_from_its_three_keys() {
    let mut values = BTreeMap::new();
    values.insert("registry".to_string(), SecretValue::new("ghcr.io"));
    values.insert("username".to_string(), SecretValue::new("u"));
    values.insert("password".to_string(), SecretValue::new("p"));
    let v: Value = serde_json::from_slice(docker_config(&values).expose()).unwrap();
    assert_eq!(
        v,
        json!({"auths": {"ghcr.io": {"username": "u", "password": "p", "auth": "dTpw"}}})
    );
}

#[test]
fn generated_values_have_the_asked_length_and_alphabet() {
    let a = generate(40).unwrap();
    let b = generate(40).unwrap();
    assert_eq!(a.expose().len(), 40);
    assert!(a.expose().iter().all(u8::is_ascii_alphanumeric));
    assert_ne!(a, b);
}
