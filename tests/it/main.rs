//! The integration tests, in one binary (one link of the AWS SDK instead of one per file).
//!
//! Each module is a suite: `cargo test --test it <module>` runs one, e.g.
//! `cargo test --test it rule_corpus`. `support` starts moto server and `cargo lambda watch`
//! on free ports and builds batches; the suites that need them skip nothing: they fail when a
//! tool is missing (`make tools` installs them).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod blind;
mod cli;
mod check;
mod custom_rules;
mod deadline;
mod docs;
mod dynamodb_moto;
mod error_corpus;
mod events;
mod failures;
mod grouping;
mod init;
mod install;
mod lambda_local;
mod layers;
mod limits;
mod logs_moto;
mod metrics;
mod redaction;
mod render_fixtures;
mod robustness;
mod rule_corpus;
mod rules_doc;
mod sns_moto;
mod soak;
mod support;
mod unhandled;
