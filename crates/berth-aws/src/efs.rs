//! The EFS file systems of `cluster.fileSystems`: what `berth cluster up` creates after eksctl,
//! and what `berth cluster down` removes before it (the file system itself only with --purge).
//!
//! For each file system, [`ensure`] makes sure there is:
//! - an EFS file system tagged `berth.dev/cluster=<cluster>` and `berth.dev/file-system=<name>`
//!   (created with the creation token `berth-<cluster>-<name>`, which EFS also keeps unique);
//! - a security group in the cluster's VPC, tagged the same way, that lets the cluster's node
//!   security groups reach NFS (TCP 2049);
//! - one mount target per zone of the cluster, in the cluster's subnet of that zone (private
//!   subnets first).
//!
//! The cluster's network is found by the tags eksctl puts on it: subnets and security groups
//! tagged `alpha.eksctl.io/cluster-name=<cluster>` (subnets of other tools:
//! `kubernetes.io/cluster/<cluster>`); the node security groups are eksctl's
//! `ClusterSharedNodeSecurityGroup` and the cluster security group EKS makes for managed node
//! groups (tagged `aws:eks:cluster-name`). Everything is found again by tag, so a second run
//! creates nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use aws_sdk_efs::types::{LifeCycleState, LifecyclePolicy, Tag as EfsTag};
use berth_model::FileSystemSpec;

use crate::ec2::{Ec2, Filter};
use crate::{Aws, describe};

/// Tag naming the cluster a resource of berth belongs to.
pub const CLUSTER_TAG: &str = "berth.dev/cluster";
/// Tag naming the entry of `cluster.fileSystems` a resource is for.
pub const FILE_SYSTEM_TAG: &str = "berth.dev/file-system";
/// eksctl's tag on the cluster's VPC, subnets and security groups.
pub const EKSCTL_CLUSTER_TAG: &str = "alpha.eksctl.io/cluster-name";
/// EKS's tag on the cluster security group it makes.
pub const EKS_CLUSTER_TAG: &str = "aws:eks:cluster-name";
/// NFS.
pub const NFS_PORT: i32 = 2049;

/// A file system of the stack, as found or made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ensured {
    /// The entry's `name`.
    pub name: String,
    /// `fs-…`
    pub id: String,
    /// What this run created, one line each (empty: everything was there).
    pub created: Vec<String>,
}

/// The value name a file system's id has in the stack: `efs.<name>`.
pub fn value_name(name: &str) -> String {
    format!("efs.{name}")
}

/// Create what is missing of each file system of `specs` for cluster `cluster`.
pub fn ensure(
    aws: &Aws,
    region: Option<&str>,
    cluster: &str,
    specs: &[FileSystemSpec],
) -> Result<Vec<Ensured>, String> {
    aws.run(async {
        let config = aws.config(region).await;
        let ec2 = Ec2::new(&config)?;
        let efs = aws_sdk_efs::Client::new(&config);
        let network = Network::find(&ec2, cluster).await?;
        let mut out = Vec::new();
        for spec in specs {
            out.push(ensure_one(&ec2, &efs, &network, cluster, spec).await?);
        }
        Ok(out)
    })?
}

/// The ids of the cluster's file systems that exist, by entry name.
pub fn find(
    aws: &Aws,
    region: Option<&str>,
    cluster: &str,
) -> Result<BTreeMap<String, String>, String> {
    aws.run(async {
        let config = aws.config(region).await;
        let efs = aws_sdk_efs::Client::new(&config);
        Ok(tagged_file_systems(&efs, cluster)
            .await?
            .into_iter()
            .map(|(name, fs)| (name, fs.file_system_id))
            .collect())
    })?
}

/// What [`release`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Released {
    /// What was deleted, one line each.
    pub deleted: Vec<String>,
    /// File systems kept (with their data), one line each.
    pub kept: Vec<String>,
}

/// Before the cluster goes (`berth cluster down`): delete the mount targets and NFS security
/// groups of the cluster's file systems — they live in the cluster's VPC and would stop eksctl
/// from deleting it — and keep each file system with its data, unless `purge`. A kept one gets
/// new mount targets from the next `berth cluster up` of the same cluster.
pub fn release(
    aws: &Aws,
    region: Option<&str>,
    cluster: &str,
    purge: bool,
) -> Result<Released, String> {
    aws.run(async {
        let config = aws.config(region).await;
        let ec2 = Ec2::new(&config)?;
        let efs = aws_sdk_efs::Client::new(&config);
        let mut out = Released::default();
        for (name, fs) in tagged_file_systems(&efs, cluster).await? {
            let id = fs.file_system_id;
            for mt in mount_targets(&efs, &id).await? {
                efs.delete_mount_target()
                    .mount_target_id(&mt.mount_target_id)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "cannot delete mount target {}: {}",
                            mt.mount_target_id,
                            describe(&e)
                        )
                    })?;
                out.deleted.push(format!(
                    "mount target {} of {id} ({name})",
                    mt.mount_target_id
                ));
            }
            // A security group in use by a mount target being deleted cannot go yet.
            for _ in 0..150 {
                if mount_targets(&efs, &id).await?.is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            for sg in nfs_groups(&ec2, cluster, &name).await? {
                ec2.delete_security_group(&sg)
                    .await
                    .map_err(|e| format!("cannot delete security group {sg}: {e}"))?;
                out.deleted
                    .push(format!("security group {sg} (NFS to {name})"));
            }
            if purge {
                efs.delete_file_system()
                    .file_system_id(&id)
                    .send()
                    .await
                    .map_err(|e| {
                        format!(
                            "cannot delete EFS file system {id} ({name}): {}",
                            describe(&e)
                        )
                    })?;
                out.deleted.push(format!("EFS file system {id} ({name})"));
            } else {
                out.kept.push(format!("EFS file system {id} ({name})"));
            }
        }
        Ok(out)
    })?
}

/// The cluster's VPC, one subnet per zone, and the security groups of its nodes.
struct Network {
    vpc: String,
    /// Zone → subnet.
    subnets: BTreeMap<String, String>,
    node_groups: Vec<String>,
}

impl Network {
    async fn find(ec2: &Ec2, cluster: &str) -> Result<Network, String> {
        let mut subnets = Vec::new();
        for filter in [
            Filter::tag(EKSCTL_CLUSTER_TAG, cluster),
            Filter::new("tag-key", format!("kubernetes.io/cluster/{cluster}")),
        ] {
            subnets = ec2
                .describe_subnets(&[filter])
                .await
                .map_err(|e| format!("cannot list the subnets of cluster `{cluster}`: {e}"))?;
            if !subnets.is_empty() {
                break;
            }
        }
        if subnets.is_empty() {
            return Err(format!(
                "no subnet is tagged {EKSCTL_CLUSTER_TAG}={cluster} or kubernetes.io/cluster/{cluster}: create the cluster first (`berth cluster up`), or check the region"
            ));
        }
        let vpcs: BTreeSet<&str> = subnets
            .iter()
            .map(|s| s.vpc.as_str())
            .filter(|v| !v.is_empty())
            .collect();
        if vpcs.len() != 1 {
            return Err(format!(
                "the subnets of cluster `{cluster}` are in {} VPCs ({}), not one",
                vpcs.len(),
                vpcs.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        let vpc = vpcs.into_iter().next().unwrap_or_default().to_string();
        // Private subnets (tagged for internal load balancers) first: nodes usually live there.
        subnets.sort_by_key(|s| {
            let private = s
                .tag_keys
                .iter()
                .any(|k| k == "kubernetes.io/role/internal-elb");
            (!private, s.id.clone())
        });
        let mut by_zone = BTreeMap::new();
        for s in &subnets {
            if !s.zone.is_empty() && !s.id.is_empty() {
                by_zone
                    .entry(s.zone.clone())
                    .or_insert_with(|| s.id.clone());
            }
        }
        let mut node_groups = Vec::new();
        for filter in [
            Filter::tag(EKSCTL_CLUSTER_TAG, cluster),
            Filter::tag(EKS_CLUSTER_TAG, cluster),
        ] {
            let groups = ec2
                .describe_security_groups(&[filter, Filter::new("vpc-id", &vpc)], &[])
                .await
                .map_err(|e| {
                    format!("cannot list the security groups of cluster `{cluster}`: {e}")
                })?;
            for g in groups {
                let is_nodes = g.name.contains("ClusterSharedNodeSecurityGroup")
                    || g.name.starts_with("eks-cluster-sg-");
                if is_nodes && !g.id.is_empty() {
                    node_groups.push(g.id);
                }
            }
        }
        if node_groups.is_empty() {
            return Err(format!(
                "cluster `{cluster}` has no node security group (eksctl's ClusterSharedNodeSecurityGroup or EKS's eks-cluster-sg-*) in {vpc}: create the cluster first"
            ));
        }
        node_groups.sort();
        node_groups.dedup();
        Ok(Network {
            vpc,
            subnets: by_zone,
            node_groups,
        })
    }
}

/// The API spelling of a berth.yaml enum (`generalPurpose`, `AFTER_30_DAYS`).
fn api_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

async fn ensure_one(
    ec2: &Ec2,
    efs: &aws_sdk_efs::Client,
    network: &Network,
    cluster: &str,
    spec: &FileSystemSpec,
) -> Result<Ensured, String> {
    let name = &spec.name;
    let mut created = Vec::new();
    let existing = tagged_file_systems(efs, cluster).await?.remove(name);
    let id = match existing {
        Some(fs) => fs.file_system_id,
        None => {
            let tag = |k: &str, v: &str| {
                EfsTag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(|e| e.to_string())
            };
            let out = efs
                .create_file_system()
                .creation_token(format!("berth-{cluster}-{name}"))
                .performance_mode(api_name(&spec.performance_mode).as_str().into())
                .throughput_mode(api_name(&spec.throughput_mode).as_str().into())
                .encrypted(spec.encrypted)
                .tags(tag("Name", &format!("{cluster}-{name}"))?)
                .tags(tag(CLUSTER_TAG, cluster)?)
                .tags(tag(FILE_SYSTEM_TAG, name)?)
                .send()
                .await
                .map_err(|e| format!("cannot create EFS file system `{name}`: {}", describe(&e)))?;
            let id = out.file_system_id;
            created.push(format!("EFS file system {id} ({name})"));
            if let Some(l) = &spec.lifecycle {
                let mut request = efs.put_lifecycle_configuration().file_system_id(&id);
                if let Some(t) = &l.transition_to_ia {
                    request = request.lifecycle_policies(
                        LifecyclePolicy::builder()
                            .transition_to_ia(api_name(t).as_str().into())
                            .build(),
                    );
                }
                if let Some(t) = &l.transition_to_archive {
                    request = request.lifecycle_policies(
                        LifecyclePolicy::builder()
                            .transition_to_archive(api_name(t).as_str().into())
                            .build(),
                    );
                }
                if let Some(t) = &l.transition_to_primary {
                    request = request.lifecycle_policies(
                        LifecyclePolicy::builder()
                            .transition_to_primary_storage_class(api_name(t).as_str().into())
                            .build(),
                    );
                }
                request.send().await.map_err(|e| {
                    format!(
                        "cannot set the lifecycle of EFS file system {id}: {}",
                        describe(&e)
                    )
                })?;
            }
            id
        }
    };
    wait_available(efs, &id).await?;

    let sg = match nfs_groups(ec2, cluster, name).await?.into_iter().next() {
        Some(sg) => sg,
        None => {
            let sg_name = format!("berth-efs-{cluster}-{name}");
            let sg = ec2
                .create_security_group(
                    &sg_name,
                    &format!("NFS from the nodes of EKS cluster {cluster} to EFS {name} (berth)"),
                    &network.vpc,
                    &[
                        ("Name", &sg_name),
                        (CLUSTER_TAG, cluster),
                        (FILE_SYSTEM_TAG, name),
                    ],
                )
                .await
                .map_err(|e| format!("cannot create the NFS security group of `{name}`: {e}"))?;
            created.push(format!(
                "security group {sg} (NFS from the nodes to {name})"
            ));
            sg
        }
    };
    let allowed = nfs_sources(ec2, &sg).await?;
    for node in &network.node_groups {
        if allowed.contains(node) {
            continue;
        }
        ec2.authorize_ingress(&sg, NFS_PORT, node)
            .await
            .map_err(|e| format!("cannot allow NFS from {node} in {sg}: {e}"))?;
        created.push(format!("rule in {sg}: NFS (TCP {NFS_PORT}) from {node}"));
    }

    let present: BTreeSet<String> = mount_targets(efs, &id)
        .await?
        .into_iter()
        .map(|mt| mt.subnet_id)
        .collect();
    let covered: BTreeSet<&String> = network
        .subnets
        .iter()
        .filter(|(_, subnet)| present.contains(*subnet))
        .map(|(zone, _)| zone)
        .collect();
    for (zone, subnet) in &network.subnets {
        if covered.contains(zone) {
            continue;
        }
        efs.create_mount_target()
            .file_system_id(&id)
            .subnet_id(subnet)
            .security_groups(&sg)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "cannot create the mount target of {id} in {zone}: {}",
                    describe(&e)
                )
            })?;
        created.push(format!("mount target of {id} in {zone} ({subnet})"));
    }
    Ok(Ensured {
        name: name.clone(),
        id,
        created,
    })
}

/// The cluster's file systems, by the `berth.dev/file-system` tag.
async fn tagged_file_systems(
    efs: &aws_sdk_efs::Client,
    cluster: &str,
) -> Result<BTreeMap<String, aws_sdk_efs::types::FileSystemDescription>, String> {
    let mut out = BTreeMap::new();
    let mut marker: Option<String> = None;
    loop {
        let page = efs
            .describe_file_systems()
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| format!("cannot list EFS file systems: {}", describe(&e)))?;
        for fs in page.file_systems() {
            let tag = |k: &str| fs.tags.iter().find(|t| t.key == k).map(|t| t.value.clone());
            if fs.life_cycle_state == LifeCycleState::Deleted
                || fs.life_cycle_state == LifeCycleState::Deleting
            {
                continue;
            }
            if let (Some(c), Some(name)) = (tag(CLUSTER_TAG), tag(FILE_SYSTEM_TAG))
                && c == cluster
            {
                out.insert(name, fs.clone());
            }
        }
        match page.next_marker() {
            Some(m) => marker = Some(m.to_string()),
            None => return Ok(out),
        }
    }
}

async fn mount_targets(
    efs: &aws_sdk_efs::Client,
    id: &str,
) -> Result<Vec<aws_sdk_efs::types::MountTargetDescription>, String> {
    let out = efs
        .describe_mount_targets()
        .file_system_id(id)
        .send()
        .await
        .map_err(|e| format!("cannot list the mount targets of {id}: {}", describe(&e)))?;
    Ok(out
        .mount_targets()
        .iter()
        .filter(|mt| {
            mt.life_cycle_state != LifeCycleState::Deleted
                && mt.life_cycle_state != LifeCycleState::Deleting
        })
        .cloned()
        .collect())
}

/// Wait until a new file system can take mount targets (EFS says "creating" for seconds).
async fn wait_available(efs: &aws_sdk_efs::Client, id: &str) -> Result<(), String> {
    for _ in 0..150 {
        let out = efs
            .describe_file_systems()
            .file_system_id(id)
            .send()
            .await
            .map_err(|e| format!("cannot read EFS file system {id}: {}", describe(&e)))?;
        if out
            .file_systems()
            .iter()
            .any(|f| f.life_cycle_state == LifeCycleState::Available)
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Err(format!(
        "EFS file system {id} did not become available within 5 minutes"
    ))
}

/// The NFS security groups berth made for file system `name` of `cluster`.
async fn nfs_groups(ec2: &Ec2, cluster: &str, name: &str) -> Result<Vec<String>, String> {
    let groups = ec2
        .describe_security_groups(
            &[
                Filter::tag(CLUSTER_TAG, cluster),
                Filter::tag(FILE_SYSTEM_TAG, name),
            ],
            &[],
        )
        .await
        .map_err(|e| format!("cannot list security groups: {e}"))?;
    Ok(groups.into_iter().map(|g| g.id).collect())
}

/// The security groups `sg` already lets in on the NFS port.
async fn nfs_sources(ec2: &Ec2, sg: &str) -> Result<BTreeSet<String>, String> {
    let groups = ec2
        .describe_security_groups(&[], &[sg])
        .await
        .map_err(|e| format!("cannot read security group {sg}: {e}"))?;
    Ok(groups
        .iter()
        .flat_map(|g| &g.rules)
        .filter(|r| {
            r.protocol == "tcp"
                && r.from_port.is_some_and(|f| f <= NFS_PORT)
                && r.to_port.is_some_and(|t| t >= NFS_PORT)
        })
        .flat_map(|r| r.groups.iter().cloned())
        .collect())
}

/// [`berth_stack::CloudValues`]: the ids of the stack's file systems as `efs.<name>` values.
#[derive(Debug, Default, Clone)]
pub struct FileSystemValues {
    aws: std::sync::Arc<Aws>,
}

impl FileSystemValues {
    /// A reader that loads AWS configuration on first use.
    pub fn new() -> FileSystemValues {
        FileSystemValues::default()
    }
}

impl berth_stack::CloudValues for FileSystemValues {
    fn file_systems(
        &self,
        region: Option<&str>,
        cluster: &str,
    ) -> Result<BTreeMap<String, String>, String> {
        find(&self.aws, region, cluster)
    }
}
