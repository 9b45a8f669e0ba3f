//! Benchmarks. Figures are reported as ratios against a baseline measured in
//! the same run, never asserted in tests.

pub mod check;
pub mod deploy;
pub mod nodes;
