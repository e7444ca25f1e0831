//! `cluster.fileSystems`: what `berth cluster up` will create for each EFS file system, in
//! words for `berth cluster config --explain` and the dry run. The AWS calls are berth-aws's
//! (`berth_aws::efs`); this is the plan, without AWS.

use berth_model::{ClusterSpec, EfsPerformanceMode, EfsThroughputMode, FileSystemSpec};

/// One line per file system: what is created when it is missing, and the value its id is.
pub fn explain(spec: &ClusterSpec) -> Vec<String> {
    explain_for(&spec.name, &spec.zones, &spec.file_systems)
}

/// [`explain`] for cluster `cluster` in `zones` (empty: not listed).
pub fn explain_for(
    cluster: &str,
    zones: &[String],
    file_systems: &[FileSystemSpec],
) -> Vec<String> {
    let zones = if zones.is_empty() {
        "each zone of the cluster".to_string()
    } else {
        format!("each of {}", zones.join(", "))
    };
    file_systems
        .iter()
        .map(|fs| {
            format!(
                "EFS file system `{}` ({}): created by `berth cluster up` when missing (found again by its tags berth.dev/cluster={} and berth.dev/file-system={}), with a mount target in {zones} and a security group allowing NFS (TCP 2049) from the cluster's node security groups; its id is the value `efs.{}` (`${{efs.{}}}` in manifests); `berth cluster down` keeps it unless --purge.",
                fs.name,
                settings(fs),
                cluster,
                fs.name,
                fs.name,
                fs.name
            )
        })
        .collect()
}

/// `generalPurpose, elastic, encrypted, to IA after 30 days`.
fn settings(fs: &FileSystemSpec) -> String {
    let mut parts = vec![
        match fs.performance_mode {
            EfsPerformanceMode::GeneralPurpose => "generalPurpose",
            EfsPerformanceMode::MaxIo => "maxIO",
        }
        .to_string(),
        match fs.throughput_mode {
            EfsThroughputMode::Elastic => "elastic throughput",
            EfsThroughputMode::Bursting => "bursting throughput",
        }
        .to_string(),
        if fs.encrypted {
            "encrypted"
        } else {
            "not encrypted"
        }
        .to_string(),
    ];
    if let Some(l) = &fs.lifecycle {
        if let Some(t) = &l.transition_to_ia {
            parts.push(format!("to Infrequent Access {t:?}"));
        }
        if let Some(t) = &l.transition_to_archive {
            parts.push(format!("to Archive {t:?}"));
        }
        if l.transition_to_primary.is_some() {
            parts.push("back to Standard after 1 access".into());
        }
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_model::{EfsLifecycle, EfsTransition};

    fn spec(file_systems: Vec<FileSystemSpec>) -> ClusterSpec {
        ClusterSpec {
            name: "c".into(),
            region: Some("us-east-1".into()),
            zones: vec!["us-east-1a".into(), "us-east-1b".into()],
            node_groups: Vec::new(),
            nodes: None,
            file_systems,
        }
    }

    #[test]
    fn each_file_system_says_what_is_created_and_its_value() {
        let fs = FileSystemSpec {
            name: "shared".into(),
            performance_mode: EfsPerformanceMode::GeneralPurpose,
            throughput_mode: EfsThroughputMode::Elastic,
            encrypted: true,
            lifecycle: Some(EfsLifecycle {
                transition_to_ia: Some(EfsTransition::AFTER_30_DAYS),
                transition_to_archive: None,
                transition_to_primary: None,
            }),
        };
        let lines = explain(&spec(vec![fs]));
        assert_eq!(lines.len(), 1);
        let l = &lines[0];
        for part in [
            "EFS file system `shared` (generalPurpose, elastic throughput, encrypted, to Infrequent Access AFTER_30_DAYS)",
            "mount target in each of us-east-1a, us-east-1b",
            "NFS (TCP 2049)",
            "`${efs.shared}`",
            "keeps it unless --purge",
        ] {
            assert!(l.contains(part), "{part} not in {l}");
        }
    }

    #[test]
    fn no_file_systems_no_lines() {
        assert!(explain(&spec(Vec::new())).is_empty());
    }
}
