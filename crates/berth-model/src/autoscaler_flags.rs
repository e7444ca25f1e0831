//! The cluster-autoscaler's command line, read once: the `ca-*` checks, `berth simulate` and
//! `berth cluster config` all see the same flags in the same manifest.
//!
//! The autoscaler parses its arguments with Go's `pflag` (its flags are Go `flag`s added to
//! pflag's set, names normalized from `_` to `-`). [`AutoscalerFlags::of_container`] reads a
//! container's `command` + `args` (the program name, `command[0]`, skipped) the way pflag does:
//! - `--name=value`;
//! - `--name value`: the next item is the value *whatever it looks like* (`--expander
//!   --foo` gives the expander `--foo`, as pflag does), except for boolean flags;
//! - `--name` alone for a boolean flag means `true` (`--name=false` turns it off); a boolean
//!   flag never takes the next item as its value (`--balance-similar-node-groups false` leaves
//!   `false` as a stray argument, and the flag on);
//! - `-name=value` and `-name value` with one dash: pflag takes a single dash only for
//!   one-letter flags (`-v=4`); longer names are read too, as Go's own `flag` package (and so
//!   older autoscaler releases) read them;
//! - `--` ends the flags; other items that are not flags are skipped.
//!
//! Which flags are boolean comes from a table of the autoscaler's boolean flags; a flag
//! missing from both tables (one berth does not know) takes the next item as its value only
//! when that item does not start with `-`. Every occurrence is kept in order: a repeated flag
//! (`--nodes`, `--node-group-auto-discovery`) has all its values, any other flag its last
//! (pflag's last wins). [`AutoscalerFlags::settings`] turns the flags berth reads into typed
//! [`Settings`] over the upstream defaults.

use crate::ValueExt;
use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::duration;

/// True when `container` runs the cluster-autoscaler: its image names it, or its command is
/// the `cluster-autoscaler` binary.
pub fn is_cluster_autoscaler(container: &Value) -> bool {
    container
        .get("image")
        .and_then(Value::as_str)
        .is_some_and(|i| i.contains("cluster-autoscaler"))
        || container
            .at("/command/0")
            .and_then(Value::as_str)
            .is_some_and(|s| s.ends_with("cluster-autoscaler"))
}

/// The tag keys a `--node-group-auto-discovery` value asks for, in order:
/// `asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/web` gives both keys
/// (a `key=value` tag gives its key); a value without `tag=` gives none.
pub fn discovery_tag_keys(value: &str) -> Vec<&str> {
    value
        .split_once("tag=")
        .map(|(_, t)| t.split(',').filter_map(|t| t.split('=').next()).collect())
        .unwrap_or_default()
}

/// The autoscaler's boolean flags (pflag: they take no separate value).
const BOOLEAN_FLAGS: &[&str] = &[
    "alsologtostderr",
    "aws-use-static-instance-list",
    "balance-similar-node-groups",
    "cordon-node-before-terminating",
    "daemonset-eviction-for-empty-nodes",
    "daemonset-eviction-for-occupied-nodes",
    "emit-per-nodegroup-metrics",
    "enable-proactive-scaleup",
    "enable-provisioning-requests",
    "enforce-node-group-min-size",
    "force-delete-unregistered-nodes",
    "ignore-daemonsets-utilization",
    "ignore-mirror-pods-utilization",
    "leader-elect",
    "logtostderr",
    "parallel-drain",
    "parallel-scale-up",
    "profiling",
    "record-duplicated-events",
    "scale-down-enabled",
    "scale-down-unready-enabled",
    "scale-up-from-zero",
    "skip-nodes-with-custom-controller-pods",
    "skip-nodes-with-local-storage",
    "skip-nodes-with-system-pods",
    "write-status-configmap",
];

/// Flags that take a value (those berth reads, and common others), so `--name value` is read
/// as pflag reads it even when the value starts with `-`.
const VALUE_FLAGS: &[&str] = &[
    "cloud-config",
    "cloud-provider",
    "cluster-name",
    "expander",
    "kubeconfig",
    "max-empty-bulk-delete",
    "max-graceful-termination-sec",
    "max-node-provision-time",
    "max-nodes-total",
    "namespace",
    "node-group-auto-discovery",
    "nodes",
    "scale-down-delay-after-add",
    "scale-down-delay-after-delete",
    "scale-down-delay-after-failure",
    "scale-down-unneeded-time",
    "scale-down-utilization-threshold",
    "scan-interval",
    "stderrthreshold",
    "v",
];

/// One flag as written, with where its value is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flag {
    /// Normalized name, without dashes (`max-nodes-total`).
    pub name: String,
    /// The value: after `=`, the next item, `true` for a bare boolean flag; `None` when a flag
    /// that needs a value is the last item.
    pub value: Option<String>,
    /// `command` or `args`: the list the value is in.
    pub field: &'static str,
    /// Index of the item holding the value in that list.
    pub index: usize,
}

impl Flag {
    /// JSON pointer of the item holding the value, under the container at `container`
    /// (`/spec/template/spec/containers/0` → `.../containers/0/args/3`).
    pub fn pointer(&self, container: &str) -> String {
        format!("{container}/{}/{}", self.field, self.index)
    }

    /// The value, or the empty string when there is none.
    pub fn value(&self) -> &str {
        self.value.as_deref().unwrap_or("")
    }
}

/// A flag whose value berth cannot use, with what is wrong.
#[derive(Clone, Debug, PartialEq)]
pub struct FlagError {
    pub flag: Flag,
    pub message: String,
}

impl fmt::Display for FlagError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FlagError {}

/// Every flag of a cluster-autoscaler container, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AutoscalerFlags {
    pub flags: Vec<Flag>,
}

impl AutoscalerFlags {
    /// Reads the flags of `container`'s `command` (after the program) and `args`.
    pub fn of_container(container: &Value) -> AutoscalerFlags {
        let list = |field: &str| -> Vec<Option<&str>> {
            container
                .get(field)
                .and_then(Value::as_array)
                .map(|a| a.iter().map(Value::as_str).collect())
                .unwrap_or_default()
        };
        // (field, index, text): the argv Kubernetes gives the process, program name skipped.
        let command = list("command");
        let args = list("args");
        let items: Vec<(&'static str, usize, Option<&str>)> = command
            .iter()
            .enumerate()
            .skip(1)
            .map(|(i, s)| ("command", i, *s))
            .chain(args.iter().enumerate().map(|(i, s)| ("args", i, *s)))
            .collect();
        let mut flags = Vec::new();
        let mut k = 0;
        while k < items.len() {
            let (field, index, text) = items[k];
            k += 1;
            let Some(text) = text else { continue };
            if text == "--" {
                break;
            }
            let Some(body) = text
                .strip_prefix("--")
                .or_else(|| text.strip_prefix('-'))
                .filter(|b| !b.is_empty() && !b.starts_with(['-', '=']))
            else {
                continue; // a positional argument, or `-` alone
            };
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let name = name.replace('_', "-");
            let (value, field, index) = if let Some(v) = inline {
                (Some(v.to_string()), field, index)
            } else if BOOLEAN_FLAGS.contains(&name.as_str()) {
                (Some("true".to_string()), field, index)
            } else {
                let next = items.get(k).and_then(|&(f, i, t)| Some((f, i, t?)));
                let takes = match next {
                    Some((_, _, t)) => VALUE_FLAGS.contains(&name.as_str()) || !t.starts_with('-'),
                    None => false,
                };
                match next {
                    Some((f, i, t)) if takes => {
                        k += 1;
                        (Some(t.to_string()), f, i)
                    }
                    _ => (None, field, index),
                }
            };
            flags.push(Flag {
                name,
                value,
                field,
                index,
            });
        }
        AutoscalerFlags { flags }
    }

    /// The flag that counts for a single-valued flag: its last occurrence.
    pub fn last(&self, name: &str) -> Option<&Flag> {
        self.flags.iter().rev().find(|f| f.name == name)
    }

    /// Every occurrence of a flag, in order (for repeated flags such as `--nodes`).
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Flag> + 'a {
        self.flags.iter().filter(move |f| f.name == name)
    }

    /// The flags berth reads, typed, over the upstream defaults; the first flag that does not
    /// parse is the error.
    pub fn settings(&self) -> Result<Settings, FlagError> {
        let mut s = Settings::default();
        for f in &self.flags {
            s.apply(f).map_err(|message| FlagError {
                flag: f.clone(),
                message,
            })?;
        }
        Ok(s)
    }
}

/// A cluster-autoscaler expander (`--expander`, tried in the order given).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expander {
    LeastWaste,
    MostPods,
    LeastNodes,
    Price,
    Random,
    Priority,
    Grpc,
}

impl Expander {
    /// The expander named `name` as `--expander` spells it.
    pub fn from_name(name: &str) -> Option<Expander> {
        Some(match name {
            "least-waste" => Expander::LeastWaste,
            "most-pods" => Expander::MostPods,
            "least-nodes" => Expander::LeastNodes,
            "price" => Expander::Price,
            "random" => Expander::Random,
            "priority" => Expander::Priority,
            "grpc" => Expander::Grpc,
            _ => return None,
        })
    }
}

/// The settings berth reads from the autoscaler's flags.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// `--scan-interval` (10s).
    pub scan_interval: Duration,
    /// `--scale-down-enabled` (true).
    pub scale_down_enabled: bool,
    /// `--scale-down-utilization-threshold` (0.5).
    pub scale_down_utilization_threshold: f64,
    /// `--scale-down-unneeded-time` (10m).
    pub scale_down_unneeded_time: Duration,
    /// `--scale-down-delay-after-add` (10m).
    pub scale_down_delay_after_add: Duration,
    /// `--scale-down-delay-after-delete` (0: the next scan).
    pub scale_down_delay_after_delete: Duration,
    /// `--max-nodes-total` (0, no limit: `None`).
    pub max_nodes_total: Option<u32>,
    /// `--expander` (least-waste).
    pub expander: Vec<Expander>,
    /// `--balance-similar-node-groups` (false).
    pub balance_similar_node_groups: bool,
    /// `--max-node-provision-time` (15m).
    pub max_node_provision_time: Duration,
    /// `--max-empty-bulk-delete` (10).
    pub max_empty_bulk_delete: u32,
    /// `--ignore-daemonsets-utilization` (false).
    pub ignore_daemonsets_utilization: bool,
    /// `--skip-nodes-with-local-storage` (true): nodes with pods using local storage stay.
    pub skip_nodes_with_local_storage: bool,
    /// `--skip-nodes-with-system-pods` (true): nodes with kube-system pods stay.
    pub skip_nodes_with_system_pods: bool,
}

impl Default for Settings {
    /// The upstream defaults (cluster-autoscaler FAQ, `config/autoscaling_options.go`).
    fn default() -> Self {
        Settings {
            scan_interval: Duration::from_secs(10),
            scale_down_enabled: true,
            scale_down_utilization_threshold: 0.5,
            scale_down_unneeded_time: Duration::from_secs(600),
            scale_down_delay_after_add: Duration::from_secs(600),
            scale_down_delay_after_delete: Duration::ZERO,
            max_nodes_total: None,
            expander: vec![Expander::LeastWaste],
            balance_similar_node_groups: false,
            max_node_provision_time: Duration::from_secs(900),
            max_empty_bulk_delete: 10,
            ignore_daemonsets_utilization: false,
            skip_nodes_with_local_storage: true,
            skip_nodes_with_system_pods: true,
        }
    }
}

impl Settings {
    fn apply(&mut self, f: &Flag) -> Result<(), String> {
        let name = f.name.as_str();
        let dur = || -> Result<Duration, String> {
            let v = f
                .value
                .as_deref()
                .ok_or_else(|| format!("`--{name}` needs a duration"))?;
            duration::parse(v)
                .map_err(|_| format!("`--{name}={v}`: `{v}` is not a duration (like 10m or 30s)"))
        };
        // pflag's boolean values are Go's strconv.ParseBool.
        let boolean = || -> Result<bool, String> {
            match f.value() {
                "true" | "1" | "t" | "T" | "TRUE" | "True" => Ok(true),
                "false" | "0" | "f" | "F" | "FALSE" | "False" => Ok(false),
                other => Err(format!("`--{name}={other}`: expected true or false")),
            }
        };
        let whole = || -> Result<u32, String> {
            let v = f.value();
            v.parse()
                .map_err(|_| format!("`--{name}={v}`: expected a whole number"))
        };
        match name {
            "scan-interval" => self.scan_interval = dur()?,
            "scale-down-enabled" => self.scale_down_enabled = boolean()?,
            "scale-down-unneeded-time" => self.scale_down_unneeded_time = dur()?,
            "scale-down-delay-after-add" => self.scale_down_delay_after_add = dur()?,
            "scale-down-delay-after-delete" => self.scale_down_delay_after_delete = dur()?,
            "max-node-provision-time" => self.max_node_provision_time = dur()?,
            "balance-similar-node-groups" => self.balance_similar_node_groups = boolean()?,
            "ignore-daemonsets-utilization" => self.ignore_daemonsets_utilization = boolean()?,
            "skip-nodes-with-local-storage" => self.skip_nodes_with_local_storage = boolean()?,
            "skip-nodes-with-system-pods" => self.skip_nodes_with_system_pods = boolean()?,
            "scale-down-utilization-threshold" => {
                let v = f.value();
                self.scale_down_utilization_threshold = v
                    .parse::<f64>()
                    .ok()
                    .filter(|t| (0.0..=1.0).contains(t))
                    .ok_or_else(|| format!("`--{name}={v}`: expected a number between 0 and 1"))?;
            }
            "max-nodes-total" => self.max_nodes_total = Some(whole()?).filter(|n| *n > 0),
            "max-empty-bulk-delete" => self.max_empty_bulk_delete = whole()?,
            "expander" => {
                self.expander = f
                    .value()
                    .split(',')
                    .map(|e| {
                        Expander::from_name(e.trim())
                            .ok_or_else(|| format!("`--expander`: unknown expander `{}`", e.trim()))
                    })
                    .collect::<Result<_, _>>()?;
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn flags(command: &[&str], args: &[&str]) -> AutoscalerFlags {
        AutoscalerFlags::of_container(&json!({
            "image": "registry.k8s.io/autoscaling/cluster-autoscaler:v1.33.0",
            "command": command, "args": args}))
    }

    fn pairs(f: &AutoscalerFlags) -> Vec<(&str, &str)> {
        f.flags
            .iter()
            .map(|f| (f.name.as_str(), f.value()))
            .collect()
    }

    #[test]
    fn every_spelling() {
        let f = flags(
            &[
                "./cluster-autoscaler",
                "--max-nodes-total=300",
                "--expander",
                "most-pods,least-waste",
                "--balance-similar-node-groups",
                "-scale-down-unneeded-time=5m",
                "-v",
                "4",
                "--skip-nodes-with-local-storage=false",
                "--scale_down_delay_after_add",
                "2m",
            ],
            &["--nodes=1:10:a", "positional", "--nodes", "2:20:b"],
        );
        assert_eq!(
            pairs(&f),
            [
                ("max-nodes-total", "300"),
                ("expander", "most-pods,least-waste"),
                ("balance-similar-node-groups", "true"),
                ("scale-down-unneeded-time", "5m"),
                ("v", "4"),
                ("skip-nodes-with-local-storage", "false"),
                ("scale-down-delay-after-add", "2m"),
                ("nodes", "1:10:a"),
                ("nodes", "2:20:b"),
            ]
        );
        let values: Vec<&str> = f.all("nodes").map(Flag::value).collect();
        assert_eq!(values, ["1:10:a", "2:20:b"], "repeated flags kept in order");
        // Pointers name the item holding the value.
        assert_eq!(f.last("expander").unwrap().pointer("/c"), "/c/command/3");
        assert_eq!(f.last("nodes").unwrap().pointer("/c"), "/c/args/3");
        let s = f.settings().unwrap();
        assert_eq!(s.max_nodes_total, Some(300));
        assert_eq!(s.expander, [Expander::MostPods, Expander::LeastWaste]);
        assert!(s.balance_similar_node_groups);
        assert!(!s.skip_nodes_with_local_storage);
        assert_eq!(s.scale_down_unneeded_time, Duration::from_secs(300));
        assert_eq!(s.scale_down_delay_after_add, Duration::from_secs(120));
        assert_eq!(s.scan_interval, Duration::from_secs(10), "default kept");
    }

    #[test]
    fn a_value_that_looks_like_a_flag() {
        // A flag that takes a value takes the next item whatever it is, as pflag does...
        let f = flags(
            &["cluster-autoscaler", "--expander", "--max-nodes-total=5"],
            &[],
        );
        assert_eq!(pairs(&f), [("expander", "--max-nodes-total=5")]);
        assert_eq!(
            f.settings().unwrap_err().message,
            "`--expander`: unknown expander `--max-nodes-total=5`"
        );
        // ...a boolean flag never does...
        let f = flags(
            &[
                "cluster-autoscaler",
                "--scale-down-enabled",
                "--max-nodes-total=5",
            ],
            &[],
        );
        assert_eq!(
            pairs(&f),
            [("scale-down-enabled", "true"), ("max-nodes-total", "5")]
        );
        let f = flags(
            &["cluster-autoscaler", "--scale-down-enabled", "false"],
            &[],
        );
        assert_eq!(
            pairs(&f),
            [("scale-down-enabled", "true")],
            "`false` is stray"
        );
        // ...and an unknown flag takes the next item only when it is not a flag.
        let f = flags(
            &["cluster-autoscaler", "--new-flag", "--max-nodes-total", "7"],
            &[],
        );
        assert_eq!(pairs(&f), [("new-flag", ""), ("max-nodes-total", "7")]);
        assert_eq!(f.flags[0].value, None);
    }

    #[test]
    fn last_wins_and_double_dash_ends_flags() {
        let f = flags(
            &[
                "cluster-autoscaler",
                "--max-nodes-total=5",
                "--max-nodes-total=9",
            ],
            &["--", "--max-nodes-total=1"],
        );
        assert_eq!(f.last("max-nodes-total").unwrap().value(), "9");
        assert_eq!(f.settings().unwrap().max_nodes_total, Some(9));
        // Without a command, every arg is a flag (the image's entrypoint runs).
        let f = AutoscalerFlags::of_container(&json!({"args": ["--scale-down-enabled=false"]}));
        assert!(!f.settings().unwrap().scale_down_enabled);
    }

    #[test]
    fn bad_values_name_their_flag() {
        let f = flags(&["ca", "--scale-down-unneeded-time=soon"], &[]);
        let e = f.settings().unwrap_err();
        assert_eq!(e.flag.index, 1);
        assert_eq!(
            e.to_string(),
            "`--scale-down-unneeded-time=soon`: `soon` is not a duration (like 10m or 30s)"
        );
        let e = flags(&["ca", "--scan-interval"], &[])
            .settings()
            .unwrap_err();
        assert_eq!(e.message, "`--scan-interval` needs a duration");
        assert!(
            flags(&["ca", "--scale-down-utilization-threshold=2"], &[])
                .settings()
                .is_err()
        );
        assert!(
            flags(&["ca", "--balance-similar-node-groups=maybe"], &[])
                .settings()
                .is_err()
        );
        assert!(
            flags(&["ca", "--max-nodes-total=-1"], &[])
                .settings()
                .is_err()
        );
    }

    #[test]
    fn discovery_tags() {
        assert_eq!(
            discovery_tag_keys(
                "asg:tag=k8s.io/cluster-autoscaler/enabled,k8s.io/cluster-autoscaler/web=owned"
            ),
            [
                "k8s.io/cluster-autoscaler/enabled",
                "k8s.io/cluster-autoscaler/web"
            ]
        );
        assert!(discovery_tag_keys("mig:namePrefix=x,min=1,max=3").is_empty());
    }

    #[test]
    fn recognizes_the_autoscaler() {
        assert!(is_cluster_autoscaler(
            &json!({"image": "k8s.gcr.io/cluster-autoscaler:v1.16.5"})
        ));
        assert!(is_cluster_autoscaler(
            &json!({"image": "example.com/ca:1", "command": ["/usr/bin/cluster-autoscaler"]})
        ));
        assert!(!is_cluster_autoscaler(&json!({"image": "nginx"})));
    }
}
