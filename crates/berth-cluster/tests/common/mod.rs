//! What the cluster tests share: stacks loaded by the real loader.

use std::path::Path;

use berth_model::{Profile, Severity, Stack};
use berth_stack::{LoadOptions, SecretMode};

/// The stack at `path` (for `profile`, or its own), which must load without an error.
#[allow(dead_code)] // not every test file loads fixtures
pub fn load_stack(path: &Path, profile: Option<Profile>) -> Stack {
    load_with(path, profile, &[])
}

/// A blueprint of the repository under the eks profile, with `set` values, as `berth cluster
/// config` reads it.
pub fn blueprint(name: &str, set: &[&str]) -> Stack {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../blueprints")
        .join(name);
    load_with(&path, Some(Profile::Eks), set)
}

fn load_with(path: &Path, profile: Option<Profile>, set: &[&str]) -> Stack {
    let loaded = berth_stack::load(
        path,
        &LoadOptions {
            profile,
            set: set.iter().map(|s| s.to_string()).collect(),
            secret_mode: SecretMode::Redact,
            ..LoadOptions::default()
        },
    );
    let errors: Vec<_> = loaded
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .collect();
    assert!(errors.is_empty(), "{}: {errors:#?}", path.display());
    loaded.stack.expect("the stack loads")
}
