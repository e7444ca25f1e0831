//! Loading and rendering a stack: `berth.yaml` (or a plain folder of manifests), its manifest
//! files and Helm charts → the [`berth_model::Stack`] of objects berth would apply, plus
//! findings for everything that could not be read.
//!
//! Loading keeps going after the first problem, like a compiler: one broken file does not hide
//! the others.

pub mod manifest;

pub use manifest::parse_manifest_str;
pub mod helm;
pub mod kinds;
pub mod load;
pub mod profiles;
pub mod secrets;
pub mod sources;
pub mod stackfile;
pub mod substitute;

pub use load::{LoadOptions, Loaded, load};
pub use secrets::{SecretData, SecretMode, SecretSource, SecretValue};
pub mod output;
