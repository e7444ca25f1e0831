//! berth against a local AWS endpoint: moto's server mode (PyPI `moto[server]`, installed by
//! `scripts/moto-venv.sh` into ~/.cache/berth/venv-moto), started by each test on a free port
//! of 127.0.0.1 and stopped when it ends. The AWS resources a test needs (secrets, parameters,
//! the VPC, subnets and node security group eksctl would have made) are made with boto3 from
//! the same venv, not with berth's code. berth reaches moto through `AWS_ENDPOINT_URL`, with
//! static test credentials; nothing else of AWS is configured, so no other address is asked.
//!
//! - Secrets: `berth up` on the local cluster fills a Secret from Secrets Manager (a JSON key and
//!   a plain string), SSM (a SecureString) and a SOPS file (sops-encrypted with an age key); no
//!   value is printed or recorded in the revision; a missing secret or a wrong age key is exit 2
//!   with nothing applied.
//! - File systems: eksctl cannot run against moto, so the cluster's network is made here as
//!   eksctl tags it and `berth cluster up --existing` (the documented way to add berth's cloud
//!   resources to a cluster that exists) runs the step after eksctl: it creates the EFS file
//!   system, mount targets and NFS security group once, a second run creates nothing, the id
//!   reaches the rendered StorageClass, and `berth cluster down --existing` keeps the file
//!   system unless --purge.

#[path = "../../../testbed/go/build_cached.rs"]
mod build_cached;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;

/// The moto venv's folder.
fn venv() -> PathBuf {
    if let Some(v) = std::env::var_os("BERTH_MOTO_VENV") {
        return PathBuf::from(v);
    }
    let home = std::env::var_os("HOME").expect("HOME is not set");
    PathBuf::from(home).join(".cache/berth/venv-moto")
}

/// moto's server on 127.0.0.1, stopped when dropped.
struct Moto {
    child: Child,
    port: u16,
    /// Where AWS config and credential files are looked for: an empty folder, so the user's
    /// profiles play no part.
    home: tempfile::TempDir,
}

impl Moto {
    fn start() -> Moto {
        let server = venv().join("bin/moto_server");
        assert!(
            server.is_file(),
            "this test needs moto's server mode at {}: run scripts/moto-venv.sh (scripts/test.sh does)",
            server.display()
        );
        let port = closed_port();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", server.display()));
        let moto = Moto {
            child,
            port,
            home: tempfile::tempdir().unwrap(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not listen on 127.0.0.1:{port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        moto
    }

    /// The AWS environment of every process of the test: moto, static credentials, a region,
    /// no profile files, no instance metadata.
    fn env(&self, cmd: &mut Command) {
        aws_env(cmd, self.port, self.home.path());
    }

    /// Runs boto3 `script` (with `ec2`, `efs`, `sm`, `ssm`, `kms` clients made) and returns its
    /// stdout.
    fn python(&self, script: &str) -> String {
        let prelude = "import boto3, json\nec2 = boto3.client('ec2')\nefs = boto3.client('efs')\nsm = boto3.client('secretsmanager')\nssm = boto3.client('ssm')\nkms = boto3.client('kms')\n";
        let mut cmd = Command::new(venv().join("bin/python"));
        cmd.arg("-c").arg(format!("{prelude}{script}"));
        self.env(&mut cmd);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "boto3 script failed:\n{script}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// The AWS environment of every process of these tests: the endpoint on 127.0.0.1:`port`,
/// static credentials, a region, no profile files (`home` is empty), no instance metadata.
fn aws_env(cmd: &mut Command, port: u16, home: &Path) {
    let none = home.join("none");
    cmd.env("AWS_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", &none)
        .env("AWS_SHARED_CREDENTIALS_FILE", &none)
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN");
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `berth ARGS` with moto's environment (and `extra`), against the shared local cluster.
fn berth(moto: &Moto, args: &[&str], extra: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.args(args)
        .env("KUBECONFIG", berth_local::testing::kubeconfig())
        .env_remove("SOPS_AGE_KEY")
        .env_remove("SOPS_AGE_KEY_FILE")
        .env("XDG_CONFIG_HOME", moto.home.path())
        .stdin(Stdio::null());
    moto.env(&mut cmd);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn sops_binary() -> PathBuf {
    build_cached::build_cached(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testbed/go/sops"),
        &["go.mod", "go.sum"],
        "github.com/getsops/sops/v3/cmd/sops",
        "sops",
        "this test reads a file the sops tool encrypted",
    )
}

/// A fresh age key: (identity, recipient).
fn age_key() -> (String, String) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    (
        id.to_string().expose_secret().to_string(),
        id.to_public().to_string(),
    )
}

/// `dir/secrets.yaml`: `db.password: <value>` encrypted by sops for `recipient`.
fn sops_file(dir: &Path, recipient: &str, value: &str) {
    sops_encrypt(dir, &["--age", recipient], value, None);
}

/// `dir/secrets.yaml`: `db.password: <value>` encrypted by sops with the key options `keys`
/// (sops reaching AWS through `moto` when given).
fn sops_encrypt(dir: &Path, keys: &[&str], value: &str, moto: Option<&Moto>) {
    let plain = dir.join("plain.yaml");
    std::fs::write(&plain, format!("db:\n    password: {value}\n")).unwrap();
    let mut cmd = Command::new(sops_binary());
    cmd.arg("--encrypt").args(keys).arg(&plain).current_dir(dir);
    if let Some(moto) = moto {
        moto.env(&mut cmd);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_file(plain).unwrap();
    std::fs::write(dir.join("secrets.yaml"), out.stdout).unwrap();
}

const SM_PASSWORD: &str = "pw-from-secretsmanager-881";
const SM_USER: &str = "dbuser-from-sm-217";
const SM_PLAIN: &str = "plain-secret-string-442";
const SSM_VALUE: &str = "ssm-securestring-553";
const SOPS_VALUE: &str = "sops-age-value-664";
const ALL: &[&str] = &[SM_PASSWORD, SM_USER, SM_PLAIN, SSM_VALUE, SOPS_VALUE];

fn secrets_stack(dir: &Path, ns: &str, sm_name: &str) {
    std::fs::write(
        dir.join("berth.yaml"),
        format!(
            "stack: {ns}\nnamespace: {ns}\nprofile: local\ncluster: {{ name: c, region: us-east-1 }}\ncomponents:\n  app: {{ manifests: app.yaml }}\nsecrets:\n  db:\n    data:\n      username: {{ aws-secretsmanager: {sm_name}, key: username }}\n      password: {{ aws-secretsmanager: {sm_name}, key: password }}\n      plain: {{ aws-secretsmanager: berth/plain }}\n      api-key: {{ aws-ssm: /berth/api-key }}\n      sops: {{ sops: secrets.yaml, key: db.password }}\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("app.yaml"), SETTINGS).unwrap();
}

/// The manifest of the secrets stacks: one ConfigMap, the sign that something was applied.
const SETTINGS: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: fast}\n";

/// True when namespace `ns` has no `settings` ConfigMap: nothing of the stack was applied.
async fn nothing_applied(ns: &str) -> bool {
    let client = berth_local::testing::client().await;
    Api::<ConfigMap>::namespaced(client, ns)
        .get_opt("settings")
        .await
        .unwrap()
        .is_none()
}

/// Every string of the stack's revision Secrets (gzip-compressed JSON), decompressed.
async fn revisions(ns: &str) -> String {
    let client = berth_local::testing::client().await;
    let mut out = String::new();
    for s in Api::<Secret>::namespaced(client, ns)
        .list(&Default::default())
        .await
        .unwrap()
    {
        let name = s.metadata.name.clone().unwrap_or_default();
        if !name.starts_with(&format!("berth.{ns}")) {
            continue;
        }
        for (_, v) in s.data.unwrap_or_default() {
            let mut text = String::new();
            if v.0.starts_with(&[0x1f, 0x8b]) {
                flate2::read::GzDecoder::new(&v.0[..])
                    .read_to_string(&mut text)
                    .unwrap();
            } else {
                text = String::from_utf8_lossy(&v.0).into_owned();
            }
            out.push_str(&text);
        }
    }
    out
}

#[tokio::test]
async fn secrets_from_secrets_manager_ssm_and_sops_fill_the_secret_and_nothing_else() {
    let moto = Moto::start();
    moto.python(&format!(
        "sm.create_secret(Name='berth/db', SecretString=json.dumps({{'username': '{SM_USER}', 'password': '{SM_PASSWORD}'}}))\n\
         sm.create_secret(Name='berth/plain', SecretString='{SM_PLAIN}')\n\
         ssm.put_parameter(Name='/berth/api-key', Value='{SSM_VALUE}', Type='SecureString')\n"
    ));
    let (identity, recipient) = age_key();
    let client = berth_local::testing::client().await;

    // Acts: every value from its store, in the Secret.
    let dir = tempfile::tempdir().unwrap();
    let ns = format!("aws-secrets-{}", std::process::id());
    secrets_stack(dir.path(), &ns, "berth/db");
    sops_file(dir.path(), &recipient, SOPS_VALUE);
    let path = dir.path().to_str().unwrap();
    let out = berth(
        &moto,
        &["up", "--yes", path],
        &[("SOPS_AGE_KEY", &identity)],
    );
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    let secret = Api::<Secret>::namespaced(client, &ns)
        .get("db")
        .await
        .unwrap();
    let data = secret.data.unwrap();
    let value = |k: &str| String::from_utf8(data[k].0.clone()).unwrap();
    assert_eq!(value("username"), SM_USER);
    assert_eq!(value("password"), SM_PASSWORD);
    assert_eq!(value("plain"), SM_PLAIN);
    assert_eq!(value("api-key"), SSM_VALUE);
    assert_eq!(value("sops"), SOPS_VALUE);
    // No value in what berth printed, in `render`, or in the revision it recorded.
    let render = text(&berth(
        &moto,
        &["render", path],
        &[("SOPS_AGE_KEY", &identity)],
    ));
    let recorded = revisions(&ns).await;
    assert!(recorded.contains("settings"), "no revision found");
    for v in ALL {
        assert!(!printed.contains(v), "{v} printed by up:\n{printed}");
        assert!(!render.contains(v), "{v} printed by render:\n{render}");
        assert!(!recorded.contains(v), "{v} recorded in the revision");
    }

    // Must not act: a secret Secrets Manager does not have, exit 2, nothing applied.
    let ns2 = format!("aws-missing-{}", std::process::id());
    let dir2 = tempfile::tempdir().unwrap();
    secrets_stack(dir2.path(), &ns2, "berth/nope");
    sops_file(dir2.path(), &recipient, SOPS_VALUE);
    let path2 = dir2.path().to_str().unwrap();
    let out = berth(
        &moto,
        &["up", "--yes", path2],
        &[("SOPS_AGE_KEY", &identity)],
    );
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(2), "{printed}");
    assert!(
        // (The report wraps long messages, so fragments.)
        printed.contains("the AWS Secrets Manager secret `berth/")
            && printed.contains("nope`: it does not exist"),
        "{printed}"
    );
    for v in ALL {
        assert!(!printed.contains(v), "{v} printed:\n{printed}");
    }
    assert!(nothing_applied(&ns2).await, "something was applied");

    // Nor with a wrong age key.
    let (other, _) = age_key();
    secrets_stack(dir2.path(), &ns2, "berth/db");
    let out = berth(&moto, &["up", "--yes", path2], &[("SOPS_AGE_KEY", &other)]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(2), "{printed}");
    assert!(
        printed.contains("the SOPS file `secrets.yaml`") && printed.contains("cannot be decrypted"),
        "{printed}"
    );
    for v in ALL {
        assert!(!printed.contains(v), "{v} printed:\n{printed}");
    }
    assert!(nothing_applied(&ns2).await, "something was applied");

    let out = berth(&moto, &["down", "--yes", "--purge", path], &[]);
    assert!(out.status.success(), "{}", text(&out));
}

const CLUSTER: &str = "efs-test";

/// The network eksctl would have made for cluster `CLUSTER`: a VPC, a subnet per zone and the
/// shared node security group, tagged as eksctl tags them.
fn eksctl_network(moto: &Moto) -> String {
    moto.python(&format!(
        "tag = [{{'Key': 'alpha.eksctl.io/cluster-name', 'Value': '{CLUSTER}'}}]\n\
         vpc = ec2.create_vpc(CidrBlock='192.168.0.0/16')['Vpc']['VpcId']\n\
         for i, zone in enumerate(['us-east-1a', 'us-east-1b', 'us-east-1c']):\n\
         \x20   ec2.create_subnet(VpcId=vpc, CidrBlock=f'192.168.{{i * 32}}.0/19', AvailabilityZone=zone, TagSpecifications=[{{'ResourceType': 'subnet', 'Tags': tag}}])\n\
         sg = ec2.create_security_group(GroupName='eksctl-{CLUSTER}-cluster-ClusterSharedNodeSecurityGroup-1X2Y3Z', Description='nodes', VpcId=vpc, TagSpecifications=[{{'ResourceType': 'security-group', 'Tags': tag}}])['GroupId']\n\
         print(sg)\n"
    ))
    .trim()
    .to_string()
}

fn efs_stack(dir: &Path) {
    std::fs::write(
        dir.join("berth.yaml"),
        format!(
            "stack: efs-test\nnamespace: app\nkubernetes: \"1.34\"\nprofile: eks\ncomponents:\n  storage: {{ manifests: storage.yaml }}\ncluster:\n  name: {CLUSTER}\n  region: us-east-1\n  zones: [us-east-1a, us-east-1b, us-east-1c]\n  nodeGroups:\n    - {{ name: workers, instanceType: m5.large, min: 1, max: 3 }}\n  fileSystems:\n    - name: shared\n      lifecycle: {{ transitionToIA: AFTER_30_DAYS }}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("storage.yaml"),
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: efs-sc}\nprovisioner: efs.csi.aws.com\nparameters:\n  provisioningMode: efs-ap\n  fileSystemId: ${efs.shared}\n",
    )
    .unwrap();
}

/// (file systems tagged for the cluster, mount targets of the first, NFS sources of berth's
/// security group), as moto has them.
fn aws_state(moto: &Moto) -> (usize, usize, String) {
    let out = moto.python(&format!(
        "fss = [f for f in efs.describe_file_systems()['FileSystems'] if {{'Key': 'berth.dev/cluster', 'Value': '{CLUSTER}'}} in f['Tags']]\n\
         mts = efs.describe_mount_targets(FileSystemId=fss[0]['FileSystemId'])['MountTargets'] if fss else []\n\
         sgs = ec2.describe_security_groups(Filters=[{{'Name': 'tag:berth.dev/cluster', 'Values': ['{CLUSTER}']}}])['SecurityGroups']\n\
         rules = [(p.get('FromPort'), [g['GroupId'] for g in p['UserIdGroupPairs']]) for s in sgs for p in s['IpPermissions']]\n\
         print(len(fss)); print(len(mts)); print(rules)\n"
    ));
    let mut lines = out.lines();
    (
        lines.next().unwrap().parse().unwrap(),
        lines.next().unwrap().parse().unwrap(),
        lines.next().unwrap().to_string(),
    )
}

#[test]
fn cluster_up_creates_the_file_system_once_and_down_keeps_it_unless_purge() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    efs_stack(dir.path());
    let path = dir.path().to_str().unwrap();

    // Before the cluster: `cluster config` needs no file system id and lists what comes.
    let out = berth(&moto, &["cluster", "config", "--explain", path], &[]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(printed.contains("EFS file system `shared` (generalPurpose, elastic throughput, encrypted, to Infrequent Access AFTER_30_DAYS): created by `berth cluster up` when missing"), "{printed}");
    // Must not act: no cluster network yet, so nothing is created and up fails saying why.
    let out = berth(&moto, &["cluster", "up", "--existing", path], &[]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(1), "{printed}");
    assert!(
        printed.contains("no subnet is tagged alpha.eksctl.io/cluster-name=efs-test"),
        "{printed}"
    );
    assert_eq!(aws_state(&moto).0, 0);
    // And render, asked for the cloud's values, leaves the placeholder, with a warning.
    let out = berth(&moto, &["render", "--cloud-values", path], &[]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(printed.contains("fileSystemId: ${efs.shared}"), "{printed}");
    // (The report wraps the message; its two halves are on their own lines.)
    assert!(
        printed.contains("`${efs.shared}` (the id of EFS file system `shared`"),
        "{printed}"
    );
    assert!(printed.contains("does not exist yet"), "{printed}");

    let node_sg = eksctl_network(&moto);
    let out = berth(&moto, &["cluster", "up", "--existing", path], &[]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let id = stdout
        .trim()
        .strip_prefix("efs.shared=")
        .unwrap_or_else(|| panic!("{printed}"))
        .to_string();
    assert!(id.starts_with("fs-"), "{printed}");
    assert_eq!(printed.matches("created ").count(), 6, "{printed}"); // fs, SG, rule, 3 mount targets
    assert!(
        printed.contains(&format!("created EFS file system {id} (shared)")),
        "{printed}"
    );
    let (fss, mts, rules) = aws_state(&moto);
    assert_eq!((fss, mts), (1, 3));
    assert_eq!(rules, format!("[(2049, ['{node_sg}'])]"));

    // A second run finds everything by tag and creates nothing.
    let out = berth(&moto, &["cluster", "up", "--existing", path], &[]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(!printed.contains("created "), "{printed}");
    assert!(
        printed.contains(&format!(
            "EFS file system `shared` is {id} (nothing to create)"
        )),
        "{printed}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("efs.shared={id}")
    );
    assert_eq!(aws_state(&moto).0, 1);

    // The id reaches the rendered StorageClass; offline, render leaves it as written.
    let out = berth(&moto, &["render", "--cloud-values", path], &[]);
    let printed = text(&out);
    assert!(out.status.success(), "{printed}");
    assert!(
        printed.contains(&format!("fileSystemId: {id}")),
        "{printed}"
    );
    let out = berth(&moto, &["render", path], &[]);
    assert!(
        text(&out).contains("fileSystemId: ${efs.shared}"),
        "{}",
        text(&out)
    );

    // Down keeps the file system (its mount targets and security group go with the VPC)...
    let out = berth(&moto, &["cluster", "down", "--existing", path], &[]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(
        printed.contains(&format!("kept EFS file system {id} (shared)")),
        "{printed}"
    );
    let (fss, mts, rules) = aws_state(&moto);
    assert_eq!((fss, mts, rules.as_str()), (1, 0, "[]"));
    // ...and the next `cluster up` mounts the same one again.
    let out = berth(&moto, &["cluster", "up", "--existing", path], &[]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("efs.shared={id}"),
        "{}",
        text(&out)
    );
    assert_eq!(aws_state(&moto).1, 3);
    // --purge deletes it.
    let out = berth(
        &moto,
        &["cluster", "down", "--existing", "--purge", path],
        &[],
    );
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(
        printed.contains(&format!("deleted EFS file system {id} (shared)")),
        "{printed}"
    );
    assert_eq!(aws_state(&moto).0, 0);
}

/// A port of 127.0.0.1 nothing listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn sops_with_an_aws_kms_key_decrypts_through_kms() {
    let moto = Moto::start();
    let arn = moto
        .python("print(kms.create_key(Description='berth sops test')['KeyMetadata']['Arn'])\n")
        .trim()
        .to_string();
    assert!(arn.starts_with("arn:aws:kms:us-east-1:"), "{arn}");
    let client = berth_local::testing::client().await;
    let stack = |dir: &Path, ns: &str| {
        std::fs::write(
            dir.join("berth.yaml"),
            format!("stack: {ns}\nnamespace: {ns}\nprofile: local\ncomponents:\n  app: {{ manifests: app.yaml }}\nsecrets:\n  db:\n    data:\n      password: {{ sops: secrets.yaml, key: db.password }}\n"),
        )
        .unwrap();
        std::fs::write(dir.join("app.yaml"), SETTINGS).unwrap();
        // Encrypted by the real sops with the KMS key only (no age recipient).
        sops_encrypt(dir, &["--kms", &arn], SOPS_VALUE, Some(&moto));
        let file = std::fs::read_to_string(dir.join("secrets.yaml")).unwrap();
        assert!(file.contains(&arn) && !file.contains(SOPS_VALUE), "{file}");
    };

    // Acts: the data key is decrypted by KMS, the value reaches the Secret, and only there.
    let dir = tempfile::tempdir().unwrap();
    let ns = format!("aws-kms-{}", std::process::id());
    stack(dir.path(), &ns);
    let path = dir.path().to_str().unwrap();
    let out = berth(&moto, &["up", "--yes", path], &[]);
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(0), "{printed}");
    assert!(!printed.contains(SOPS_VALUE), "{printed}");
    let secret = Api::<Secret>::namespaced(client, &ns)
        .get("db")
        .await
        .unwrap();
    assert_eq!(secret.data.unwrap()["password"].0, SOPS_VALUE.as_bytes());
    assert!(!revisions(&ns).await.contains(SOPS_VALUE));

    // Must not act: KMS cannot be reached, so the file cannot be decrypted: exit 2 naming the
    // file and the key, nothing applied.
    let dir2 = tempfile::tempdir().unwrap();
    let ns2 = format!("aws-kms-down-{}", std::process::id());
    stack(dir2.path(), &ns2);
    let path2 = dir2.path().to_str().unwrap();
    let unreachable = format!("http://127.0.0.1:{}", closed_port());
    let out = berth(
        &moto,
        &["up", "--yes", path2],
        &[("AWS_ENDPOINT_URL", &unreachable)],
    );
    let printed = text(&out);
    assert_eq!(out.status.code(), Some(2), "{printed}");
    assert!(
        printed.contains("the SOPS file `secrets.yaml`") && printed.contains("AWS KMS key"),
        "{printed}"
    );
    assert!(!printed.contains(SOPS_VALUE), "{printed}");
    assert!(nothing_applied(&ns2).await, "something was applied");

    let out = berth(&moto, &["down", "--yes", "--purge", path], &[]);
    assert!(out.status.success(), "{}", text(&out));
}

/// `check`, `render`, `simulate` and `cluster config` read a stack that names AWS secrets and
/// EFS file systems without one request to AWS: the endpoint is a listener that counts the
/// connections it gets (and closes each at once). Must act: `render --cloud-values` and `plan`
/// do ask it.
#[test]
fn offline_commands_ask_aws_nothing() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    {
        let connections = connections.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                connections.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
    }
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    efs_stack(dir.path());
    let mut stack = std::fs::read_to_string(dir.path().join("berth.yaml")).unwrap();
    stack.push_str("secrets:\n  db:\n    data:\n      password: { aws-secretsmanager: berth/db, key: password }\n      api-key: { aws-ssm: /berth/api-key }\n");
    std::fs::write(dir.path().join("berth.yaml"), stack).unwrap();
    std::fs::write(
        dir.path().join("web.yaml"),
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.27.3\n          resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 64Mi}}\n",
    )
    .unwrap();
    let text_of = |args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.args(args)
            .env("KUBECONFIG", berth_local::testing::kubeconfig())
            .env("XDG_CONFIG_HOME", home.path())
            .stdin(Stdio::null());
        aws_env(&mut cmd, port, home.path());
        let out = cmd.output().unwrap();
        (out.status.code(), text(&out))
    };
    let path = dir.path().to_str().unwrap();
    let manifests = "components:\n  storage: { manifests: storage.yaml }\n";
    let stack = std::fs::read_to_string(dir.path().join("berth.yaml")).unwrap();
    std::fs::write(
        dir.path().join("berth.yaml"),
        stack.replace(
            manifests,
            "components:\n  storage: { manifests: storage.yaml }\n  web: { manifests: web.yaml }\n",
        ),
    )
    .unwrap();
    for args in [
        vec!["check", path],
        vec!["render", path],
        vec![
            "simulate",
            path,
            "--load",
            "step:web:10:50:5m",
            "--duration",
            "10m",
        ],
        vec!["cluster", "config", path],
    ] {
        let (code, printed) = text_of(&args);
        assert!(matches!(code, Some(0 | 1)), "{args:?}: {printed}");
        assert_eq!(
            connections.load(Ordering::SeqCst),
            0,
            "`berth {}` connected to AWS:\n{printed}",
            args[0]
        );
    }
    // `render` leaves the id as written, with no warning: nothing was asked.
    let (_, rendered) = text_of(&["render", path]);
    assert!(
        rendered.contains("fileSystemId: ${efs.shared}"),
        "{rendered}"
    );
    assert!(!rendered.contains("stays unfilled"), "{rendered}");

    // Must act: `render --cloud-values` reads the ids from AWS (none answers here: a
    // warning, the placeholder stays), and `plan` reads them and the secret values, which it
    // dry-runs: none can be had, so exit 2 naming the store.
    let (code, printed) = text_of(&["render", "--cloud-values", path]);
    let asked = connections.load(Ordering::SeqCst);
    assert!(
        asked > 0,
        "render --cloud-values asked AWS nothing:\n{printed}"
    );
    assert_eq!(code, Some(0), "{printed}");
    // (The report wraps long messages, so fragments.)
    assert!(
        printed.contains("stays unfilled") && printed.contains("cannot list EFS file systems"),
        "{printed}"
    );
    assert!(!printed.contains("DispatchFailure {"), "{printed}");
    let (code, printed) = text_of(&["plan", path]);
    assert!(
        connections.load(Ordering::SeqCst) > asked,
        "plan asked AWS nothing:\n{printed}"
    );
    assert_eq!(code, Some(2), "{printed}");
    assert!(
        printed.contains("the AWS SSM parameter `/berth/api-key`")
            && printed.contains("nothing was applied"),
        "{printed}"
    );
}
