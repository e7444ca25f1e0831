//! Loading and rendering a stack: `berth.yaml` (or a plain folder of manifests), its manifest
//! files and Helm charts → the [`berth_model::Stack`] of objects berth would apply, plus
//! findings for everything that could not be read.
//!
//! Loading keeps going after the first problem, like a compiler: one broken file does not hide
//! the others. The entry point is [`load()`]; [`parse_manifest_str`] reads one manifest text.
//!
//! Modules, in pipeline order: [`stackfile`] (berth.yaml), [`sources`] (finding and reading
//! manifest files), [`manifest`] (documents → objects), [`substitute`] (`${name}`), [`helm`]
//! (chart components), [`kustomize`] (kustomizations, built by kustomize), [`secrets`] (`secrets:` → Secret objects, values kept apart),
//! [`kinds`] (scopes, default namespaces), [`profiles`] (cloud intents),
//! [`output`] (redacted YAML).
//!
//! Rule ids produced here: `yaml-syntax`, `manifest-shape`, `stack-file`, `missing-file`,
//! `placeholder`, `kustomize`, `no-objects` (errors that mean bad input), `intent`, `helm`,
//! `secret-source` (errors or warnings), `skipped` (info).

pub mod helm;
pub mod kinds;
pub mod kustomize;
pub mod load;
pub mod manifest;
pub mod output;
pub mod profiles;
pub mod secrets;
pub mod sources;
pub mod stackfile;
mod subprocess;
pub mod substitute;

pub use load::{CloudValues, LoadOptions, Loaded, load};
pub use manifest::parse_manifest_str;
pub use secrets::{CloudSecrets, SecretData, SecretMode, SecretSource, SecretValue};
pub use subprocess::find_on_path;
