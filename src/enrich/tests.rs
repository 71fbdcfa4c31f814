//! Tests of enrichment: what a finding gains from the lines fetched around its failure, and
//! what it says when the fetch fails or the budget is spent.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;
use crate::model::{Severity, details};
use crate::rules::Catalog;
use serde_json::json;

const ID: &str = "8a3f1e2d-4b5c-4d6e-8f70-0a1b2c3d4e5f";
const STREAM: &str = "2026/11/29/[$LATEST]0a1b2c3d";

fn event(n: i64, message: &str) -> LogEvent {
    LogEvent {
        id: format!("{n:020}").into(),
        timestamp: 1_795_000_000_000 + n * 100,
        message: format!("{message}\n").into(),
    }
}

/// The whole story of one request in CloudWatch Logs: it loads a file, runs out of memory at
/// its limit, and Lambda reports a timeout.
fn stream() -> Vec<LogEvent> {
    vec![
        event(1, "END RequestId: 11111111-2222-4333-8444-555555555555"),
        event(2, &format!("START RequestId: {ID} Version: $LATEST")),
        event(3, &format!("2026-11-29T08:00:00.300Z\t{ID}\tINFO\tdownloading export.csv (2.1 GB)")),
        event(4, &format!("2026-11-29T08:00:00.400Z\t{ID}\tINFO\tparsing rows; password=hunter2")),
        event(5, &format!("2026-11-29T08:00:00.500Z {ID} Task timed out after 3.00 seconds")),
        event(6, &format!("END RequestId: {ID}")),
        event(
            7,
            &format!(
                "REPORT RequestId: {ID}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\tInit Duration: 812.11 ms\tStatus: timeout"
            ),
        ),
    ]
}

/// The batch that reached the function: the timeout line alone.
fn batch() -> LogBatch {
    LogBatch {
        owner: "123456789012".into(),
        log_group: "/aws/lambda/exporter".into(),
        log_stream: STREAM.into(),
        message_type: "DATA_MESSAGE".into(),
        policy_level: None,
        subscription_filters: vec![],
        log_events: vec![stream()[4].clone()],
    }
}

/// What a fetch asked for: log group, stream, start, end, limit.
type Asked = (String, String, i64, i64, usize);

/// A CloudWatch Logs that serves `stream()` (or fails), counting calls.
#[derive(Debug)]
struct Fake {
    fail: Option<String>,
    calls: AtomicUsize,
    asked: Mutex<Vec<Asked>>,
}

impl Fake {
    fn new(fail: Option<&str>) -> Self {
        Self { fail: fail.map(str::to_owned), calls: AtomicUsize::new(0), asked: Mutex::default() }
    }
}

impl ContextSource for Fake {
    fn fetch<'a>(
        &'a self,
        group: &'a str,
        stream: &'a str,
        start: i64,
        end: i64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<LogEvent>, FetchError>> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.asked.lock().unwrap().push((group.into(), stream.into(), start, end, limit));
        let result = match &self.fail {
            Some(why) => Err(FetchError(why.clone())),
            None => Ok(super::tests::stream()
                .into_iter()
                .filter(|e| e.timestamp >= start && e.timestamp <= end)
                .take(limit)
                .collect()),
        };
        Box::pin(async move { result })
    }
}

fn analyzer() -> Analyzer {
    Analyzer::new(Catalog::load(&[], &[]).unwrap(), Severity::Low)
}

async fn enrich(source: &Fake, findings: Option<Vec<Finding>>) -> Vec<Finding> {
    let analyzer = analyzer();
    let findings = findings.unwrap_or_else(|| analyzer.analyze(&batch(), "us-east-1"));
    Enricher { analyzer: &analyzer, source, region: "us-east-1" }.enrich(&batch(), findings).await
}

#[tokio::test]
async fn a_timeout_whose_report_is_elsewhere_becomes_the_out_of_memory_kill_it_was() {
    let before = analyzer().analyze(&batch(), "us-east-1");
    assert_eq!(before.iter().map(|f| f.rule_id.as_str()).collect::<Vec<_>>(), ["lambda-timeout"]);
    let source = Fake::new(None);
    let after = enrich(&source, None).await;
    assert_eq!(after.len(), 1);
    let finding = &after[0];
    assert_eq!(finding.rule_id, "lambda-out-of-memory", "{finding:?}");
    assert_eq!(finding.details["max_memory_used_mb"], 128);
    assert_eq!(finding.request_ids, [ID]);
    // What it was doing: the application's lines before the failure, redacted.
    let members = finding.details.members();
    let context = members[details::CONTEXT].as_array().unwrap();
    let lines: Vec<&str> = context.iter().map(|l| l["message"].as_str().unwrap()).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].ends_with("downloading export.csv (2.1 GB)"), "{lines:?}");
    assert!(!lines[1].contains("hunter2"), "{lines:?}");
    assert!(members[details::ENRICHMENT].as_str().unwrap().starts_with("7 line(s) of log stream"));
    // One call, on that stream, around the failure.
    let asked = source.asked.lock().unwrap().clone();
    let at = stream()[4].timestamp;
    assert_eq!(asked, [("/aws/lambda/exporter".into(), STREAM.into(), at - BEFORE_MS, at + AFTER_MS, MAX_LINES)]);
}

#[tokio::test]
async fn a_failed_fetch_leaves_the_finding_as_it_was_and_says_why() {
    let source = Fake::new(Some("AccessDeniedException: not authorized to perform logs:FilterLogEvents"));
    let after = enrich(&source, None).await;
    assert_eq!(after[0].rule_id, "lambda-timeout");
    assert_eq!(
        after[0].details.members()[details::ENRICHMENT],
        "context not fetched from CloudWatch Logs: AccessDeniedException: not authorized to perform logs:FilterLogEvents"
    );
    assert!(!after[0].details.members().contains_key(details::CONTEXT));
}

#[tokio::test]
async fn the_budget_caps_the_calls_per_invocation() {
    let source = Fake::new(Some("down"));
    let one = analyzer().analyze(&batch(), "us-east-1");
    let four = vec![one[0].clone(), one[0].clone(), one[0].clone(), one[0].clone()];
    let after = enrich(&source, Some(four)).await;
    assert_eq!(source.calls.load(Ordering::SeqCst), MAX_CALLS);
    assert!(
        after[3].details.members()[details::ENRICHMENT].as_str().unwrap().contains("budget"),
        "{:?}",
        after[3].details
    );
}

#[tokio::test]
async fn a_finding_with_its_whole_request_in_the_batch_is_not_fetched() {
    let whole = LogBatch { log_events: stream(), ..batch() };
    let analyzer = analyzer();
    let findings = analyzer.analyze(&whole, "us-east-1");
    let source = Fake::new(None);
    let after =
        Enricher { analyzer: &analyzer, source: &source, region: "us-east-1" }.enrich(&whole, findings.clone()).await;
    assert_eq!(source.calls.load(Ordering::SeqCst), 0);
    assert_eq!(after, findings);
}

#[test]
fn a_request_s_lines_stop_at_its_neighbours() {
    let events = stream();
    // From its START (not the previous request's END) to its REPORT.
    assert_eq!(request_lines(&PlatformParser::new(), &events, 4, ID), [1, 2, 3, 4, 5, 6]);
    // Without its START, back to the previous request's END (not included).
    let without_start: Vec<LogEvent> =
        events.iter().enumerate().filter(|(i, _)| *i != 1).map(|(_, e)| e.clone()).collect();
    assert_eq!(request_lines(&PlatformParser::new(), &without_start, 3, ID), [1, 2, 3, 4, 5]);
    // Forward, up to the next request's START when its REPORT never came.
    let mut cut = events[..5].to_vec();
    cut.push(event(8, "START RequestId: 99999999-2222-4333-8444-555555555555 Version: $LATEST"));
    assert_eq!(request_lines(&PlatformParser::new(), &cut, 4, ID), [1, 2, 3, 4]);
}

#[tokio::test]
async fn a_timeout_learns_from_its_report_that_it_was_a_cold_start() {
    // The same request, its REPORT well below the memory limit, with an Init Duration.
    let mut events = stream();
    events[6] = event(
        7,
        &format!(
            "REPORT RequestId: {ID}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 1024 MB\tMax Memory Used: 188 MB\tInit Duration: 2411.70 ms\tStatus: timeout"
        ),
    );
    let whole = LogBatch { log_events: events.clone(), ..batch() };
    let expected = analyzer().analyze(&whole, "us-east-1");
    assert_eq!(expected[0].details["cold_start"], true, "{:?}", expected[0]);

    #[derive(Debug)]
    struct Serves(Vec<LogEvent>);
    impl ContextSource for Serves {
        fn fetch<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: i64,
            _: i64,
            _: usize,
        ) -> BoxFuture<'a, Result<Vec<LogEvent>, FetchError>> {
            let events = self.0.clone();
            Box::pin(async move { Ok(events) })
        }
    }
    let analyzer = analyzer();
    let source = Serves(events);
    let findings = analyzer.analyze(&batch(), "us-east-1");
    assert_eq!(findings[0].details.get("cold_start"), Some(&json!(false)), "the batch alone cannot tell");
    let after = Enricher { analyzer: &analyzer, source: &source, region: "us-east-1" }.enrich(&batch(), findings).await;
    assert_eq!(after[0].rule_id, expected[0].rule_id);
    assert_eq!(after[0].details["cold_start"], true, "{:?}", after[0].details);
    assert_eq!(after[0].details["init_duration_ms"], expected[0].details["init_duration_ms"]);
}
