//! The AWS Chatbot custom notification a finding becomes, which Slack and Teams channels
//! render: its title, its description within Slack's size, the fix as next steps, and the
//! thread and resources that group repeats of one problem.

use std::fmt::Write as _;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{
    CHATBOT_EVIDENCE_CHARS, MAX_CHATBOT_DESCRIPTION_CHARS, before_it_failed, cut_chars, error_line, seen, subject,
    suppression_note, varied,
};
use crate::model::Severity;
use crate::model::finding::Finding;

/// The Slack and Teams emoji of a severity.
fn severity_emoji(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => ":rotating_light:",
        Severity::High => ":red_circle:",
        Severity::Medium => ":warning:",
        Severity::Low => ":information_source:",
    }
}

/// A stable thread id per (account, region, log group, rule): repeats of one problem in one
/// function thread together in the channel, whichever batch found them.
pub fn thread_id(finding: &Finding) -> String {
    let mut hasher = Sha256::new();
    for part in [&finding.account, &finding.region, &finding.log_group, &finding.rule_id] {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// What a finding is about, as ARNs: the Lambda function (for a Lambda log group) and the log
/// group, when the account is known.
pub fn related_resources(finding: &Finding) -> Vec<String> {
    if finding.account.is_empty() {
        return Vec::new();
    }
    let partition = crate::model::partition(&finding.region);
    let mut resources = Vec::new();
    if finding.log_group.strip_prefix("/aws/lambda/").is_some_and(|name| name == finding.function) {
        resources.push(format!(
            "arn:{partition}:lambda:{}:{}:function:{}",
            finding.region, finding.account, finding.function
        ));
    }
    resources
        .push(format!("arn:{partition}:logs:{}:{}:log-group:{}", finding.region, finding.account, finding.log_group));
    resources
}

/// The AWS Chatbot (Amazon Q Developer in chat applications) custom notification, which Slack
/// and Teams channels render: <https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html>.
///
/// `version` "1.0", `source` "custom" and a non-empty `content.description` are required; a
/// message outside the schema is dropped by Chatbot without an error (the custom notification schema above).
pub fn chatbot(finding: &Finding) -> Value {
    let severity = finding.severity.as_str().to_ascii_uppercase();
    let new = if finding.new_error_type == Some(true) { "New error type · " } else { "" };
    let title =
        format!("{} [{severity}] {new}{}: {}", severity_emoji(finding.severity), finding.function, finding.title);
    let description = chatbot_description(finding);
    let footer = format!(
        "\n*Account* {} · *Region* {} · *Log group* `{}` · *Seen* {}\n*Logs:* {}{}",
        if finding.account.is_empty() { "unknown" } else { &finding.account },
        finding.region,
        finding.log_group,
        seen(finding),
        finding.console_url,
        finding
            .insights_url
            .as_ref()
            .map(|url| format!("\n*Every line of these invocations:* {url}"))
            .unwrap_or_default()
    );
    // Room for the footer, and for closing a code block the cut left open.
    let room = MAX_CHATBOT_DESCRIPTION_CHARS.saturating_sub(footer.chars().count() + 4);
    let mut description = cut_chars(&description, room);
    if description.matches("```").count() % 2 == 1 {
        description.push_str("\n```");
    }
    description.push_str(&footer);
    json!({
        "version": "1.0",
        "source": "custom",
        "id": finding.id,
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": description,
            "nextSteps": finding.fix,
            "keywords": [finding.severity.as_str(), finding.category.as_str(), finding.rule_id],
        },
        "metadata": {
            "threadId": thread_id(finding),
            "summary": subject(finding),
            "eventType": finding.category.as_str(),
            "relatedResources": related_resources(finding),
            "additionalContext": {
                // Marks the card as this tool's own (OWN_OUTPUT_MARKERS), should a forwarder
                // log it where the tool reads.
                "schema": crate::model::finding::SCHEMA,
                "finding_id": finding.id,
                "rule_id": finding.rule_id,
                "severity": finding.severity.as_str(),
                "function": finding.function,
                "log_group": finding.log_group,
            },
        },
    })
}

/// The card's description before its footer: what happened, the error, what varied and was
/// held back, why, the evidence and the lines before the failure (fences kept balanced).
fn chatbot_description(finding: &Finding) -> String {
    let mut description = format!("{}\n", finding.summary);
    if let Some(line) = error_line(finding) {
        let _ = writeln!(description, "*Error:* {line}");
    }
    for line in varied(finding) {
        let _ = writeln!(description, "*Varied:* {line}");
    }
    if let Some(note) = suppression_note(finding) {
        let _ = writeln!(description, "_{note}_");
    }
    let _ = write!(description, "\n*Why:* {}\n", finding.cause.trim());
    if !finding.evidence.is_empty() {
        description.push_str("\n*Evidence (redacted):*\n```\n");
        for evidence in &finding.evidence {
            // A fence inside the evidence would end the code block early.
            let first_line = evidence.message.lines().next().unwrap_or_default().replace("```", "'''");
            let _ = writeln!(description, "{} {}", evidence.timestamp, cut_chars(&first_line, CHATBOT_EVIDENCE_CHARS));
        }
        description.push_str("```\n");
    }
    let context = before_it_failed(finding);
    if !context.is_empty() {
        description.push_str("\n*Before it failed:*\n```\n");
        for (timestamp, line) in context.iter().skip(context.len().saturating_sub(5)) {
            let line = line.replace("```", "\'\'\'");
            let _ = writeln!(description, "{timestamp} {}", cut_chars(&line, 200));
        }
        description.push_str("```\n");
    }
    description
}
