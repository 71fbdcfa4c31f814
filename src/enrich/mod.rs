//! Enrichment: the lines a finding lacks, fetched from CloudWatch Logs.
//!
//! CloudWatch Logs cuts subscription batches by time, so one request's lines often arrive in
//! two or three batches: the `Task timed out` in one, its REPORT (cold start, memory) in the
//! next, and the application lines that say what the function was doing in an earlier one. A
//! finding then misses the cold start, calls an out-of-memory kill a timeout, and shows no
//! cause. For each high or critical finding about a failed invocation whose REPORT or earlier
//! lines are not in the batch, one `FilterLogEvents` call on its log stream, around the failure,
//! fetches them ([`ContextSource`]). The request's lines (from its START, or the previous
//! request's end, to its REPORT) are analysed again: an out-of-memory kill reported as a timeout
//! becomes out of memory, and a cold start is known. The last application lines before the
//! failure go in `details.context` (redacted, shown as "Before it failed" in every rendering).
//!
//! **Budget**, per invocation: at most [`MAX_CALLS`] calls, [`MAX_LINES`] lines and
//! [`TIME_BUDGET`] in all. When the budget is spent or a call fails, the finding goes out as it
//! was, and `details.enrichment` says why.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::BoxFuture;
use crate::detect::Analyzer;
use crate::detect::platform::{PlatformParser, PlatformRecord};
use crate::ingest::{EventText, LogBatch, LogEvent};
use crate::model::finding::{Finding, excerpt, rfc3339_millis};
use crate::model::{Evidence, Severity};
use crate::redact::Redactor;

/// The most `FilterLogEvents` calls one invocation makes.
pub const MAX_CALLS: usize = 3;
/// The most lines one invocation fetches, all calls together.
pub const MAX_LINES: usize = 200;
/// The time one invocation may spend fetching, all calls together.
pub const TIME_BUDGET: Duration = Duration::from_secs(2);
/// How far before the failure a fetch reaches.
pub const BEFORE_MS: i64 = 30_000;
/// How far after it (the REPORT follows within moments).
pub const AFTER_MS: i64 = 10_000;
/// The most lines "Before it failed" shows, each cut to [`CONTEXT_LINE_BYTES`].
pub const MAX_CONTEXT_LINES: usize = 10;
/// See [`MAX_CONTEXT_LINES`].
pub const CONTEXT_LINE_BYTES: usize = 300;

/// A fetch that did not give lines: why, in words for `details.enrichment`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

/// Where missing lines come from: CloudWatch Logs ([`crate::aws::logs::LogsReader`]), or a fake
/// in the core's tests.
pub trait ContextSource: Send + Sync + std::fmt::Debug {
    /// At most `limit` events of `log_stream` in `log_group` from `start_ms` to `end_ms`, oldest
    /// first.
    fn fetch<'a>(
        &'a self,
        log_group: &'a str,
        log_stream: &'a str,
        start_ms: i64,
        end_ms: i64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<LogEvent>, FetchError>>;
}

/// Where a platform record puts a request's boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Boundary {
    Start,
    /// END, or `platform.runtimeDone` in the JSON format.
    End,
    Report,
}

/// The boundary a message marks and its request id, read by the analyser's own
/// [`PlatformParser`] (text and JSON formats alike).
fn boundary(parser: &PlatformParser, message: &str) -> Option<(Boundary, String)> {
    match parser.parse_start(message)? {
        PlatformRecord::Start { request_id } => Some((Boundary::Start, request_id)),
        PlatformRecord::End { request_id } => Some((Boundary::End, request_id)),
        PlatformRecord::RuntimeDone { request_id, .. } => Some((Boundary::End, request_id?)),
        PlatformRecord::Report(report) => Some((Boundary::Report, report.request_id?)),
        _ => None,
    }
}

/// The lines of request `request_id` around the failure at `failure` in `events` (one log
/// stream, in time order): back to its START, or to the end of the request before it; forward
/// to its REPORT, or to the next request's START.
pub fn request_lines(parser: &PlatformParser, events: &[LogEvent], failure: usize, request_id: &str) -> Vec<usize> {
    let mut before = Vec::new();
    for index in (0..failure).rev() {
        match boundary(parser, &events[index].message) {
            Some((Boundary::Start, id)) if id == request_id => {
                before.push(index);
                break;
            }
            Some((_, id)) if id != request_id => break,
            _ => before.push(index),
        }
    }
    before.reverse();
    let mut lines = before;
    lines.push(failure);
    for (index, event) in events.iter().enumerate().skip(failure + 1) {
        match boundary(parser, &event.message) {
            // END comes before REPORT in the text format, after it in the JSON format.
            Some((Boundary::Report, id)) if id == request_id => {
                lines.push(index);
                break;
            }
            Some((_, id)) if id != request_id => break,
            _ => lines.push(index),
        }
    }
    lines
}

/// What the invocation may still spend.
#[derive(Debug)]
struct Budget {
    calls: usize,
    lines: usize,
    until: Instant,
}

/// Enriches findings from one batch; see the module docs.
pub struct Enricher<'a> {
    /// The analyser the batch went through.
    pub analyzer: &'a Analyzer,
    /// Where lines come from.
    pub source: &'a dyn ContextSource,
    /// The region, for links.
    pub region: &'a str,
}

impl Enricher<'_> {
    /// Fetches what the batch's high and critical failed-invocation findings lack, within the
    /// budget, and returns the findings, enriched where it could.
    pub async fn enrich(&self, batch: &LogBatch, findings: Vec<Finding>) -> Vec<Finding> {
        let mut budget = Budget { calls: MAX_CALLS, lines: MAX_LINES, until: Instant::now() + TIME_BUDGET };
        let mut out = Vec::with_capacity(findings.len());
        for finding in findings {
            match lacking(self.analyzer.platform(), batch, &finding) {
                Some((failure, request_id)) => {
                    out.push(self.enrich_one(batch, finding, failure, &request_id, &mut budget).await)
                }
                None => out.push(finding),
            }
        }
        out
    }

    async fn enrich_one(
        &self,
        batch: &LogBatch,
        mut finding: Finding,
        failure: usize,
        request_id: &str,
        budget: &mut Budget,
    ) -> Finding {
        let left = budget.until.saturating_duration_since(Instant::now());
        if budget.calls == 0 || budget.lines == 0 || left.is_zero() {
            note(
                &mut finding,
                "context not fetched: this invocation's budget (3 calls, 200 lines, 2 s) was spent on other findings"
                    .to_owned(),
            );
            return finding;
        }
        budget.calls -= 1;
        let at = batch.log_events[failure].timestamp;
        let fetch = self.source.fetch(
            &batch.log_group,
            &batch.log_stream,
            at.saturating_sub(BEFORE_MS),
            at.saturating_add(AFTER_MS),
            budget.lines,
        );
        let fetched = match tokio::time::timeout(left, fetch).await {
            Ok(Ok(events)) => events,
            Ok(Err(error)) => {
                note(&mut finding, format!("context not fetched from CloudWatch Logs: {error}"));
                return finding;
            }
            Err(_) => {
                note(
                    &mut finding,
                    format!("context not fetched: CloudWatch Logs did not answer within {} ms", left.as_millis()),
                );
                return finding;
            }
        };
        budget.lines = budget.lines.saturating_sub(fetched.len());
        let fetched_count = fetched.len();
        let events = merged(batch, fetched);
        let failure_id = &batch.log_events[failure].id;
        let Some(failure) = events.iter().position(|e| &e.id == failure_id && e.timestamp == at) else {
            note(&mut finding, "context fetched, but the failure line was not among it".to_owned());
            return finding;
        };
        let lines = request_lines(self.analyzer.platform(), &events, failure, request_id);
        let request = LogBatch { log_events: lines.iter().map(|&i| events[i].clone()).collect(), ..batch.clone() };
        let context = context_lines(self.analyzer, &request, failure_in(&lines, failure));
        let mut enriched = self.reread(&request, finding, request_id);
        if !context.is_empty() {
            enriched.details.context = context;
        }
        let told = enriched.details.enrichment.take();
        let fetched_note = format!(
            "{fetched_count} line(s) of log stream {} fetched from CloudWatch Logs around the failure; request {request_id} read from them",
            batch.log_stream
        );
        enriched.details.enrichment = Some(told.map_or(fetched_note.clone(), |told| format!("{fetched_note}; {told}")));
        enriched
    }

    /// `finding` as the request's own lines tell it: analysed again, the finding of the same
    /// rule (or of the failure that ended the invocation) about this request replaces a finding
    /// of one invocation, or lends its details to one of several.
    fn reread(&self, request: &LogBatch, mut finding: Finding, request_id: &str) -> Finding {
        let again = self.analyzer.analyze(request, self.region);
        let better = again
            .into_iter()
            .filter(|g| g.request_ids.iter().any(|id| id == request_id))
            .filter(|g| {
                g.rule_id == finding.rule_id
                    || (g.category.ends_the_invocation() && finding.category.ends_the_invocation())
            })
            .max_by_key(|g| (g.severity, g.rule_id == finding.rule_id));
        match better {
            // One invocation: the request's own lines tell its story best.
            Some(better) if finding.requests == Some(1) => better,
            Some(better) => {
                for (name, value) in &better.details.found {
                    finding.details.entry(name.clone()).or_insert_with(|| value.clone());
                }
                if better.rule_id != finding.rule_id {
                    note(&mut finding, format!("request {request_id}: {}", better.summary));
                }
                finding
            }
            None => finding,
        }
    }
}

/// The batch's events and the fetched ones, in time order, each once.
fn merged(batch: &LogBatch, fetched: Vec<LogEvent>) -> Vec<LogEvent> {
    let mut events: BTreeMap<(i64, EventText), LogEvent> = BTreeMap::new();
    for event in batch.log_events.iter().cloned().chain(fetched) {
        let key = (event.timestamp, if event.id.is_empty() { event.message.clone() } else { event.id.clone() });
        events.entry(key).or_insert(event);
    }
    events.into_values().collect()
}

/// The failure's position among the request's lines.
fn failure_in(lines: &[usize], failure: usize) -> usize {
    lines.iter().position(|&i| i == failure).unwrap_or_default()
}

/// The last application lines before the failure: not platform records, redacted and cut.
fn context_lines(analyzer: &Analyzer, request: &LogBatch, failure: usize) -> Vec<Evidence> {
    let before: Vec<&LogEvent> = request.log_events[..failure]
        .iter()
        .filter(|e| analyzer.platform().parse_start(&e.message).is_none() && !e.message.trim().is_empty())
        .collect();
    before
        .iter()
        .skip(before.len().saturating_sub(MAX_CONTEXT_LINES))
        .map(|e| Evidence {
            timestamp: rfc3339_millis(e.timestamp),
            message: excerpt(&Redactor.redact(e.message.trim_end()), CONTEXT_LINE_BYTES),
        })
        .collect()
}

fn note(finding: &mut Finding, text: String) {
    finding.details.enrichment = Some(text);
}

/// When `finding` is worth a fetch, the index of its failure line in the batch and its
/// request id: a high or critical failure that ended an invocation, whose REPORT or earlier
/// lines of the same request are not in the batch.
fn lacking(parser: &PlatformParser, batch: &LogBatch, finding: &Finding) -> Option<(usize, String)> {
    if finding.severity < Severity::High || !finding.category.ends_the_invocation() {
        return None;
    }
    let request_id = finding.request_ids.first()?.clone();
    let failure = batch.log_events.iter().position(|e| finding.event_ids.first().is_some_and(|id| *id == e.id))?;
    let kinds: Vec<Boundary> = request_lines(parser, &batch.log_events, failure, &request_id)
        .into_iter()
        .filter_map(|i| boundary(parser, &batch.log_events[i].message).map(|(kind, _)| kind))
        .collect();
    (!kinds.contains(&Boundary::Report) || !kinds.contains(&Boundary::Start)).then_some((failure, request_id))
}

/// For findings of batches that cannot be enriched (Kinesis: records may come from other
/// accounts, whose logs this function cannot read), says so on those that would have been.
pub fn not_enriched(parser: &PlatformParser, batch: &LogBatch, findings: &mut [Finding], why: &str) {
    for finding in findings.iter_mut() {
        if lacking(parser, batch, finding).is_some() {
            note(finding, format!("context not fetched: {why}"));
        }
    }
}

#[cfg(test)]
mod tests;
