//! Tests of [`super`]: what subscribers receive, and the limits it keeps.

use std::sync::Mutex;

use super::*;
use crate::model::finding::Evidence;

fn finding(id: &str) -> Finding {
    let event = r#"{"schema":"lambda-troubleshooter/finding/v1","id":"ID","rule_id":"lambda-out-of-memory","category":"out_of_memory","severity":"critical","title":"Lambda function ran out of memory","summary":"orders-api used 256 of 256 MB and was stopped","cause":"The function needed more memory than configured.","fix":["Raise MemorySize to 512 MB"],"docs":[],"account":"123456789012","region":"us-east-1","log_group":"/aws/lambda/orders-api","log_stream":"s","function":"orders-api","count":1,"first_seen":"2024-03-04T17:22:38.033Z","last_seen":"2024-03-04T17:22:38.033Z","request_ids":[],"event_ids":[],"evidence":[],"details":{},"console_url":"https://example.invalid"}"#;
    let mut finding: Finding = serde_json::from_str(event).unwrap();
    finding.id = id.into();
    finding
}

#[test]
fn eleven_findings_make_two_requests() {
    let messages: Vec<Message> = (0..11).map(|n| Message::render(&finding(&format!("f{n}")), false).unwrap()).collect();
    let sizes: Vec<usize> = messages.iter().map(Message::size).collect();
    assert_eq!(chunks(&sizes), vec![0..10, 10..11]);
}

#[test]
fn requests_stay_within_256_kib() {
    // Five 100 KB messages: two per request, never three (300 KB).
    assert_eq!(chunks(&[100_000; 5]), vec![0..2, 2..4, 4..5]);
    assert_eq!(chunks(&[MAX_BATCH_BYTES, 1, MAX_BATCH_BYTES - 1]), vec![0..1, 1..3]);
    assert_eq!(chunks(&[]), Vec::<Range<usize>>::new());
}

#[test]
fn three_hundred_kib_of_evidence_is_trimmed_and_still_valid_json() {
    let mut big = finding("big");
    big.evidence = vec![
        Evidence {
            timestamp: "t1".into(),
            message: format!("java.lang.OutOfMemoryError \"{}\"", "é\\x".repeat(100 * 1024)),
        },
        Evidence { timestamp: "t2".into(), message: "second line".into() },
    ];
    let original_json = serde_json::to_string(&big).unwrap().len();
    assert!(original_json > 300 * 1024, "{original_json}");
    let message = Message::render(&big, false).unwrap();
    assert!(message.size() <= MAX_MESSAGE_BYTES, "{}", message.size());
    let body: serde_json::Value = serde_json::from_str(&message.body).unwrap();
    let default: Finding = serde_json::from_str(body["default"].as_str().unwrap()).unwrap();
    assert_eq!(default.id, "big");
    assert_eq!(default.details[TRIMMED_DETAIL], serde_json::Value::Bool(true));
    assert!(default.evidence[0].message.starts_with("java.lang.OutOfMemoryError"));
    assert!(default.evidence[0].message.ends_with('…'));
    assert_eq!(default.evidence[1].message, "second line");
    let chatbot: serde_json::Value = serde_json::from_str(body["https"].as_str().unwrap()).unwrap();
    assert_eq!(chatbot["version"], "1.0");
    assert!(body["email"].as_str().unwrap().contains("java.lang.OutOfMemoryError"));
    // Halving keeps as much evidence as fits: more than a quarter of the budget is used.
    assert!(message.size() > MAX_MESSAGE_BYTES / 4, "{}", message.size());
}

#[test]
fn a_small_finding_is_not_trimmed() {
    let message = Message::render(&finding("small"), false).unwrap();
    assert!(!message.body.contains(TRIMMED_DETAIL));
}

#[test]
fn fifo_messages_carry_group_and_deduplication_ids() {
    let message = Message::render(&finding("abc"), true).unwrap();
    assert_eq!(message.group_id.as_deref(), Some("/aws/lambda/orders-api"));
    assert_eq!(message.deduplication_id.as_deref(), Some("abc"));
    assert_eq!(Message::render(&finding("abc"), false).unwrap().group_id, None);
    let long = format!("/aws/lambda/{}", "x".repeat(500));
    let id = group_id(&long);
    assert_eq!(id.len(), 128);
    assert!(id.starts_with("/aws/lambda/xxx"));
    assert_ne!(id, group_id(&format!("{long}y")));
    assert_eq!(group_id("/custom/é group"), "/custom/__group");
    assert_eq!(group_id(&"é".repeat(200)).len(), 128);
    assert!(is_fifo("arn:aws:sns:us-east-1:123456789012:findings.fifo"));
    assert_eq!(topic_region("arn:aws:sns:eu-west-1:123456789012:findings"), Some("eu-west-1"));
}

/// Fails the entries of the given finding ids a number of times, then accepts them.
struct Flaky {
    fail: Vec<(&'static str, u32, bool)>,
    requests: Mutex<Vec<Vec<String>>>,
}

impl BatchSender for Flaky {
    fn send<'a>(&'a self, messages: &'a [&'a Message]) -> BoxFuture<'a, Result<Vec<EntryFailure>, aws_sdk_sns::Error>> {
        let attempt = {
            let mut requests = self.requests.lock().unwrap();
            requests.push(messages.iter().map(|m| m.finding_id.clone()).collect());
            requests.len() as u32
        };
        let failures = messages
            .iter()
            .enumerate()
            .filter_map(|(index, m)| {
                let (_, times, sender_fault) = self.fail.iter().find(|(id, _, _)| *id == m.finding_id)?;
                (attempt <= *times).then(|| EntryFailure {
                    index,
                    code: if *sender_fault { "InvalidParameter" } else { "InternalError" }.into(),
                    message: "boom".into(),
                    sender_fault: *sender_fault,
                })
            })
            .collect();
        Box::pin(async move { Ok(failures) })
    }
}

fn messages(ids: &[&str]) -> Vec<Message> {
    ids.iter().map(|id| Message::render(&finding(id), false).unwrap()).collect()
}

const QUICK: Retry = Retry { attempts: 3, first_backoff: Duration::ZERO };

#[tokio::test]
async fn failed_entries_are_retried_alone_until_they_succeed() {
    let sender = Flaky { fail: vec![("b", 2, false)], requests: Mutex::default() };
    deliver(&sender, "topic", &messages(&["a", "b", "c"]), Vec::new(), QUICK, None).await.unwrap();
    assert_eq!(*sender.requests.lock().unwrap(), vec![vec!["a", "b", "c"], vec!["b"], vec!["b"]]);
}

#[tokio::test]
async fn what_still_fails_is_named_in_the_error() {
    let sender = Flaky { fail: vec![("b", 9, false), ("c", 9, true)], requests: Mutex::default() };
    let error = deliver(&sender, "arn:topic", &messages(&["a", "b", "c"]), Vec::new(), QUICK, None).await.unwrap_err();
    let PublishError::Undelivered { topic, total, failed, .. } = &error else { panic!("{error:?}") };
    assert_eq!((topic.as_str(), *total), ("arn:topic", 3));
    let ids: Vec<&str> = failed.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["c", "b"]);
    // The sender's fault is not retried; the other is, up to the attempts.
    assert_eq!(*sender.requests.lock().unwrap(), vec![vec!["a", "b", "c"], vec!["b"], vec!["b"]]);
    let text = error.to_string();
    assert!(text.starts_with("2 of 3 findings were not delivered to arn:topic"), "{text}");
    assert!(text.contains("b (InternalError: boom)") && text.contains("c (InvalidParameter: boom)"), "{text}");
}

#[tokio::test]
async fn eleven_findings_are_delivered_in_two_requests() {
    let sender = Flaky { fail: vec![], requests: Mutex::default() };
    let ids: Vec<String> = (0..11).map(|n| format!("f{n}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    deliver(&sender, "topic", &messages(&ids), Vec::new(), QUICK, None).await.unwrap();
    let sizes: Vec<usize> = sender.requests.lock().unwrap().iter().map(Vec::len).collect();
    assert_eq!(sizes, [10, 1]);
}

#[tokio::test]
async fn retries_back_off() {
    let sender = Flaky { fail: vec![("a", 2, false)], requests: Mutex::default() };
    let started = std::time::Instant::now();
    let retry = Retry { attempts: 3, first_backoff: Duration::from_millis(40) };
    deliver(&sender, "topic", &messages(&["a"]), Vec::new(), retry, None).await.unwrap();
    // 40 ms, then 80 ms.
    assert!(started.elapsed() >= Duration::from_millis(120), "{:?}", started.elapsed());
}

/// Answers every request with a request-level error of `code` for the first `times` requests.
struct Throttling {
    code: &'static str,
    times: u32,
    requests: Mutex<u32>,
}

impl BatchSender for Throttling {
    fn send<'a>(&'a self, _: &'a [&'a Message]) -> BoxFuture<'a, Result<Vec<EntryFailure>, aws_sdk_sns::Error>> {
        let attempt = {
            let mut requests = self.requests.lock().unwrap();
            *requests += 1;
            *requests
        };
        let answer = if attempt > self.times {
            Ok(Vec::new())
        } else {
            let meta = aws_sdk_sns::error::ErrorMetadata::builder().code(self.code).message("Rate exceeded").build();
            Err(aws_sdk_sns::operation::publish_batch::PublishBatchError::generic(meta).into())
        };
        Box::pin(async move { answer })
    }
}

/// The throttling codes the SDK does not retry itself are retried within the attempts; any
/// other request error is not, and names its code.
#[tokio::test]
async fn a_throttled_request_is_retried_and_other_request_errors_are_not() {
    for code in ["Throttled", "KMSThrottling", "Throttling", "TooManyRequestsException"] {
        let sender = Throttling { code, times: 2, requests: Mutex::default() };
        deliver(&sender, "topic", &messages(&["a", "b"]), Vec::new(), QUICK, None).await.unwrap();
        assert_eq!(*sender.requests.lock().unwrap(), 3, "{code}");
    }
    let sender = Throttling { code: "AuthorizationError", times: 2, requests: Mutex::default() };
    let error = deliver(&sender, "topic", &messages(&["a"]), Vec::new(), QUICK, None).await.unwrap_err();
    assert_eq!(*sender.requests.lock().unwrap(), 1);
    assert!(error.to_string().contains("a (AuthorizationError: "), "{error}");
    // Throttled on every attempt: undelivered after the last, not retried forever.
    let sender = Throttling { code: "Throttled", times: 9, requests: Mutex::default() };
    let error = deliver(&sender, "topic", &messages(&["a"]), Vec::new(), QUICK, None).await.unwrap_err();
    assert_eq!(*sender.requests.lock().unwrap(), 3);
    assert!(error.to_string().contains("a (Throttled: "), "{error}");
}

/// Answers the first request and never the ones after it (an SNS that stops answering).
#[derive(Default)]
struct Hangs {
    requests: Mutex<Vec<Vec<String>>>,
}

impl BatchSender for Hangs {
    fn send<'a>(&'a self, messages: &'a [&'a Message]) -> BoxFuture<'a, Result<Vec<EntryFailure>, aws_sdk_sns::Error>> {
        let request = {
            let mut requests = self.requests.lock().unwrap();
            requests.push(messages.iter().map(|m| m.finding_id.clone()).collect());
            requests.len()
        };
        Box::pin(async move {
            if request > 1 {
                std::future::pending::<()>().await;
            }
            Ok(Vec::new())
        })
    }
}

fn undelivered(error: &PublishError) -> Vec<(&str, &str)> {
    let PublishError::Deadline { undelivered, .. } = error else { panic!("{error:?}") };
    undelivered.iter().map(|f| (f.id.as_str(), f.code.as_str())).collect()
}

#[tokio::test]
async fn the_deadline_stops_a_request_sns_does_not_answer_and_names_what_did_not_go_out() {
    let sender = Hangs::default();
    let ids: Vec<String> = (0..15).map(|n| format!("f{n:02}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    let started = std::time::Instant::now();
    let stop_by = started + Duration::from_millis(100);
    let error = deliver(&sender, "topic", &messages(&ids), Vec::new(), QUICK, Some(stop_by)).await.unwrap_err();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(100) && took < Duration::from_secs(1), "{took:?}");
    // The first request of ten went out; the second, of five, was cut.
    let cut: Vec<(&str, &str)> = ids[10..].iter().map(|id| (*id, "Deadline")).collect();
    assert_eq!(undelivered(&error), cut);
    assert!(error.to_string().starts_with("stopped at the deadline with 5 of 15 findings not delivered"), "{error}");
    assert_eq!(error.not_delivered(&ids.iter().map(|id| finding(id)).collect::<Vec<_>>()).len(), 5);
}

#[tokio::test]
async fn no_request_or_backoff_runs_past_the_deadline() {
    // A backoff longer than the time left: what waits for it is cut, with what failed for good.
    let sender = Flaky { fail: vec![("b", 9, false), ("c", 9, true)], requests: Mutex::default() };
    let retry = Retry { attempts: 3, first_backoff: Duration::from_secs(10) };
    let started = std::time::Instant::now();
    let stop_by = Some(started + Duration::from_millis(200));
    let error = deliver(&sender, "topic", &messages(&["a", "b", "c"]), Vec::new(), retry, stop_by).await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(undelivered(&error), [("c", "InvalidParameter"), ("b", "Deadline")]);
    assert_eq!(*sender.requests.lock().unwrap(), vec![vec!["a", "b", "c"]]);

    // A deadline already past: nothing is sent.
    let sender = Flaky { fail: vec![], requests: Mutex::default() };
    let error = deliver(&sender, "topic", &messages(&["a"]), Vec::new(), QUICK, Some(started)).await.unwrap_err();
    assert_eq!(undelivered(&error), [("a", "Deadline")]);
    assert!(sender.requests.lock().unwrap().is_empty());
}
