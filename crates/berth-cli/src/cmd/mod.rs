//! One module per command.

pub mod explain;
pub mod local;
pub mod render;
