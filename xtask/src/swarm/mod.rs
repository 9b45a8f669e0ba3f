//! The Swarm model, below every stage that talks to the engine (plan,
//! history, deploy): the engine client and its raw reads, what runs
//! (`world`), what should run (`desired`), the bundle → spec conversion,
//! the spec comparison, and the engine's timestamps.

pub mod compare;
pub mod convert;
pub mod desired;
pub mod engine;
pub mod image_tags;
mod raw;
pub mod retry;
pub mod timestamp;
pub mod world;
