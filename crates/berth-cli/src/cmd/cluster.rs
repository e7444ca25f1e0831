//! `berth cluster config | up`: the eksctl ClusterConfig and cluster-autoscaler manifest the
//! stack needs (`berth-cluster`), and creating the cluster from them with eksctl.

use std::path::PathBuf;

use berth_cluster::{ClusterFiles, Options, up};
use berth_model::{NodeMode, Profile};
use berth_ops::Checks;
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
    /// instead when eksctl is not installed.
    Up(UpArgs),
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
    let prepared = stack_args.prepare(Checks::LoadOnly);
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
    Ok(Exit::Ok)
}
