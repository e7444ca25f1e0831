//! Built-in instance types: capacity, what the kubelet leaves allocatable, pods per node and
//! an on-demand hourly price; overridable by a price file.
//!
//! # How allocatable is derived from capacity
//!
//! Memory capacity is the nominal size less 7.5% (what the hypervisor and kernel keep; the
//! same default Karpenter uses as `VM_MEMORY_OVERHEAD_PERCENT`). Then each cloud's node image
//! reserves for the kubelet and the system:
//!
//! - **EKS** (amazon-eks-ami bootstrap): memory `255 MiB + 11 MiB × max pods`, CPU 6% of the
//!   first core, 1% of the second, 0.5% of the third and fourth, 0.25% of every further core;
//!   eviction threshold `memory.available<100Mi`. Max pods is the ENI limit (`eni-max-pods.txt`).
//! - **GKE**: memory 25% of the first 4 GiB, 20% of the next 4, 10% of the next 8, 6% of the next
//!   112, 2% above 128 GiB; CPU as EKS; eviction 100 MiB; 110 pods.
//! - **AKS** (1.29 and later): memory `50 MiB + 20 MiB × max pods`; CPU from AKS's table
//!   (60m for 1 core … 740m for 64); eviction 100 MiB; 110 pods.
//!
//! Prices are Linux on-demand USD per hour in us-east-1 / East US / us-central1 as published
//! in 2025–2026; they drift, so `--prices FILE` overrides them.

use std::collections::BTreeMap;

/// The cloud an instance type belongs to, which decides the reservation formula.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    /// EC2 (EKS reservations).
    Aws,
    /// Azure VMs (AKS reservations).
    Azure,
    /// Compute Engine (GKE reservations).
    Gcp,
}

/// One instance type as the simulator sees it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct InstanceType {
    pub name: String,
    pub cloud: Cloud,
    pub vcpu: u32,
    /// Nominal memory (as the cloud advertises it).
    pub memory_mib: u64,
    pub max_pods: u32,
    pub usd_per_hour: f64,
}

impl InstanceType {
    /// CPU capacity in millicores (what the cluster-autoscaler's least-waste expander uses).
    pub fn capacity_cpu_m(&self) -> i64 {
        self.vcpu as i64 * 1000
    }

    /// Memory capacity in bytes: nominal less the 7.5% the VM keeps.
    pub fn capacity_mem_b(&self) -> i64 {
        (self.memory_mib as f64 * 0.925) as i64 * MIB
    }

    /// Allocatable CPU in millicores: capacity less the kubelet's reservation.
    pub fn allocatable_cpu_m(&self) -> i64 {
        let cores = self.vcpu as i64;
        let reserved = match self.cloud {
            Cloud::Aws | Cloud::Gcp => {
                // 6% of core 1, 1% of core 2, 0.5% of cores 3-4, 0.25% of the rest, in millicores.
                let mut r = 0.0;
                for core in 1..=cores {
                    r += match core {
                        1 => 60.0,
                        2 => 10.0,
                        3 | 4 => 5.0,
                        _ => 2.5,
                    };
                }
                r as i64
            }
            Cloud::Azure => match cores {
                0..=1 => 60,
                2..=3 => 100,
                4..=7 => 140,
                8..=15 => 180,
                16..=31 => 260,
                32..=63 => 420,
                _ => 740,
            },
        };
        self.capacity_cpu_m() - reserved
    }

    /// Allocatable memory in bytes: capacity less the kubelet's reservation and the eviction
    /// threshold.
    pub fn allocatable_mem_b(&self) -> i64 {
        let cap_mib = (self.memory_mib as f64 * 0.925) as i64;
        let reserved_mib = match self.cloud {
            Cloud::Aws => 255 + 11 * self.max_pods as i64,
            Cloud::Azure => 50 + 20 * self.max_pods as i64,
            Cloud::Gcp => {
                let gib = self.memory_mib as f64 / 1024.0;
                if gib < 1.0 {
                    255
                } else {
                    let tiers = [
                        (4.0, 0.25),
                        (4.0, 0.20),
                        (8.0, 0.10),
                        (112.0, 0.06),
                        (f64::MAX, 0.02),
                    ];
                    let (mut left, mut r) = (gib, 0.0);
                    for (size, share) in tiers {
                        let part = left.min(size);
                        r += part * share;
                        left -= part;
                        if left <= 0.0 {
                            break;
                        }
                    }
                    (r * 1024.0) as i64
                }
            }
        };
        (cap_mib - reserved_mib - 100).max(0) * MIB
    }
}

impl InstanceType {
    /// The node labels Karpenter gives a node of this type, which NodePool requirements select
    /// on: `node.kubernetes.io/instance-type`, `kubernetes.io/arch` and `os`, and for EC2 the
    /// `karpenter.k8s.aws/` (and Auto Mode's `eks.amazonaws.com/`) attributes: category,
    /// family, generation, size, CPU and memory (MiB). Every type is offered on-demand only,
    /// since the table holds on-demand prices.
    pub fn karpenter_labels(&self) -> Vec<(String, String)> {
        let mut out = vec![
            (
                "node.kubernetes.io/instance-type".to_string(),
                self.name.clone(),
            ),
            ("kubernetes.io/arch".to_string(), "amd64".to_string()),
            ("kubernetes.io/os".to_string(), "linux".to_string()),
            (
                "karpenter.sh/capacity-type".to_string(),
                "on-demand".to_string(),
            ),
        ];
        if self.cloud != Cloud::Aws {
            return out;
        }
        // `m6i.2xlarge`: family `m6i`, category `m`, generation `6`, size `2xlarge`.
        let (family, size) = self.name.split_once('.').unwrap_or((&self.name, ""));
        let category: String = family
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        let generation: String = family[category.len()..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        for prefix in ["karpenter.k8s.aws", "eks.amazonaws.com"] {
            for (k, v) in [
                ("instance-category", category.clone()),
                ("instance-family", family.to_string()),
                ("instance-generation", generation.clone()),
                ("instance-size", size.to_string()),
                ("instance-cpu", self.vcpu.to_string()),
                ("instance-memory", self.memory_mib.to_string()),
            ] {
                if !v.is_empty() {
                    out.push((format!("{prefix}/{k}"), v));
                }
            }
        }
        out
    }
}

/// Bytes in a mebibyte.
pub const MIB: i64 = 1024 * 1024;

/// `(name, cloud, vCPU, memory GiB, max pods, USD/hour)`.
const BUILTIN: &[(&str, Cloud, u32, f64, u32, f64)] = &[
    ("t3.medium", Cloud::Aws, 2, 4.0, 17, 0.0416),
    ("t3.large", Cloud::Aws, 2, 8.0, 35, 0.0832),
    ("t3.xlarge", Cloud::Aws, 4, 16.0, 58, 0.1664),
    ("t3.2xlarge", Cloud::Aws, 8, 32.0, 58, 0.3328),
    ("m5.large", Cloud::Aws, 2, 8.0, 29, 0.096),
    ("m5.xlarge", Cloud::Aws, 4, 16.0, 58, 0.192),
    ("m5.2xlarge", Cloud::Aws, 8, 32.0, 58, 0.384),
    ("m5.4xlarge", Cloud::Aws, 16, 64.0, 234, 0.768),
    ("m5.8xlarge", Cloud::Aws, 32, 128.0, 234, 1.536),
    ("m5.12xlarge", Cloud::Aws, 48, 192.0, 234, 2.304),
    ("m5.16xlarge", Cloud::Aws, 64, 256.0, 737, 3.072),
    ("m6i.large", Cloud::Aws, 2, 8.0, 29, 0.096),
    ("m6i.xlarge", Cloud::Aws, 4, 16.0, 58, 0.192),
    ("m6i.2xlarge", Cloud::Aws, 8, 32.0, 58, 0.384),
    ("m6i.4xlarge", Cloud::Aws, 16, 64.0, 234, 0.768),
    ("m6i.8xlarge", Cloud::Aws, 32, 128.0, 234, 1.536),
    ("c5.large", Cloud::Aws, 2, 4.0, 29, 0.085),
    ("c5.xlarge", Cloud::Aws, 4, 8.0, 58, 0.17),
    ("c5.2xlarge", Cloud::Aws, 8, 16.0, 58, 0.34),
    ("c5.4xlarge", Cloud::Aws, 16, 32.0, 234, 0.68),
    ("c5.9xlarge", Cloud::Aws, 36, 72.0, 234, 1.53),
    ("r5.large", Cloud::Aws, 2, 16.0, 29, 0.126),
    ("r5.xlarge", Cloud::Aws, 4, 32.0, 58, 0.252),
    ("r5.2xlarge", Cloud::Aws, 8, 64.0, 58, 0.504),
    ("r5.4xlarge", Cloud::Aws, 16, 128.0, 234, 1.008),
    ("Standard_D2s_v5", Cloud::Azure, 2, 8.0, 110, 0.096),
    ("Standard_D4s_v5", Cloud::Azure, 4, 16.0, 110, 0.192),
    ("Standard_D8s_v5", Cloud::Azure, 8, 32.0, 110, 0.384),
    ("Standard_E4s_v5", Cloud::Azure, 4, 32.0, 110, 0.252),
    ("e2-standard-2", Cloud::Gcp, 2, 8.0, 110, 0.067),
    ("e2-standard-4", Cloud::Gcp, 4, 16.0, 110, 0.134),
    ("e2-standard-8", Cloud::Gcp, 8, 32.0, 110, 0.268),
    ("n2-standard-2", Cloud::Gcp, 2, 8.0, 110, 0.0971),
    ("n2-standard-4", Cloud::Gcp, 4, 16.0, 110, 0.1942),
    ("n2-standard-8", Cloud::Gcp, 8, 32.0, 110, 0.3885),
];

/// The instance types the simulator knows, by name: the built-in table with a price file's
/// overrides and additions applied.
#[derive(Clone, Debug)]
pub struct Catalog {
    types: BTreeMap<String, InstanceType>,
}

impl Default for Catalog {
    fn default() -> Self {
        let types = BUILTIN
            .iter()
            .map(|&(name, cloud, vcpu, gib, max_pods, usd)| {
                let t = InstanceType {
                    name: name.to_string(),
                    cloud,
                    vcpu,
                    memory_mib: (gib * 1024.0) as u64,
                    max_pods,
                    usd_per_hour: usd,
                };
                (name.to_string(), t)
            })
            .collect();
        Catalog { types }
    }
}

/// A line of a price file that could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct PriceFileError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl Catalog {
    /// The instance type called `name`, if known.
    pub fn get(&self, name: &str) -> Option<&InstanceType> {
        self.types.get(name)
    }

    /// Every known type, by name.
    pub fn types(&self) -> impl Iterator<Item = &InstanceType> {
        self.types.values()
    }

    /// The names of all known types, for error messages.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.types.keys().map(String::as_str)
    }

    /// Applies a price file: CSV `instance_type,usd_per_hour[,vcpu,memory_gib[,max_pods]]`, an
    /// optional header line, `#` comments. A known type gets the new price (and shape, when
    /// given); an unknown type needs `vcpu` and `memory_gib` and is reserved for as AWS is.
    pub fn apply_price_file(&mut self, text: &str) -> Result<usize, PriceFileError> {
        let mut applied = 0;
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = raw.split(',').collect();
            if i == 0 && fields[0].trim() == "instance_type" {
                continue;
            }
            let col = |k: usize| fields[..k].iter().map(|f| f.len() + 1).sum::<usize>() + 1;
            let err = |k: usize, message: String| PriceFileError {
                line,
                column: col(k),
                message,
            };
            if fields.len() < 2 || fields.len() > 5 || fields.len() == 3 {
                return Err(err(
                    0,
                    format!(
                        "expected `instance_type,usd_per_hour[,vcpu,memory_gib[,max_pods]]`, found {} fields",
                        fields.len()
                    ),
                ));
            }
            let name = fields[0].trim();
            if name.is_empty() {
                return Err(err(0, "empty instance type".into()));
            }
            let num = |k: usize, what: &str| -> Result<f64, PriceFileError> {
                let f = fields[k].trim();
                match f.parse::<f64>() {
                    Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
                    _ => Err(err(k, format!("{what} `{f}` is not a non-negative number"))),
                }
            };
            let price = num(1, "usd_per_hour")?;
            let shape = if fields.len() >= 4 {
                let vcpu = num(2, "vcpu")?;
                let gib = num(3, "memory_gib")?;
                if gib > 1_000_000.0 {
                    return Err(err(
                        3,
                        format!(
                            "memory_gib `{}` is larger than any machine",
                            fields[3].trim()
                        ),
                    ));
                }
                if !(1.0..=100_000.0).contains(&vcpu) || vcpu.fract() != 0.0 {
                    return Err(err(
                        2,
                        format!(
                            "vcpu `{}` must be a whole number from 1 to 100000",
                            fields[2].trim()
                        ),
                    ));
                }
                let pods = if fields.len() == 5 {
                    Some(num(4, "max_pods")? as u32)
                } else {
                    None
                };
                Some((vcpu as u32, (gib * 1024.0) as u64, pods))
            } else {
                None
            };
            match (self.types.get_mut(name), shape) {
                (Some(t), shape) => {
                    t.usd_per_hour = price;
                    if let Some((vcpu, mib, pods)) = shape {
                        t.vcpu = vcpu;
                        t.memory_mib = mib;
                        if let Some(p) = pods {
                            t.max_pods = p;
                        }
                    }
                }
                (None, Some((vcpu, mib, pods))) => {
                    let t = InstanceType {
                        name: name.to_string(),
                        cloud: Cloud::Aws,
                        vcpu,
                        memory_mib: mib,
                        max_pods: pods.unwrap_or(110),
                        usd_per_hour: price,
                    };
                    self.types.insert(name.to_string(), t);
                }
                (None, None) => {
                    return Err(err(
                        0,
                        format!(
                            "`{name}` is not a built-in instance type: add its vcpu and memory_gib (`{name},{price},4,16`)"
                        ),
                    ));
                }
            }
            applied += 1;
        }
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn m5_large_allocatable() {
        let c = Catalog::default();
        let t = c.get("m5.large").unwrap();
        // CPU: 2000m - (60 + 10) = 1930m.
        assert_eq!(t.allocatable_cpu_m(), 1930);
        // Memory: 8192 MiB × 0.925 = 7577 MiB; - (255 + 11 × 29 = 574) - 100 = 6903 MiB.
        assert_eq!(t.allocatable_mem_b(), 6903 * MIB);
        let g = c.get("e2-standard-4").unwrap();
        // 16 GiB: 0.25×4 + 0.2×4 + 0.1×8 = 2.6 GiB = 2662 MiB; 15155 - 2662 - 100 = 12393.
        assert_eq!(g.allocatable_mem_b(), 12393 * MIB);
        let a = c.get("Standard_D4s_v5").unwrap();
        assert_eq!(a.allocatable_cpu_m(), 4000 - 140);
    }

    #[test]
    fn karpenter_labels_split_the_name_into_attributes() {
        let c = Catalog::default();
        let labels = c.get("m6i.2xlarge").unwrap().karpenter_labels();
        let get = |k: &str| labels.iter().find(|(l, _)| l == k).map(|(_, v)| v.as_str());
        assert_eq!(get("karpenter.k8s.aws/instance-category"), Some("m"));
        assert_eq!(get("karpenter.k8s.aws/instance-family"), Some("m6i"));
        assert_eq!(get("karpenter.k8s.aws/instance-generation"), Some("6"));
        assert_eq!(get("eks.amazonaws.com/instance-size"), Some("2xlarge"));
        assert_eq!(get("karpenter.k8s.aws/instance-cpu"), Some("8"));
        assert_eq!(get("karpenter.k8s.aws/instance-memory"), Some("32768"));
        let azure = c.get("Standard_D2s_v5").unwrap().karpenter_labels();
        assert!(
            azure
                .iter()
                .all(|(k, _)| !k.starts_with("karpenter.k8s.aws/"))
        );
    }

    #[test]
    fn price_file() {
        let mut c = Catalog::default();
        let n = c
            .apply_price_file("instance_type,usd_per_hour\nm5.large,0.1\n# spot\nx1.big,1.5,8,32\n")
            .unwrap();
        assert_eq!(n, 2);
        assert_eq!(c.get("m5.large").unwrap().usd_per_hour, 0.1);
        assert_eq!(c.get("x1.big").unwrap().vcpu, 8);
        let e = c.apply_price_file("m5.large,abc\n").unwrap_err();
        assert_eq!((e.line, e.column), (1, 10));
        let e = c.apply_price_file("m5.large,1\nnope.big,2\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("vcpu"), "{}", e.message);
    }
}
