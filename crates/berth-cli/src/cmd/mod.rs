//! One module per command.

pub mod local;
