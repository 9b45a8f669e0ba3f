//! History: revisions of the stack kept in the Swarm (see `store`), and
//! `cargo xtask status`.

pub mod clock;
pub mod revision;
mod status;
pub mod store;

pub use status::run as run_status;

use revision::Outcome;
use store::Stored;

/// The revision the stack runs: the newest that succeeded.
pub fn current(revisions: &[Stored]) -> Option<&Stored> {
    revisions.iter().rev().find(|s| s.outcome == Outcome::Succeeded)
}
