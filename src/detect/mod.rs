//! Detection: from a decoded batch to findings, pure and synchronous.
//!
//! The steps, bottom first: each module uses only those above it in this list
//! (`tests/it/layers.rs` reads their `super::` and `crate::detect::` paths and fails on one
//! that points down). [`normalize`] recovers the text a message hides (JSON fields, escapes);
//! [`platform`] reads Lambda's own records (REPORT, INIT_REPORT, `Task timed out`,
//! `platform.*`); [`access`] reads the IAM denial grammar; [`errors`] reads an error in its own
//! words; `invocation` decides what one invocation's records mean; `observation` holds the
//! types the steps hand over; then the steps themselves, `scan`, `unhandled`, `correlate` and
//! `aggregate`; and the [`Analyzer`], which runs them in that order.

pub mod normalize;
pub mod platform;
pub mod access;
pub mod errors;
mod invocation;
mod observation;
mod scan;
mod unhandled;
mod correlate;
mod aggregate;
mod analyzer;

pub use aggregate::{MAX_EVIDENCE, MAX_EVIDENCE_BYTES, MAX_IDS, MAX_KEYS_PER_RULE, suggest_memory};
pub use analyzer::Analyzer;
pub use correlate::PROPAGATION_WINDOW_SECONDS;
pub use invocation::{KILLED_WELL_BELOW_RATIO, MEMORY_PRESSURE_RATIO};
