//! The decompression cap follows the function's memory: at the template's default 128 MB, a
//! batch that inflates just past 32 MiB is refused with `Troubleshooter.BatchTooLarge` (and
//! kept by the on-failure destination), and one just under it is analysed. `make rss-cap`
//! measures the same two batches' peak memory in the release Lambda.

use std::io::Write;

use base64::Engine as _;
use flate2::{Compression, write::GzEncoder};
use lambda_troubleshooter::config::{AWS_LAMBDA_FUNCTION_MEMORY_SIZE, Config};
use lambda_troubleshooter::deliver::publish::StdoutPublisher;
use lambda_troubleshooter::handler::{Deadline, Troubleshooter};
use serde_json::{Value, json};

/// An awslogs event whose document inflates to at least `bytes`.
fn event_inflating_to(bytes: usize) -> Value {
    let line = "[INFO]\t2024-03-04T17:22:38.033Z\tb70435cc-261c-4438-b9b6-efe4c8f04b21\tGET /orders fetched 3 items in 12.0 ms\n";
    let event =
        |n: usize| json!({"id": format!("{n:056}"), "timestamp": 1_709_572_958_033_i64 + n as i64, "message": line});
    let per_event = event(0).to_string().len() + 1;
    let events: Vec<Value> = (0..bytes / per_event + 1).map(event).collect();
    let document = json!({"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/orders-api",
        "logStream": "2024/03/04/[$LATEST]94fa", "subscriptionFilters": ["all"], "logEvents": events})
    .to_string();
    assert!(document.len() >= bytes && document.len() < bytes + 4096, "{} for {bytes}", document.len());
    let mut gzip = GzEncoder::new(Vec::new(), Compression::fast());
    gzip.write_all(document.as_bytes()).unwrap();
    json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(gzip.finish().unwrap())}})
}

#[tokio::test]
async fn a_batch_above_the_memory_derived_cap_is_refused_and_one_below_is_analysed() {
    let config =
        Config::from_lookup(|name| (name == AWS_LAMBDA_FUNCTION_MEMORY_SIZE).then(|| "128".to_owned())).unwrap();
    assert_eq!(config.max_decompressed_bytes, 32 * 1024 * 1024);
    let troubleshooter = Troubleshooter::new(config).unwrap();
    let above =
        troubleshooter.handle(event_inflating_to(33 * 1024 * 1024), &StdoutPublisher, Deadline::none()).await.result;
    let error = above.expect_err("a batch above the cap must be refused");
    assert_eq!(lambda_runtime::Diagnostic::from(error).error_type, "Troubleshooter.BatchTooLarge");
    let below =
        troubleshooter.handle(event_inflating_to(30 * 1024 * 1024), &StdoutPublisher, Deadline::none()).await.result;
    assert!(below.is_ok(), "{below:?}");
}

/// Every gzip member is read: members A, B, A where only B holds the batch (the first and last
/// alike, so the first member's trailer is the input's last), and a document between two empty
/// members. B was once dropped without a word.
#[tokio::test]
async fn gzip_members_are_all_read() {
    let gzip = |bytes: &[u8]| {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    };
    let document = json!({"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/orders-api",
        "logStream": "2024/03/04/[$LATEST]94fa", "subscriptionFilters": ["all"], "logEvents": [{"id": "1",
        "timestamp": 1_709_572_958_033_i64, "message": "REPORT RequestId: 1c2d\tDuration: 812.40 ms\tBilled Duration: 813 ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB\tStatus: error\tError Type: Runtime.OutOfMemory\n"}]})
    .to_string();
    let troubleshooter = Troubleshooter::new(Config::default()).unwrap();
    for members in [
        [gzip(b" "), gzip(document.as_bytes()), gzip(b" ")].concat(),
        [gzip(b""), gzip(document.as_bytes()), gzip(b"")].concat(),
    ] {
        let event = json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(members)}});
        let answer = troubleshooter.handle(event, &StdoutPublisher, Deadline::none()).await.result.unwrap();
        let rules: Vec<&str> =
            answer["findings"].as_array().unwrap().iter().map(|f| f["rule_id"].as_str().unwrap()).collect();
        assert_eq!(rules, ["lambda-out-of-memory"], "{answer}");
    }
}
