//! Options shared by the commands that read a stack (`check`, `render`, `plan`, `up`), and the
//! plain printing of load findings.

use std::path::PathBuf;

use berth_model::{Finding, Profile, Severity};
use berth_stack::{LoadOptions, Loaded, SecretMode};
use clap::Args;

/// Which stack, and what the command line adds to it.
#[derive(Args, Clone, Debug)]
pub struct StackArgs {
    /// The stack: a folder with berth.yaml, berth.yaml itself, a plain folder of manifests or
    /// one manifest file.
    #[arg(default_value = ".", value_name = "STACK")]
    pub path: PathBuf,
    /// Cloud profile (overrides `profile:` in berth.yaml): eks, aks, gke or local.
    #[arg(long, value_name = "PROFILE")]
    pub profile: Option<Profile>,
    /// Set a value used by `${name}` placeholders; the value is read as a YAML scalar.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub set: Vec<String>,
    /// A YAML file of values (name: value); later files win, `--set` wins over all.
    #[arg(long = "values", value_name = "FILE")]
    pub values: Vec<PathBuf>,
}

impl StackArgs {
    /// `--local` means berth's local cluster, so without `--profile` the stack is rendered for
    /// the `local` profile there, whatever berth.yaml names for the cloud.
    pub fn default_profile_for_local(&mut self, local: bool) {
        if local && self.profile.is_none() {
            self.profile = Some(Profile::Local);
        }
    }

    /// The load options these arguments mean.
    pub fn options(&self, secret_mode: SecretMode) -> LoadOptions {
        LoadOptions {
            profile: self.profile,
            set: self.set.clone(),
            values_files: self.values.clone(),
            secret_mode,
            // The last resort for `kubectl kustomize`: berth's own kubectl, when built.
            local_kubectl: berth_local::binaries::find().map(|b| b.kubectl),
            ..LoadOptions::default()
        }
    }

    /// Load and render the stack.
    pub fn load(&self, secret_mode: SecretMode) -> Loaded {
        berth_stack::load(&self.path, &self.options(secret_mode))
    }
}

/// Print findings to stderr like a compiler: `file:line:col: severity[rule]: message`, then
/// the fix. Info findings only with `verbose`.
pub fn print_findings(findings: &[Finding], verbose: bool) {
    for f in findings {
        if f.severity == Severity::Info && !verbose {
            continue;
        }
        let severity = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        eprintln!(
            "{}:{}:{}: {severity}[{}]: {}",
            f.file.display(),
            f.line,
            f.column,
            f.rule,
            f.message
        );
        if !f.fix.is_empty() {
            eprintln!("  fix: {}", f.fix);
        }
    }
}
