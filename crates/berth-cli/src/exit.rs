//! Exit codes, as PRODUCT.md defines them, and the one place errors become messages.

use std::process::ExitCode;

/// What a command's outcome means to a script calling berth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Done, and healthy.
    Ok = 0,
    /// Findings at error level, or the stack did not become healthy.
    Failed = 1,
    /// Bad input (unreadable YAML, unknown field, missing file, dependency cycle): nothing was applied.
    BadInput = 2,
    /// The cluster could not be reached or refused the credentials.
    Cluster = 3,
}

/// An error that already knows its exit code. Commands return `anyhow::Error`s; those that
/// wrap a `Failure` exit with its code, everything else counts as bad input (2), because an
/// error berth did not classify happened before anything was applied.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Builds an error that exits with `exit`.
pub fn fail(exit: Exit, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure {
        exit,
        message: message.into(),
    })
}

/// Prints the error (with its chain of causes) and turns the outcome into the process exit code.
pub fn finish(result: anyhow::Result<Exit>) -> ExitCode {
    match result {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(err) => {
            let exit = err
                .downcast_ref::<Failure>()
                .map(|f| f.exit)
                .unwrap_or(Exit::BadInput);
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(exit as u8)
        }
    }
}
