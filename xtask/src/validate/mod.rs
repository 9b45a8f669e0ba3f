//! Validate: everything `cargo xtask check` runs, each check in its own module
//! and each reporting [`Finding`]s.

pub mod bundle_audit;
mod finding;
pub mod component_configs;
pub mod promtool;
pub mod amtool;
pub mod run;
pub mod promql;
pub mod catalog;

pub use finding::Finding;
