//! After the analysis: mutes and flood control, the publish, the claims released or kept, the
//! log line per finding, and the response `cargo lambda invoke` shows.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::deliver::publish::{FailedFinding, PublishError, Publisher};
use crate::deliver::suppress::{Key, Plan, Verdict};
use crate::model::finding::Finding;
use crate::report::metrics::InvocationMetrics;

use super::{Cut, HandlerError, Troubleshooter};
use crate::analysis::BatchOutcome;

impl Troubleshooter {
    /// Applies mutes and flood control, publishes what they let through (told to stop by the
    /// cut, if any), and records what the publisher answered: the claims of what went out are
    /// sent, those of what did not are released for the retry. Counts into `metrics` the
    /// findings (a redelivered one was counted when it was first published), what was held
    /// back or muted, and what the publisher did not deliver.
    pub(super) async fn deliver(
        &self,
        findings: Vec<Finding>,
        publisher: &dyn Publisher,
        now: Duration,
        cut: Option<&Cut>,
        metrics: &mut InvocationMetrics,
    ) -> Result<Plan, HandlerError> {
        let keyed = findings
            .into_iter()
            .map(|finding| (Key::of(&finding, self.analysis.key_fields(&finding.rule_id)), finding))
            .collect();
        let plan = self.suppression.decide(keyed, now).await;
        for reason in &plan.failed_open {
            tracing::warn!(reason = %reason, "suppression table unavailable: publishing without flood control (fails open)");
        }
        for (_, finding, _) in plan.findings.iter().filter(|(_, _, verdict)| *verdict != Verdict::Duplicate) {
            metrics.findings.add(finding);
        }
        metrics.suppressed += plan.count(Verdict::Suppressed) as u64;
        metrics.muted += plan.count(Verdict::Muted) as u64;
        let to_publish = plan.to_publish();
        let published = publish(publisher, &to_publish, cut).await;
        let not_delivered = published.as_ref().err().map(|e| e.not_delivered(&to_publish)).unwrap_or_default();
        metrics.publish_failures += not_delivered.len() as u64;
        log_findings(&plan, &not_delivered);
        let error = match published {
            Ok(()) => {
                self.suppression.delivered(&plan).await;
                self.log_held(&plan);
                return Ok(plan);
            }
            Err(error) => error,
        };
        let settle = self.suppression.partly_delivered(&plan, &not_delivered);
        match cut {
            // The time left is for the error: claims not released by then are retried once stale.
            Some(cut) if error.is_deadline() => {
                let _ = tokio::time::timeout_at(cut.release_by.into(), settle).await;
                Err(HandlerError::Deadline { margin_ms: cut.margin_ms })
            }
            _ => {
                settle.await;
                Err(HandlerError::Publish(error))
            }
        }
    }

    fn log_held(&self, plan: &Plan) {
        let held = [Verdict::Suppressed, Verdict::Duplicate, Verdict::Muted].map(|v| plan.count(v));
        if held.iter().any(|n| *n > 0) {
            tracing::info!(
                published = plan.count(Verdict::Publish),
                suppressed = held[0],
                duplicates = held[1],
                muted = held[2],
                suppress_seconds = self.config().suppress_seconds,
                shared = self.config().suppress_table.is_some(),
                "findings held back by flood control or mutes"
            );
        }
    }

    pub(super) fn log_outcome(&self, outcome: &BatchOutcome) {
        tracing::info!(
            log_group = %outcome.log_group,
            events = outcome.events,
            findings = outcome.findings.len(),
            skipped = outcome.skipped.unwrap_or(""),
            "batch analysed"
        );
    }
}

/// `publisher`'s publish of `findings`, told to stop by the cut; a publisher still running at
/// [`Cut::abandon_at`] is dropped, and everything it was given counted as not delivered.
async fn publish(publisher: &dyn Publisher, findings: &[Finding], cut: Option<&Cut>) -> Result<(), PublishError> {
    let Some(cut) = cut else { return publisher.publish(findings, None).await };
    let publish = publisher.publish(findings, Some(cut.stop_by));
    tokio::time::timeout_at(cut.abandon_at.into(), publish).await.unwrap_or_else(|_| {
        let undelivered = findings
            .iter()
            .map(|f| FailedFinding {
                id: f.id.clone(),
                code: "Deadline".into(),
                message: "the publisher did not stop at the invocation's deadline".into(),
            })
            .collect();
        Err(PublishError::Deadline { total: findings.len(), undelivered })
    })
}

/// One INFO line per finding, the fields the dashboard's Logs Insights widgets query
/// (template.yaml; tests/template/test_template.py checks they are the fields logged here).
/// The summary is built from redacted values only, and no line of the analysed logs is logged.
fn log_findings(plan: &Plan, not_delivered: &BTreeSet<&str>) {
    for (_, finding, verdict) in &plan.findings {
        let delivery = match verdict {
            Verdict::Publish if not_delivered.contains(finding.id.as_str()) => "undelivered",
            _ => verdict.as_str(),
        };
        tracing::info!(
            finding_id = %finding.id,
            rule_id = %finding.rule_id,
            category = finding.category.as_str(),
            severity = finding.severity.as_str(),
            function = %finding.function,
            log_group = %finding.log_group,
            count = finding.count,
            summary = %finding.summary,
            delivery,
            "finding"
        );
    }
}

/// The awslogs response: what was found and what became of it (`published`, `suppressed` or
/// `duplicate`), for people running `cargo lambda invoke`.
pub(super) fn response(outcomes: &[BatchOutcome], plan: &Plan) -> Value {
    let findings: Vec<Value> = plan
        .findings
        .iter()
        .take(MAX_RESPONSE_FINDINGS)
        .map(|(_, f, verdict)| {
            let mut line = json!({"id": f.id, "rule_id": f.rule_id, "severity": f.severity, "title": f.title, "count": f.count, "summary": f.summary, "delivery": verdict.as_str()});
            if let Some(new) = f.new_error_type {
                line["new_error_type"] = json!(new);
            }
            line
        })
        .collect();
    let mut response = json!({"batches": outcomes, "findings": findings});
    if let Some(more) = plan.findings.len().checked_sub(MAX_RESPONSE_FINDINGS).filter(|n| *n > 0) {
        response["findings_not_listed"] = json!(more);
    }
    response
}

/// The most findings the function's response lists (a Kinesis invocation of many records can
/// give thousands); the rest are counted in `findings_not_listed`. Each was published or held
/// as its verdict says: the response only reports.
pub const MAX_RESPONSE_FINDINGS: usize = 100;
