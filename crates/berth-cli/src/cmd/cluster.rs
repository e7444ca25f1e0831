//! `berth cluster config | up | down`: the eksctl ClusterConfig and cluster-autoscaler manifest
//! the stack needs (`berth-cluster`), creating the cluster from them with eksctl and then the
//! cloud resources of `cluster:` (EFS file systems, `berth-aws`), and deleting it again.

use std::path::PathBuf;

use berth_cluster::{ClusterFiles, Options, up};
use berth_model::{NodeMode, Profile};
use berth_ops::Checks;
use berth_stack::{LoadOptions, SecretMode};
use clap::{Args, Subcommand};

use crate::exit::{Exit, fail};
use crate::stack::{StackArgs, print_errors, refused};

/// `berth cluster ...`
#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Write the eksctl ClusterConfig and what scales the nodes, consistent with each other:
    /// EKS Auto Mode (NodePools when the built-in pools are not enough), Karpenter (NodePools
    /// and EC2NodeClass) or the cluster-autoscaler (node groups, one per zone with zonal
    /// volumes, and its manifest), sized from requests and HPA maxima; IAM policies and add-ons
    /// from what the stack uses. Exits 1 when a cluster-autoscaler in the stack disagrees with
    /// the generated one.
    Config(ConfigArgs),
    /// Write the files, then create the cluster with `eksctl create cluster -f` and apply the
    /// autoscaler or the NodePools with kubectl once the cluster is ready; prints the commands
    /// instead when eksctl is not installed. Then creates the EFS file systems of
    /// `cluster.fileSystems` that do not exist yet (mount targets, NFS security group).
    Up(UpArgs),
    /// Delete the cluster with `eksctl delete cluster`, after removing the mount targets and
    /// security groups of its EFS file systems; the file systems and their data are kept
    /// unless --purge.
    Down(DownArgs),
}

/// Options of `berth cluster config`.
#[derive(Args, Debug)]
pub struct ConfigArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Write cluster.yaml and cluster-autoscaler.yaml or nodepools.yaml into this folder
    /// (default: print them).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub nodes: NodesArg,
    /// Print the arithmetic behind the instance type and node counts, and why each IAM policy
    /// and add-on is there.
    #[arg(long)]
    pub explain: bool,
}

/// Options of `berth cluster up`.
#[derive(Args, Debug)]
pub struct UpArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Where to write the files (default: .berth/cluster/<cluster name> in the stack folder).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Only write the files and print the commands.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub nodes: NodesArg,
    /// The cluster exists already (made by eksctl earlier, Terraform or the console): skip
    /// eksctl and kubectl, only create the cloud resources of `cluster:` (file systems).
    #[arg(long)]
    pub existing: bool,
}

/// Options of `berth cluster down`.
#[derive(Args, Debug)]
pub struct DownArgs {
    #[command(flatten)]
    pub stack: StackArgs,
    /// Also delete the EFS file systems of `cluster.fileSystems`, with their data.
    #[arg(long)]
    pub purge: bool,
    /// Leave the cluster itself alone (it is deleted elsewhere): only remove berth's cloud
    /// resources of `cluster:`.
    #[arg(long)]
    pub existing: bool,
    /// Only print what would be run.
    #[arg(long)]
    pub dry_run: bool,
}

/// `--nodes`, shared by `config` and `up`.
#[derive(Args, Debug, Clone, Copy)]
pub struct NodesArg {
    /// What scales the nodes: auto-mode, karpenter or cluster-autoscaler (default:
    /// `cluster.nodes` in berth.yaml, else cluster-autoscaler).
    #[arg(long, value_name = "MODE", value_parser = parse_nodes)]
    pub nodes: Option<NodeMode>,
}

fn parse_nodes(s: &str) -> Result<NodeMode, String> {
    s.parse()
}

pub fn run(command: ClusterCommand) -> anyhow::Result<Exit> {
    match command {
        ClusterCommand::Config(a) => config(a),
        ClusterCommand::Up(a) => cluster_up(a),
        ClusterCommand::Down(a) => cluster_down(a),
    }
}

fn generate(stack_args: &StackArgs, nodes: NodesArg) -> anyhow::Result<ClusterFiles> {
    let mut stack_args = stack_args.clone();
    match stack_args.profile {
        None => stack_args.profile = Some(Profile::Eks),
        Some(Profile::Eks) => {}
        Some(other) => {
            return Err(fail(
                Exit::BadInput,
                format!(
                    "`berth cluster` writes an EKS (eksctl) cluster; `--profile {other}` cannot be used with it"
                ),
            ));
        }
    }
    // No AWS while making the cluster's files: they come before the cluster, and so before
    // the file systems whose ids `${efs.<name>}` are (left as written here).
    let options = LoadOptions {
        cloud_values: None,
        ..stack_args.options(SecretMode::Redact)
    };
    let prepared = berth_ops::prepare(&stack_args.path, &options, Checks::LoadOnly);
    print_errors(&prepared.findings);
    // The error findings are printed above; a refusal adds only its message.
    let stack = prepared.loadable().map_err(refused)?;
    let options = Options {
        nodes: nodes.nodes,
        ..Options::default()
    };
    berth_cluster::config(stack, &options).map_err(|e| fail(Exit::BadInput, e.to_string()))
}

fn report(files: &ClusterFiles, explain: bool) {
    if explain {
        for l in &files.explanation {
            eprintln!("{l}");
        }
    }
    for w in &files.warnings {
        eprintln!("warning: {w}");
    }
    for d in &files.differences {
        eprintln!("{d}");
    }
}

fn config(args: ConfigArgs) -> anyhow::Result<Exit> {
    let files = generate(&args.stack, args.nodes)?;
    match &args.out {
        Some(dir) => {
            let (c, manifests) = files
                .write(dir)
                .map_err(|e| fail(Exit::BadInput, format!("{}: {e}", dir.display())))?;
            println!("wrote {}", c.display());
            for m in manifests {
                println!("wrote {}", m.display());
            }
        }
        None => {
            print!("{}", files.cluster_yaml());
            for (_, text) in files.manifests() {
                println!("---");
                print!("{text}");
            }
        }
    }
    report(&files, args.explain);
    if files.differences.is_empty() {
        Ok(Exit::Ok)
    } else {
        Err(fail(
            Exit::Failed,
            format!(
                "the stack's cluster-autoscaler disagrees with the cluster file in {} setting(s): use the generated cluster-autoscaler.yaml, or change the stack's to match",
                files.differences.len()
            ),
        ))
    }
}

fn cluster_up(args: UpArgs) -> anyhow::Result<Exit> {
    let files = generate(&args.stack, args.nodes)?;
    report(&files, false);
    if !files.differences.is_empty() {
        return Err(fail(
            Exit::Failed,
            "the stack's cluster-autoscaler disagrees with the cluster file: fix it before creating the cluster (see `berth cluster config`)",
        ));
    }
    let dir = args
        .out
        .unwrap_or_else(|| up::default_dir(&args.stack.path, &files.name));
    let (cluster, manifests) = files
        .write(&dir)
        .map_err(|e| fail(Exit::BadInput, format!("{}: {e}", dir.display())))?;
    eprintln!("wrote {}", cluster.display());
    for m in &manifests {
        eprintln!("wrote {}", m.display());
    }
    if args.existing {
        if args.dry_run {
            print_file_systems(&files);
            return Ok(Exit::Ok);
        }
        return file_systems(&files);
    }
    let steps = up::steps(&cluster, &manifests, files.nodes);
    let missing = up::missing(&steps);
    if args.dry_run || !missing.is_empty() {
        if !missing.is_empty() {
            eprintln!(
                "{} not on PATH; run these commands to create the cluster:",
                missing.join(" and ")
            );
        }
        for s in &steps {
            println!("{s}");
        }
        print_file_systems(&files);
        return if args.dry_run {
            Ok(Exit::Ok)
        } else {
            Err(fail(
                Exit::Failed,
                format!(
                    "the cluster was not created: install {} and run the commands above",
                    missing.join(" and ")
                ),
            ))
        };
    }
    up::run(&steps, &|s| eprintln!("$ {s}")).map_err(|e| fail(Exit::Failed, e.to_string()))?;
    file_systems(&files)
}

/// What `cluster up` creates after the cluster, as comments after the printed commands.
fn print_file_systems(files: &ClusterFiles) {
    for l in berth_cluster::file_systems::explain_for(&files.name, &[], &files.file_systems) {
        println!("# then: {l}");
    }
}

/// After the cluster: the file systems of `cluster.fileSystems`, created when missing. Prints
/// each `efs.<name>=<id>` on stdout.
fn file_systems(files: &ClusterFiles) -> anyhow::Result<Exit> {
    if files.file_systems.is_empty() {
        return Ok(Exit::Ok);
    }
    let aws = berth_aws::Aws::default();
    let ensured = berth_aws::efs::ensure(
        &aws,
        Some(files.region.as_str()),
        &files.name,
        &files.file_systems,
    )
    .map_err(|e| fail(Exit::Failed, format!("cluster `{}`: {e}", files.name)))?;
    for fs in &ensured {
        if fs.created.is_empty() {
            eprintln!(
                "EFS file system `{}` is {} (nothing to create)",
                fs.name, fs.id
            );
        }
        for c in &fs.created {
            eprintln!("created {c}");
        }
        println!("{}={}", berth_aws::efs::value_name(&fs.name), fs.id);
    }
    Ok(Exit::Ok)
}

fn cluster_down(args: DownArgs) -> anyhow::Result<Exit> {
    let files = generate(&args.stack, NodesArg { nodes: None })?;
    let steps = up::down_steps(&files.name, &files.region);
    if args.dry_run {
        if !files.file_systems.is_empty() {
            let fate = if args.purge {
                "deleted"
            } else {
                "kept (their mount targets and NFS security groups are deleted)"
            };
            println!(
                "# the EFS file systems of cluster `{}` are {fate}",
                files.name
            );
        }
        if !args.existing {
            for s in &steps {
                println!("{s}");
            }
        }
        return Ok(Exit::Ok);
    }
    let missing = up::missing(&steps);
    if !args.existing && !missing.is_empty() {
        for s in &steps {
            println!("{s}");
        }
        return Err(fail(
            Exit::Failed,
            format!(
                "the cluster was not deleted: install {} and run the command above",
                missing.join(" and ")
            ),
        ));
    }
    if !files.file_systems.is_empty() {
        let aws = berth_aws::Aws::default();
        let released =
            berth_aws::efs::release(&aws, Some(files.region.as_str()), &files.name, args.purge)
                .map_err(|e| fail(Exit::Failed, format!("cluster `{}`: {e}", files.name)))?;
        for d in &released.deleted {
            eprintln!("deleted {d}");
        }
        for k in &released.kept {
            eprintln!("kept {k} (`berth cluster down --purge` deletes it)");
        }
    }
    if args.existing {
        return Ok(Exit::Ok);
    }
    up::run(&steps, &|s| eprintln!("$ {s}")).map_err(|e| fail(Exit::Failed, e.to_string()))?;
    Ok(Exit::Ok)
}
