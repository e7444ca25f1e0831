//! `berth local up | down | status | kubeconfig | build | load`: berth's own local cluster.

use std::time::Duration;

use berth_ops::Checks;
use clap::{Args, Subcommand};

use crate::exit::{Exit, fail};
use crate::stack::{StackArgs, print_errors, refused};

#[derive(Subcommand)]
pub enum LocalCommand {
    /// Start the local cluster, or reuse it when it runs, or repair it when part of it died.
    /// Builds its binaries from source on first use (needs Go ≥ 1.26; a few minutes).
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
    /// Play a load curve on the local cluster: set the CPU and memory the pods of each
    /// workload use over time (the load syntax of `berth simulate`), spread over the Ready
    /// pods as a load balancer would, so metrics-server, `kubectl top` and HPAs see it. Stops
    /// at the end of the curve or on Ctrl-C, and removes what it set.
    #[command(after_long_help = berth_simulate::load::SHAPE_HELP)]
    Load(LoadArgs),
}

#[derive(Args)]
pub struct LoadArgs {
    #[command(flatten)]
    stack: StackArgs,
    #[command(flatten)]
    name: NameArg,
    /// The load: a CSV file (`time_s,workload,cpu_millicores[,memory_mib]`) or a shape like
    /// `step:web:500:4000:1m`; repeatable (see below).
    #[arg(long, required = true, value_name = "FILE|SHAPE")]
    load: Vec<String>,
    /// How long to play the load; default: until its last change (a step or ramp ends at its
    /// last point, so give --duration to hold the final value; a constant or daily load runs
    /// until Ctrl-C).
    #[arg(long, value_parser = crate::args::parse_duration, value_name = "DURATION")]
    duration: Option<Duration>,
    /// How often the pods are re-read and their usage rewritten.
    #[arg(long, default_value = "2s", value_parser = crate::args::parse_duration, value_name = "DURATION")]
    tick: Duration,
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
    /// Node autoscaler: `karpenter` runs Karpenter's kwok build, which adds kwok nodes of the
    /// instance types it picks for pending pods and consolidates empty or underused ones (the
    /// fixed nodes stay as the system pool); `none` only the fixed nodes. Its first build
    /// takes about 9 minutes and fetches Go 1.27.3 (GOTOOLCHAIN) from the module proxy.
    #[arg(long, default_value = "none", value_name = "karpenter|none")]
    autoscaler: berth_local::karpenter::NodeAutoscaler,
    /// A file of NodePool manifests (karpenter.sh/v1) to use instead of the default pool;
    /// repeatable. Pools written for a cloud (`berth cluster config --nodes karpenter`) are
    /// adapted: the KWOKNodeClass replaces the EC2NodeClass, zones become the local ones, and
    /// requirements no kwok instance type can meet are dropped (each change is printed).
    #[arg(long, value_name = "FILE")]
    nodepool: Vec<std::path::PathBuf>,
}

pub fn run(cmd: LocalCommand) -> anyhow::Result<Exit> {
    match cmd {
        LocalCommand::Load(a) => load(a),
        LocalCommand::Up(a) => {
            if a.zones.is_empty() || a.nodes == 0 {
                return Err(fail(
                    Exit::BadInput,
                    "--nodes and --zones must not be empty",
                ));
            }
            if !a.nodepool.is_empty()
                && a.autoscaler != berth_local::karpenter::NodeAutoscaler::Karpenter
            {
                return Err(fail(
                    Exit::BadInput,
                    "--nodepool needs --autoscaler karpenter",
                ));
            }
            let pools = berth_local::karpenter::read_node_pools(&a.nodepool)
                .map_err(|e| fail(Exit::BadInput, e))?;
            let opts = berth_local::Options {
                name: a.name.name,
                nodes: a.nodes,
                zones: a.zones,
                region: a.region,
                cpu: a.cpu,
                memory: a.memory,
                volumes_per_zone: a.volumes_per_zone,
                autoscaler: a.autoscaler,
                ..Default::default()
            };
            let started = std::time::Instant::now();
            let rt = tokio::runtime::Runtime::new()?;
            let status = rt.block_on(berth_local::up(&opts))?;
            if !pools.is_empty() {
                let notes = rt.block_on(async {
                    let client = berth_local::client(&status.kubeconfig).await?;
                    berth_local::karpenter::ensure_node_pools(&client, &opts, &pools).await
                })?;
                for note in notes {
                    eprintln!("berth: {note}");
                }
            }
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
            if opts.autoscaler == berth_local::karpenter::NodeAutoscaler::Karpenter {
                eprintln!(
                    "berth: Karpenter {} adds nodes for pending pods ({})",
                    berth_local::binaries::karpenter_version(),
                    if pools.is_empty() {
                        "NodePool `default` unless the cluster has others".to_string()
                    } else {
                        format!("{} NodePool(s) from --nodepool", pools.len())
                    }
                );
            }
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

/// `berth local load`: reads the stack and the load (as `simulate` does), then drives the
/// workloads on the running local cluster with `berth_local::load::drive`.
fn load(mut a: LoadArgs) -> anyhow::Result<Exit> {
    a.stack.default_profile_for_local(true);
    let prepared = a.stack.prepare(Checks::LoadOnly);
    print_errors(&prepared.findings);
    let stack = prepared.loadable().map_err(refused)?;
    let mut load = berth_simulate::Load::default();
    for arg in &a.load {
        load.extend(
            berth_simulate::files::read_load(arg)
                .map_err(|e| fail(Exit::BadInput, e.to_string()))?,
        );
    }
    let driven = berth_simulate::driven_workloads(stack, &load)
        .map_err(|e| fail(Exit::BadInput, e.to_string()))?;
    // The last change of any curve; none when a curve never stops changing (daily) or the
    // load is constant from the start: then it runs until stopped.
    let end = driven
        .iter()
        .map(|w| w.load.end_s())
        .try_fold(0.0f64, |acc, e| e.map(|e| acc.max(e)));
    let duration = a
        .duration
        .or_else(|| end.filter(|e| *e > 0.0).map(Duration::from_secs_f64));
    let workloads: Vec<berth_local::load::Workload> = driven
        .into_iter()
        .map(|w| {
            let curve = w.load;
            berth_local::load::Workload {
                label: w.label,
                kind: w.kind,
                namespace: w.namespace,
                name: w.name,
                demand: Box::new(move |t| {
                    let d = curve.at(t);
                    berth_local::load::Usage {
                        cpu_m: d.cpu_m,
                        memory_mib: d.mem_mib,
                    }
                }),
            }
        })
        .collect();

    let status = berth_local::status(&a.name.name)?;
    if !status.healthy() {
        return Err(fail(
            Exit::Cluster,
            format!(
                "the local cluster `{}` is not running; start it with `berth local up`",
                status.name
            ),
        ));
    }
    let rt = crate::deploy::runtime()?;
    rt.block_on(async {
        let client = berth_local::client(&status.kubeconfig).await?;
        let stop = crate::deploy::interrupt_on_signals("stopping the load and removing its usage");
        match duration {
            Some(d) => eprintln!(
                "berth: playing the load on {} workload(s) for {:.0?} (Ctrl-C stops)",
                workloads.len(),
                d
            ),
            None => eprintln!(
                "berth: playing the load on {} workload(s) until Ctrl-C",
                workloads.len()
            ),
        }
        let opts = berth_local::load::Options {
            tick: a.tick,
            duration,
        };
        let mut last_print: Option<Duration> = None;
        let ended = berth_local::load::drive(&client, &workloads, &opts, stop, |s| {
            // A line every 10s of the run, and the first.
            if last_print.is_some_and(|l| s.elapsed < l + Duration::from_secs(10)) {
                return;
            }
            last_print = Some(s.elapsed);
            for w in &s.workloads {
                let per_pod = match w.per_pod {
                    Some(u) => format!("{:.0}m CPU each", u.cpu_m),
                    None => "no Ready pod: demand not served".into(),
                };
                let memory = w
                    .demand
                    .memory_mib
                    .map(|m| format!(", {m:.0} MiB"))
                    .unwrap_or_default();
                eprintln!(
                    "{:>6.0}s  {}: {:.0}m CPU{memory} over {} Ready pod(s), {per_pod}",
                    s.elapsed.as_secs_f64(),
                    w.label,
                    w.demand.cpu_m,
                    w.ready_pods
                );
            }
        })
        .await?;
        match ended {
            berth_local::load::Ended::Finished => {
                eprintln!("berth: the load ended; usage objects removed")
            }
            berth_local::load::Ended::Interrupted => {
                eprintln!("berth: load stopped; usage objects removed")
            }
        }
        Ok(Exit::Ok)
    })
}
