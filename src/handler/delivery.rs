//! After the analysis: mutes and flood control, the publish, the claims released or kept, the
//! log line per finding, and the response `cargo lambda invoke` shows.

use std::sync::PoisonError;
use std::time::Duration;

use serde_json::{Value, json};

use crate::deliver::publish::{PublishError, Publisher};
use crate::deliver::suppress::{Key, Plan, Verdict};
use crate::model::finding::Finding;
use crate::report::metrics::InvocationMetrics;

use super::Troubleshooter;
use crate::analysis::BatchOutcome;

impl Troubleshooter {
    /// Applies mutes and flood control, publishes what they let through, and records that
    /// (sent, or released for the retry) once the publish is done. Counts the findings (a
    /// redelivered one was counted when it was first published) and what was held back, muted
    /// or not delivered into `metrics`.
    pub(super) async fn publish(
        &self,
        findings: Vec<Finding>,
        publisher: &impl Publisher,
        now: Duration,
        metrics: &mut InvocationMetrics,
    ) -> Result<Plan, PublishError> {
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
        *self.in_flight.lock().unwrap_or_else(PoisonError::into_inner) = plan
            .findings
            .iter()
            .filter(|(_, _, v)| *v == Verdict::Publish)
            .map(|(key, finding, _)| (key.clone(), finding.id.clone()))
            .collect();
        // Counted as not delivered until the publish says otherwise: a publish the deadline
        // cuts short never returns.
        let to_publish = plan.to_publish();
        let failed_before = metrics.publish_failures;
        metrics.publish_failures = failed_before + to_publish.len() as u64;
        let published = publisher.publish(&to_publish).await;
        self.in_flight.lock().unwrap_or_else(PoisonError::into_inner).clear();
        metrics.publish_failures = failed_before
            + match &published {
                Ok(()) => 0,
                Err(PublishError::Undelivered { failed, .. }) => failed.len() as u64,
                Err(_) => to_publish.len() as u64,
            };
        log_findings(&plan, published.is_ok());
        if let Err(error) = published {
            self.suppression.undelivered(&plan).await;
            return Err(error);
        }
        self.suppression.delivered(&plan).await;
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
        Ok(plan)
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

/// One INFO line per finding, the fields the dashboard's Logs Insights widgets query
/// (template.yaml; tests/template/test_template.py checks they are the fields logged here).
/// The summary is built from redacted values only, and no line of the analysed logs is logged.
fn log_findings(plan: &Plan, published: bool) {
    for (_, finding, verdict) in &plan.findings {
        let delivery = match verdict {
            Verdict::Publish if !published => "undelivered",
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
