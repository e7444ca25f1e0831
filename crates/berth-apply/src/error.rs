//! What can go wrong when berth talks to a cluster, classified by what the user should do.

use berth_model::ObjectKey;

/// An error from plan, up, status, down, history or rollback.
///
/// [`Error::class`] tells the CLI which exit code it means.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cluster could not be reached, or refused the credentials (exit code 3).
    #[error("cannot use the cluster at {server}: {reason}")]
    Unreachable { server: String, reason: String },

    /// The kubeconfig could not be read or names no usable context (exit code 3).
    #[error("cannot read the kubeconfig: {0}")]
    Kubeconfig(String),

    /// The API server does not serve this kind (and discovery, re-run, still does not).
    #[error(
        "{object}: the cluster does not serve {api_version} {kind}; install its CRD or fix the apiVersion"
    )]
    UnknownKind {
        object: ObjectKey,
        api_version: String,
        kind: String,
    },

    /// Another field manager owns fields berth wants to set.
    #[error(
        "{object}: conflict with other field managers: {message}\n  to resolve: re-run with --force-conflicts to take the fields over, \
         remove those fields from the manifest so the other manager keeps them, or set them to the values the other manager wrote"
    )]
    Conflict { object: ObjectKey, message: String },

    /// The credentials may not do what berth needs (403): the verb, resource and namespace
    /// refused, and the RBAC rule that would allow it (exit code 3).
    #[error("{context}: {}", forbidden_text(.user, .verb, .resource, .group, .namespace.as_deref(), .message))]
    Forbidden {
        context: String,
        user: String,
        verb: String,
        resource: String,
        group: String,
        namespace: Option<String>,
        message: String,
    },

    /// The API server rejected the object (validation, admission, immutable fields...).
    #[error("{object}: {message}")]
    Rejected { object: ObjectKey, message: String },

    /// An object became Failed, or a pod of it cannot run (image pull, crash loop, unschedulable).
    #[error("{object} is not healthy: {message}")]
    Unhealthy { object: ObjectKey, message: String },

    /// The run or a wave took longer than `--timeout`; names what was still not healthy.
    #[error("timed out after {after} waiting for {}", pending.iter().map(|(k, m)| format!("{k} ({m})")).collect::<Vec<_>>().join(", "))]
    Timeout {
        after: String,
        pending: Vec<(ObjectKey, String)>,
    },

    /// Another run holds the stack's lock.
    #[error(
        "stack `{stack}` is locked by {holder} (lease {namespace}/{lease}, expires in {expires_in_s}s); wait for that run to finish, \
         or if it crashed the lock expires by itself"
    )]
    Locked {
        stack: String,
        holder: String,
        namespace: String,
        lease: String,
        expires_in_s: i64,
    },

    /// The user interrupted the run (Ctrl-C, SIGTERM); the lock was released.
    #[error(
        "interrupted: stopped applying and released the stack lock; {applied} of {total} objects were applied and stay (run `berth up` again to finish)"
    )]
    Interrupted { applied: usize, total: usize },

    /// Another run took the stack's lock while this one worked (this run could not renew it
    /// in time); this run stopped applying at once.
    #[error(
        "lost the lock of stack `{stack}` to {holder}: stopped applying so two runs never interleave; check that run, then run `berth up` again"
    )]
    LockLost { stack: String, holder: String },

    /// The new render has no objects but berth owns some: pruning would delete the stack.
    #[error(
        "the stack renders no objects; refusing to prune everything berth applied before (use `berth down` to remove the stack)"
    )]
    EmptyRender,

    /// The inventory or a revision stored in the cluster cannot be read.
    #[error("inventory: {0}")]
    Inventory(String),

    /// The stack's objects cannot be ordered (a `dependency-cycle` finding): nothing was applied.
    #[error("{}:{}:{}: {} [{}]", .0.file.display(), .0.line, .0.column, .0.message, .0.rule)]
    Plan(Box<berth_model::Finding>),

    /// Several objects of one wave failed to apply.
    #[error("{} objects were not applied:\n{}", .0.len(), .0.iter().map(|e| format!("  - {e}")).collect::<Vec<_>>().join("\n"))]
    Several(Vec<Error>),

    /// Any other error from the API that retries did not fix.
    #[error("{context}: {source}")]
    Kube {
        context: String,
        #[source]
        source: Box<kube::Error>,
    },
}

/// Which kind of failure an [`Error`] is: decides the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// The cluster could not be reached or refused the credentials (exit 3).
    Cluster,
    /// The stack did not become healthy or the cluster rejected it (exit 1).
    Failed,
    /// The input cannot be applied at all (exit 2): nothing was applied.
    BadInput,
}

impl Error {
    /// What the error means for the exit code.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Unreachable { .. } | Error::Kubeconfig(_) | Error::Forbidden { .. } => {
                ErrorClass::Cluster
            }
            Error::Plan(_) | Error::EmptyRender => ErrorClass::BadInput,
            Error::Several(all) if all.iter().any(|e| e.class() == ErrorClass::Cluster) => {
                ErrorClass::Cluster
            }
            Error::Kube { source, .. } if is_unauthorised(source) || is_connection(source) => {
                ErrorClass::Cluster
            }
            _ => ErrorClass::Failed,
        }
    }

    /// An API error in `context`; a 403 becomes [`Error::Forbidden`].
    pub(crate) fn kube(context: impl Into<String>, source: kube::Error) -> Error {
        match forbidden(context.into(), &source) {
            Ok(f) => f,
            Err(context) => Error::Kube {
                context,
                source: Box::new(source),
            },
        }
    }
}

/// An [`Error::Forbidden`] from a 403, reading who was refused what from the API server's
/// message (`User "u" cannot patch resource "deployments" in API group "apps" in the
/// namespace "shop"`); `Err(context)` back when `e` is not a 403.
pub(crate) fn forbidden(context: String, e: &kube::Error) -> std::result::Result<Error, String> {
    let kube::Error::Api(s) = e else {
        return Err(context);
    };
    if s.code != 403 {
        return Err(context);
    }
    let m = &s.message;
    let quoted_after = |marker: &str| {
        m.split_once(marker)
            .and_then(|(_, rest)| rest.strip_prefix('"'))
            .and_then(|rest| rest.split_once('"'))
            .map(|(v, _)| v.to_string())
    };
    let verb = m
        .split_once(" cannot ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .unwrap_or("")
        .to_string();
    Ok(Error::Forbidden {
        context,
        user: quoted_after("User ").unwrap_or_default(),
        verb,
        resource: quoted_after("resource ").unwrap_or_default(),
        group: quoted_after("in API group ").unwrap_or_default(),
        namespace: quoted_after("in the namespace "),
        message: m.clone(),
    })
}

fn forbidden_text(
    user: &str,
    verb: &str,
    resource: &str,
    group: &str,
    namespace: Option<&str>,
    message: &str,
) -> String {
    if verb.is_empty() || resource.is_empty() {
        return format!("the API server refused the request (403 Forbidden): {message}");
    }
    let who = if user.is_empty() {
        "the credentials"
    } else {
        user
    };
    let rule =
        format!("{{apiGroups: [\"{group}\"], resources: [\"{resource}\"], verbs: [\"{verb}\"]}}");
    match namespace {
        Some(ns) => format!(
            "{who} may not {verb} {resource} in namespace `{ns}` (403 Forbidden); to allow it, bind a Role in `{ns}` with the rule {rule} to {who}"
        ),
        None => format!(
            "{who} may not {verb} {resource} at the cluster scope (403 Forbidden); to allow it, bind a ClusterRole with the rule {rule} to {who}"
        ),
    }
}

/// Result of this crate's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The HTTP status code of an API error, if the error is one.
pub(crate) fn status_code(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}

pub(crate) fn is_not_found(e: &kube::Error) -> bool {
    status_code(e) == Some(404)
}

pub(crate) fn is_unauthorised(e: &kube::Error) -> bool {
    matches!(status_code(e), Some(401))
}

/// Errors that say nothing about the request and may pass: overload, server errors, a reset
/// or refused connection, a timeout.
pub(crate) fn is_transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => {
            matches!(s.code, 429 | 500 | 502 | 503 | 504)
                || (s.code == 409 && s.reason == "Conflict" && s.message.contains("try again"))
        }
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        // A proxy that answers garbage or cuts the body shows up as a decode error.
        kube::Error::SerdeError(_) => true,
        _ => false,
    }
}

pub(crate) fn is_connection(e: &kube::Error) -> bool {
    matches!(e, kube::Error::HyperError(_) | kube::Error::Service(_))
}
