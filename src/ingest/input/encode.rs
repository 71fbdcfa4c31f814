//! The way back: log lines as the events CloudWatch Logs would send (an awslogs event, or a
//! Kinesis record of a subscription through a stream), for `troubleshooter encode`, the local
//! Lambda and the tests.

use std::io::Write;

use base64::Engine;
use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

use super::{EventKind, Origin, plain_text_batch};
use crate::ingest::{self, LogBatch};

/// Builds an awslogs Lambda event (gzip, then standard padded base64) from log lines.
///
/// # Errors
///
/// An I/O error from the gzip encoder (writing to memory; not expected).
pub fn encode_awslogs_event(text: &str, origin: &Origin) -> std::io::Result<Value> {
    encode_event(plain_text_batch(text, origin), ingest::DATA_MESSAGE, EventKind::AwsLogs)
}

/// Builds an event of `kind` carrying `batch` as a document of `message_type`.
///
/// # Errors
///
/// An I/O error from the gzip encoder (writing to memory; not expected).
pub fn encode_event(batch: LogBatch, message_type: &str, kind: EventKind) -> std::io::Result<Value> {
    let document = json!({
        "messageType": message_type,
        "owner": batch.owner,
        "logGroup": batch.log_group,
        "logStream": batch.log_stream,
        "subscriptionFilters": ["lambda-troubleshooter"],
        "logEvents": batch.log_events.iter().map(|e| json!({"id": e.id, "timestamp": e.timestamp, "message": e.message})).collect::<Vec<_>>(),
    });
    let data = encode_document(&document)?;
    Ok(match kind {
        EventKind::AwsLogs => json!({"awslogs": {"data": data}}),
        EventKind::Kinesis => json!({"Records": [{
            "kinesis": {
                "kinesisSchemaVersion": "1.0",
                "partitionKey": "8b3a8a4e8f8d6a1e0e5f0b0c0d0e0f10",
                "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
                "data": data,
                "approximateArrivalTimestamp": (batch.log_events.first().map_or(0, |e| e.timestamp) as f64) / 1000.0
            },
            "eventSource": "aws:kinesis",
            "eventVersion": "1.0",
            "eventID": "shardId-000000000000:49590338271490256608559692538361571095921575989136588898",
            "eventName": "aws:kinesis:record",
            "invokeIdentityArn": format!("arn:aws:iam::{}:role/lambda-troubleshooter", batch.owner),
            "awsRegion": "us-east-1",
            "eventSourceARN": format!("arn:aws:kinesis:us-east-1:{}:stream/lambda-troubleshooter-logs", batch.owner)
        }]}),
    })
}

/// gzip + standard padded base64 of a CloudWatch Logs document.
///
/// # Errors
///
/// An I/O error from the gzip encoder.
pub fn encode_document(document: &Value) -> std::io::Result<String> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(document.to_string().as_bytes())?;
    Ok(base64::engine::general_purpose::STANDARD.encode(encoder.finish()?))
}
