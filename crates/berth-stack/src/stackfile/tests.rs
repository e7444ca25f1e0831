use super::*;
use std::path::PathBuf;

fn parse(text: &str) -> (Option<StackFile>, Vec<Finding>) {
    let file = Arc::new(SourceFile::new(
        PathBuf::from("berth.yaml"),
        Arc::from(text),
    ));
    parse_stack_file(&file)
}

fn lines(findings: &[Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|f| {
            format!(
                "{}:{}:{} {} {}",
                f.file.display(),
                f.line,
                f.column,
                f.rule,
                f.message
            )
        })
        .collect()
}

const FULL: &str = r#"stack: boomi-molecule
namespace: boomi
kubernetes: "1.33"
profile: eks
values:
  replicas: 3
  image: boomi/molecule:5.0.1
secrets:
  boomi-secret:
    namespaces: [boomi, other]
    type: Opaque
    data:
      account:  { env: BOOMI_ACCOUNTID }
      password: { file: secrets/password }
      asked: { prompt: true }
      key: { generate: 32 }
  pull:
    type: kubernetes.io/dockerconfigjson
    data:
      registry: { env: REG }
      username: { env: USER }
      password: { env: PASS }
components:
  storage:
    manifests: storage/
  molecule:
    manifests: [molecule/, extra.yaml]
    after: [storage]
  ingress-nginx:
    chart: { repo: https://kubernetes.github.io/ingress-nginx, name: ingress-nginx, version: 4.11.3 }
    namespace: ingress-nginx
    values: { controller: { replicaCount: 2 } }
    profiles: [eks, gke]
external:
  - { kind: StorageClass, name: gp3 }
cluster:
  name: boomi-molecule
  region: us-east-1
  zones: [us-east-1a, us-east-1b, us-east-1c]
  nodeGroups:
    - { name: workers, instanceType: m5.large, min: 1, max: 100, perZone: true }
"#;

#[test]
fn reads_every_field_of_the_product_example() {
    let (sf, findings) = parse(FULL);
    assert!(findings.is_empty(), "{:?}", lines(&findings));
    let sf = sf.unwrap();
    assert_eq!(sf.stack, "boomi-molecule");
    assert_eq!(sf.namespace.as_deref(), Some("boomi"));
    assert_eq!(sf.kubernetes.as_deref(), Some("1.33"));
    assert_eq!(sf.profile, Some(Profile::Eks));
    assert_eq!(sf.values["replicas"], serde_json::json!(3));
    assert_eq!(
        sf.secrets["boomi-secret"].namespaces,
        vec!["boomi", "other"]
    );
    assert_eq!(sf.secrets["boomi-secret"].data["key"].generate, Some(32));
    assert_eq!(
        sf.secrets["pull"].type_.as_deref(),
        Some("kubernetes.io/dockerconfigjson")
    );
    let names: Vec<&String> = sf.components.keys().collect();
    assert_eq!(names, ["storage", "molecule", "ingress-nginx"]);
    assert_eq!(
        sf.components["molecule"]
            .manifests
            .as_ref()
            .unwrap()
            .paths(),
        ["molecule/", "extra.yaml"]
    );
    assert_eq!(sf.components["molecule"].after, ["storage"]);
    let chart = sf.components["ingress-nginx"].chart.as_ref().unwrap();
    assert_eq!(chart.version.as_deref(), Some("4.11.3"));
    assert_eq!(
        sf.components["ingress-nginx"].profiles,
        [Profile::Eks, Profile::Gke]
    );
    assert_eq!(sf.external[0].name, "gp3");
    let cluster = sf.cluster.unwrap();
    assert_eq!(cluster.node_groups[0].max, 100);
    assert!(cluster.node_groups[0].per_zone);
}

#[test]
fn unknown_fields_point_at_the_key_with_a_hint() {
    let (sf, findings) = parse(
        "stack: s\ncomponents:\n  web:\n    manifests: web/\n    aftr: [db]\n  db:\n    manifests: db/\nnamespce: x\n",
    );
    assert!(sf.is_some());
    insta::assert_snapshot!(lines(&findings).join("\n"), @r"
    berth.yaml:5:5 stack-file components.web.aftr: unknown field `aftr`; did you mean `after`?
    berth.yaml:8:1 stack-file unknown field `namespce` in berth.yaml; did you mean `namespace`?
    ");
}

#[test]
fn type_errors_point_at_the_value_and_do_not_hide_others() {
    let (_, findings) = parse(
        "stack: s\nprofile: aws\ncomponents:\n  a:\n    manifests: a/\n    after: db\n  b:\n    manifests: {x: 1}\n\
         cluster:\n  name: c\n  nodeGroups:\n    - {name: w, instanceType: m5.large, max: lots}\nkubernetes: 1.30\n",
    );
    insta::assert_snapshot!(lines(&findings).join("\n"), @r#"
    berth.yaml:2:1 stack-file profile: unknown value `aws`
    berth.yaml:6:5 stack-file components.a.after: invalid type: string "db", expected a sequence
    berth.yaml:8:5 stack-file components.b.manifests: expected a path or a list of paths
    berth.yaml:12:41 stack-file cluster.nodeGroups.0.max: invalid type: string "lots", expected u32
    berth.yaml:13:1 stack-file `kubernetes:` is the number 1.3; a version must be text (unquoted, `1.30` reads as 1.3)
    "#);
}

#[test]
fn required_and_cross_field_problems() {
    let (sf, findings) = parse(
        "namespace: Bad_NS\ncomponents:\n  a: {}\n  b:\n    manifests: b/\n    after: [a, c, b]\n  c:\n    chart: {repo: https://x}\n\
         secrets:\n  s:\n    data:\n      k: {env: A, file: b}\n      g: {generate: 0}\n  d:\n    type: kubernetes.io/dockerconfigjson\n    data:\n      registry: {env: R}\n",
    );
    assert!(sf.is_none());
    insta::assert_snapshot!(lines(&findings).join("\n"), @r"
    berth.yaml:1:1 stack-file namespace `Bad_NS` is not a DNS-1123 label
    berth.yaml:12:7 stack-file secret `s` key `k` needs exactly one source, found 2
    berth.yaml:13:7 stack-file secret `s` key `g`: `generate: 0` makes an empty value
    berth.yaml:16:5 stack-file secret `d` of type kubernetes.io/dockerconfigjson has no `username` key
    berth.yaml:16:5 stack-file secret `d` of type kubernetes.io/dockerconfigjson has no `password` key
    berth.yaml:1:1 stack-file berth.yaml has no `stack:` name
    berth.yaml:3:3 stack-file component `a` has neither `manifests:`, `kustomize:` nor `chart:`
    berth.yaml:6:19 stack-file component `b` is after itself
    berth.yaml:8:5 stack-file chart of `c` needs either `path:` or `repo:` and `name:`
    ");
}

#[test]
fn yaml_errors_in_the_stack_file() {
    let (sf, findings) = parse("stack: s\nstack: t\n");
    assert!(sf.is_none());
    assert_eq!(findings[0].rule, "yaml-syntax");
    let (sf, findings) = parse("- a\n");
    assert!(sf.is_none());
    assert_eq!(findings[0].message, "berth.yaml must be a mapping");
    let (sf, findings) = parse("");
    assert!(sf.is_none());
    assert_eq!(findings[0].message, "berth.yaml is empty");
}

#[test]
fn dns_labels() {
    assert!(is_dns_label("a-1"));
    for bad in ["", "-a", "a-", "A", "a_b", &"a".repeat(64)] {
        assert!(!is_dns_label(bad), "{bad}");
    }
}

#[test]
fn secret_store_sources_and_their_key() {
    let (sf, findings) = parse(
        "stack: s\nsecrets:\n  a:\n    data:\n      sm: { aws-secretsmanager: app/db, key: password }\n      whole: { aws-secretsmanager: app/license }\n      ssm: { aws-ssm: /app/key }\n      sops: { sops: secrets.enc.yaml, key: db.password }\n",
    );
    assert!(findings.is_empty(), "{:?}", lines(&findings));
    let data = &sf.unwrap().secrets["a"].data;
    assert_eq!(data["sm"].aws_secretsmanager.as_deref(), Some("app/db"));
    assert_eq!(data["sm"].key.as_deref(), Some("password"));
    assert_eq!(data["ssm"].aws_ssm.as_deref(), Some("/app/key"));
    assert_eq!(data["sops"].sops.as_deref(), Some("secrets.enc.yaml"));

    let (_, findings) = parse(
        "stack: s\nsecrets:\n  a:\n    data:\n      nokey: { sops: s.yaml }\n      stray: { env: X, key: z }\n      two: { aws-ssm: /a, env: X }\n",
    );
    assert_eq!(
        lines(&findings),
        [
            "berth.yaml:5:7 stack-file secret `a` key `nokey` reads a SOPS file but names no `key:` in it",
            "berth.yaml:6:24 stack-file secret `a` key `stray`: `key:` goes with `sops:` or `aws-secretsmanager:` only",
            "berth.yaml:7:7 stack-file secret `a` key `two` needs exactly one source, found 2",
        ]
    );
}

#[test]
fn file_system_names_are_labels_and_unique() {
    let (_, findings) = parse(
        "stack: s\ncluster:\n  name: c\n  fileSystems:\n    - { name: data }\n    - { name: data }\n    - { name: Data_1 }\n    - { name: ok, throughputMode: provisioned }\n",
    );
    let l = lines(&findings);
    assert_eq!(l.len(), 1, "{l:?}");
    assert!(l[0].contains("unknown value `provisioned`"), "{l:?}");
    let (_, findings) = parse(
        "stack: s\ncluster:\n  name: c\n  fileSystems:\n    - { name: data }\n    - { name: data }\n    - { name: Data_1 }\n",
    );
    assert_eq!(
        lines(&findings),
        [
            "berth.yaml:6:9 stack-file file system `data` is declared twice",
            "berth.yaml:7:9 stack-file file system name `Data_1` is not a DNS-1123 label",
        ]
    );
}
