//! Detection: from a decoded batch to findings, pure and synchronous.
//!
//! [`normalize`] recovers the text a message hides (JSON fields, escapes); [`platform`] reads
//! Lambda's own records (REPORT, INIT_REPORT, `Task timed out`, `platform.*`); [`access`]
//! reads the IAM denial grammar; the [`Analyzer`] scans each message once against the rule
//! catalog (`scan`), decides per invocation what happened (`correlate`) and builds one
//! finding per rule and key (`aggregate`).

pub mod access;
mod aggregate;
mod analyzer;
mod correlate;
pub mod errors;
mod invocation;
pub mod normalize;
pub mod platform;
mod scan;
mod unhandled;

pub use aggregate::{MAX_KEYS_PER_RULE, suggest_memory};
pub use analyzer::Analyzer;
pub use analyzer::{MAX_EVIDENCE, MAX_EVIDENCE_BYTES, MAX_IDS, PROPAGATION_WINDOW_SECONDS};
pub use invocation::{KILLED_WELL_BELOW_RATIO, MEMORY_PRESSURE_RATIO};
