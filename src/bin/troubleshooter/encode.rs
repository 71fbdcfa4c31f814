//! `troubleshooter encode`: plain log lines turned into an awslogs or Kinesis event for
//! `cargo lambda invoke --data-file`.

use std::path::PathBuf;

use lambda_troubleshooter::ingest::input::{self, Origin};

use crate::error::CliError;

/// What `encode` was asked to do.
pub struct EncodeArgs {
    /// The input file; `-` or nothing reads stdin.
    pub file: Option<PathBuf>,
    /// `--log-group` (see `--help`).
    pub log_group: String,
    /// `--log-stream` (see `--help`).
    pub log_stream: String,
    /// `--owner` (see `--help`).
    pub owner: String,
    /// `--timestamp` (see `--help`).
    pub timestamp: Option<String>,
    /// `--unescape` (see `--help`).
    pub unescape: bool,
    /// `--kinesis` (see `--help`).
    pub kinesis: bool,
    /// `--message-type` (see `--help`).
    pub message_type: String,
}

/// Prints the event that carries the input's lines.
pub fn run(args: EncodeArgs) -> Result<(), CliError> {
    let base_timestamp_ms = match args.timestamp {
        Some(text) => chrono::DateTime::parse_from_rfc3339(&text)
            .map_err(|e| {
                CliError::Usage(format!("--timestamp {text:?}: expected RFC 3339, e.g. 2024-03-04T17:22:38Z ({e})"))
            })?
            .timestamp_millis(),
        None => chrono::Utc::now().timestamp_millis(),
    };
    let limit = lambda_troubleshooter::config::Config::from_env()?.max_decompressed_bytes;
    let bytes = crate::source::read_whole(args.file.as_ref(), limit)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| CliError::BadInput(input::InputError::NotText(e)))?;
    let origin =
        Origin { log_group: args.log_group, log_stream: args.log_stream, owner: args.owner, base_timestamp_ms };
    let lines = text.lines().filter(|l| !l.trim().is_empty());
    let messages: Vec<String> =
        if args.unescape { lines.map(input::unescape).collect() } else { lines.map(str::to_owned).collect() };
    let kind = if args.kinesis { input::EventKind::Kinesis } else { input::EventKind::AwsLogs };
    let batch = input::messages_batch(messages, &origin);
    let event = input::encode_event(batch, &args.message_type, kind)?;
    println!("{}", serde_json::to_string_pretty(&event)?);
    Ok(())
}
