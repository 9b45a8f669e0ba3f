//! Exit codes of `deploy`, `rollback` and `status`: one per outcome, so a
//! script (or CI) can tell them apart. Listed in `--help`, in the README,
//! and each tested (`xtask/tests/e2e.rs`, `xtask/tests/cli.rs`).

/// Refused, interrupted or failed before changing anything (preflight
/// problems are listed all at once).
pub const EXIT_REFUSED: u8 = 1;
/// The rollout failed and every service was rolled back to its previous spec.
pub const EXIT_ROLLED_BACK: u8 = 2;
/// The rollout failed and the rollback failed too (the next run retries it).
pub const EXIT_ROLLBACK_FAILED: u8 = 3;
/// Another deploy holds the stack's lock (its holder is named).
pub const EXIT_LOCKED: u8 = 4;
/// This run lost the lock to another process mid-way and stopped writing;
/// that process's record of the revision stands.
pub const EXIT_LOCK_LOST: u8 = 5;
/// Every service converged on the new revision but its outcome could not be
/// recorded; the next deploy, status or rollback checks and records it.
pub const EXIT_UNRECORDED: u8 = 6;
/// The command line was wrong (clap's own usage errors, `EX_USAGE`).
pub const EXIT_USAGE: u8 = 64;
