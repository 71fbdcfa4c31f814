//! lambda-troubleshooter: turns CloudWatch Logs batches into annotated findings.
//!
//! The pipeline is `ingest → analyze → aggregate → enrich → suppress → redact → render →
//! publish → measure`. Analysis and rendering are pure and synchronous; the outside world is
//! reached only through small ports that speak the project's own types: [`enrich::ContextSource`]
//! (CloudWatch Logs), [`deliver::suppress::SuppressionStore`] (DynamoDB) and
//! [`deliver::publish::Publisher`] (SNS), whose adapters live in [`aws`].
//!
//! Rules are data. A catalog compiles once from TOML (the built-in `rules/*.toml`, plus any
//! file of your own) and then scans every message in one pass:
//!
//! ```
//! use lambda_troubleshooter::detect::Analyzer;
//! use lambda_troubleshooter::ingest::{LogBatch, LogEvent};
//! use lambda_troubleshooter::model::Severity;
//! use lambda_troubleshooter::rules::Catalog;
//!
//! let toml = r#"
//! [[rule]]
//! id = "orders-db-refused"
//! category = "database_connection"
//! severity = "high"
//! title = "Orders database refused the connection"
//! summary = "{function} could not connect to {host}:{port}"
//! cause = "The database is down, or its security group does not allow the function."
//! fix = ["Check the security group of {host} allows port {port} from the function."]
//! [rule.match]
//! anchors = ["ECONNREFUSED"]
//! regex = 'ECONNREFUSED (?P<host>[\d.]+):(?P<port>\d+)'
//! "#;
//! let catalog = Catalog::from_file_text("my-rules.toml", toml)?;
//! let analyzer = Analyzer::new(catalog, Severity::Low);
//!
//! let batch = LogBatch {
//!     owner: "123456789012".into(),
//!     log_group: "/aws/lambda/orders-api".into(),
//!     log_stream: "2024/03/04/[$LATEST]94fa".into(),
//!     message_type: "DATA_MESSAGE".into(),
//!     policy_level: None,
//!     subscription_filters: vec![],
//!     log_events: vec![LogEvent {
//!         id: "1".into(),
//!         timestamp: 1_709_572_958_033,
//!         message: "Error: connect ECONNREFUSED 10.0.3.7:5432\n".into(),
//!     }],
//! };
//! let findings = analyzer.analyze(&batch, "us-east-1");
//! assert_eq!(findings.len(), 1);
//! assert_eq!(findings[0].summary, "orders-api could not connect to 10.0.3.7:5432");
//! assert_eq!(findings[0].fix, ["Check the security group of 10.0.3.7 allows port 5432 from the function."]);
//! # Ok::<(), lambda_troubleshooter::rules::RuleError>(())
//! ```

// The stages, bottom first: each uses only those above it in this list (tests/it/layers.rs
// reads every `crate::` path in src/ and fails on one that points down the list).
pub mod model;
pub mod redact;
pub mod ingest;
pub mod rules;
pub mod detect;
pub mod report;
pub mod enrich;
pub mod deliver;
#[cfg(feature = "aws")]
pub mod aws;
// The composition root: configuration, the analysis every job shares (the command line uses it
// alone), and the Lambda handler that runs it and delivers.
pub mod config;
pub mod analysis;
pub mod handler;

/// What every port's method returns ([`enrich::ContextSource`], [`deliver::suppress::SuppressionStore`],
/// [`deliver::publish::Publisher`], and the SNS adapter's own seam): a boxed future, so each
/// port is one shape, usable behind `dyn` (the handler holds any store and context source as
/// `Arc<dyn …>`, any publisher as `&dyn Publisher`), and written without a macro crate.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;
