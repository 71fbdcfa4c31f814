//! Metrics: what one invocation counted, written as CloudWatch Embedded Metric Format (EMF)
//! documents.
//!
//! A finding goes out as a message, and then it is gone. Metrics keep what messages cannot:
//! whether out-of-memory kills went up after Tuesday's deploy, and whether the troubleshooter
//! itself is healthy. An EMF document is one JSON line the function writes to stdout;
//! CloudWatch Logs turns it into metrics as it stores the function's own log, so measuring
//! costs no API call, no IAM permission and no time in the invocation.
//! ([specification](https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html);
//! `tests/fixtures/emf/` holds its JSON schema, which the tests check every document against.)
//!
//! # The documents of one invocation
//!
//! In EMF a dimension's value is a member of the document's root, so a document holds one
//! value per dimension: the counts of two categories cannot share a document. An invocation
//! therefore writes
//!
//! * one document, always: the invocation's health under the `Troubleshooter` dimension,
//!   and, when it found anything, the counts of its first (category, severity) pair under
//!   `Troubleshooter`, `Category`, `Severity`;
//! * one more document for each further (category, severity) pair;
//! * with per-function metrics on (`METRICS_PER_FUNCTION=true`), one document for each
//!   analysed function that had findings, under `Troubleshooter`, `Function`;
//! * whatever that switch says, one document for each function with unhandled errors, under
//!   `Troubleshooter`, `Function` (`UnhandledErrors`, `NewErrorTypes`, and, with the switch on,
//!   its `Findings` and `Occurrences` too): an alarm on a new error type in one function is
//!   what they are for, and only functions that had one cost a metric.
//!
//! An awslogs batch (one log stream) with one kind of problem, or none, writes one line. No
//! document comes near EMF's limits (100 metrics a directive, 30 dimensions a set): the largest
//! has 9 metrics and sets of 3 dimensions.
//!
//! | metric | unit | dimensions | what it counts in the invocation |
//! | --- | --- | --- | --- |
//! | `Findings` | Count | Troubleshooter, Category, Severity (and Troubleshooter, Function) | findings (a repeat that flood control held back, or a muted one, counts; a redelivered finding does not) |
//! | `Occurrences` | Count | as `Findings` | the log events behind those findings (their `count`) |
//! | `Batches` | Count | Troubleshooter | CloudWatch Logs batches received (an awslogs document or a Kinesis record), decodable or not |
//! | `LogEvents` | Count | Troubleshooter | log events in the decoded batches |
//! | `DecodeErrors` | Count | Troubleshooter | batches that could not be decoded (corrupt, too large, unknown) |
//! | `PublishFailures` | Count | Troubleshooter | findings that could not be delivered, as the publisher answered (those the deadline stopped included) |
//! | `SuppressedFindings` | Count | Troubleshooter | findings held back by flood control |
//! | `MutedFindings` | Count | Troubleshooter | findings dropped by a mute |
//! | `BatchMilliseconds` | Milliseconds | Troubleshooter | the invocation's time (decode, analysis, publishing) per batch received |
//! | `UnhandledErrors` | Count | Troubleshooter, Function | occurrences of unhandled and logged errors no rule explains (their `count`), held-back repeats included |
//! | `NewErrorTypes` | Count | Troubleshooter, Function | unhandled errors published as a new error type (a fingerprint not seen within `NEW_ERROR_WINDOW`) |
//!
//! `Troubleshooter` is the function's own name, so two stacks in one account keep their
//! metrics apart. Each distinct combination of dimension values is a custom metric that
//! CloudWatch bills; per-function metrics are off by default for that reason (README, "Metrics
//! and dashboard", has the figures).
//!
//! No document carries log text: its only strings are the troubleshooter's name, a category,
//! a severity and, per function, a function name (from the log group's name), never a summary,
//! an evidence line or a request id.
//!
//! Written by hand rather than with an EMF crate (`metrics_cloudwatch_embedded` is a backend
//! for the `metrics` facade): a global recorder and its flushing would replace a pure
//! function of the invocation's counts, for one document shape.
//!
//! `tests/template/test_template.py` reads [`NAMESPACE`], [`METRIC_NAMES`] and
//! [`DIMENSION_NAMES`] from this file, to check that the dashboard and the alarms in
//! `template.yaml` name what the function emits: keep them `pub const` string literals.

use std::collections::BTreeMap;
use std::io::Write;

use serde_json::{Map, Value, json};

use crate::model::{Category, Finding, Severity};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "LambdaTroubleshooter";

/// Dimension: the troubleshooter function's own name (every metric has it).
pub const TROUBLESHOOTER: &str = "Troubleshooter";
/// Dimension: a finding's category (`out_of_memory`, …).
pub const CATEGORY: &str = "Category";
/// Dimension: a finding's severity (`critical`, …).
pub const SEVERITY: &str = "Severity";
/// Dimension: the analysed function, only with `METRICS_PER_FUNCTION=true`.
pub const FUNCTION: &str = "Function";
/// Every dimension name the function emits.
pub const DIMENSION_NAMES: [&str; 4] = [TROUBLESHOOTER, CATEGORY, SEVERITY, FUNCTION];

/// Metric: findings.
pub const FINDINGS: &str = "Findings";
/// Metric: log events behind the findings (the findings' `count`).
pub const OCCURRENCES: &str = "Occurrences";
/// Metric: batches received.
pub const BATCHES: &str = "Batches";
/// Metric: log events read.
pub const LOG_EVENTS: &str = "LogEvents";
/// Metric: batches that could not be decoded.
pub const DECODE_ERRORS: &str = "DecodeErrors";
/// Metric: findings that could not be delivered.
pub const PUBLISH_FAILURES: &str = "PublishFailures";
/// Metric: findings held back by flood control.
pub const SUPPRESSED_FINDINGS: &str = "SuppressedFindings";
/// Metric: findings dropped by a mute.
pub const MUTED_FINDINGS: &str = "MutedFindings";
/// Metric: milliseconds per batch.
pub const BATCH_MILLISECONDS: &str = "BatchMilliseconds";
/// Metric: occurrences of unhandled errors, per function.
pub const UNHANDLED_ERRORS: &str = "UnhandledErrors";
/// Metric: unhandled errors published as a new error type, per function.
pub const NEW_ERROR_TYPES: &str = "NewErrorTypes";
/// Every metric name the function emits.
pub const METRIC_NAMES: [&str; 11] = [
    FINDINGS,
    OCCURRENCES,
    BATCHES,
    LOG_EVENTS,
    DECODE_ERRORS,
    PUBLISH_FAILURES,
    SUPPRESSED_FINDINGS,
    MUTED_FINDINGS,
    BATCH_MILLISECONDS,
    UNHANDLED_ERRORS,
    NEW_ERROR_TYPES,
];

/// CloudWatch accepts dimension values of 1 to 1,024 ASCII characters
/// ([Dimension](https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_Dimension.html)).
const MAX_DIMENSION_VALUE_CHARS: usize = 1024;

/// Findings and the occurrences behind them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Findings.
    pub findings: u64,
    /// Log events that showed them (the sum of their `count`).
    pub occurrences: u64,
}

impl Tally {
    fn add(&mut self, occurrences: u64) {
        self.findings += 1;
        self.occurrences += occurrences;
    }
}

/// Findings counted by kind and by function: what the metrics and `troubleshooter scan`'s
/// summary report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingCounts {
    /// By (category, severity).
    pub by_kind: BTreeMap<(Category, Severity), Tally>,
    /// By analysed function (the log group's name for other log groups).
    pub by_function: BTreeMap<String, Tally>,
    /// Unhandled errors by function: their occurrences, and how many were new error types.
    pub unhandled_by_function: BTreeMap<String, UnhandledTally>,
}

/// A function's unhandled errors in one invocation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnhandledTally {
    /// Their occurrences (the findings' `count`).
    pub occurrences: u64,
    /// Findings published as a new error type.
    pub new_error_types: u64,
}

impl FindingCounts {
    /// Counts one finding.
    pub fn add(&mut self, finding: &Finding) {
        self.by_kind.entry((finding.category, finding.severity)).or_default().add(finding.count);
        self.by_function.entry(finding.function.clone()).or_default().add(finding.count);
        if finding.category == Category::UnhandledError {
            let tally = self.unhandled_by_function.entry(finding.function.clone()).or_default();
            tally.occurrences += finding.count;
            tally.new_error_types += u64::from(finding.new_error_type == Some(true));
        }
    }

    /// All findings.
    pub fn total(&self) -> Tally {
        self.by_kind.values().fold(Tally::default(), |total, tally| Tally {
            findings: total.findings + tally.findings,
            occurrences: total.occurrences + tally.occurrences,
        })
    }
}

/// What one invocation counted, whatever its outcome (see the module docs for each metric).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InvocationMetrics {
    /// Batches received.
    pub batches: u64,
    /// Log events in the decoded batches.
    pub log_events: u64,
    /// Batches that could not be decoded.
    pub decode_errors: u64,
    /// Findings that could not be delivered.
    pub publish_failures: u64,
    /// Findings held back by flood control.
    pub suppressed: u64,
    /// Findings dropped by a mute.
    pub muted: u64,
    /// The findings, by kind and by function.
    pub findings: FindingCounts,
    /// How long the invocation took, in milliseconds.
    pub duration_ms: f64,
}

impl InvocationMetrics {
    /// Milliseconds per batch received: the batch's time for an awslogs invocation, the mean
    /// for a Kinesis one (the whole time when nothing was received).
    pub fn batch_milliseconds(&self) -> f64 {
        // Batches are few (at most 10,000 Kinesis records), so the conversion is exact.
        let per_batch = self.duration_ms / self.batches.max(1) as f64;
        (per_batch * 1000.0).round() / 1000.0
    }
}

/// How the documents are labelled, from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsOptions {
    /// The `Troubleshooter` dimension's value: the function's own name.
    pub troubleshooter: String,
    /// Whether to write the per-function documents (`METRICS_PER_FUNCTION`).
    pub per_function: bool,
}

#[derive(Clone, Copy)]
enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF document being built: root members and the directives that name them.
struct Document {
    root: Map<String, Value>,
    directives: Vec<Value>,
}

impl Document {
    fn new(troubleshooter: &str) -> Self {
        let mut root = Map::new();
        root.insert(TROUBLESHOOTER.to_owned(), Value::String(troubleshooter.to_owned()));
        Self { root, directives: Vec::new() }
    }

    fn dimension(&mut self, name: &str, value: &str) {
        self.root.insert(name.to_owned(), Value::String(dimension_value(value)));
    }

    /// A directive: these metrics (whose values become root members) under this dimension set.
    fn measure(&mut self, dimensions: &[&str], metrics: &[(&str, Unit, Value)]) {
        let definitions: Vec<Value> =
            metrics.iter().map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()})).collect();
        for (name, _, value) in metrics {
            self.root.insert((*name).to_owned(), value.clone());
        }
        self.directives.push(json!({"Namespace": NAMESPACE, "Dimensions": [dimensions], "Metrics": definitions}));
    }

    fn tally(&mut self, dimensions: &[&str], tally: Tally) {
        self.measure(
            dimensions,
            &[(FINDINGS, Unit::Count, json!(tally.findings)), (OCCURRENCES, Unit::Count, json!(tally.occurrences))],
        );
    }

    fn into_value(mut self, timestamp_ms: i64) -> Value {
        self.root.insert("_aws".to_owned(), json!({"Timestamp": timestamp_ms, "CloudWatchMetrics": self.directives}));
        Value::Object(self.root)
    }
}

/// The EMF documents of one invocation, stamped `timestamp_ms` (milliseconds since the epoch):
/// the health document first (see the module docs for the layout).
pub fn documents(metrics: &InvocationMetrics, options: &MetricsOptions, timestamp_ms: i64) -> Vec<Value> {
    let troubleshooter = dimension_value(&options.troubleshooter);
    let kind_document = |document: &mut Document, (category, severity): (Category, Severity), tally: Tally| {
        document.dimension(CATEGORY, category.as_str());
        document.dimension(SEVERITY, severity.as_str());
        document.tally(&[TROUBLESHOOTER, CATEGORY, SEVERITY], tally);
    };

    let mut health = Document::new(&troubleshooter);
    health.measure(
        &[TROUBLESHOOTER],
        &[
            (BATCHES, Unit::Count, json!(metrics.batches)),
            (LOG_EVENTS, Unit::Count, json!(metrics.log_events)),
            (DECODE_ERRORS, Unit::Count, json!(metrics.decode_errors)),
            (PUBLISH_FAILURES, Unit::Count, json!(metrics.publish_failures)),
            (SUPPRESSED_FINDINGS, Unit::Count, json!(metrics.suppressed)),
            (MUTED_FINDINGS, Unit::Count, json!(metrics.muted)),
            (BATCH_MILLISECONDS, Unit::Milliseconds, json!(metrics.batch_milliseconds())),
        ],
    );
    let mut kinds = metrics.findings.by_kind.iter();
    if let Some((&kind, &tally)) = kinds.next() {
        kind_document(&mut health, kind, tally);
    }
    let mut out = vec![health.into_value(timestamp_ms)];
    for (&kind, &tally) in kinds {
        let mut document = Document::new(&troubleshooter);
        kind_document(&mut document, kind, tally);
        out.push(document.into_value(timestamp_ms));
    }
    let counts = &metrics.findings;
    let functions =
        counts.by_function.keys().filter(|f| options.per_function || counts.unhandled_by_function.contains_key(*f));
    for function in functions {
        let mut document = Document::new(&troubleshooter);
        document.dimension(FUNCTION, function);
        if options.per_function {
            document.tally(&[TROUBLESHOOTER, FUNCTION], counts.by_function[function]);
        }
        if let Some(unhandled) = counts.unhandled_by_function.get(function) {
            document.measure(
                &[TROUBLESHOOTER, FUNCTION],
                &[
                    (UNHANDLED_ERRORS, Unit::Count, json!(unhandled.occurrences)),
                    (NEW_ERROR_TYPES, Unit::Count, json!(unhandled.new_error_types)),
                ],
            );
        }
        out.push(document.into_value(timestamp_ms));
    }
    out
}

/// Writes documents as JSON lines, in one write so no other output lands between them.
///
/// # Errors
///
/// The writer's error.
pub fn write_documents(documents: &[Value], out: &mut impl Write) -> std::io::Result<()> {
    let mut text = String::new();
    for document in documents {
        text.push_str(&document.to_string());
        text.push('\n');
    }
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// `text` as a dimension value CloudWatch accepts: ASCII (anything else becomes `?`), at most
/// 1,024 characters, and `unknown` for a blank one. Log group names are ASCII already.
fn dimension_value(text: &str) -> String {
    let value: String = text
        .chars()
        .map(|c| if c.is_ascii() && !c.is_ascii_control() { c } else { '?' })
        .take(MAX_DIMENSION_VALUE_CHARS)
        .collect();
    if value.trim().is_empty() { "unknown".to_owned() } else { value }
}

#[cfg(test)]
mod tests;
