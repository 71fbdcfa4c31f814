//! The handler with a recording publisher: a failed publish retried whole, repeats counted
//! after it, and flood control switched off.

use std::sync::Mutex;

use super::*;
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
    async fn publish(&self, findings: &[Finding]) -> Result<(), PublishError> {
        if *self.fail.lock().unwrap() {
            let failed = findings
                .iter()
                .map(|f| FailedFinding { id: f.id.clone(), code: "InternalError".into(), message: "down".into() })
                .collect();
            return Err(PublishError::Undelivered { topic: "t".into(), total: findings.len(), failed, source: None });
        }
        self.published.lock().unwrap().extend_from_slice(findings);
        Ok(())
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

#[tokio::test]
async fn a_failed_publish_is_retried_whole_and_repeats_are_counted_after_it() {
    let troubleshooter = Troubleshooter::new(Config::default()).unwrap();
    let publisher = Recording::default();

    *publisher.fail.lock().unwrap() = true;
    let error = troubleshooter.handle_at(event("oom-report"), &publisher, secs(0)).await.unwrap_err();
    assert_eq!(Diagnostic::from(error).error_type, "Troubleshooter.PublishFailed");

    // Lambda's retry: the failed attempt suppressed nothing.
    *publisher.fail.lock().unwrap() = false;
    let retried = troubleshooter.handle_at(event("oom-report"), &publisher, secs(1)).await.unwrap();
    assert_eq!(deliveries(&retried), [("lambda-out-of-memory".to_owned(), "published".to_owned())]);

    // The same function's next out-of-memory finding within the window is held back.
    let repeat = troubleshooter.handle_at(event("oom-json"), &publisher, secs(10)).await.unwrap();
    assert_eq!(deliveries(&repeat), [("lambda-out-of-memory".to_owned(), "suppressed".to_owned())]);

    // After the window (six hours for out of memory), the next one goes out and counts it.
    let later = troubleshooter.handle_at(event("mixed-batch"), &publisher, secs(6 * 3_600 + 1)).await.unwrap();
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
    for at in 0..3 {
        troubleshooter.handle_at(event("oom-report"), &publisher, secs(at)).await.unwrap();
    }
    assert_eq!(publisher.published.lock().unwrap().len(), 3);
}
