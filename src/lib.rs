//! lambda-troubleshooter: turns CloudWatch Logs batches into annotated findings.
//!
//! The pipeline is `ingest → analyze → aggregate → redact → render → publish`. Everything up
//! to rendering is pure and synchronous; only [`publish`] touches the outside world.

pub mod access;
pub mod analyze;
pub mod config;
pub mod finding;
pub mod handler;
pub mod ingest;
pub mod input;
pub mod platform;
pub mod publish;
pub mod redact;
pub mod render;
pub mod rules;
