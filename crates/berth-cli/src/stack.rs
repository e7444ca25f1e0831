//! Options shared by the commands that read a stack (`check`, `render`, `plan`, `up`, ...),
//! and the one way findings and refusals are printed.

use std::path::PathBuf;
use std::sync::Arc;

use berth_apply::ErrorClass;
use berth_check::report;
use berth_model::{Finding, Profile, Severity};
use berth_ops::{Checks, Prepared, Refused};
use berth_stack::{LoadOptions, SecretMode};
use clap::Args;

use crate::exit::{Exit, fail};

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

    /// The load options these arguments mean, for a command that works without a cluster
    /// (`check`, `render`, `simulate`, `local load`): nothing is read from AWS, so these stay
    /// offline and an `${efs.<name>}` stays as written.
    pub fn options(&self, secret_mode: SecretMode) -> LoadOptions {
        LoadOptions {
            cloud_values: None,
            ..self.options_for_cluster(secret_mode)
        }
    }

    /// The load options of a command that talks to the cluster (`up`, `plan`, `status`,
    /// `down`, `doctor`): on EKS the ids of `cluster.fileSystems` are read from AWS.
    pub fn options_for_cluster(&self, secret_mode: SecretMode) -> LoadOptions {
        LoadOptions {
            profile: self.profile,
            set: self.set.clone(),
            values_files: self.values.clone(),
            secret_mode,
            // The last resort for `kubectl kustomize`: berth's own kubectl, when built.
            local_kubectl: berth_local::binaries::find().map(|b| b.kubectl),
            // Read only when a stack names them: AWS secrets at `up`, file system ids on EKS.
            cloud_secrets: Some(Arc::new(berth_aws::Secrets::new())),
            cloud_values: Some(Arc::new(berth_aws::efs::FileSystemValues::new())),
            ..LoadOptions::default()
        }
    }

    /// Loads the stack once (secret values left out) and runs `checks` on it, offline.
    pub fn prepare(&self, checks: Checks<'_>) -> Prepared {
        berth_ops::prepare(&self.path, &self.options(SecretMode::Redact), checks)
    }

    /// As [`StackArgs::prepare`], for a command that talks to the cluster.
    pub fn prepare_for_cluster(&self, checks: Checks<'_>) -> Prepared {
        berth_ops::prepare(
            &self.path,
            &self.options_for_cluster(SecretMode::Redact),
            checks,
        )
    }

    /// As [`StackArgs::prepare`], the checks running on whatever could be read (`berth check`).
    pub fn prepare_all_findings(&self, checks: Checks<'_>) -> Prepared {
        berth_ops::prepare_all_findings(&self.path, &self.options(SecretMode::Redact), checks)
    }
}

/// Prints findings to stderr as `berth check` prints them (one printer for every command),
/// in colour on a terminal. Notes only with `verbose`; nothing at all when nothing is left.
pub fn print_findings(findings: &[Finding], verbose: bool) {
    let shown: Vec<Finding> = findings
        .iter()
        .filter(|f| verbose || f.severity != Severity::Info)
        .cloned()
        .collect();
    if shown.is_empty() {
        return;
    }
    let color = crate::term::colour(crate::term::Stream::Stderr);
    eprint!("{}", report::render(&shown, report::Format::Human, color));
}

/// Prints the error-level findings, and only counts the others: what commands that act on
/// the stack (`up`, `plan`, `cluster`, `simulate`) show; `berth check` is the place for
/// warnings.
pub fn print_errors(findings: &[Finding]) {
    let errors: Vec<Finding> = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .cloned()
        .collect();
    print_findings(&errors, false);
    let warnings = findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    if warnings > 0 && errors.is_empty() {
        eprintln!("{warnings} warning(s) from the checks (see `berth check`)");
    }
}

/// A refusal of the pipeline as an error with its exit code, its findings printed first.
pub fn refused(r: Refused) -> anyhow::Error {
    print_findings(&r.findings, false);
    fail(exit_of(r.class), r.message)
}

/// The exit code of an error class.
pub fn exit_of(class: ErrorClass) -> Exit {
    match class {
        ErrorClass::Cluster => Exit::Cluster,
        ErrorClass::BadInput => Exit::BadInput,
        ErrorClass::Failed => Exit::Failed,
    }
}

/// An error of the pipeline as an error with its exit code (a refusal's findings printed).
pub fn ops_error(e: berth_ops::Error) -> anyhow::Error {
    match e {
        berth_ops::Error::Refused(r) => refused(r),
        berth_ops::Error::Apply(e) => fail(exit_of(e.class()), e.to_string()),
    }
}
