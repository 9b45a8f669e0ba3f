//! Check: everything `cargo xtask check` runs, each check in its own module
//! and each reporting [`Finding`]s.

pub mod amtool;
pub mod bundle_audit;
pub mod cache;
pub mod catalog;
pub mod component_configs;
pub mod config_keys;
pub mod haproxy;
pub mod hardening;
pub mod image_inputs;
pub mod image_validators;
pub mod promql;
pub mod promtool;
pub mod run;
pub mod validator;

pub use report::Finding;

use crate::source::{DEFINITION_FILE, Source};

/// The repository-relative file `[configs] <key>` of stack.toml names; when
/// there is none, a finding of `rule` on stack.toml.
pub fn config_file<'s>(source: &'s Source, rule: &'static str, key: &str) -> Result<&'s str, Finding> {
    source.definition.configs.get(key).map(String::as_str).ok_or_else(|| {
        Finding::new(rule, DEFINITION_FILE, "[configs]", format!("no `{key}`: the {rule} check reads that file"))
    })
}
