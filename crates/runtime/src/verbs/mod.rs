//! One file per runtime verb.

pub mod create;
pub mod delete;
pub mod exec;
pub mod foreground;
pub mod kill;
pub mod pause;
pub mod ps;
pub mod run;
pub mod start;
pub mod update;
