//! Rendering: findings as people and machines read them.
//!
//! The JSON contract is the [`Finding`] itself (serde). This module adds the renderings for
//! people: the terminal text of `troubleshooter scan --format text`.

use std::fmt::Write as _;

use crate::finding::Finding;

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
    let _ = writeln!(
        out,
        "  Rule: {} ({}) · first seen {}",
        finding.rule_id,
        finding.category.as_str(),
        finding.first_seen
    );
    let _ = writeln!(out, "  Logs: {}", finding.console_url);
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
