//! lambda-troubleshooter: turns CloudWatch Logs batches into annotated findings.
//!
//! The pipeline is `ingest → analyze → aggregate → redact → render → publish`. Everything up
//! to rendering is pure and synchronous; only [`publish`] touches the outside world.

pub mod access;
pub mod analyze;
pub mod finding;
pub mod ingest;
pub mod platform;
pub mod redact;
pub mod rules;
