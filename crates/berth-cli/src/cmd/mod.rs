//! One module per command.

pub mod doctor;
pub mod local;
pub mod render;
