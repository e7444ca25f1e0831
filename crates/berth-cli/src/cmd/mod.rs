//! One module per command.

pub mod doctor;
pub mod down;
pub mod history;
pub mod explain;
pub mod local;
pub mod plan;
pub mod render;
pub mod rollback;
pub mod status;
pub mod up;
pub mod simulate;
