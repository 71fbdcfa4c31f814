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
//! * a publish that would run past the function's timeout is cut [`DEADLINE_MARGIN`] before
//!   it ([`HandlerError::Deadline`], through [`Troubleshooter::handle_within`]), and retried
//!   like a failed publish.
//!
//! Findings go through flood control and mutes ([`crate::deliver::suppress`]) before publishing:
//! per instance in memory, or shared by every instance through the SUPPRESS_TABLE DynamoDB
//! table. A finding's claim is released when its publish fails (or the deadline cuts it short),
//! so the retried batch sends the same findings; repeats are counted only once the publish
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
//! [`Troubleshooter::handle_measured`] counts, whatever the outcome (a corrupt batch, a failed
//! publish, the deadline), what [`crate::report::metrics`] describes: batches, log events,
//! decode errors, findings by kind, repeats held back, findings not delivered, time.
//! [`Troubleshooter::write_metrics`] writes them as Embedded Metric Format lines (the Lambda
//! writes them to stdout, where CloudWatch Logs turns them into metrics). Each finding is also
//! logged, at INFO, as one `finding` line with its rule, category, severity, function, count,
//! redacted summary and delivery, for the dashboard's Logs Insights widgets.

mod delivery;
mod error;
#[cfg(test)]
mod tests;

pub use error::HandlerError;

use delivery::response;

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::config::{Config, ConfigError};
use crate::deliver::publish::Publisher;
use aws_lambda_events::event::streams::{KinesisBatchItemFailure, KinesisEventResponse};

use crate::analysis::Analysis;
use crate::deliver::suppress::{Key, MemoryStore, Suppression, SuppressionStore, Windows};
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
    /// The claims of findings being published, released if the deadline cuts the publish short.
    in_flight: Arc<Mutex<Vec<(Key, String)>>>,
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
        Ok(Self { analysis: Analysis::new(config)?, suppression, in_flight: Arc::default() })
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

    /// Handles one invocation payload and returns the function's response.
    ///
    /// # Errors
    ///
    /// [`HandlerError::Ingest`] for an awslogs batch that cannot be decoded;
    /// [`HandlerError::Publish`] when findings could not be delivered.
    pub async fn handle(&self, payload: Value, publisher: &impl Publisher) -> Result<Value, HandlerError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        self.handle_at(payload, publisher, now).await
    }

    /// [`Self::handle`], finishing or failing cleanly [`DEADLINE_MARGIN`] before `remaining`
    /// (the time left until the function's timeout) runs out. Publishing (SNS retries
    /// included) is what can run long; a publish cut short commits nothing to flood control,
    /// and the retried event publishes the same finding ids again.
    ///
    /// # Errors
    ///
    /// As [`Self::handle`], and [`HandlerError::Deadline`] when the time runs out.
    pub async fn handle_within(
        &self,
        payload: Value,
        publisher: &impl Publisher,
        remaining: Duration,
    ) -> Result<Value, HandlerError> {
        self.handle_measured(payload, publisher, Some(remaining)).await.result
    }

    /// [`Self::handle_within`] (or [`Self::handle`] when `remaining` is `None`: no deadline is
    /// known), with what the invocation counted, whatever its outcome: what
    /// [`Self::write_metrics`] writes.
    pub async fn handle_measured(
        &self,
        payload: Value,
        publisher: &impl Publisher,
        remaining: Option<Duration>,
    ) -> Measured {
        let started = Instant::now();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let mut metrics = InvocationMetrics::default();
        let result = match remaining {
            None => self.handle_counting(payload, publisher, now, &mut metrics).await,
            Some(remaining) => {
                let budget = remaining.saturating_sub(DEADLINE_MARGIN);
                let margin_ms = u64::try_from(remaining.min(DEADLINE_MARGIN).as_millis()).unwrap_or(u64::MAX);
                match tokio::time::timeout(budget, self.handle_counting(payload, publisher, now, &mut metrics)).await {
                    Ok(result) => result,
                    Err(_) => {
                        // What was being published may or may not have gone out: release its
                        // claims, so the retried event sends it (subscribers drop a repeat by its
                        // finding id).
                        let claims =
                            std::mem::take(&mut *self.in_flight.lock().unwrap_or_else(PoisonError::into_inner));
                        let release = self.suppression.release_all(&claims);
                        let _ = tokio::time::timeout(remaining.min(DEADLINE_MARGIN) / 2, release).await;
                        Err(HandlerError::Deadline { margin_ms })
                    }
                }
            }
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

    /// [`Self::handle`] at a given time (a [`Duration`] since the Unix epoch), so flood control
    /// is tested without waiting.
    ///
    /// # Errors
    ///
    /// As [`Self::handle`].
    pub async fn handle_at(
        &self,
        payload: Value,
        publisher: &impl Publisher,
        now: Duration,
    ) -> Result<Value, HandlerError> {
        self.handle_counting(payload, publisher, now, &mut InvocationMetrics::default()).await
    }

    /// [`Self::handle_at`], counting into `metrics` as it goes, so what was counted before a
    /// failure (or before the deadline dropped this future) is kept.
    async fn handle_counting(
        &self,
        payload: Value,
        publisher: &impl Publisher,
        now: Duration,
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
                let plan = self.publish(outcome.findings.clone(), publisher, now, metrics).await?;
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
                self.publish(findings, publisher, now, metrics).await?;
                let mut answer = KinesisEventResponse::default();
                answer.batch_item_failures = failures;
                // A struct of strings always serialises; the fallback only satisfies the type.
                Ok(serde_json::to_value(answer).unwrap_or_default())
            }
        }
    }
}
