//! The commands: each reads its arguments, calls the library and reports.

pub mod doctor;
pub mod self_cmd;
pub mod show;
pub mod target;
pub mod update;
