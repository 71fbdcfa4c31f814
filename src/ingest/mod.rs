//! Ingest: turns what CloudWatch Logs delivers into a [`LogBatch`], with bounded decoding.
//!
//! CloudWatch Logs sends `{"awslogs":{"data":"<base64 of gzip of JSON>"}}` to a subscribed
//! function, and writes the same gzip document into each Kinesis record (possibly several
//! gzip members back to back). `aws_lambda_events`' `LogsEvent` decodes with an unbounded,
//! single-member gzip reader and reports one opaque error, so the awslogs envelope is decoded
//! here step by step: base64, then multi-member gzip capped at `max_decompressed_bytes`, then
//! JSON. Every step has its own [`IngestError`] variant saying what is wrong with the batch.
//!
//! Wire format: <https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/SubscriptionFilters.html>
//! and <https://docs.aws.amazon.com/lambda/latest/dg/services-cloudwatchlogs.html>.

mod document;
mod event_text;
pub mod input;

pub use event_text::EventText;

use std::io::Read;

use base64::Engine as _;
use flate2::read::MultiGzDecoder;
use serde::Deserialize;

/// The default cap on the inflated size of one batch outside Lambda (64 MiB, docs/configuration.md).
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;

/// Bytes as a person compares them with a format's magic number: `68 65 6c 6c`, or `nothing`.
fn hex_bytes(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "nothing".to_owned();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
}

/// The two bytes every gzip member starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// `messageType` of a batch that carries log events.
pub const DATA_MESSAGE: &str = "DATA_MESSAGE";
/// `messageType` of CloudWatch Logs' destination health check; it carries no log data.
pub const CONTROL_MESSAGE: &str = "CONTROL_MESSAGE";

/// Why a batch could not be decoded. Each variant says which step failed.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The event is not JSON, or not an event shape this function accepts.
    #[error("the event is not a CloudWatch Logs subscription event: {0}")]
    UnknownEvent(String),
    /// The invocation's payload could not be read as JSON at all (nested deeper than the JSON
    /// reader allows, or not JSON): a corrupt batch ([`Payload::Unreadable`]).
    #[error("the payload is not readable JSON: {0}")]
    Unreadable(String),
    /// `awslogs.data` (or a Kinesis record) is not valid base64.
    #[error("awslogs.data is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// `awslogs.data` decodes to bytes that are not gzip (CloudWatch Logs always gzips it).
    #[error("awslogs.data is not gzip data: it starts with {}, gzip starts with 1f 8b", hex_bytes(.0))]
    NotGzip(Vec<u8>),
    /// The gzip stream is corrupt or truncated.
    #[error("the batch's gzip data is corrupt or truncated: {0}")]
    Gzip(#[source] std::io::Error),
    /// The batch inflates past the configured limit (a gzip bomb, or a limit set too low).
    #[error("the batch inflates past MAX_DECOMPRESSED_BYTES ({limit} bytes); refused")]
    TooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// The inflated data is not UTF-8.
    #[error("the decoded batch is not UTF-8 text: {0}")]
    NotUtf8(#[from] std::str::Utf8Error),
    /// The inflated data is not a CloudWatch Logs document.
    #[error("the decoded batch is not a CloudWatch Logs document: {0}")]
    Document(#[source] serde_json::Error),
}

/// An invocation's payload as the Lambda runtime hands it over: JSON, or why it could not be
/// read as JSON (nested deeper than the reader allows, not JSON at all). The runtime reads the
/// payload into this type before the handler runs; a plain `Value` would fail there, with the
/// runtime's own error instead of `Troubleshooter.CorruptBatch`, and no metrics.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// The payload, read.
    Json(serde_json::Value),
    /// Why it could not be read.
    Unreadable(String),
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match serde_json::Value::deserialize(deserializer) {
            Ok(value) => Self::Json(value),
            Err(error) => Self::Unreadable(error.to_string()),
        })
    }
}

/// One log event of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LogEvent {
    /// The event id: a decimal string of up to 56 digits, kept as text.
    #[serde(default)]
    pub id: EventText,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// The log message, usually ending in a newline.
    pub message: EventText,
}

/// A decoded CloudWatch Logs document: always one log stream of one log group.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogBatch {
    /// The account that owns the log data (the originating account in cross-account delivery).
    #[serde(default)]
    pub owner: String,
    /// The log group the events come from.
    #[serde(default)]
    pub log_group: String,
    /// The log stream the events come from.
    #[serde(default)]
    pub log_stream: String,
    /// `DATA_MESSAGE` or `CONTROL_MESSAGE`. Required, with `logEvents`: JSON without them is
    /// no CloudWatch Logs document (a poison Kinesis record), not an empty batch.
    pub message_type: String,
    /// `ACCOUNT_LEVEL_POLICY` for account-level subscription filter policies; else absent.
    #[serde(default)]
    pub policy_level: Option<String>,
    /// The subscription filters that matched.
    #[serde(default)]
    pub subscription_filters: Vec<String>,
    /// The log events, in order.
    pub log_events: Vec<LogEvent>,
}

impl LogBatch {
    /// True for CloudWatch Logs' health-check batches, which carry no log data.
    pub fn is_control_message(&self) -> bool {
        self.message_type == CONTROL_MESSAGE
    }
}

/// The awslogs envelope, taken as a plain string so it can be decoded with a cap.
#[derive(Deserialize)]
struct AwsLogsEnvelope {
    awslogs: AwsLogsData,
}

#[derive(Deserialize)]
struct AwsLogsData {
    data: String,
}

/// The events this function is invoked with.
#[derive(Debug)]
pub enum Invocation {
    /// A CloudWatch Logs subscription delivering directly to the function.
    AwsLogs(LogBatch),
    /// A Kinesis event source mapping. Records stay compressed until [`KinesisRecord::decode`],
    /// so a handler decodes, analyses and drops one at a time (a 6 MB batch of records can
    /// inflate past 40 MB), and one bad record does not lose the others.
    Kinesis(Vec<KinesisRecord>),
}

/// One Kinesis record: a CloudWatch Logs document, still gzip-compressed.
#[derive(Debug)]
pub struct KinesisRecord {
    /// The record's sequence number, the item identifier for partial batch failures.
    pub sequence_number: String,
    /// The record's data (base64 already undone by the event's deserializer).
    pub data: Vec<u8>,
}

impl KinesisRecord {
    /// Decodes the record's document, as [`decode_document`].
    ///
    /// # Errors
    ///
    /// As [`decode_document`].
    pub fn decode(&self, limit: usize) -> Result<LogBatch, IngestError> {
        decode_document(&self.data, limit)
    }
}

/// Decodes a Lambda invocation payload: an awslogs event or a Kinesis event.
///
/// # Errors
///
/// [`IngestError::UnknownEvent`] when the payload is neither; the awslogs path returns the
/// error of the step that failed. Kinesis records fail one by one inside the `Ok` value.
pub fn decode_invocation(payload: &[u8], limit: usize) -> Result<Invocation, IngestError> {
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| IngestError::UnknownEvent(format!("not JSON ({e})")))?;
    decode_value(value, limit)
}

/// Decodes an invocation payload that is already parsed JSON (what the Lambda runtime gives).
///
/// # Errors
///
/// As [`decode_invocation`].
pub fn decode_value(value: serde_json::Value, limit: usize) -> Result<Invocation, IngestError> {
    if value.get("awslogs").is_some() {
        let envelope: AwsLogsEnvelope = serde_json::from_value(value)
            .map_err(|e| IngestError::UnknownEvent(format!("awslogs event without a data string ({e})")))?;
        return decode_awslogs_data(envelope.awslogs.data, limit).map(Invocation::AwsLogs);
    }
    if value.get("Records").is_some() {
        let event: aws_lambda_events::event::kinesis::KinesisEvent = serde_json::from_value(value)
            .map_err(|e| IngestError::UnknownEvent(format!("Records is not a Kinesis event ({e})")))?;
        let records = event
            .records
            .into_iter()
            .map(|record| KinesisRecord {
                sequence_number: record.kinesis.sequence_number,
                data: record.kinesis.data.0,
            })
            .collect();
        return Ok(Invocation::Kinesis(records));
    }
    Err(IngestError::UnknownEvent("expected an \"awslogs\" or a Kinesis \"Records\" key".to_owned()))
}

/// Decodes the `awslogs.data` string: standard base64, then gzip (it must be gzip), then the
/// document. The base64 text is freed before the gzip bytes are inflated, which keeps a 128 MB
/// function's peak memory low (`make rss`): hence the owned `data`. The gzip bytes (about
/// 1 MB in the largest batch) are kept while the document is read, so that a document the
/// fast reader does not take can be inflated again for serde_json; the reader itself needs no
/// memory beyond the inflated document (`src/ingest/document.rs`).
///
/// # Errors
///
/// [`IngestError::Base64`], [`IngestError::NotGzip`], then any error of [`decode_document`].
pub fn decode_awslogs_data(data: String, limit: usize) -> Result<LogBatch, IngestError> {
    let compressed = base64::engine::general_purpose::STANDARD.decode(data.trim())?;
    drop(data);
    if !compressed.starts_with(&GZIP_MAGIC) {
        return Err(IngestError::NotGzip(compressed.iter().take(4).copied().collect()));
    }
    let inflated = gunzip_bounded(&compressed, limit)?;
    parse_document(inflated, || gunzip_bounded(&compressed, limit))
}

/// Decodes a CloudWatch Logs document from gzip (one or more members) or, when the bytes
/// do not start with the gzip magic, from plain UTF-8 JSON (Firehose can deliver it inflated),
/// which is copied first, since the reader rewrites the text it reads.
///
/// # Errors
///
/// [`IngestError::Gzip`], [`IngestError::TooLarge`], [`IngestError::NotUtf8`] or
/// [`IngestError::Document`], naming what is wrong.
pub fn decode_document(bytes: &[u8], limit: usize) -> Result<LogBatch, IngestError> {
    let inflate = || {
        if bytes.starts_with(&GZIP_MAGIC) {
            gunzip_bounded(bytes, limit)
        } else if bytes.len() > limit {
            Err(IngestError::TooLarge { limit })
        } else {
            Ok(bytes.to_vec())
        }
    };
    parse_document(inflate()?, inflate)
}

/// Parses an inflated CloudWatch Logs document: through the fast reader of its exact shape
/// ([`document`]), which rewrites it in place, or else through serde_json, which reads a
/// pristine copy from `inflate_again` and names what is wrong. Only a document the reader does
/// not expect (a new field, a fault) is inflated twice (a plain one copied twice).
pub(crate) fn parse_document(
    json: Vec<u8>,
    inflate_again: impl FnOnce() -> Result<Vec<u8>, IngestError>,
) -> Result<LogBatch, IngestError> {
    if let Some(batch) = document::read(json) {
        return Ok(batch);
    }
    let text = String::from_utf8(inflate_again()?).map_err(|e| e.utf8_error())?;
    serde_json::from_str(&document::without_lone_surrogates(&text)).map_err(IngestError::Document)
}

/// Inflates every gzip member in `bytes`, refusing to produce more than `limit` bytes.
///
/// CloudWatch Logs writes one gzip member, whose trailer (RFC 1952: CRC-32, then ISIZE, the
/// inflated size mod 2^32) gives the exact size: that member is inflated in one call by
/// libdeflate into a buffer of that size (capped at `limit`), then checked against the
/// trailer. Anything else (several members, a trailer that lies, corrupt data) goes through
/// flate2's streaming multi-member decoder, which grows its buffer and holds the limit
/// itself. Both refuse exactly what inflates past `limit`.
///
/// On the benchmark's worst-case batch (1.04 MB gzip, 5.54 MB inflated, one core):
/// libdeflate 3.0 ms (1,700 MiB/s), flate2 with zlib-rs 6.6 ms (800), flate2 with
/// miniz_oxide 8.2 ms (640).
///
/// # Errors
///
/// [`IngestError::TooLarge`] past the limit; [`IngestError::Gzip`] on corrupt data.
pub fn gunzip_bounded(bytes: &[u8], limit: usize) -> Result<Vec<u8>, IngestError> {
    let Some(&[c0, c1, c2, c3, s0, s1, s2, s3]) = bytes.last_chunk::<8>() else {
        return gunzip_streaming(bytes, limit);
    };
    let crc = u32::from_le_bytes([c0, c1, c2, c3]);
    let isize = usize::try_from(u32::from_le_bytes([s0, s1, s2, s3])).unwrap_or(usize::MAX);
    // A buffer of `limit` bytes that is too small proves the batch inflates past the limit.
    let capacity = isize.min(limit);
    let mut out = vec![0u8; capacity];
    match libdeflater::Decompressor::new().gzip_decompress(bytes, &mut out) {
        // libdeflate stops after the first member: the whole input was that one member only
        // when the input's trailer is the output's (a second member ends in its own trailer).
        Ok(written)
            if written == isize
                && libdeflater::crc32(&out[..written]) == crc
                && !another_member_follows(bytes, crc, isize) =>
        {
            out.truncate(written);
            Ok(out)
        }
        Err(libdeflater::DecompressionError::InsufficientSpace) if capacity == limit => {
            Err(IngestError::TooLarge { limit })
        }
        _ => {
            drop(out);
            gunzip_streaming(bytes, limit)
        }
    }
}

/// Whether a second gzip member starts after a first member whose trailer is `crc`, `isize`:
/// somewhere, that trailer followed by a member header (`1f 8b 08`). libdeflate inflates the
/// first member only, and a first member equal to the last one (members A, B, A) would pass
/// every other check while B was never read. The trailer makes a chance match in deflate data
/// as good as impossible (88 bits), so only inputs of several members take the slower path.
fn another_member_follows(bytes: &[u8], crc: u32, isize: usize) -> bool {
    let Ok(isize) = u32::try_from(isize) else { return false };
    let mut boundary = [0u8; 11];
    boundary[..4].copy_from_slice(&crc.to_le_bytes());
    boundary[4..8].copy_from_slice(&isize.to_le_bytes());
    boundary[8..].copy_from_slice(&[GZIP_MAGIC[0], GZIP_MAGIC[1], 8]);
    memchr::memmem::find(bytes, &boundary).is_some()
}

/// Inflates every gzip member with flate2's streaming decoder, reading at most `limit + 1`
/// bytes of output.
fn gunzip_streaming(bytes: &[u8], limit: usize) -> Result<Vec<u8>, IngestError> {
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    MultiGzDecoder::new(bytes).take(cap).read_to_end(&mut out).map_err(IngestError::Gzip)?;
    if out.len() > limit {
        return Err(IngestError::TooLarge { limit });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
