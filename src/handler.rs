//! The Lambda handler's logic: decode an invocation, skip what must not be analysed, analyse,
//! publish, and answer, independent of the runtime so it is tested with plain values.
//!
//! # What Lambda retries, and what is kept
//!
//! CloudWatch Logs invokes the function **asynchronously**. Returning `Err` makes Lambda retry
//! the event (twice by default) and then hand it to the on-failure destination, so nothing is
//! lost:
//!
//! * a corrupt, truncated, oversized or unrecognised awslogs batch is an `Err`
//!   ([`HandlerError::Ingest`]): a retry will not heal it, but the on-failure destination keeps
//!   it for inspection instead of it vanishing;
//! * a failed publish is an `Err` ([`HandlerError::Publish`]): a retry republishes the batch,
//!   and because finding ids are stable, subscribers can drop the duplicates.
//!
//! From a **Kinesis** event source mapping, a record that cannot be decoded is returned as a
//! batch item failure (ReportBatchItemFailures), so the mapping retries, bisects and finally
//! sends just that record to its on-failure destination, while the good records checkpoint.
//! A control message, an empty batch and the function's own log group are successes with no
//! findings.

use lambda_runtime::Diagnostic;
use serde::Serialize;
use serde_json::{Value, json};

use crate::analyze::Analyzer;
use crate::config::{Config, ConfigError};
use crate::finding::Finding;
use crate::ingest::{self, IngestError, Invocation, LogBatch};
use crate::publish::{PublishError, Publisher};
use crate::rules::Catalog;

/// Why an invocation failed; see the module docs for what Lambda does with each.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event could not be decoded.
    #[error("{0}")]
    Ingest(#[from] IngestError),
    /// Findings could not be delivered.
    #[error("{0}")]
    Publish(#[from] PublishError),
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Self {
        let error_type = match &error {
            HandlerError::Ingest(IngestError::TooLarge { .. }) => "Troubleshooter.BatchTooLarge",
            HandlerError::Ingest(IngestError::UnknownEvent(_)) => "Troubleshooter.UnknownEvent",
            HandlerError::Ingest(_) => "Troubleshooter.CorruptBatch",
            HandlerError::Publish(_) => "Troubleshooter.PublishFailed",
        };
        Diagnostic { error_type: error_type.to_owned(), error_message: error.to_string() }
    }
}

/// The function's state, built once at init: configuration and the compiled catalog.
#[derive(Debug, Clone)]
pub struct Troubleshooter {
    config: Config,
    analyzer: Analyzer,
}

/// What one batch gave.
#[derive(Debug, Clone, Serialize)]
pub struct BatchOutcome {
    /// The log group.
    pub log_group: String,
    /// How many events the batch had.
    pub events: usize,
    /// Why the batch was not analysed, if it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<&'static str>,
    /// The findings.
    #[serde(skip)]
    pub findings: Vec<Finding>,
}

impl Troubleshooter {
    /// Compiles the catalog (built-in rules, EXTRA_RULES_FILE, minus DISABLED_RULES).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the rules file, the rule id or the variable at fault.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        let catalog = Catalog::load(&config.extra_rule_files()?, &config.disabled_rules)?;
        let analyzer = Analyzer::new(catalog, config.min_severity);
        Ok(Self { config, analyzer })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The analyzer.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// Analyses one decoded batch, unless it must be skipped.
    pub fn analyze_batch(&self, batch: &LogBatch) -> BatchOutcome {
        let skipped = if batch.is_control_message() {
            Some("control message")
        } else if self.config.own_log_group.as_deref() == Some(batch.log_group.as_str()) {
            Some("the function's own log group")
        } else {
            None
        };
        let findings = if skipped.is_some() { Vec::new() } else { self.analyzer.analyze(batch, &self.config.region) };
        BatchOutcome { log_group: batch.log_group.clone(), events: batch.log_events.len(), skipped, findings }
    }

    /// Handles one invocation payload and returns the function's response.
    ///
    /// # Errors
    ///
    /// [`HandlerError::Ingest`] for an awslogs batch that cannot be decoded;
    /// [`HandlerError::Publish`] when findings could not be delivered.
    pub async fn handle(&self, payload: Value, publisher: &impl Publisher) -> Result<Value, HandlerError> {
        match ingest::decode_value(payload, self.config.max_decompressed_bytes)? {
            Invocation::AwsLogs(batch) => {
                let outcome = self.analyze_batch(&batch);
                self.log_outcome(&outcome);
                publisher.publish(&outcome.findings).await?;
                Ok(response(&[outcome]))
            }
            Invocation::Kinesis(records) => {
                let mut outcomes = Vec::new();
                let mut failures = Vec::new();
                for record in records {
                    match record.batch {
                        Ok(batch) => outcomes.push(self.analyze_batch(&batch)),
                        Err(error) => {
                            tracing::warn!(sequence_number = %record.sequence_number, %error, "Kinesis record cannot be decoded; reporting it as a batch item failure");
                            failures.push(json!({"itemIdentifier": record.sequence_number}));
                        }
                    }
                }
                let findings: Vec<Finding> = outcomes.iter().flat_map(|o| o.findings.iter().cloned()).collect();
                for outcome in &outcomes {
                    self.log_outcome(outcome);
                }
                publisher.publish(&findings).await?;
                Ok(json!({"batchItemFailures": failures}))
            }
        }
    }

    fn log_outcome(&self, outcome: &BatchOutcome) {
        tracing::info!(
            log_group = %outcome.log_group,
            events = outcome.events,
            findings = outcome.findings.len(),
            skipped = outcome.skipped.unwrap_or(""),
            "batch analysed"
        );
    }
}

/// The awslogs response: what was found, for people running `cargo lambda invoke`.
fn response(outcomes: &[BatchOutcome]) -> Value {
    let findings: Vec<Value> = outcomes
        .iter()
        .flat_map(|o| &o.findings)
        .map(|f| json!({"id": f.id, "rule_id": f.rule_id, "severity": f.severity, "count": f.count, "summary": f.summary}))
        .collect();
    json!({"batches": outcomes, "findings": findings})
}
