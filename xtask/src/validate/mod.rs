//! Validate: everything `cargo xtask check` runs, each check in its own module
//! and each reporting [`Finding`]s.

pub mod amtool;
pub mod bundle_audit;
pub mod catalog;
pub mod component_configs;
mod finding;
pub mod promql;
pub mod promtool;
pub mod run;

pub use finding::Finding;
