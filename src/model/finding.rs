//! The finding: the JSON contract every output carries (docs/finding.md, schema version 1).
//!
//! Fields may be added; none may be renamed or dropped without a new `schema` version, so
//! subscribers can parse findings from the CLI, stdout and SNS alike.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::model::details::Details;
use crate::model::{Category, Severity, console_origin};

/// The schema tag of this version of the contract.
pub const SCHEMA: &str = "lambda-troubleshooter/finding/v1";

/// Text that only this tool's own output carries: the finding JSON (the SNS `default` message,
/// the CLI's and stdout's JSON lines) holds [`SCHEMA`], and the email's footer the signature
/// line ([`crate::report::render`]). A log line holding one is a finding being forwarded or
/// printed (a Slack forwarder that logs what SNS sent it, the function's own stdout in a log
/// group shared by several functions); analysing it would report the finding again, and each
/// report would be forwarded in turn: a loop.
pub const OWN_OUTPUT_MARKERS: [&str; 2] = [SCHEMA, SIGNATURE];

/// How the footer of every email and text rendering begins: `lambda-troubleshooter · rule ID
/// (category) · finding ID`.
pub const SIGNATURE: &str = "lambda-troubleshooter \u{b7} rule ";

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
    /// Rule-specific values (figures, principal, action, resource, …) and what later stages
    /// added (the values that varied, the lines before the failure, what was held back).
    pub details: Details,
    /// A link to the log stream in the CloudWatch console.
    pub console_url: String,
    /// A link that opens CloudWatch Logs Insights on the log group, over the finding's time
    /// window, with a query for its request ids: every line of the failed invocations. Set when
    /// the finding has request ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insights_url: Option<String>,
    /// `unhandled_error` only: the error's group, 16 hex digits, stable across batches and
    /// instances (function, error type, and the application's stack frames or the masked
    /// message; see [`crate::detect::errors`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The version of the grouping that made [`Finding::fingerprint`]; raised whenever the
    /// grouping changes, so old fingerprints are known to be from another grouping.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint_version: Option<u32>,
    /// `unhandled_error` only: the error type as the runtime or the logger printed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    /// `unhandled_error` only: the innermost frame of the application's own code, without a
    /// line number (`handler (index.js)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_frame: Option<String>,
    /// `unhandled_error` only: true when the fingerprint was not seen within
    /// `NEW_ERROR_WINDOW` (set by delivery; absent where nothing remembers, as in one scan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_error_type: Option<bool>,
}

impl Finding {
    /// The value a rule's `key` name reads from this finding, as text: an unhandled error's
    /// `fingerprint` is the finding's own field, every other name a detail.
    pub fn value_of(&self, name: &str) -> Option<Cow<'_, str>> {
        if name == "fingerprint" {
            return self.fingerprint.as_deref().map(Cow::Borrowed);
        }
        match self.details.get(name)? {
            serde_json::Value::String(text) => Some(Cow::Borrowed(text)),
            other => Some(Cow::Owned(other.to_string())),
        }
    }
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
///
/// A time outside RFC 3339's years 0000 to 9999 (a forged or corrupt batch's) is shown at the
/// nearest end of that range, so every rendering and every subscriber still reads a time.
pub fn rfc3339_millis(timestamp_ms: i64) -> String {
    /// 0000-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z, in milliseconds since the epoch.
    const RANGE: std::ops::RangeInclusive<i64> = -62_167_219_200_000..=253_402_300_799_999;
    let clamped = timestamp_ms.clamp(*RANGE.start(), *RANGE.end());
    chrono::DateTime::from_timestamp_millis(clamped)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
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

/// A link to a log stream in the CloudWatch console of `region`'s partition.
pub fn console_url(region: &str, log_group: &str, log_stream: &str) -> String {
    let mut url = format!(
        "{}/cloudwatch/home?region={region}#logsV2:log-groups/log-group/{}",
        console_origin(region),
        console_escape(log_group)
    );
    if !log_stream.is_empty() {
        url.push_str("/log-events/");
        url.push_str(&console_escape(log_stream));
    }
    url
}

/// How far before its first line a failed invocation may have started: Lambda's longest
/// timeout, 15 minutes.
pub const LONGEST_INVOCATION_MS: i64 = 15 * 60 * 1000;

/// The most request ids an Insights link queries (the console keeps the query in the URL).
pub const MAX_INSIGHTS_REQUEST_IDS: usize = 10;

/// A value of the Insights console's `queryDetail` fragment: letters, digits, `-` and `.` as
/// they are, everything else as `*` and its UTF-8 bytes in hex (the console's own encoding:
/// percent-encoding with `*` for `%`).
fn insights_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("*{byte:02x}"));
        }
    }
    out
}

/// The Logs Insights query for these request ids: every line that names one of them, in
/// time order.
pub fn insights_query(request_ids: &[String]) -> String {
    // Ids are literal text in a /regex/: every ASCII punctuation but `-` (literal outside a
    // class, and in every UUID) gets its backslash, `/` included.
    let escape = |id: &String| -> String {
        id.chars()
            .flat_map(|c| {
                let quote = c.is_ascii_punctuation() && c != '-';
                quote.then_some('\\').into_iter().chain(std::iter::once(c))
            })
            .collect()
    };
    let ids: Vec<String> = request_ids.iter().map(escape).collect();
    format!(
        "fields @timestamp, @logStream, @message\n| filter @message like /{}/\n| sort @timestamp asc\n| limit 1000",
        ids.join("|")
    )
}

/// A link that opens CloudWatch Logs Insights on `log_group` from `start_ms` to `end_ms` with
/// `query`. The console reads its state from the fragment `logs-insights?queryDetail=…`: an
/// object written `~(key~value~…)`, strings prefixed with `'` and escaped by
/// `insights_value`, the whole percent-encoded twice with `$` for `%` (so `~` is `$257E`). The
/// console is `region`'s partition's.
pub fn insights_url(region: &str, log_group: &str, start_ms: i64, end_ms: i64, query: &str) -> String {
    let string = |text: &str| format!("'{}", insights_value(text));
    let detail = format!(
        "~(end~{}~start~{}~timeType~'ABSOLUTE~tz~'UTC~editorString~{}~source~(~{}))",
        string(&rfc3339_millis(end_ms)),
        string(&rfc3339_millis(start_ms)),
        string(query),
        string(log_group),
    );
    let detail = detail.replace('~', "$257E").replace('(', "$2528").replace(')', "$2529").replace('\'', "$2527");
    format!("{}/cloudwatch/home?region={region}#logsV2:logs-insights$3FqueryDetail$3D{detail}", console_origin(region))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_at_the_ends_of_the_range_are_still_times() {
        assert_eq!(rfc3339_millis(1_709_572_958_033), "2024-03-04T17:22:38.033Z");
        assert_eq!(rfc3339_millis(i64::MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339_millis(i64::MIN), "0000-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_millis(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn console_url_uses_the_consoles_double_escaping() {
        assert_eq!(
            console_url("us-east-1", "/aws/lambda/orders-api", "2024/03/04/[$LATEST]94fa"),
            "https://us-east-1.console.aws.amazon.com/cloudwatch/home?region=us-east-1#logsV2:log-groups/log-group/$252Faws$252Flambda$252Forders-api/log-events/2024$252F03$252F04$252F$255B$2524LATEST$255D94fa"
        );
    }

    /// Undoes one level of `%XX`.
    fn percent_decode(text: &str, marker: char) -> String {
        let mut bytes = Vec::new();
        let mut chars = text.char_indices().peekable();
        let raw = text.as_bytes();
        while let Some((i, c)) = chars.next() {
            if c == marker && i + 2 < raw.len() + 1 && u8::from_str_radix(&text[i + 1..i + 3], 16).is_ok() {
                bytes.push(u8::from_str_radix(&text[i + 1..i + 3], 16).unwrap());
                chars.next();
                chars.next();
            } else {
                bytes.extend(c.to_string().as_bytes());
            }
        }
        String::from_utf8(bytes).unwrap()
    }

    /// Reads the console's `queryDetail` back: `(key, value)` pairs, strings decoded.
    fn open_insights_url(url: &str) -> Vec<(String, String)> {
        let fragment = url.split_once("#logsV2:logs-insights").unwrap().1;
        let once = percent_decode(&fragment.replace('$', "%"), '%');
        let twice = percent_decode(&once, '%');
        let detail = twice.strip_prefix("?queryDetail=~(").unwrap().strip_suffix(')').unwrap();
        let parts: Vec<&str> = detail.split('~').collect();
        let mut pairs = Vec::new();
        let mut i = 0;
        while i + 1 < parts.len() {
            let (key, mut value) = (parts[i].to_owned(), parts[i + 1].to_owned());
            i += 2;
            if value == "(" {
                // A list: `~(~'a)`.
                value = percent_decode(parts[i].trim_start_matches('\'').trim_end_matches(')'), '*');
                i += 1;
            } else {
                value = percent_decode(value.trim_start_matches('\''), '*');
            }
            pairs.push((key, value));
        }
        pairs
    }

    #[test]
    fn the_insights_link_opens_the_log_group_over_the_window_with_the_query() {
        let ids =
            vec!["b70435cc-1111-4a6b-9c2d-0e1f2a3b4c5d".to_owned(), "2ea49a23-ff39-4bf5-8761-439f99b7c5f6".to_owned()];
        let query = insights_query(&ids);
        let url = insights_url("eu-west-1", "/aws/lambda/orders-api", 1_709_572_958_033, 1_709_573_101_910, &query);
        assert!(url.starts_with(
            "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#logsV2:logs-insights$3FqueryDetail$3D$257E$2528end$257E$2527"
        ));
        let pairs = open_insights_url(&url);
        let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str()).unwrap();
        assert_eq!(get("start"), "2024-03-04T17:22:38.033Z");
        assert_eq!(get("end"), "2024-03-04T17:25:01.910Z");
        assert_eq!(get("timeType"), "ABSOLUTE");
        assert_eq!(get("source"), "/aws/lambda/orders-api");
        assert_eq!(
            get("editorString"),
            "fields @timestamp, @logStream, @message\n| filter @message like /b70435cc-1111-4a6b-9c2d-0e1f2a3b4c5d|2ea49a23-ff39-4bf5-8761-439f99b7c5f6/\n| sort @timestamp asc\n| limit 1000"
        );
        // Nothing in the link breaks out of the fragment or the console's own syntax.
        assert!(
            url.split_once('#').unwrap().1.bytes().all(|b| b.is_ascii_alphanumeric() || b"$*-._:".contains(&b)),
            "{url}"
        );
    }

    /// China and GovCloud have consoles of their own: a link to the commercial one would ask
    /// the reader to sign in to an account that does not exist there.
    #[test]
    fn console_and_insights_links_open_the_console_of_the_regions_partition() {
        let ids = vec!["b70435cc-1111-4a6b-9c2d-0e1f2a3b4c5d".to_owned()];
        for (region, console) in [
            ("cn-north-1", "https://cn-north-1.console.amazonaws.cn/cloudwatch/home?region=cn-north-1#logsV2:"),
            (
                "cn-northwest-1",
                "https://cn-northwest-1.console.amazonaws.cn/cloudwatch/home?region=cn-northwest-1#logsV2:",
            ),
            ("us-gov-west-1", "https://console.amazonaws-us-gov.com/cloudwatch/home?region=us-gov-west-1#logsV2:"),
            ("us-gov-east-1", "https://console.amazonaws-us-gov.com/cloudwatch/home?region=us-gov-east-1#logsV2:"),
        ] {
            let logs = console_url(region, "/aws/lambda/orders-api", "2024/03/04/[$LATEST]94fa");
            assert_eq!(
                logs,
                format!(
                    "{console}log-groups/log-group/$252Faws$252Flambda$252Forders-api/log-events/2024$252F03$252F04$252F$255B$2524LATEST$255D94fa"
                )
            );
            let insights = insights_url(region, "/aws/lambda/orders-api", 0, 60_000, &insights_query(&ids));
            assert!(insights.starts_with(&format!("{console}logs-insights$3FqueryDetail$3D")), "{insights}");
            let pairs = open_insights_url(&insights);
            assert!(pairs.iter().any(|(k, v)| k == "source" && v == "/aws/lambda/orders-api"), "{pairs:?}");
        }
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
