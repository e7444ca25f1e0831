//! The pipeline every berth command runs: load the stack once (each manifest read and
//! rendered once, secret values left out), check it, plan its order, and then, with a
//! cluster, fill in the secret values, apply, wait and record.
//!
//! The CLI parses arguments, asks and prints; the work is here, in the order PRODUCT.md's
//! apply contract gives it:
//!
//! 1. [`prepare`]: load ([`berth_stack::load`], redacted), run the checks ([`Checks`]), sort
//!    the findings. Nothing talks to a cluster.
//! 2. [`Prepared::ready`]: the gate of every command that changes a cluster: bad input is
//!    refused with exit 2, error findings with exit 1, a dependency cycle with exit 2; the
//!    stack's plan ([`berth_plan::plan`]) is made here, once.
//! 3. [`connect`]: the cluster the user named (starting berth's local cluster for `--local`).
//! 4. [`Ready::up`] / [`Ready::changes`]: the secret values are resolved against the cluster
//!    (generated ones kept from it) without loading the stack again, then
//!    [`berth_apply::up::up_planned`] / [`berth_apply::diff::plan_planned`] with the plan of
//!    step 2.
//!
//! Refusals carry the findings that explain them ([`Refused`]), so every command prints
//! findings with one printer ([`berth_check::report`]).

pub mod saved;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_apply::diff::PlanReport;
use berth_apply::health::HealthRules;
use berth_apply::up::{Target, UpOptions, UpReport};
use berth_apply::{Cluster, ConnectOptions, ErrorClass, Event};
use berth_check::Rule;
use berth_model::{Finding, Object, Origin, Profile, Severity, Stack};
use berth_plan::Plan;
use berth_stack::{LoadOptions, Loaded, SecretMode, SecretSource, SecretValue};

/// Which checks [`prepare`] runs after loading.
#[derive(Clone, Copy, Debug)]
pub enum Checks<'a> {
    /// Only what loading finds (`render`, `down`, `status`, `simulate`).
    LoadOnly,
    /// Every rule (`check`, `up`, `plan`).
    All,
    /// These rules (`check --rule`).
    Rules(&'a [&'static Rule]),
}

/// A stack loaded once and checked: what every command starts from.
#[derive(Debug)]
pub struct Prepared {
    /// Findings of loading and of the checks, in [`berth_check::sort`] order.
    pub findings: Vec<Finding>,
    /// The rendered stack (secret values redacted); `None` when there is nothing to speak of.
    pub stack: Option<Stack>,
    /// What resolving the secret values later needs.
    loaded: Loaded,
}

/// Loads the stack at `path` once, secret values left out whatever `options` says, and runs
/// `checks` on it unless it is bad input.
pub fn prepare(path: &Path, options: &LoadOptions, checks: Checks<'_>) -> Prepared {
    load_and_check(path, options, checks, false)
}

/// What `berth check` runs: like [`prepare`], but the checks also run on what could be read of
/// a stack with bad input, so one broken file does not hide the findings of the others.
pub fn prepare_all_findings(path: &Path, options: &LoadOptions, checks: Checks<'_>) -> Prepared {
    load_and_check(path, options, checks, true)
}

fn load_and_check(
    path: &Path,
    options: &LoadOptions,
    checks: Checks<'_>,
    even_bad_input: bool,
) -> Prepared {
    let options = LoadOptions {
        secret_mode: SecretMode::Redact,
        secret_source: None,
        ..options.clone()
    };
    let mut loaded = berth_stack::load(path, &options);
    let mut findings = std::mem::take(&mut loaded.findings);
    let stack = loaded.stack.take();
    let bad_input = stack.is_none() || findings.iter().any(Finding::is_bad_input);
    if let Some(stack) = &stack
        && (even_bad_input || !bad_input)
    {
        match checks {
            Checks::LoadOnly => {}
            Checks::All => findings.extend(berth_check::check(stack)),
            Checks::Rules(rules) => findings.extend(berth_check::check_rules(stack, rules)),
        }
    }
    berth_check::sort(&mut findings);
    Prepared {
        findings,
        stack,
        loaded,
    }
}

/// Why a command stops before changing anything, with the exit class and the findings that
/// explain it (to print before the message).
#[derive(Debug)]
pub struct Refused {
    pub class: ErrorClass,
    pub message: String,
    pub findings: Vec<Finding>,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Refused {}

/// What can go wrong after [`prepare`]: a refusal (findings), or the cluster's answer.
#[derive(Debug)]
pub enum Error {
    Refused(Refused),
    Apply(berth_apply::Error),
}

impl Error {
    /// The exit class: bad input, failed, or the cluster.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Refused(r) => r.class,
            Error::Apply(e) => e.class(),
        }
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Refused(r) => r.fmt(f),
            Error::Apply(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}

impl From<berth_apply::Error> for Error {
    fn from(e: berth_apply::Error) -> Error {
        Error::Apply(e)
    }
}

impl From<Refused> for Error {
    fn from(r: Refused) -> Error {
        Error::Refused(r)
    }
}

impl Prepared {
    /// True when the input could not be read as a stack (exit 2).
    pub fn is_bad_input(&self) -> bool {
        self.stack.is_none() || self.findings.iter().any(Finding::is_bad_input)
    }

    /// True when any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// Refuses bad input (exit 2) and nothing else: the stack of a command that reads it for
    /// its name and namespace only (`down`, `status`, `history`, `rollback`, `doctor`).
    pub fn loadable(&self) -> Result<&Stack, Refused> {
        match &self.stack {
            Some(stack) if !self.is_bad_input() => Ok(stack),
            _ => Err(self.bad_input()),
        }
    }

    fn bad_input(&self) -> Refused {
        let n = self.findings.iter().filter(|f| f.is_bad_input()).count();
        Refused {
            class: ErrorClass::BadInput,
            message: format!("the stack cannot be loaded ({n} problem(s) above)"),
            findings: Vec::new(),
        }
    }

    /// Refuses bad input (exit 2) and error findings (exit 1), and plans nothing: the stack of
    /// a command that takes it from the cluster by name (`down`, `status`, `history`,
    /// `rollback`).
    pub fn checked(mut self) -> Result<Stack, Refused> {
        self.loadable()?;
        if self.has_errors() {
            return Err(errors_refused("nothing was changed"));
        }
        Ok(self.stack.take().expect("checked by loadable"))
    }

    /// The loadable stack in apply order (`render`): error findings do not stop it, a
    /// dependency cycle does (exit 2, the cycle's finding attached).
    pub fn ordered(&self) -> Result<Vec<&Object>, Refused> {
        let stack = self.loadable()?;
        let plan = plan(stack)?;
        Ok(plan.order().map(|i| &stack.objects[i]).collect())
    }

    /// The gate of every command that changes a cluster, and the plan made once: refuses bad
    /// input and a dependency cycle (exit 2) and error findings (exit 1); nothing has been
    /// applied then.
    pub fn ready(mut self) -> Result<Ready, Refused> {
        if self.is_bad_input() {
            let mut refused = self.bad_input();
            refused.message.push_str("; nothing was applied");
            return Err(refused);
        }
        if self.has_errors() {
            return Err(errors_refused("nothing was applied"));
        }
        let stack = self.stack.take().expect("checked by is_bad_input");
        let plan = plan(&stack)?;
        Ok(Ready {
            stack,
            plan,
            findings: self.findings,
            loaded: self.loaded,
        })
    }
}

/// The refusal of a stack with error findings (exit 1); `outcome` says what did not happen.
fn errors_refused(outcome: &str) -> Refused {
    Refused {
        class: ErrorClass::Failed,
        message: format!("the stack has error findings (above); {outcome}"),
        findings: Vec::new(),
    }
}

fn plan(stack: &Stack) -> Result<Plan, Refused> {
    berth_plan::plan(&stack.objects, &stack.components).map_err(|finding| Refused {
        class: ErrorClass::BadInput,
        message: "the stack's objects depend on each other in a cycle; nothing was applied".into(),
        findings: vec![*finding],
    })
}

/// A stack that passed the gate, with its plan: what `up` and `plan` take to a cluster.
#[derive(Debug)]
pub struct Ready {
    /// Secret values redacted: safe to print.
    pub stack: Stack,
    pub plan: Plan,
    /// Warnings and notes of loading and checking (no errors: those were refused).
    pub findings: Vec<Finding>,
    loaded: Loaded,
}

impl Ready {
    /// The stack's objects as the API server must receive them: the secret values resolved
    /// (generated ones kept from the cluster) and filled in. Holds secrets: send, never print.
    /// A value that cannot be had refuses the run (exit 1, or 2 for a secret store's; its
    /// finding attached).
    pub async fn objects_for_apply(
        &self,
        cluster: &Cluster,
        asker: Option<Arc<dyn Asker>>,
    ) -> Result<Vec<Object>, Error> {
        let mut values = HashMap::new();
        for o in self
            .stack
            .objects
            .iter()
            .filter(|o| o.origin == Origin::StackSecret)
        {
            let ns = o.namespace().unwrap_or(&self.stack.namespace).to_string();
            if let Some(data) = cluster.secret_data(&ns, o.name()).await? {
                for (k, v) in data {
                    values.insert((ns.clone(), o.name().to_string(), k), SecretValue::new(v));
                }
            }
        }
        let source = ClusterSecrets { values, asker };
        let (data, findings) = self.loaded.resolve_secrets(&source);
        if findings.iter().any(|f| f.severity == Severity::Error) {
            // A secret store that has no such entry (or a SOPS file that does not decrypt) is
            // the stack naming something that is not there: bad input, exit 2. A missing
            // environment variable or terminal is the run's environment: exit 1.
            let store = findings.iter().any(|f| {
                f.severity == Severity::Error && f.rule == berth_stack::secrets::SECRET_STORE
            });
            return Err(Error::Refused(Refused {
                class: if store {
                    ErrorClass::BadInput
                } else {
                    ErrorClass::Failed
                },
                message: "a secret value cannot be had (above); nothing was applied".into(),
                findings,
            }));
        }
        Ok(self
            .stack
            .objects
            .iter()
            .map(|o| Object {
                value: data.materialize(o),
                ..o.clone()
            })
            .collect())
    }

    /// The target `up` and `plan` take to the cluster: these objects (from
    /// [`Ready::objects_for_apply`]) with the stack's name, namespace and settings.
    pub fn target<'a>(&'a self, objects: &'a [Object]) -> Target<'a> {
        Target {
            stack: &self.stack.name,
            namespace: &self.stack.namespace,
            objects,
            components: &self.stack.components,
            values: &self.stack.values,
            profile: self.stack.profile,
        }
    }

    /// `berth up`: the secret values, then apply wave by wave with the plan made once, wait,
    /// prune, record.
    pub async fn up(
        &self,
        cluster: &Cluster,
        asker: Option<Arc<dyn Asker>>,
        opts: &UpOptions,
        rules: &dyn HealthRules,
        sink: &(dyn Fn(Event) + Sync),
    ) -> Result<UpReport, Error> {
        let objects = self.objects_for_apply(cluster, asker).await?;
        let target = self.target(&objects);
        Ok(
            berth_apply::up::up_planned(cluster, target, self.plan.clone(), opts, rules, sink)
                .await?,
        )
    }

    /// `berth plan`: what `up` would change, from a server-side dry run.
    pub async fn changes(
        &self,
        cluster: &Cluster,
        asker: Option<Arc<dyn Asker>>,
        prune_data: bool,
        concurrency: usize,
        timeout: Duration,
    ) -> Result<PlanReport, Error> {
        let objects = self.objects_for_apply(cluster, asker).await?;
        let target = self.target(&objects);
        Ok(berth_apply::diff::plan_planned(
            cluster,
            target,
            Some(self.plan.clone()),
            prune_data,
            concurrency,
            timeout,
        )
        .await?)
    }
}

/// Asks the user for a secret value typed on a terminal (`{prompt: true}` in berth.yaml).
pub trait Asker: Send + Sync {
    /// The value of `key` of Secret `secret`; `None` when there is no one to ask.
    fn ask(&self, secret: &str, key: &str) -> Option<SecretValue>;
}

/// Secret values from the cluster (what `generate:` values keep across runs), the
/// environment and files, and the user when there is an [`Asker`].
struct ClusterSecrets {
    values: HashMap<(String, String, String), SecretValue>,
    asker: Option<Arc<dyn Asker>>,
}

impl SecretSource for ClusterSecrets {
    fn existing(&self, namespace: &str, secret: &str, key: &str) -> Option<SecretValue> {
        self.values
            .get(&(namespace.into(), secret.into(), key.into()))
            .cloned()
    }

    fn prompt(&self, secret: &str, key: &str) -> Option<SecretValue> {
        self.asker.as_ref()?.ask(secret, key)
    }
}

/// Which cluster to connect to.
#[derive(Clone, Debug, Default)]
pub struct ClusterChoice {
    /// A kubeconfig file instead of `KUBECONFIG` / `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// A context of the kubeconfig instead of its current one.
    pub context: Option<String>,
    /// berth's local cluster of this name (started when it is not running).
    pub local: Option<String>,
    /// How long an unreachable API server is retried before the command gives up.
    pub outage_grace: Option<Duration>,
}

/// Connects to the chosen cluster. For the local cluster, `notes` receives what starting it
/// changed (a component moved to another port).
pub async fn connect(choice: &ClusterChoice, notes: &dyn Fn(String)) -> Result<Cluster, Error> {
    let mut opts = ConnectOptions {
        kubeconfig: choice.kubeconfig.clone(),
        context: choice.context.clone(),
    };
    if let Some(name) = &choice.local {
        let local = berth_local::Options {
            name: name.clone(),
            ..berth_local::Options::default()
        };
        let status = berth_local::up(&local).await.map_err(|e| Refused {
            // No local cluster on this system is the user's choice to change, not an outage.
            class: if matches!(e, berth_local::Error::Unsupported(_)) {
                ErrorClass::BadInput
            } else {
                ErrorClass::Cluster
            },
            message: format!("the local cluster could not be started: {e}"),
            findings: Vec::new(),
        })?;
        for moved in &status.moved {
            notes(format!("local cluster `{}`: {moved}", status.name));
        }
        opts = ConnectOptions {
            kubeconfig: Some(status.kubeconfig),
            context: None,
        };
    }
    let mut cluster = Cluster::connect(&opts).await?;
    if let Some(grace) = choice.outage_grace {
        cluster.outage_grace = grace;
    }
    Ok(cluster)
}

/// berth's health rules for `profile`: LoadBalancer Services wait for an address only where
/// the profile has a load-balancer controller.
pub fn health_rules(profile: Profile) -> berth_apply::BerthHealth {
    berth_apply::BerthHealth {
        load_balancer_controller: profile != Profile::Local,
    }
}

/// The doctor's diagnoses of the stack after a wait failed, warnings and errors only:
/// bounded (20 s) and best effort, so a failing diagnosis never hides the failure itself.
pub async fn diagnose_failure(cluster: &Cluster, stack: &Stack) -> Vec<berth_doctor::Diagnosis> {
    let options = berth_doctor::Options {
        load_balancer_controller: stack.profile != Profile::Local,
    };
    let diagnosis = berth_doctor::diagnose_with(&cluster.client, &stack.objects, &options);
    match tokio::time::timeout(Duration::from_secs(20), diagnosis).await {
        Ok(Ok(diagnoses)) => diagnoses
            .into_iter()
            .filter(|d| d.severity != Severity::Info)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
