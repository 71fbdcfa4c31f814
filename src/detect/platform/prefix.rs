//! Platform phrases that appear after a prefix (`Task timed out after`, `Runtime exited`, …),
//! and what may stand before them: what runtimes and log tools print, never an application's
//! own words.

use super::PlatformRecord;
use super::fields::Fields;

/// What a phrase of [`PHRASES`] introduces.
#[derive(Debug, Clone, Copy)]
pub(super) enum Phrase {
    /// A keyword line (`REPORT RequestId:`, `INIT_REPORT`, …) after a prefix.
    Keyword,
    /// `Task timed out after N seconds`.
    TaskTimedOut,
    /// `Runtime exited with error: …` / `Runtime exited without providing a reason`.
    RuntimeExited,
    /// `Process exited before completing request`.
    ProcessExited,
    /// `Max Memory Used:` of a REPORT copied without its head.
    HeadlessReport,
    /// `Sandbox.Timedout`: the error type Lambda gives a timed-out invocation, or
    /// `Lambda:ExecutionTimeoutException`, AppSync's for a Lambda resolver that timed out.
    SandboxTimedOut,
}

/// Platform phrases recognised after a prefix, in the order of
/// [`PLATFORM_PHRASES`](crate::rules::PLATFORM_PHRASES), which the catalog's anchor pass looks for (a test keeps them equal).
pub(super) const PHRASES: &[(&str, Phrase)] = &[
    ("Task timed out after ", Phrase::TaskTimedOut),
    ("Runtime exited ", Phrase::RuntimeExited),
    ("Process exited before completing request", Phrase::ProcessExited),
    ("REPORT RequestId:", Phrase::Keyword),
    ("START RequestId:", Phrase::Keyword),
    ("END RequestId:", Phrase::Keyword),
    ("INIT_REPORT ", Phrase::Keyword),
    ("INIT_START ", Phrase::Keyword),
    ("RESTORE_REPORT ", Phrase::Keyword),
    ("Max Memory Used:", Phrase::HeadlessReport),
    ("Sandbox.Timedout", Phrase::SandboxTimedOut),
    ("Lambda:ExecutionTimeoutException", Phrase::SandboxTimedOut),
];

/// `Task timed out after 3.00 seconds`, after a prefix that [`is_prefix`] accepted:
/// `<time> <id> `, `RequestId: <id> Error: `, a bare timestamp, or nothing. Text after
/// `seconds` other than punctuation or an error type means the line is about something else.
pub(super) fn task_timed_out(prefix: &str, phrase: &str) -> Option<PlatformRecord> {
    let mut words = phrase["Task timed out after ".len()..].split_whitespace();
    let seconds = words.next()?.parse().ok().filter(|n: &f64| n.is_finite())?;
    // `seconds`, or what a copy left of it (`secon…`); a new sentence after it is another
    // tool's (API Gateway's `. Lambda request id: …`).
    let unit = words.next()?;
    let sentence_ends = unit.ends_with('.');
    // An emulator's logger may add its fields after the text (`date=… pid=…`, lambda-local).
    let logfmt_fields = words.clone().next().is_some_and(is_logfmt_pair);
    // A copy that lost the line break glued the next line to the unit: its time
    // (`seconds1:03:58 PM`) or another tool's marker (`seconds* Closing connection 0`).
    let glued = unit
        .strip_prefix("seconds")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit() || c == '*' || c == '['));
    if !unit.starts_with("sec") || (!sentence_ends && !glued && !logfmt_fields && !words.all(is_trailer_token)) {
        return None;
    }
    let request_id = prefix.split_whitespace().rev().find(|t| looks_like_request_id(t)).map(str::to_owned);
    Some(PlatformRecord::TaskTimedOut { request_id, seconds })
}

/// `Runtime exited with error: signal: killed`, the reason cut before the error type, which
/// follows after a newline, a tab or a space in copies.
pub(super) fn runtime_exited(prefix_fields: &Fields<'_>, phrase: &str) -> Option<PlatformRecord> {
    let reason = phrase["Runtime exited".len()..].trim_start();
    let reason = reason.strip_prefix("with error:").unwrap_or(reason).trim_start();
    let reason = reason.split(['\n', '\t', '"']).next().unwrap_or("");
    let reason = reason.split(" Runtime.").next().unwrap_or("").trim().trim_end_matches(['.', ',']);
    if reason.is_empty() {
        return None;
    }
    let request_id = prefix_fields.get("RequestId").map(str::to_owned);
    Some(PlatformRecord::RuntimeExited { request_id, reason: reason.to_owned() })
}

pub(super) fn request_id_of(fields: &Fields<'_>, prefix: &str) -> Option<String> {
    fields
        .get("RequestId")
        .or_else(|| prefix.split_whitespace().rev().find(|t| looks_like_request_id(t)))
        .map(str::to_owned)
}

/// True when `prefix` (the text before a platform phrase on its line) holds only what
/// runtimes and log tools put there; see [`is_prefix_token`].
pub fn is_prefix(prefix: &str) -> bool {
    let prefix = netlify_stamp(prefix).map_or(prefix, |(stamp, _)| &prefix[stamp..]);
    ends_with_platform_stamp(prefix) || only_prefix_tokens(prefix)
}

/// The months as Netlify's function log writes them.
const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/// Netlify's function log head (its functions run on Lambda): `Feb 6, 01:28:15 PM: 4aa77591 `,
/// a time and the request id's first eight digits. Its length in bytes, and the id. Read by
/// the platform prefixes (`… ERROR  Task timed out after …`) and by the error reader's head.
pub fn netlify_stamp(message: &str) -> Option<(usize, Option<&str>)> {
    let mut tokens = message.splitn(6, ' ');
    let month = tokens.next()?;
    let day = tokens.next()?.strip_suffix(',')?;
    let time = tokens.next()?;
    let half = tokens.next()?;
    let id = tokens.next()?;
    let is_time = time.len() >= 7 && time.bytes().all(|b| b.is_ascii_digit() || b == b':');
    if !MONTHS.contains(&month)
        || day.is_empty()
        || !day.bytes().all(|b| b.is_ascii_digit())
        || !is_time
        || !matches!(half, "AM:" | "PM:")
    {
        return None;
    }
    let stamp = month.len() + day.len() + 1 + time.len() + half.len() + 4;
    let short_id = id.len() == 8 && id.bytes().all(|b| b.is_ascii_hexdigit());
    Some(if short_id { (stamp + id.len() + 1, Some(id)) } else { (stamp, None) })
}

/// Lambda's own `<time> <request id>` right before the phrase, whatever a log viewer put in
/// front of it (`  6:55:25am INFO 2017-10-30T08:55:46.064Z 137f9168-… Task timed out…`).
fn ends_with_platform_stamp(prefix: &str) -> bool {
    let mut tokens = prefix.split_whitespace().rev();
    let (Some(id), Some(time)) = (tokens.next(), tokens.next()) else { return false };
    looks_like_request_id(id) && time.len() >= 20 && time.contains('T') && time.ends_with('Z') && is_prefix_token(time)
}

fn only_prefix_tokens(prefix: &str) -> bool {
    let prefix = without_labels(prefix);
    let mut after_request_id = false;
    prefix.split_whitespace().all(|token| {
        // Whatever follows `RequestId:` is the id, however short (`RequestId: 1c2d`).
        let ok = after_request_id || is_prefix_token(token);
        after_request_id = token.eq_ignore_ascii_case("RequestId:");
        ok
    })
}

/// `prefix` without the bracketed labels log tools add (`[/aws/lambda/orders-api]`,
/// `[           thumbnailer-dbb2a35]` from `pulumi logs`); a bracketed level other than an
/// error level (`[INFO]`) is kept, so that an informational line stays an application's.
fn without_labels(prefix: &str) -> std::borrow::Cow<'_, str> {
    if !prefix.contains('[') && !prefix.contains('<') {
        return std::borrow::Cow::Borrowed(prefix);
    }
    // A placeholder of several words (`<redacted from snapshot>`) stands for one id.
    let mut unplaced = String::with_capacity(prefix.len());
    let mut rest = prefix;
    while let Some(open) = rest.find('<') {
        let Some(close) = rest[open..].find('>').map(|at| open + at) else { break };
        unplaced.push_str(&rest[..open]);
        unplaced.push_str(" <id> ");
        rest = &rest[close + 1..];
    }
    unplaced.push_str(rest);
    let prefix = unplaced.as_str();
    let mut out = String::with_capacity(prefix.len());
    let mut rest = prefix;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']').map(|at| open + at) else { break };
        let label = rest[open + 1..close].trim();
        if label.starts_with('$') {
            // A log stream's version (`2024/03/04/[$LATEST]94fa…`) is part of its token.
            out.push_str(&rest[..=close]);
            rest = &rest[close + 1..];
            continue;
        }
        let level =
            matches!(label.to_ascii_lowercase().as_str(), "info" | "debug" | "trace" | "notice" | "warn" | "warning");
        out.push_str(&rest[..open]);
        out.push(' ');
        if level {
            out.push_str(label);
            out.push(' ');
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

/// A token runtimes and log tools print before a platform phrase: a timestamp
/// (`2024-03-04T17:22:38.033Z`, `2019/07/18`, `12:00:00,123`, `(+00:00)`), a log stream name
/// (`2024/03/04/[$LATEST]94fa…`), a request id or a placeholder for one (`undefined`,
/// `<request-id>`, `xxxxxxxx-xxxx-…`, a shortened `d440b814-…`), a level (`ERROR`,
/// `[ERROR]`, `FATAL`), `RequestId:`, `Error:`, or an error type (`Runtime.ExitError`).
pub fn is_prefix_token(token: &str) -> bool {
    let bare = token
        .trim_matches(|c: char| matches!(c, '[' | ']' | '(' | ')' | '{' | '}' | ':' | ',' | ';' | '|' | '"' | '\''));
    let bare = bare.trim_end_matches('…').trim_end_matches("...");
    if bare.is_empty() {
        return true;
    }
    let lower = bare.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        // `"errorMessage": "…` is the field of an error JSON copied without its braces.
        "requestid"
            | "errormessage"
            | "errortype"
            | "unhandlederrortype"
            | "exception"
            | "uncaughtexception"
            | "type"
            | "request_id"
            | "error"
            | "err"
            | "fatal"
            | "critical"
            | "undefined"
            | "null"
            | "none"
            | "-"
            | "utc"
            | "gmt"
    ) {
        return true;
    }
    let first = bare.as_bytes()[0];
    let timestamp = (first.is_ascii_digit() || first == b'+')
        && (bare.bytes().all(|b| b.is_ascii_digit() || b"-:T.Z+/,_".contains(&b)) || bare.contains("/["));
    // A placeholder or a redacted id: `<request-id>`, `xxxxxxxx-…`, `593a3a89-????`.
    let placeholder = (bare.starts_with('<') && bare.ends_with('>'))
        || (bare.starts_with('{') && bare.ends_with('}'))
        || (bare.contains('-') && bare.bytes().all(|b| b.is_ascii_hexdigit() || b"-xX?*".contains(&b)));
    // Step Functions names the Lambda failure it reports (`States.TaskFailed: Lambda.AWSLambdaException:`).
    let error_type =
        ["Runtime.", "Sandbox.", "Function.", "Extension.", "States.", "Lambda."].iter().any(|p| bare.starts_with(p));
    // A log group name, as tools that merge groups print it (`[/aws/lambda/orders-api]`).
    let log_group = bare.starts_with("/aws/");
    // A shortened request id in a copy (`b70435cc`): hex, at least 8 digits.
    let short_id = bare.len() >= 8 && bare.bytes().all(|b| b.is_ascii_hexdigit());
    timestamp || placeholder || error_type || log_group || short_id || looks_like_request_id(bare)
}

/// `key=value` with an identifier for key, as logfmt loggers print fields (`date=Mon`).
fn is_logfmt_pair(token: &str) -> bool {
    token.split_once('=').is_some_and(|(key, value)| {
        !key.is_empty() && !value.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    })
}

/// After `seconds`: nothing, punctuation, or an error type (`Sandbox.Timedout`).
pub(super) fn is_trailer_token(token: &str) -> bool {
    token.bytes().all(|b| b.is_ascii_punctuation()) || is_prefix_token(token)
}

/// A request id is a UUID-like token of hex digits and dashes.
pub fn looks_like_request_id(token: &str) -> bool {
    token.len() >= 4 && token.contains('-') && token.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}
