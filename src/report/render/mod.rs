//! Rendering: findings as people and machines read them.
//!
//! The JSON contract is the [`Finding`] itself (serde). This module adds the renderings for
//! people: the terminal text of `troubleshooter scan --format text`, and what an SNS message
//! carries: the email [`subject`] and [`email`] body, the AWS Chatbot
//! custom notification ([`chatbot`]) that Slack and Teams channels render, and the
//! [`message_attributes`] subscription filter policies select on. Everything here is pure; the
//! SNS adapter ([`crate::aws::sns`]) enforces the size limits by trimming evidence and rendering again.

mod chatbot;

pub use chatbot::{chatbot, related_resources, thread_id};

use std::fmt::Write as _;

use serde_json::{Value, json};

use crate::model::details::{self, Held, SUPPRESS_WINDOW_SECONDS, SUPPRESSED_FINDINGS, SUPPRESSED_OCCURRENCES, Varied};
use crate::model::finding::Finding;

/// The longest subject, in characters. The Publish API reference says subjects must be "less
/// than 100 characters long": 99 satisfies it.
pub const MAX_SUBJECT_CHARS: usize = 99;
/// The longest Chatbot `content.description`, in characters: Slack holds 3,000 characters in
/// one text block, and AWS Chatbot drops a notification it cannot render without telling anyone
/// (<https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html>), so the
/// description stays well inside that.
pub const MAX_CHATBOT_DESCRIPTION_CHARS: usize = 2_800;
/// Chatbot evidence lines are cut to this many characters; the email carries them whole.
const CHATBOT_EVIDENCE_CHARS: usize = 500;
/// Details that describe delivery rather than the problem; the renderings say them in words.
/// `values` and `context` are said in words too ([`varied`], [`before_it_failed`]).
const DELIVERY_DETAILS: [&str; 5] =
    [SUPPRESSED_FINDINGS, SUPPRESSED_OCCURRENCES, SUPPRESS_WINDOW_SECONDS, details::VALUES, details::CONTEXT];

/// The lines before the failure that enrichment fetched (`details.context`): `(timestamp,
/// first line of the message)`, already redacted.
pub fn before_it_failed(finding: &Finding) -> Vec<(String, String)> {
    finding
        .details
        .context
        .iter()
        .map(|line| (line.timestamp.clone(), line.message.lines().next().unwrap_or_default().to_owned()))
        .collect()
}

/// How often and when, the same words in every rendering: `2000 times in 1800 invocations,
/// 2024-03-04T17:22:38.033Z to 2024-03-04T17:25:01.910Z`.
pub fn seen(finding: &Finding) -> String {
    let how_often = match (finding.count, finding.requests) {
        (1, _) => "once".to_owned(),
        (count, Some(requests)) if requests == count => format!("{count} invocations"),
        (count, Some(1)) => format!("{count} times in 1 invocation"),
        (count, Some(requests)) => format!("{count} times in {requests} invocations"),
        (count, None) => format!("{count} times"),
    };
    if finding.first_seen == finding.last_seen {
        format!("{how_often}, at {}", finding.first_seen)
    } else {
        format!("{how_often}, {} to {}", finding.first_seen, finding.last_seen)
    }
}

/// The values that varied within the one problem, a line per detail: `hosts (200): 10.0.3.7,
/// 10.0.3.8, 10.0.3.9, 10.0.3.10, 10.0.3.11 and 195 more`.
pub fn varied(finding: &Finding) -> Vec<String> {
    finding
        .details
        .varied
        .iter()
        .map(|(name, Varied { total, first })| {
            let more = total.saturating_sub(first.len() as u64);
            let mut line = format!("{} ({total}): {}", details::plural(name), first.join(", "));
            if more > 0 {
                let _ = write!(line, " and {more} more");
            }
            line
        })
        .collect()
}

/// What an unhandled error is, in one line: `new error type: TypeError at handler (index.js),
/// fingerprint 0f3a… (v1)`; `None` for other findings.
pub fn error_line(finding: &Finding) -> Option<String> {
    let fingerprint = finding.fingerprint.as_ref()?;
    let mut line = String::from(match finding.new_error_type {
        Some(true) => "new error type: ",
        Some(false) => "known error type: ",
        None => "error type: ",
    });
    line.push_str(finding.error_type.as_deref().unwrap_or("(no type)"));
    if let Some(frame) = &finding.top_frame {
        let _ = write!(line, " at {frame}");
    }
    let _ = write!(line, ", fingerprint {fingerprint}");
    if let Some(version) = finding.fingerprint_version {
        let _ = write!(line, " (v{version})");
    }
    Some(line)
}

/// A finding as a person reads it in a terminal: severity, title, function, count, what
/// happened, the cause, the fix, the evidence and the console link.
pub fn text(finding: &Finding) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "[{}] {} — {} ({}x)",
        finding.severity.as_str().to_ascii_uppercase(),
        finding.title,
        finding.function,
        finding.count
    );
    let _ = writeln!(out, "  What happened: {}", finding.summary);
    if let Some(line) = error_line(finding) {
        let _ = writeln!(out, "  Error: {line}");
    }
    let _ = writeln!(out, "  Seen: {}", seen(finding));
    for line in varied(finding) {
        let _ = writeln!(out, "  Varied: {line}");
    }
    let _ = writeln!(out, "  Why: {}", finding.cause);
    let _ = writeln!(out, "  Fix:");
    for (n, step) in finding.fix.iter().enumerate() {
        let _ = writeln!(out, "    {}. {}", n + 1, step);
    }
    if !finding.evidence.is_empty() {
        let _ = writeln!(out, "  Evidence:");
        for evidence in &finding.evidence {
            let first_line = evidence.message.lines().next().unwrap_or_default();
            let _ = writeln!(out, "    {} {}", evidence.timestamp, first_line);
        }
    }
    let context = before_it_failed(finding);
    if !context.is_empty() {
        let _ = writeln!(out, "  Before it failed:");
        for (timestamp, line) in &context {
            let _ = writeln!(out, "    {timestamp} {line}");
        }
    }
    let _ = writeln!(out, "  Rule: {} ({})", finding.rule_id, finding.category.as_str());
    let _ = writeln!(out, "  Logs: {}", finding.console_url);
    if let Some(url) = &finding.insights_url {
        let _ = writeln!(out, "  Every line of these invocations (Logs Insights): {url}");
    }
    if let Some(doc) = finding.docs.first() {
        let _ = writeln!(out, "  Docs: {doc}");
    }
    out
}

/// One finding as one line of JSON.
///
/// # Errors
///
/// Never in practice: a [`Finding`] always serialises; the error is serde's.
pub fn json_line(finding: &Finding) -> Result<String, serde_json::Error> {
    serde_json::to_string(finding)
}

/// The email subject: `[CRITICAL] orders-api: out of memory (3x)`.
///
/// At most [`MAX_SUBJECT_CHARS`] characters of printable ASCII, no line breaks or control
/// characters (SNS rejects or rewrites other subjects). A long function or log group name is
/// shortened in the middle with `...`, so the severity, the problem and the count stay readable.
pub fn subject(finding: &Finding) -> String {
    let prefix = format!("[{}] ", finding.severity.as_str().to_ascii_uppercase());
    let mut suffix = match (finding.new_error_type, &finding.error_type) {
        (Some(true), Some(error_type)) => format!(": new error type {}", cut_chars(&subject_text(error_type), 40)),
        (Some(true), None) => ": new error type".to_owned(),
        (_, Some(error_type)) => format!(": {} {}", finding.category.words(), cut_chars(&subject_text(error_type), 40)),
        (_, None) => format!(": {}", finding.category.words()),
    };
    if finding.count > 1 {
        let _ = write!(suffix, " ({}x)", finding.count);
    }
    let name = subject_text(&finding.function);
    let room = MAX_SUBJECT_CHARS.saturating_sub(prefix.len() + suffix.len());
    let name = shorten_middle(&name, room);
    let subject = format!("{prefix}{name}{suffix}");
    // Only a category longer than the whole budget could get here; cut it at the end.
    subject.chars().take(MAX_SUBJECT_CHARS).collect::<String>().trim_end().to_owned()
}

/// Printable ASCII only: control characters become spaces, anything else `?`; runs of
/// whitespace become one space.
fn subject_text(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| match c {
            ' '..='~' => c,
            c if c.is_control() => ' ',
            _ => '?',
        })
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` (ASCII) in at most `max` characters, keeping its start and end around `...`.
fn shorten_middle(text: &str, max: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= max {
        return text.to_owned();
    }
    if max <= 3 {
        return ".".repeat(max);
    }
    let keep = max - 3;
    let head = keep.div_ceil(2);
    let tail = keep - head;
    let mut out: String = chars[..head].iter().collect();
    out.push_str("...");
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// `text` cut to at most `max` characters, ending in `…` when something was cut.
fn cut_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The suppression note, when earlier repeats were held back: "4 more findings of this
/// problem (9 occurrences) were held back since the previous message ...".
fn suppression_note(finding: &Finding) -> Option<String> {
    let Held { findings: held, occurrences, window_seconds: window } =
        finding.details.held.filter(|h| h.findings > 0)?;
    let mut note = format!(
        "{held} more {} of this problem ({occurrences} {}) {} held back since the previous message",
        if held == 1 { "finding" } else { "findings" },
        if occurrences == 1 { "occurrence" } else { "occurrences" },
        if held == 1 { "was" } else { "were" },
    );
    {
        let _ = write!(note, " (suppression window: {window} s)");
    }
    note.push('.');
    Some(note)
}

/// The email body, plain text for a mail client, and the whole diagnosis: what happened with
/// the numbers, why, the fix steps, the evidence, the details and the links.
pub fn email(finding: &Finding) -> String {
    let mut out = String::new();
    email_head(&mut out, finding);
    email_story(&mut out, finding);
    email_evidence(&mut out, finding);
    email_links(&mut out, finding);
    out
}

/// The email's title and where: function, error, account, log group and stream, when.
fn email_head(out: &mut String, finding: &Finding) {
    if finding.new_error_type == Some(true) {
        let _ = writeln!(out, "NEW ERROR TYPE: not seen in this function within NEW_ERROR_WINDOW");
    }
    let _ = writeln!(out, "{} [{}]", finding.title, finding.severity.as_str().to_ascii_uppercase());
    let _ = writeln!(out);
    let _ = writeln!(out, "Function:   {}", finding.function);
    if let Some(line) = error_line(finding) {
        let _ = writeln!(out, "Error:      {line}");
    }
    if finding.account.is_empty() {
        let _ = writeln!(out, "Region:     {}", finding.region);
    } else {
        let _ = writeln!(out, "Account:    {} ({})", finding.account, finding.region);
    }
    let _ = writeln!(out, "Log group:  {}", finding.log_group);
    let _ = writeln!(out, "Log stream: {}", finding.log_stream);
    let _ = writeln!(out, "Seen:       {}", seen(finding));
    let _ = writeln!(out);
}

/// What happened, why, and how to fix it.
fn email_story(out: &mut String, finding: &Finding) {
    let _ = writeln!(out, "WHAT HAPPENED");
    let _ = writeln!(out, "{}", finding.summary);
    for line in varied(finding) {
        let _ = writeln!(out, "Varied: {line}");
    }
    if let Some(note) = suppression_note(finding) {
        let _ = writeln!(out, "{note}");
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "WHY");
    let _ = writeln!(out, "{}", finding.cause.trim());
    let _ = writeln!(out);
    let _ = writeln!(out, "HOW TO FIX");
    for (n, step) in finding.fix.iter().enumerate() {
        let _ = writeln!(out, "{}. {}", n + 1, step.trim());
    }
}

/// The evidence, the lines before the failure, the details and the request ids.
fn email_evidence(out: &mut String, finding: &Finding) {
    if !finding.evidence.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "EVIDENCE (redacted)");
        for evidence in &finding.evidence {
            let _ = writeln!(out, "{}", evidence.timestamp);
            for line in evidence.message.lines() {
                let _ = writeln!(out, "    {line}");
            }
        }
    }
    let context = before_it_failed(finding);
    if !context.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "BEFORE IT FAILED (the request's last lines, from CloudWatch Logs, redacted)");
        for (timestamp, line) in &context {
            let _ = writeln!(out, "{timestamp}  {line}");
        }
    }
    let members = finding.details.members();
    let details: Vec<_> = members.iter().filter(|(name, _)| !DELIVERY_DETAILS.contains(&name.as_str())).collect();
    if !details.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "DETAILS");
        for (name, value) in details {
            let value = match value {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let _ = writeln!(out, "{name}: {value}");
        }
    }
    if !finding.request_ids.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Request ids: {}", finding.request_ids.join(", "));
    }
}

/// The console and Logs Insights links, the documentation, and the signature line.
fn email_links(out: &mut String, finding: &Finding) {
    let _ = writeln!(out);
    let _ = writeln!(out, "Open the log stream in the CloudWatch console:");
    let _ = writeln!(out, "{}", finding.console_url);
    if let Some(url) = &finding.insights_url {
        let _ = writeln!(out);
        let _ = writeln!(out, "Every line of these invocations, in CloudWatch Logs Insights:");
        let _ = writeln!(out, "{url}");
    }
    if !finding.docs.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "Documentation:");
        for doc in &finding.docs {
            let _ = writeln!(out, "{doc}");
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "--");
    let _ = writeln!(
        out,
        "{}{} ({}) · finding {}",
        crate::model::finding::SIGNATURE,
        finding.rule_id,
        finding.category.as_str(),
        finding.id
    );
}

/// The SNS message attributes subscription filter policies select on, in a fixed order:
/// `severity`, `category`, `rule_id`, `function`, `log_group`, `account`. All are `String`
/// attributes; an empty value (an unknown account) is left out, because SNS refuses empty ones.
pub fn message_attributes(finding: &Finding) -> Vec<(&'static str, String)> {
    [
        ("severity", finding.severity.as_str().to_owned()),
        ("category", finding.category.as_str().to_owned()),
        ("rule_id", finding.rule_id.clone()),
        ("function", finding.function.clone()),
        ("log_group", finding.log_group.clone()),
        ("account", finding.account.clone()),
    ]
    .into_iter()
    .filter(|(_, value)| !value.is_empty())
    .collect()
}

/// The SNS `Message` for `MessageStructure=json`: a JSON object of strings, `default` (the
/// finding JSON, which SQS, Lambda and HTTP subscribers get), `email` (the plain text) and
/// `https` (the Chatbot notification, itself encoded as a string).
///
/// # Errors
///
/// Never in practice: a [`Finding`] always serialises; the error is serde's.
pub fn sns_message(finding: &Finding) -> Result<String, serde_json::Error> {
    let message = json!({
        "default": serde_json::to_string(finding)?,
        "email": email(finding),
        "https": serde_json::to_string(&chatbot(finding))?,
    });
    serde_json::to_string(&message)
}

#[cfg(test)]
mod tests;
