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
//!   and because finding ids are stable, subscribers can drop the duplicates;
//! * a publish that would run past the function's timeout stops [`DEADLINE_MARGIN`] before it
//!   ([`HandlerError::Deadline`]): [`Troubleshooter::handle`] is given the time left
//!   ([`Deadline`]) and passes the time to stop by down to the publisher, which stops there and
//!   answers which findings did not go out; the event is retried like a failed publish.
//!
//! Findings go through flood control and mutes ([`crate::deliver::suppress`]) before publishing:
//! per instance in memory, or shared by every instance through the SUPPRESS_TABLE DynamoDB
//! table. A finding's claim is released when its publish fails (or the deadline cuts it short),
//! as the publisher's answer names it, so the retried batch sends it again; a finding that did
//! go out is marked sent, so the retry drops it; repeats are counted only once the publish
//! succeeded. A table that cannot be reached fails open: the findings are sent and the reason
//! logged.
//!
//! From a **Kinesis** event source mapping, a record that cannot be decoded is returned as a
//! batch item failure (ReportBatchItemFailures), so the mapping retries, bisects and finally
//! sends just that record to its on-failure destination, while the good records checkpoint.
//! A control message, an empty batch and the function's own log group are successes with no
//! findings.
//!
//! # What an invocation measures
//!
//! [`Troubleshooter::handle`] counts, whatever the outcome (a corrupt batch, a failed publish,
//! the deadline), what [`crate::report::metrics`] describes: batches, log events, decode
//! errors, findings by kind, repeats held back, findings not delivered (as the publisher
//! answered), time.
//! [`Troubleshooter::write_metrics`] writes them as Embedded Metric Format lines (the Lambda
//! writes them to stdout, where CloudWatch Logs turns them into metrics). Each finding is also
//! logged, at INFO, as one `finding` line with its rule, category, severity, function, count,
//! redacted summary and delivery, for the dashboard's Logs Insights widgets.

mod deadline;
mod delivery;
mod error;
#[cfg(test)]
mod tests;

pub use deadline::Deadline;
pub use error::HandlerError;

use deadline::Cut;
use delivery::response;

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};
use serde_json::Value;

use crate::analysis::Analysis;
use crate::config::{Config, ConfigError};
use crate::deliver::publish::Publisher;
use crate::deliver::suppress::{MemoryStore, Suppression, SuppressionStore, Windows};
use crate::enrich::ContextSource;
use crate::ingest::{self, Invocation};
use crate::model::finding::Finding;
use crate::report::metrics::{self, InvocationMetrics, MetricsOptions};

/// The `Troubleshooter` dimension of the metrics outside Lambda (which sets
/// AWS_LAMBDA_FUNCTION_NAME).
pub const LOCAL_FUNCTION_NAME: &str = "lambda-troubleshooter";

/// An invocation's answer, and what it measured on the way (measured whatever the answer).
#[derive(Debug)]
pub struct Measured {
    /// The function's response, or why the invocation failed.
    pub result: Result<Value, HandlerError>,
    /// What the invocation counted.
    pub metrics: InvocationMetrics,
}

/// How long before the function's timeout an invocation gives up, so that its error (and the
/// log line saying why) is written before Lambda stops the process.
pub const DEADLINE_MARGIN: Duration = Duration::from_millis(1_500);

/// The function's state, built once at init: the [`Analysis`] (configuration, the compiled
/// catalog, the context source) and the suppression (shared by clones).
#[derive(Debug, Clone)]
pub struct Troubleshooter {
    analysis: Analysis,
    suppression: Suppression,
}

impl Troubleshooter {
    /// Compiles the catalog (built-in rules, EXTRA_RULES_FILE, minus DISABLED_RULES).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the rules file, the rule id or the variable at fault.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        let windows = Windows::from_seconds(config.suppress_seconds, &config.suppress_category_seconds);
        let suppression = Suppression::new(Arc::new(MemoryStore::new()), windows);
        Ok(Self { analysis: Analysis::new(config)?, suppression })
    }

    /// Fetches the lines high and critical findings lack from `source` (CloudWatch Logs), within
    /// [`crate::enrich`]'s budget.
    #[must_use]
    pub fn with_context_source(mut self, source: Arc<dyn ContextSource>) -> Self {
        self.analysis = self.analysis.with_context_source(source);
        self
    }

    /// Keeps suppression state and reads mutes in `store` (the shared DynamoDB table) instead of
    /// this instance's memory.
    #[must_use]
    pub fn with_store(mut self, store: Arc<dyn SuppressionStore>) -> Self {
        self.suppression = Suppression::new(store, self.suppression.windows().clone());
        self
    }

    /// The analysis: configuration, catalog, context source.
    pub fn analysis(&self) -> &Analysis {
        &self.analysis
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        self.analysis.config()
    }

    /// Handles one invocation payload: decodes, analyses, enriches and publishes through
    /// `publisher`, and returns the function's response with what the invocation counted,
    /// whatever its outcome (what [`Self::write_metrics`] writes).
    ///
    /// With a deadline (`deadline.remaining`), it finishes or fails cleanly [`DEADLINE_MARGIN`]
    /// before the function's timeout: the publisher is told to stop by then and answers which
    /// findings did not go out; their claims are released, so the retried event publishes the
    /// same finding ids again. A publisher that does not stop is abandoned soon after, all it
    /// was given counted as not delivered; and should anything else hang (the suppression
    /// store, enrichment), the whole invocation is stopped before the timeout.
    ///
    /// # Errors
    ///
    /// In [`Measured::result`]: [`HandlerError::Ingest`] for an awslogs batch that cannot be
    /// decoded; [`HandlerError::Publish`] when findings could not be delivered;
    /// [`HandlerError::Deadline`] when the time ran out.
    pub async fn handle(&self, payload: Value, publisher: &dyn Publisher, deadline: Deadline) -> Measured {
        let started = Instant::now();
        let cut = deadline.remaining.map(|remaining| Cut::new(started, remaining));
        let mut metrics = InvocationMetrics::default();
        let run = self.run(payload, publisher, deadline.now, cut.as_ref(), &mut metrics);
        let result = match &cut {
            None => run.await,
            Some(cut) => tokio::time::timeout_at(cut.net.into(), run)
                .await
                .unwrap_or(Err(HandlerError::Deadline { margin_ms: cut.margin_ms })),
        };
        metrics.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        Measured { result, metrics }
    }

    /// What an invocation whose payload could not be read as JSON answers
    /// ([`ingest::Payload::Unreadable`]): `Troubleshooter.CorruptBatch`, counted as a batch that
    /// could not be decoded.
    pub fn unreadable(&self, reason: String) -> Measured {
        let metrics = InvocationMetrics { batches: 1, decode_errors: 1, ..InvocationMetrics::default() };
        let error = ingest::IngestError::Unreadable(reason);
        Measured { result: Err(HandlerError::Ingest(error)), metrics }
    }

    /// Writes what an invocation counted as Embedded Metric Format documents, one per line
    /// (the Lambda gives it stdout), labelled with the function's name
    /// (AWS_LAMBDA_FUNCTION_NAME) and, with METRICS_PER_FUNCTION, per analysed function.
    ///
    /// # Errors
    ///
    /// The writer's error.
    pub fn write_metrics(&self, metrics: &InvocationMetrics, out: &mut impl Write) -> std::io::Result<()> {
        let options = MetricsOptions {
            troubleshooter: self.config().own_function_name.clone().unwrap_or_else(|| LOCAL_FUNCTION_NAME.to_owned()),
            per_function: self.config().metrics_per_function,
        };
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX));
        metrics::write_documents(&metrics::documents(metrics, &options, now_ms), out)
    }

    /// [`Self::handle`] at `now`, counting into `metrics` as it goes, so what was counted before
    /// a failure (or before the safety net dropped this future) is kept.
    async fn run(
        &self,
        payload: Value,
        publisher: &dyn Publisher,
        now: Duration,
        cut: Option<&Cut>,
        metrics: &mut InvocationMetrics,
    ) -> Result<Value, HandlerError> {
        let decoded = ingest::decode_value(payload, self.config().max_decompressed_bytes);
        if decoded.is_err() {
            metrics.batches += 1;
            metrics.decode_errors += 1;
        }
        match decoded? {
            Invocation::AwsLogs(batch) => {
                let mut outcome = self.analysis.analyze_batch(&batch);
                self.analysis.enrich(&batch, &mut outcome).await;
                metrics.batches += 1;
                metrics.log_events += outcome.events as u64;
                self.log_outcome(&outcome);
                let plan = self.deliver(outcome.findings.clone(), publisher, now, cut, metrics).await?;
                Ok(response(&[outcome], &plan))
            }
            Invocation::Kinesis(records) => {
                let mut outcomes = Vec::new();
                let mut failures = Vec::new();
                metrics.batches += records.len() as u64;
                // One record at a time: decode, analyse, drop; only findings are kept.
                for record in records {
                    match record.decode(self.config().max_decompressed_bytes) {
                        Ok(batch) => {
                            let mut outcome = self.analysis.analyze_batch(&batch);
                            self.analysis.not_enriched_from_kinesis(&batch, &mut outcome);
                            outcomes.push(outcome);
                        }
                        Err(error) => {
                            metrics.decode_errors += 1;
                            tracing::warn!(sequence_number = %record.sequence_number, %error, "Kinesis record cannot be decoded; reporting it as a batch item failure");
                            let mut failure = KinesisBatchItemFailure::default();
                            failure.item_identifier = Some(record.sequence_number);
                            failures.push(failure);
                        }
                    }
                }
                let findings: Vec<Finding> = outcomes.iter().flat_map(|o| o.findings.iter().cloned()).collect();
                for outcome in &outcomes {
                    metrics.log_events += outcome.events as u64;
                    self.log_outcome(outcome);
                }
                self.deliver(findings, publisher, now, cut, metrics).await?;
                let mut answer = KinesisEventResponse::default();
                answer.batch_item_failures = failures;
                // A struct of strings always serialises; the fallback only satisfies the type.
                Ok(serde_json::to_value(answer).unwrap_or_default())
            }
        }
    }
}
