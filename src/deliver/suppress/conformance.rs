//! The claim rules of the module docs as one executable scenario, run by the tests on every
//! [`SuppressionStore`]: the in-memory store in unit tests, the DynamoDB adapter against moto
//! server. A store that passes sends one message per problem per window, counts what it held
//! back, survives a failed publish, and drops duplicates.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use super::{Key, Plan, Suppression, SuppressionStore, Verdict, Windows};
use crate::model::finding::{Finding, SCHEMA};
use crate::model::{Category, Severity, details};

/// A finding of `lambda-out-of-memory` in `log_group`, with this id and count.
pub fn finding(log_group: &str, id: &str, count: u64) -> Finding {
    Finding {
        schema: SCHEMA.into(),
        id: id.into(),
        rule_id: "lambda-out-of-memory".into(),
        category: Category::OutOfMemory,
        severity: Severity::Critical,
        title: "Lambda function ran out of memory".into(),
        summary: "orders-api ran out of memory".into(),
        cause: "c".into(),
        fix: vec![],
        docs: vec![],
        account: "123456789012".into(),
        region: "us-east-1".into(),
        log_group: log_group.into(),
        log_stream: "stream".into(),
        function: crate::model::finding::function_name(log_group).into(),
        count,
        requests: None,
        first_seen: String::new(),
        last_seen: String::new(),
        request_ids: vec![],
        event_ids: vec![],
        evidence: vec![],
        details: Default::default(),
        console_url: String::new(),
        insights_url: None,
        fingerprint: None,
        fingerprint_version: None,
        error_type: None,
        top_frame: None,
        new_error_type: None,
    }
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what.to_owned()) }
}

/// Runs the scenario on `store`, with log group `log_group` (use a fresh one per run on a
/// shared store). `Err` says which rule the store broke.
///
/// # Errors
///
/// The first broken rule, in words.
pub async fn claim_rules(store: Arc<dyn SuppressionStore>, log_group: &str) -> Result<(), String> {
    const WINDOW: u64 = 300;
    let suppression = Suppression::new(store, Windows::from_seconds(WINDOW, &BTreeMap::new()));
    let t0 = Duration::from_secs(1_800_000_000);
    let at = |s: u64| t0 + Duration::from_secs(s);
    let key = Key::of(&finding(log_group, "x", 1), &[]);
    let decide = |id: &'static str, count: u64, s: u64| {
        let suppression = suppression.clone();
        let key = key.clone();
        let finding = finding(log_group, id, count);
        async move { suppression.decide(vec![(key, finding)], at(s)).await }
    };
    let verdict = |plan: &Plan| plan.findings[0].2;
    let held = |plan: &Plan| {
        let d = plan.findings[0].1.details.members();
        (d.get(details::SUPPRESSED_FINDINGS).cloned(), d.get(details::SUPPRESSED_OCCURRENCES).cloned())
    };

    let first = decide("a", 1, 0).await;
    check(first.failed_open.is_empty(), &format!("the store failed: {:?}", first.failed_open))?;
    check(verdict(&first) == Verdict::Publish, "the first finding of a key is published")?;
    check(held(&first) == (None, None), "a first message carries no suppression details")?;
    suppression.delivered(&first).await;

    let repeat = decide("b", 1, 10).await;
    check(verdict(&repeat) == Verdict::Suppressed, "a repeat within the window is held back")?;
    suppression.delivered(&repeat).await;
    let repeat = decide("c", 3, 20).await;
    check(verdict(&repeat) == Verdict::Suppressed, "every repeat within the window is held back")?;
    suppression.delivered(&repeat).await;
    check(verdict(&decide("a", 1, 30).await) == Verdict::Duplicate, "a sent finding id is a duplicate")?;

    let next = decide("d", 1, WINDOW + 1).await;
    check(verdict(&next) == Verdict::Publish, "the first finding after the window is published")?;
    check(held(&next) == (Some(json!(2)), Some(json!(4))), "it counts the 2 findings (4 occurrences) held back")?;
    suppression.delivered(&next).await;

    // A failed publish releases the claim; the retry sends the same finding with the same count.
    let repeat = decide("e", 5, WINDOW + 5).await;
    suppression.delivered(&repeat).await;
    let failed = decide("f", 1, 2 * WINDOW + 2).await;
    check(verdict(&failed) == Verdict::Publish, "after the window, published")?;
    check(held(&failed) == (Some(json!(1)), Some(json!(5))), "with the one held back")?;
    // The publisher answered that this finding did not go out.
    suppression.partly_delivered(&failed, &std::collections::BTreeSet::from(["f"])).await;
    let other = decide("g", 1, 2 * WINDOW + 3).await;
    check(verdict(&other) == Verdict::Suppressed, "a released claim still holds the window for other findings")?;
    let retried = decide("f", 1, 2 * WINDOW + 4).await;
    check(verdict(&retried) == Verdict::Publish, "the retry of a failed publish is published")?;
    check(held(&retried) == (Some(json!(1)), Some(json!(5))), "and still says what was held back before it")?;
    // Another instance given the same batch while this one sends: a duplicate.
    check(verdict(&decide("f", 1, 2 * WINDOW + 5).await) == Verdict::Duplicate, "a finding being sent is a duplicate")?;
    // This instance died mid-publish: after STALE_CLAIM, Lambda's retry may send it.
    let stale = 2 * WINDOW + 4 + super::STALE_CLAIM.as_secs();
    check(verdict(&decide("f", 1, stale).await) == Verdict::Publish, "a stale claim of the same id is taken again")?;

    // Keys do not suppress each other.
    let other_key = Key { sort: format!("{}#other", key.sort), ..key.clone() };
    let plan = suppression.decide(vec![(other_key, finding(log_group, "h", 1))], at(2 * WINDOW + 6)).await;
    check(verdict(&plan) == Verdict::Publish, "another key is published within the window")?;
    Ok(())
}

/// An unhandled error of fingerprint `fingerprint` in `log_group`: the finding the analysis
/// gives for one batch.
fn unhandled(log_group: &str, id: &str, fingerprint: &str) -> Finding {
    let mut finding = finding(log_group, id, 1);
    finding.rule_id = "unhandled-error".into();
    finding.category = Category::UnhandledError;
    finding.fingerprint = Some(fingerprint.into());
    finding
}

/// New error types on `store`: a fingerprint is *new* when it was not seen within
/// `NEW_ERROR_WINDOW` (48 hours here), and a known one is held back and counted, with a
/// simulated clock.
///
/// # Errors
///
/// The first broken rule, in words.
pub async fn new_error_types(store: Arc<dyn SuppressionStore>, log_group: &str) -> Result<(), String> {
    const WINDOW: u64 = 48 * 3_600;
    const HOUR: u64 = 3_600;
    let by_category = BTreeMap::from([(Category::UnhandledError, WINDOW)]);
    let suppression = Suppression::new(store, Windows::from_seconds(300, &by_category));
    let t0 = Duration::from_secs(1_800_000_000);
    let key_fields = ["fingerprint".to_owned()];
    let decide = |id: &str, fingerprint: &str, hours: u64| {
        let suppression = suppression.clone();
        let finding = unhandled(log_group, id, fingerprint);
        let key = Key::of(&finding, &key_fields);
        async move { suppression.decide(vec![(key, finding)], t0 + Duration::from_secs(hours * HOUR)).await }
    };
    let outcome = |plan: &Plan| (plan.findings[0].2, plan.findings[0].1.new_error_type);

    let first = decide("a", "fp-1", 0).await;
    check(first.failed_open.is_empty(), &format!("the store failed: {:?}", first.failed_open))?;
    check(outcome(&first) == (Verdict::Publish, Some(true)), "a fingerprint never seen is a new error type")?;
    suppression.delivered(&first).await;
    let hour_later = decide("b", "fp-1", 1).await;
    check(hour_later.findings[0].2 == Verdict::Suppressed, "the same fingerprint an hour later is held back")?;
    suppression.delivered(&hour_later).await;
    let other = decide("c", "fp-2", 1).await;
    check(outcome(&other) == (Verdict::Publish, Some(true)), "another fingerprint is its own new error type")?;
    suppression.delivered(&other).await;

    // Claimed at hour 0 and seen at hour 1: at hour 48 its window has passed, but it was seen
    // 47 hours ago, so it is published again as a known error, with the count held back.
    let known = decide("d", "fp-1", 48).await;
    check(
        outcome(&known) == (Verdict::Publish, Some(false)),
        "after the window, a fingerprint seen within it is known",
    )?;
    check(
        known.findings[0].1.details.members().get(details::SUPPRESSED_FINDINGS) == Some(&json!(1)),
        "with the held count",
    )?;
    suppression.delivered(&known).await;
    // fp-2 was last seen at hour 1: at hour 50 it was not seen for 49 hours, so it is new again.
    let again = decide("e", "fp-2", 50).await;
    check(
        outcome(&again) == (Verdict::Publish, Some(true)),
        "a fingerprint unseen for longer than the window is new again",
    )?;
    Ok(())
}
