//! Command-line input: every kind of file a person has at hand, turned into batches, and the
//! reverse, plain log lines turned into an awslogs event for `cargo lambda invoke`.
//!
//! `troubleshooter scan` accepts an awslogs Lambda event, a Kinesis event, a decoded
//! CloudWatch Logs document (DATA_MESSAGE or CONTROL_MESSAGE), the output of
//! `aws logs filter-log-events`, a gzip of any of these, or plain text with one event per line.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::ingest::{self, IngestError, Invocation, LogBatch, LogEvent};

/// Why an input could not be read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The input is an event or document that failed to decode.
    #[error("{0}")]
    Ingest(#[from] IngestError),
    /// The input is JSON, but of no shape this tool reads.
    #[error(
        "unrecognised JSON input: expected an awslogs event, a Kinesis event, a CloudWatch Logs document (logEvents) or `aws logs filter-log-events` output (events)"
    )]
    UnknownJson,
    /// A Kinesis record in the input could not be decoded.
    #[error("Kinesis record {sequence_number}: {source}")]
    KinesisRecord {
        /// The record's sequence number.
        sequence_number: String,
        /// Why.
        #[source]
        source: IngestError,
    },
    /// The input is neither JSON nor UTF-8 text.
    #[error("the input is not UTF-8 text: {0}")]
    NotText(#[from] std::str::Utf8Error),
    /// A line of streamed input is not text.
    #[error("{name} line {line} is not text ({reason}): expected log lines, or a saved event or document")]
    NotTextLine {
        /// The file, or stdin.
        name: String,
        /// The line, 1-based.
        line: usize,
        /// What is wrong (a NUL byte, invalid UTF-8).
        reason: String,
    },
    /// The input holds nothing but white space: there is nothing to analyse, and saying "no
    /// problems found" would tell the user all is well.
    #[error("the input is empty: nothing to analyse")]
    Empty,
    /// The input starts like a JSON event or document (`{"` or `[`) and does not parse: it was
    /// cut short or damaged, and reading it as plain text would analyse a fragment as if it
    /// were the whole input.
    #[error(
        "the input starts like JSON but is not valid JSON: {reason} at line {line}, column {column}{cut}; expected a whole awslogs event, Kinesis event, CloudWatch Logs document or `aws logs filter-log-events` output (or plain log lines)",
        cut = if *.truncated { " (the input ends there: was it cut short?)" } else { "" }
    )]
    BrokenJson {
        /// What the JSON parser expected, in its words (`EOF while parsing a string`, …).
        reason: String,
        /// Where it broke, 1-based.
        line: usize,
        /// Where it broke, 1-based.
        column: usize,
        /// The input ended before the JSON was complete.
        truncated: bool,
    },
}

/// Where the lines of a plain-text or filter-log-events input come from.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The log group (plain text and filter-log-events do not carry one).
    pub log_group: String,
    /// The log stream.
    pub log_stream: String,
    /// The account.
    pub owner: String,
    /// The timestamp for lines that carry none, in epoch milliseconds.
    pub base_timestamp_ms: i64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FilteredEvent {
    #[serde(default)]
    log_stream_name: String,
    timestamp: i64,
    message: String,
    #[serde(default)]
    event_id: String,
}

/// Reads any supported input into batches (one per log stream).
///
/// # Errors
///
/// [`InputError`] saying what is wrong with the input.
pub fn read_batches(bytes: &[u8], origin: &Origin, limit: usize) -> Result<Vec<LogBatch>, InputError> {
    let inflated;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        inflated = ingest::gunzip_bounded(bytes, limit)?;
        inflated.as_slice()
    } else {
        bytes
    };
    let text = std::str::from_utf8(bytes)?;
    let trimmed = text.trim_start();
    if trimmed.is_empty() {
        return Err(InputError::Empty);
    }
    match first_json_value(trimmed)? {
        // One JSON log line (Lambda's JSON log format, an error JSON) is a log line.
        Some(value) if !is_log_record(&value) => read_json(value, origin, limit),
        _ => Ok(vec![plain_text_batch(text, origin)]),
    }
}

/// The input as one JSON value, or `None` for text to read line by line: input that does not
/// start like JSON, or JSON lines (one log record per line, several values).
///
/// # Errors
///
/// [`InputError::BrokenJson`] when the input starts like a JSON event or document (`{"`, `{}`
/// or `[`) and its first value does not parse: a log line that merely begins with a brace
/// (`{ERROR} …`, `{timestamp} …`) stays text.
fn first_json_value(trimmed: &str) -> Result<Option<Value>, InputError> {
    if !starts_like_json(trimmed) {
        // A whole JSON array (`[1,2,3]`) is JSON of no shape this tool reads, not a log line;
        // `[INFO] …` fails to parse at once and stays text.
        return Ok(serde_json::from_str::<Value>(trimmed).ok().filter(|_| trimmed.starts_with('[')));
    }
    let mut values = serde_json::Deserializer::from_str(trimmed).into_iter::<Value>();
    match values.next() {
        Some(Ok(value)) if trimmed[values.byte_offset()..].trim().is_empty() => Ok(Some(value)),
        // A first value and more after it: JSON lines, each a log line.
        Some(Ok(_)) => Ok(None),
        // JSON lines whose first record is damaged (a line cut at CloudWatch's 256 KB): the
        // error is on the first line, more lines follow, and none of it is an envelope.
        // (A string cut by its newline breaks at line 2, column 0: still the first line.)
        Some(Err(error))
            if (error.line() == 1 || (error.line(), error.column()) == (2, 0)) && is_json_lines(trimmed) =>
        {
            Ok(None)
        }
        Some(Err(error)) => Err(InputError::BrokenJson {
            reason: json_reason(&error),
            line: error.line(),
            column: error.column(),
            truncated: error.is_eof() || is_at_end(trimmed, error.line(), error.column()),
        }),
        None => Ok(None),
    }
}

/// Several non-empty lines, the first of them no event or document.
fn is_json_lines(trimmed: &str) -> bool {
    let (first, rest) = trimmed.split_once('\n').unwrap_or((trimmed, ""));
    !rest.trim().is_empty() && !ENVELOPE_KEYS.iter().any(|key| first.contains(&format!("\"{key}\"")))
}

/// Whether (line, column) is the last character of `text` but white space: where a cut
/// input breaks (a string cut short ends in a newline the parser refuses).
fn is_at_end(text: &str, line: usize, column: usize) -> bool {
    let content = text.trim_end();
    let last_line = content.lines().count().max(1);
    let last_column = content.lines().last().map_or(0, |l| l.chars().count());
    line > last_line || (line == last_line && column >= last_column)
}

/// `{"`, `{}`, `[{`, `[]`, `["`, white space allowed between: how every event, document and
/// JSON log record starts, and how no plain log line does.
fn starts_like_json(trimmed: &str) -> bool {
    let mut chars = trimmed.chars();
    let (Some(open), rest) = (chars.next(), chars.as_str().trim_start()) else { return false };
    match open {
        '{' => rest.starts_with('"') || rest.starts_with('}'),
        '[' => rest.starts_with(['{', '[', '"', ']']),
        _ => false,
    }
}

/// serde_json's message without its own " at line L column C" (the error says where itself).
fn json_reason(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

fn read_json(value: Value, origin: &Origin, limit: usize) -> Result<Vec<LogBatch>, InputError> {
    if value.get("awslogs").is_some() || value.get("Records").is_some() {
        return match ingest::decode_value(value, limit)? {
            Invocation::AwsLogs(batch) => Ok(vec![batch]),
            Invocation::Kinesis(records) => records
                .into_iter()
                .map(|r| {
                    r.decode(limit)
                        .map_err(|source| InputError::KinesisRecord { sequence_number: r.sequence_number, source })
                })
                .collect(),
        };
    }
    if value.get("logEvents").is_some() {
        let batch: LogBatch = serde_json::from_value(value).map_err(IngestError::Document)?;
        return Ok(vec![batch]);
    }
    if let Some(events) = value.get("events") {
        let events: Vec<FilteredEvent> = serde_json::from_value(events.clone()).map_err(IngestError::Document)?;
        return Ok(batches_by_stream(
            events.into_iter().map(|event| {
                let stream =
                    if event.log_stream_name.is_empty() { origin.log_stream.clone() } else { event.log_stream_name };
                (
                    stream,
                    LogEvent { id: event.event_id.into(), timestamp: event.timestamp, message: event.message.into() },
                )
            }),
            origin,
        ));
    }
    Err(InputError::UnknownJson)
}

/// Keys of an event or document this tool decodes.
const ENVELOPE_KEYS: &[&str] = &["awslogs", "Records", "logEvents", "events"];
/// Keys a JSON log record has: Lambda's JSON log format and platform records, the common
/// loggers (`msg`, Serilog's `@m`/`@mt`), and error JSON (invoke responses, Step Functions).
const LOG_RECORD_KEYS: &[&str] = &[
    "message",
    "msg",
    "errorMessage",
    "errorType",
    "level",
    "time",
    "timestamp",
    "type",
    "record",
    "error",
    "cause",
    "stack",
    "stackTrace",
    "exception",
    "@m",
    "@mt",
    "Error",
    "Cause",
];

/// A JSON object that is one log record, not an event or document to decode.
fn is_log_record(value: &Value) -> bool {
    let Value::Object(fields) = value else { return false };
    !ENVELOPE_KEYS.iter().any(|k| fields.contains_key(*k)) && LOG_RECORD_KEYS.iter().any(|k| fields.contains_key(*k))
}

/// Events of one log group, each with its log stream (what `FilterLogEvents` returns), as one
/// batch per stream in order of first appearance, each in time order: a batch is one stream,
/// as CloudWatch Logs delivers them.
pub fn batches_by_stream(events: impl IntoIterator<Item = (String, LogEvent)>, origin: &Origin) -> Vec<LogBatch> {
    let mut streams: BTreeMap<String, Vec<LogEvent>> = BTreeMap::new();
    let mut order = Vec::new();
    for (stream, event) in events {
        if !streams.contains_key(&stream) {
            order.push(stream.clone());
        }
        streams.entry(stream).or_default().push(event);
    }
    order
        .into_iter()
        .map(|stream| {
            let mut events = streams.remove(&stream).unwrap_or_default();
            events.sort_by_key(|e| e.timestamp);
            batch(origin, stream, events)
        })
        .collect()
}

fn batch(origin: &Origin, log_stream: String, log_events: Vec<LogEvent>) -> LogBatch {
    LogBatch {
        owner: origin.owner.clone(),
        log_group: origin.log_group.clone(),
        log_stream,
        message_type: ingest::DATA_MESSAGE.to_owned(),
        policy_level: None,
        subscription_filters: Vec::new(),
        log_events,
    }
}

/// One event per non-empty line. A line that starts with an RFC 3339 time takes it; others
/// follow the previous line by a millisecond. `\t` and `\n` written as escapes are kept as
/// written: the line is the message.
pub fn plain_text_batch(text: &str, origin: &Origin) -> LogBatch {
    messages_batch(text.lines().filter(|l| !l.trim().is_empty()).map(str::to_owned), origin)
}

/// One event per message (a message may hold inner newlines), timed as in [`plain_text_batch`].
pub fn messages_batch(messages: impl IntoIterator<Item = String>, origin: &Origin) -> LogBatch {
    let mut timestamp = origin.base_timestamp_ms;
    let mut events = Vec::new();
    for (index, message) in messages.into_iter().enumerate() {
        timestamp = leading_timestamp(&message).unwrap_or(if index == 0 { timestamp } else { timestamp + 1 });
        let message = if message.ends_with('\n') { message } else { format!("{message}\n") };
        events.push(LogEvent { id: event_id(timestamp, index, &message).into(), timestamp, message: message.into() });
    }
    batch(origin, origin.log_stream.clone(), events)
}

/// A 56-digit event id, like CloudWatch's: the time, the position and a digest of the
/// message, so different logs never share ids (finding ids are derived from them).
fn event_id(timestamp: i64, index: usize, message: &str) -> String {
    // FNV-1a: a tiny, stable hash; this is an identifier, not security.
    let digest =
        message.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    format!("{:0>20}{:06}{:030}", timestamp.max(0), index % 1_000_000, u128::from(digest))
}

fn leading_timestamp(line: &str) -> Option<i64> {
    let token = line.split_whitespace().next()?;
    let parsed = chrono::DateTime::parse_from_rfc3339(token).ok()?;
    Some(parsed.timestamp_millis())
}

/// What `encode` produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `{"awslogs":{"data":…}}`, as a subscription filter invokes the function.
    AwsLogs,
    /// A Kinesis event with one record, as a CloudWatch Logs destination stream delivers it.
    Kinesis,
}

/// Replaces the escapes `\t`, `\n` and `\\` in a line written the way AWS's documentation and bug
/// reports show CloudWatch messages.
pub fn unescape(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

mod encode;
#[cfg(test)]
mod tests;

pub use encode::{encode_awslogs_event, encode_document, encode_event};
