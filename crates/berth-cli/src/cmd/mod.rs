//! One module per command.

pub mod local;
pub mod render;
pub mod simulate;
