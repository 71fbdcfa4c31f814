//! The finding: the JSON contract every output carries (DESIGN.md, schema version 1).
//!
//! Fields may be added; none may be renamed or dropped without a new `schema` version, so
//! subscribers can parse findings from the CLI, stdout and SNS alike.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Category, Severity};

/// The schema tag of this version of the contract.
pub const SCHEMA: &str = "lambda-troubleshooter/finding/v1";

/// One evidence line: a redacted excerpt of a log event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The event's time, RFC 3339 with milliseconds.
    pub timestamp: String,
    /// The redacted, possibly shortened message.
    pub message: String,
}

/// One problem found in one batch, annotated with what happened, why, and how to fix it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Stable hash of rule id, log group, key fields and first event id: a retried batch gives
    /// the same id, so subscribers can deduplicate.
    pub id: String,
    /// The rule that matched.
    pub rule_id: String,
    /// The rule's category.
    pub category: Category,
    /// The rule's severity.
    pub severity: Severity,
    /// The rule's title.
    pub title: String,
    /// One sentence with the numbers.
    pub summary: String,
    /// Why this happens.
    pub cause: String,
    /// What to do, most likely first.
    pub fix: Vec<String>,
    /// Documentation links.
    pub docs: Vec<String>,
    /// The account that owns the log group.
    pub account: String,
    /// The region of the log group.
    pub region: String,
    /// The log group.
    pub log_group: String,
    /// The log stream.
    pub log_stream: String,
    /// The function name (the log group for non-Lambda groups).
    pub function: String,
    /// How many times the problem occurred in this batch: the log events that showed it, or,
    /// for a failure that ends the invocation (out of memory, timeout, crash, start-up), the
    /// invocations and init attempts that showed it.
    pub count: u64,
    /// How many distinct invocations showed it, when their request ids are known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests: Option<u64>,
    /// The first matching event's time.
    pub first_seen: String,
    /// The last matching event's time.
    pub last_seen: String,
    /// The request ids involved.
    pub request_ids: Vec<String>,
    /// The CloudWatch event ids involved.
    pub event_ids: Vec<String>,
    /// Up to three redacted evidence lines.
    pub evidence: Vec<Evidence>,
    /// Rule-specific values: figures, principal, action, resource, …
    pub details: BTreeMap<String, Value>,
    /// A link to the log stream in the CloudWatch console.
    pub console_url: String,
}

/// `text` cut to at most `max` bytes at a character boundary, ending in `…` when cut: how
/// excerpts are shortened everywhere (evidence in findings, trimming for SNS).
pub fn excerpt(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The function name of a Lambda log group, or the log group itself.
pub fn function_name(log_group: &str) -> &str {
    log_group.strip_prefix("/aws/lambda/").filter(|name| !name.is_empty()).unwrap_or(log_group)
}

/// Milliseconds since the epoch as RFC 3339 with milliseconds, e.g. `2024-03-04T17:22:38.033Z`.
pub fn rfc3339_millis(timestamp_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(timestamp_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| timestamp_ms.to_string())
}

/// Encodes a path part the way the CloudWatch console's `#logsV2:` fragment expects:
/// percent-encode, then percent-encode the `%`, then write `%` as `$` (`/` becomes `$252F`).
fn console_escape(part: &str) -> String {
    let mut out = String::with_capacity(part.len() * 3);
    for byte in part.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("$25{byte:02X}"));
        }
    }
    out
}

/// A link to a log stream in the CloudWatch console.
pub fn console_url(region: &str, log_group: &str, log_stream: &str) -> String {
    let mut url = format!(
        "https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{}",
        console_escape(log_group)
    );
    if !log_stream.is_empty() {
        url.push_str("/log-events/");
        url.push_str(&console_escape(log_stream));
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_url_uses_the_consoles_double_escaping() {
        assert_eq!(
            console_url("us-east-1", "/aws/lambda/orders-api", "2024/03/04/[$LATEST]94fa"),
            "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/$252Faws$252Flambda$252Forders-api/log-events/2024$252F03$252F04$252F$255B$2524LATEST$255D94fa"
        );
    }

    #[test]
    fn excerpts_respect_character_boundaries() {
        assert_eq!(excerpt("ééé", 3), "é…");
        assert_eq!(excerpt("abc", 3), "abc");
    }

    #[test]
    fn function_names_and_times() {
        assert_eq!(function_name("/aws/lambda/orders-api"), "orders-api");
        assert_eq!(function_name("/ecs/web"), "/ecs/web");
        assert_eq!(rfc3339_millis(1552518348220), "2019-03-13T23:05:48.220Z");
    }
}
