//! The invocation's deadline: a publish that would run past the function's timeout fails
//! cleanly before it, with the real SNS client against a local endpoint that accepts
//! connections and never answers (a hung SNS).

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use aws_sdk_sns::config::{BehaviorVersion, Credentials, Region};
use lambda_troubleshooter::aws::sns::SnsPublisher;
use lambda_troubleshooter::config::Config;
use lambda_troubleshooter::handler::{DEADLINE_MARGIN, Deadline, HandlerError, Troubleshooter};
use serde_json::Value;

/// A TCP endpoint that accepts every connection and never says a word.
fn hung_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    format!("http://{address}")
}

#[tokio::test]
async fn a_publish_that_would_pass_the_deadline_fails_cleanly_before_it() {
    let config = aws_sdk_sns::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(hung_endpoint())
        .build();
    let publisher =
        SnsPublisher::new(aws_sdk_sns::Client::from_conf(config), "arn:aws:sns:us-east-1:123456789012:findings");
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("events/oom-report.json")).unwrap(),
    )
    .unwrap();
    let event_copy = event.clone();
    let troubleshooter = Troubleshooter::new(Config::default()).unwrap();
    let remaining = Duration::from_secs(4);
    let started = Instant::now();
    let result = troubleshooter.handle(event, &publisher, Deadline::from_clock(Some(remaining))).await.result;
    let took = started.elapsed();
    assert!(matches!(result, Err(HandlerError::Deadline { .. })), "{result:?}");
    assert!(took >= remaining - DEADLINE_MARGIN - Duration::from_millis(100), "gave up too early: {took:?}");
    assert!(took < remaining - Duration::from_millis(500), "not before the deadline: {took:?}");
    let diagnostic = lambda_runtime::Diagnostic::from(result.unwrap_err());
    assert_eq!(diagnostic.error_type, "Troubleshooter.DeadlineExceeded");

    // Cut short, the finding's claim was released: Lambda's retry (SNS answering again)
    // publishes it, rather than taking it for a duplicate of a message that never went out.
    let stdout = lambda_troubleshooter::deliver::publish::StdoutPublisher;
    let retried = troubleshooter.handle(event_copy, &stdout, Deadline::none()).await.result;
    let response = retried.unwrap();
    assert_eq!(response["findings"][0]["delivery"], "published", "{response}");
}
