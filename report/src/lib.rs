//! The two things every generator and check of the workspace hands back,
//! each with one type so the `dashboards` and `alerts` crates and the xtask
//! speak the same language:
//!
//! - [`GeneratedFile`]: a file `cargo xtask gen` writes (through the xtask's
//!   `generate::write`, the one writer);
//! - [`Finding`]: one problem a lint or check found, as `cargo xtask check`
//!   prints it.

mod finding;
mod generated_file;

pub use finding::Finding;
pub use generated_file::GeneratedFile;
