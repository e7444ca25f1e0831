//! One module per command.

pub mod check;
pub mod cluster;
pub mod completions;
pub mod doctor;
pub mod down;
pub mod explain;
pub mod history;
pub mod local;
pub mod plan;
pub mod render;
pub mod rollback;
pub mod simulate;
pub mod status;
pub mod up;
