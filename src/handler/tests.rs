//! The handler with a recording publisher: a failed publish retried whole, repeats counted
//! after it, and flood control switched off; and with publishers the deadline stops (or that
//! do not stop): what did not go out is counted and released, what did is not sent again.

use std::sync::Mutex;

use super::*;
use crate::BoxFuture;
use crate::deliver::publish::{FailedFinding, PublishError};
use lambda_runtime::Diagnostic;
use serde_json::json;

/// Records what it publishes; fails every publish while `fail` is set.
#[derive(Default)]
struct Recording {
    fail: Mutex<bool>,
    published: Mutex<Vec<Finding>>,
}

impl Publisher for Recording {
    fn publish<'a>(&'a self, findings: &'a [Finding], _: Option<Instant>) -> BoxFuture<'a, Result<(), PublishError>> {
        let answer = if *self.fail.lock().unwrap() {
            let failed = findings
                .iter()
                .map(|f| FailedFinding { id: f.id.clone(), code: "InternalError".into(), message: "down".into() })
                .collect();
            Err(PublishError::Undelivered { topic: "t".into(), total: findings.len(), failed, source: None })
        } else {
            self.published.lock().unwrap().extend_from_slice(findings);
            Ok(())
        };
        Box::pin(async move { answer })
    }
}

fn event(name: &str) -> Value {
    let path = format!("{}/events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn deliveries(response: &Value) -> Vec<(String, String)> {
    response["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["rule_id"].as_str().unwrap().to_owned(), f["delivery"].as_str().unwrap().to_owned()))
        .collect()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// At `now` seconds since the epoch, with no deadline.
fn at(now: u64) -> Deadline {
    Deadline { now: secs(now), remaining: None }
}

#[tokio::test]
async fn a_failed_publish_is_retried_whole_and_repeats_are_counted_after_it() {
    let troubleshooter = Troubleshooter::new(Config::default()).unwrap();
    let publisher = Recording::default();

    *publisher.fail.lock().unwrap() = true;
    let error = troubleshooter.handle(event("oom-report"), &publisher, at(0)).await.result.unwrap_err();
    assert_eq!(Diagnostic::from(error).error_type, "Troubleshooter.PublishFailed");

    // Lambda's retry: the failed attempt suppressed nothing.
    *publisher.fail.lock().unwrap() = false;
    let retried = troubleshooter.handle(event("oom-report"), &publisher, at(1)).await.result.unwrap();
    assert_eq!(deliveries(&retried), [("lambda-out-of-memory".to_owned(), "published".to_owned())]);

    // The same function's next out-of-memory finding within the window is held back.
    let repeat = troubleshooter.handle(event("oom-json"), &publisher, at(10)).await.result.unwrap();
    assert_eq!(deliveries(&repeat), [("lambda-out-of-memory".to_owned(), "suppressed".to_owned())]);

    // After the window (six hours for out of memory), the next one goes out and counts it.
    let later = troubleshooter.handle(event("mixed-batch"), &publisher, at(6 * 3_600 + 1)).await.result.unwrap();
    assert!(deliveries(&later).iter().all(|(_, d)| d == "published"), "{later}");
    let published = publisher.published.lock().unwrap();
    assert_eq!(published.len(), 4);
    let oom = published.iter().rfind(|f| f.rule_id == "lambda-out-of-memory").unwrap();
    assert_eq!(oom.details.members()[crate::model::details::SUPPRESSED_FINDINGS], json!(1));
    assert!(!published[0].details.members().contains_key(crate::model::details::SUPPRESSED_FINDINGS));
}

#[tokio::test]
async fn suppress_seconds_zero_publishes_every_repeat() {
    let config = Config { suppress_seconds: 0, ..Config::default() };
    let troubleshooter = Troubleshooter::new(config).unwrap();
    let publisher = Recording::default();
    for second in 0..3 {
        troubleshooter.handle(event("oom-report"), &publisher, at(second)).await.result.unwrap();
    }
    assert_eq!(publisher.published.lock().unwrap().len(), 3);
}

/// Delivers the first `goes_out` findings, then waits for the time to stop by it was given and
/// answers, as the SNS adapter does, naming the rest; with no time given, it never answers.
#[derive(Default)]
struct Stalling {
    goes_out: usize,
    published: Mutex<Vec<Finding>>,
    stop_by: Mutex<Option<Instant>>,
}

impl Publisher for Stalling {
    fn publish<'a>(
        &'a self,
        findings: &'a [Finding],
        stop_by: Option<Instant>,
    ) -> BoxFuture<'a, Result<(), PublishError>> {
        *self.stop_by.lock().unwrap() = stop_by;
        let (out, rest) = findings.split_at(self.goes_out.min(findings.len()));
        self.published.lock().unwrap().extend_from_slice(out);
        Box::pin(async move {
            let Some(stop_by) = stop_by else { return std::future::pending().await };
            tokio::time::sleep_until(stop_by.into()).await;
            let undelivered = rest
                .iter()
                .map(|f| FailedFinding { id: f.id.clone(), code: "Deadline".into(), message: "stalled".into() })
                .collect();
            Err(PublishError::Deadline { total: findings.len(), undelivered })
        })
    }
}

/// 200 ms before the publisher must stop.
fn tight(now: u64) -> Deadline {
    Deadline { now: secs(now), remaining: Some(DEADLINE_MARGIN + Duration::from_millis(200)) }
}

#[tokio::test]
async fn the_publisher_stops_at_the_deadline_and_what_did_not_go_out_is_counted_and_released() {
    let troubleshooter = Troubleshooter::new(Config::default()).unwrap();
    let stalling = Stalling { goes_out: 1, ..Stalling::default() };
    let started = Instant::now();
    let Measured { result, metrics } = troubleshooter.handle(event("mixed-batch"), &stalling, tight(0)).await;
    let took = started.elapsed();

    assert!(matches!(result, Err(HandlerError::Deadline { margin_ms: 1_500 })), "{result:?}");
    let stop_by = stalling.stop_by.lock().unwrap().expect("the publisher was given the time to stop by");
    // DEADLINE_MARGIN before the function's timeout, from when the invocation started.
    let stop_after = stop_by - started;
    assert!(stop_after >= Duration::from_millis(200) && stop_after < Duration::from_millis(250), "{stop_after:?}");
    assert!(took >= Duration::from_millis(200) && took < Duration::from_millis(200) + DEADLINE_MARGIN / 2, "{took:?}");
    // Counted from the publisher's answer: two of the three did not go out.
    assert_eq!((metrics.findings.total().findings, metrics.publish_failures), (3, 2));
    let delivered = stalling.published.lock().unwrap()[0].id.clone();

    // Lambda's retry: the two are claimed again and published; the one that went out is not.
    let publisher = Recording::default();
    let retried = troubleshooter.handle(event("mixed-batch"), &publisher, at(1)).await.result.unwrap();
    let republished: Vec<String> = publisher.published.lock().unwrap().iter().map(|f| f.id.clone()).collect();
    assert_eq!(republished.len(), 2, "{retried}");
    assert!(!republished.contains(&delivered), "{retried}");
    for finding in retried["findings"].as_array().unwrap() {
        let expected = if finding["id"] == delivered.as_str() { "duplicate" } else { "published" };
        assert_eq!(finding["delivery"], expected, "{retried}");
    }
}

#[tokio::test]
async fn a_publisher_that_does_not_stop_is_abandoned_and_all_it_was_given_released() {
    let troubleshooter = Troubleshooter::new(Config::default()).unwrap();
    let hung = Stalling::default();
    let Measured { result, metrics } =
        troubleshooter.handle(event("mixed-batch"), &HungPublisher(&hung), tight(0)).await;
    assert!(matches!(result, Err(HandlerError::Deadline { .. })), "{result:?}");
    assert_eq!(metrics.publish_failures, 3);
    let publisher = Recording::default();
    let retried = troubleshooter.handle(event("mixed-batch"), &publisher, at(1)).await.result.unwrap();
    assert!(deliveries(&retried).iter().all(|(_, d)| d == "published"), "{retried}");
    assert_eq!(publisher.published.lock().unwrap().len(), 3);
}

/// A publisher that ignores the time it is given: [`Stalling`] told nothing.
struct HungPublisher<'s>(&'s Stalling);

impl Publisher for HungPublisher<'_> {
    fn publish<'a>(&'a self, findings: &'a [Finding], _: Option<Instant>) -> BoxFuture<'a, Result<(), PublishError>> {
        self.0.publish(findings, None)
    }
}
