//! `berth local up | down | status | kubeconfig | build`: berth's own local cluster.

use std::time::Duration;

use clap::{Args, Subcommand};

use crate::exit::{Exit, fail};

#[derive(Subcommand)]
pub enum LocalCommand {
    /// Start the local cluster, or reuse it when it runs, or repair it when part of it died.
    /// Builds its binaries from source on first use (needs Go ≥ 1.24; a few minutes).
    Up(UpArgs),
    /// Stop every process of the local cluster. Its data is kept unless --purge.
    Down {
        #[command(flatten)]
        name: NameArg,
        /// Also delete the cluster's data (etcd, certificates, logs).
        #[arg(long)]
        purge: bool,
        /// How long each process gets to exit after SIGTERM before SIGKILL.
        #[arg(long, default_value = "10s", value_parser = crate::args::parse_duration)]
        grace: Duration,
    },
    /// Say what runs where.
    Status {
        #[command(flatten)]
        name: NameArg,
    },
    /// Print the path of the local cluster's kubeconfig:
    /// `KUBECONFIG=$(berth local kubeconfig) kubectl get nodes`.
    Kubeconfig {
        #[command(flatten)]
        name: NameArg,
    },
    /// Build the local cluster's binaries (and with --peers, helm and kubeconform for
    /// benchmarks) without starting anything.
    Build {
        /// Also build the peer tools berth's benchmarks compare against.
        #[arg(long)]
        peers: bool,
    },
}

#[derive(Args)]
pub struct NameArg {
    /// Which local cluster (each has its own state, ports and kubeconfig).
    #[arg(long, default_value = "default", env = "BERTH_LOCAL_NAME")]
    pub name: String,
}

#[derive(Args)]
pub struct UpArgs {
    #[command(flatten)]
    name: NameArg,
    /// Number of kwok nodes, spread round-robin over the zones.
    #[arg(long, default_value_t = 3)]
    nodes: u32,
    /// Zones, comma-separated (nodes get `topology.kubernetes.io/zone`).
    #[arg(long, value_delimiter = ',', default_value = "local-a,local-b,local-c")]
    zones: Vec<String>,
    /// Region label of every node.
    #[arg(long, default_value = "local")]
    region: String,
    /// Allocatable CPU per node.
    #[arg(long, default_value = "8")]
    cpu: String,
    /// Allocatable memory per node.
    #[arg(long, default_value = "32Gi")]
    memory: String,
    /// Pre-created volumes per zone for the `berth-local-block` class (and in all for `berth-local-shared`).
    #[arg(long, default_value_t = 10)]
    volumes_per_zone: u32,
}

pub fn run(cmd: LocalCommand) -> anyhow::Result<Exit> {
    match cmd {
        LocalCommand::Up(a) => {
            if a.zones.is_empty() || a.nodes == 0 {
                return Err(fail(
                    Exit::BadInput,
                    "--nodes and --zones must not be empty",
                ));
            }
            let opts = berth_local::Options {
                name: a.name.name,
                nodes: a.nodes,
                zones: a.zones,
                region: a.region,
                cpu: a.cpu,
                memory: a.memory,
                volumes_per_zone: a.volumes_per_zone,
                ..Default::default()
            };
            let started = std::time::Instant::now();
            let rt = tokio::runtime::Runtime::new()?;
            let status = rt.block_on(berth_local::up(&opts))?;
            let verb = if status.reused {
                "is running".to_string()
            } else if status.started.len() < status.processes.len() {
                format!("repaired (restarted {})", status.started.join(", "))
            } else {
                "started".to_string()
            };
            eprintln!(
                "berth: local cluster `{}` {verb} ({} {}, {} nodes in {} zones) in {:.1}s",
                status.name,
                status.server,
                status.kubernetes,
                opts.nodes,
                opts.zones.len(),
                started.elapsed().as_secs_f64()
            );
            for moved in &status.moved {
                eprintln!("berth: {moved}");
            }
            eprintln!("       KUBECONFIG={}", status.kubeconfig.display());
            Ok(Exit::Ok)
        }
        LocalCommand::Down { name, purge, grace } => {
            let stopped = berth_local::down(&name.name, grace, purge)?;
            if stopped.is_empty() {
                eprintln!("berth: local cluster `{}` was not running", name.name);
            }
            for p in &stopped {
                eprintln!("berth: stopped {} (pid {}, port {})", p.name, p.pid, p.port);
            }
            if purge {
                eprintln!("berth: deleted the data of local cluster `{}`", name.name);
            }
            Ok(Exit::Ok)
        }
        LocalCommand::Status { name } => {
            let status = berth_local::status(&name.name)?;
            println!("cluster     {}", status.name);
            println!("kubernetes  {}", status.kubernetes);
            println!("server      {}", status.server);
            println!("kubeconfig  {}", status.kubeconfig.display());
            if status.processes.is_empty() {
                println!("state       stopped");
            }
            for (p, alive) in &status.processes {
                let state = if *alive { "running" } else { "DEAD" };
                println!(
                    "{:<24} {state:<8} pid {:<8} 127.0.0.1:{:<6} log {}",
                    p.name,
                    p.pid,
                    p.port,
                    p.log.display()
                );
            }
            Ok(if status.healthy() {
                Exit::Ok
            } else {
                Exit::Failed
            })
        }
        LocalCommand::Kubeconfig { name } => {
            let status = berth_local::status(&name.name)?;
            println!("{}", status.kubeconfig.display());
            Ok(Exit::Ok)
        }
        LocalCommand::Build { peers } => {
            berth_local::binaries::ensure_control_plane()?;
            for (name, v) in berth_local::binaries::versions() {
                eprintln!("berth: {name} {v} ready");
            }
            if peers {
                for (tool, result) in berth_local::binaries::ensure_peer_tools() {
                    match result {
                        Ok(p) => eprintln!("berth: {tool} ready at {}", p.display()),
                        Err(e) => eprintln!("berth: {tool} could not be built: {e}"),
                    }
                }
            }
            Ok(Exit::Ok)
        }
    }
}
