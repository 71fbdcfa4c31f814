//! Flood control across invocations of one warm instance: a function failing on every
//! invocation must not send a message per batch.
//!
//! Aggregation already gives one finding per (rule, log group, key fields) per batch. Across
//! batches, the [`Suppressor`] publishes the first finding of a [`key`] and holds back the
//! repeats that arrive within the window (SUPPRESS_SECONDS), counting them. The next finding of
//! that key after the window is published with the count in its details
//! ([`details::SUPPRESSED_FINDINGS`] and friends), so the message says how many were held back.
//!
//! **Per instance.** The state lives in the memory of one execution environment. Lambda runs
//! several instances in parallel and replaces them at will, so each instance suppresses on its
//! own: a flood is cut to about one message per key, per window, per concurrent instance, and a
//! fresh instance starts with nothing held.
//!
//! **Nothing is lost to a failed publish.** Deciding ([`Suppressor::plan`]) does not change the
//! state; only [`Suppressor::commit`], called after the publish succeeded, does. A batch whose
//! publish failed is retried by Lambda and decided again from the same state, so its findings
//! are neither suppressed by their own first attempt nor counted twice.
//!
//! A finding whose id this instance already published for its key is a redelivery of the same
//! batch (finding ids are stable): it is dropped, not counted.
//!
//! Time is passed in (a [`Duration`] since any fixed origin), so all of this is unit-tested
//! without a clock.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use crate::model::details;
use crate::model::finding::Finding;

/// The most keys remembered. Past this, the keys published longest ago are forgotten (and with
/// them any count not yet reported), so a function with unbounded distinct keys cannot grow the
/// instance's memory without bound.
pub const MAX_KEYS: usize = 10_000;

/// The suppression key of a finding: account, log group, rule and the rule's key field values,
/// the same identity aggregation uses within a batch. `key_fields` are the rule's `key` names.
pub fn key(finding: &Finding, key_fields: &[String]) -> String {
    let mut key = format!("{}\u{0}{}\u{0}{}", finding.account, finding.log_group, finding.rule_id);
    for name in key_fields {
        key.push('\u{0}');
        match finding.details.get(name) {
            Some(serde_json::Value::String(text)) => key.push_str(text),
            Some(other) => key.push_str(&other.to_string()),
            None => {}
        }
    }
    key
}

/// What the instance remembers about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// When the last finding of this key was published.
    last_sent: Duration,
    /// The id of that finding.
    last_id: String,
    /// Findings held back since then.
    held_findings: u64,
    /// The occurrences (finding counts) those findings carried.
    held_occurrences: u64,
}

/// What happens to one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Published (with the count of held-back repeats, if any, in its details).
    Publish,
    /// Held back: a finding of the same key was published within the window.
    Suppressed,
    /// Already published by this instance (same finding id): a redelivered batch.
    Duplicate,
}

impl Verdict {
    /// The lowercase name used in the function's response and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "published",
            Self::Suppressed => "suppressed",
            Self::Duplicate => "duplicate",
        }
    }
}

/// The decision for one invocation's findings, applied to the state only by
/// [`Suppressor::commit`].
#[derive(Debug, Clone)]
pub struct Plan {
    /// Every finding with its verdict, in the order given. Published findings carry the
    /// suppression details.
    pub findings: Vec<(Finding, Verdict)>,
    now: Duration,
    changes: HashMap<String, Entry>,
}

impl Plan {
    /// The findings to publish.
    pub fn to_publish(&self) -> Vec<Finding> {
        self.findings.iter().filter(|(_, v)| *v == Verdict::Publish).map(|(f, _)| f.clone()).collect()
    }

    /// How many findings have the verdict.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.findings.iter().filter(|(_, v)| *v == verdict).count()
    }
}

/// Per-instance suppression state; see the module docs.
#[derive(Debug, Clone)]
pub struct Suppressor {
    window: Duration,
    entries: HashMap<String, Entry>,
}

impl Suppressor {
    /// A suppressor with this window; [`Duration::ZERO`] publishes everything.
    pub fn new(window: Duration) -> Self {
        Self { window, entries: HashMap::new() }
    }

    /// The window.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Decides, without changing the state, what happens to each `(key, finding)` at `now`.
    pub fn plan(&self, findings: Vec<(String, Finding)>, now: Duration) -> Plan {
        let mut changes: HashMap<String, Entry> = HashMap::new();
        let mut decided = Vec::with_capacity(findings.len());
        for (key, mut finding) in findings {
            if self.window.is_zero() {
                decided.push((finding, Verdict::Publish));
                continue;
            }
            let previous = changes.get(&key).or_else(|| self.entries.get(&key)).cloned();
            let verdict = match previous {
                Some(entry) if entry.last_id == finding.id => Verdict::Duplicate,
                Some(mut entry) if now.saturating_sub(entry.last_sent) < self.window => {
                    entry.held_findings += 1;
                    entry.held_occurrences += finding.count;
                    changes.insert(key, entry);
                    Verdict::Suppressed
                }
                previous => {
                    if let Some(entry) = previous.filter(|e| e.held_findings > 0) {
                        finding.details.insert(details::SUPPRESSED_FINDINGS.into(), json!(entry.held_findings));
                        finding.details.insert(details::SUPPRESSED_OCCURRENCES.into(), json!(entry.held_occurrences));
                        finding.details.insert(details::SUPPRESS_WINDOW_SECONDS.into(), json!(self.window.as_secs()));
                    }
                    changes.insert(
                        key,
                        Entry { last_sent: now, last_id: finding.id.clone(), held_findings: 0, held_occurrences: 0 },
                    );
                    Verdict::Publish
                }
            };
            decided.push((finding, verdict));
        }
        Plan { findings: decided, now, changes }
    }

    /// Applies a plan whose published findings were delivered, then forgets keys whose window
    /// has passed with nothing held, and the oldest keys past [`MAX_KEYS`].
    pub fn commit(&mut self, plan: &Plan) {
        self.entries.extend(plan.changes.iter().map(|(k, e)| (k.clone(), e.clone())));
        let window = self.window;
        let now = plan.now;
        self.entries.retain(|_, e| e.held_findings > 0 || now.saturating_sub(e.last_sent) < window);
        if self.entries.len() > MAX_KEYS {
            let mut by_age: Vec<(Duration, String)> =
                self.entries.iter().map(|(k, e)| (e.last_sent, k.clone())).collect();
            by_age.sort();
            let excess = self.entries.len() - MAX_KEYS;
            for (_, key) in by_age.into_iter().take(excess) {
                self.entries.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::{Category, Severity};

    fn finding(id: &str, count: u64) -> Finding {
        Finding {
            schema: crate::model::finding::SCHEMA.into(),
            id: id.into(),
            rule_id: "lambda-out-of-memory".into(),
            category: Category::OutOfMemory,
            severity: Severity::Critical,
            title: "t".into(),
            summary: "s".into(),
            cause: "c".into(),
            fix: vec![],
            docs: vec![],
            account: "123456789012".into(),
            region: "us-east-1".into(),
            log_group: "/aws/lambda/orders-api".into(),
            log_stream: "stream".into(),
            function: "orders-api".into(),
            count,
            requests: None,
            first_seen: String::new(),
            last_seen: String::new(),
            request_ids: vec![],
            event_ids: vec![],
            evidence: vec![],
            details: BTreeMap::new(),
            console_url: String::new(),
        }
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Plans one finding of key "k" and commits the plan.
    fn run(s: &mut Suppressor, id: &str, count: u64, at: u64) -> (Verdict, Finding) {
        let plan = s.plan(vec![("k".into(), finding(id, count))], secs(at));
        let (finding, verdict) = plan.findings[0].clone();
        s.commit(&plan);
        (verdict, finding)
    }

    #[test]
    fn repeats_within_the_window_are_held_and_the_next_message_counts_them() {
        let mut s = Suppressor::new(secs(300));
        assert_eq!(run(&mut s, "a", 1, 0).0, Verdict::Publish);
        assert_eq!(run(&mut s, "b", 2, 10).0, Verdict::Suppressed);
        assert_eq!(run(&mut s, "c", 3, 299).0, Verdict::Suppressed);
        let (verdict, published) = run(&mut s, "d", 1, 300);
        assert_eq!(verdict, Verdict::Publish);
        assert_eq!(published.details[details::SUPPRESSED_FINDINGS], json!(2));
        assert_eq!(published.details[details::SUPPRESSED_OCCURRENCES], json!(5));
        assert_eq!(published.details[details::SUPPRESS_WINDOW_SECONDS], json!(300));
        // The window restarts at the published message, and the count starts again from zero.
        assert_eq!(run(&mut s, "e", 1, 301).0, Verdict::Suppressed);
        let (_, next) = run(&mut s, "f", 1, 700);
        assert_eq!(next.details[details::SUPPRESSED_FINDINGS], json!(1));
    }

    #[test]
    fn a_first_message_carries_no_suppression_details() {
        let mut s = Suppressor::new(secs(300));
        let (_, first) = run(&mut s, "a", 1, 0);
        assert!(first.details.is_empty());
        let (verdict, later) = run(&mut s, "b", 1, 1000);
        assert_eq!(verdict, Verdict::Publish);
        assert!(later.details.is_empty(), "nothing was held back: {:?}", later.details);
    }

    #[test]
    fn different_keys_do_not_suppress_each_other() {
        let s = Suppressor::new(secs(300));
        let plan = s.plan(
            vec![("k1".into(), finding("a", 1)), ("k2".into(), finding("b", 1)), ("k1".into(), finding("c", 1))],
            secs(0),
        );
        let verdicts: Vec<Verdict> = plan.findings.iter().map(|(_, v)| *v).collect();
        assert_eq!(verdicts, [Verdict::Publish, Verdict::Publish, Verdict::Suppressed]);
    }

    #[test]
    fn an_uncommitted_plan_changes_nothing_so_a_retried_batch_is_decided_the_same_way() {
        let mut s = Suppressor::new(secs(300));
        run(&mut s, "a", 1, 0);
        let failed = s.plan(vec![("k".into(), finding("b", 1)), ("other".into(), finding("x", 1))], secs(400));
        assert_eq!(failed.count(Verdict::Publish), 2);
        // The publish failed: no commit. Lambda retries the same batch.
        let retried = s.plan(vec![("k".into(), finding("b", 1)), ("other".into(), finding("x", 1))], secs(401));
        assert_eq!(retried.count(Verdict::Publish), 2);
        s.commit(&retried);
        // A suppressed finding whose publish failed is not counted twice either.
        let failed = s.plan(vec![("k".into(), finding("c", 4))], secs(402));
        assert_eq!(failed.count(Verdict::Suppressed), 1);
        let retried = s.plan(vec![("k".into(), finding("c", 4))], secs(403));
        s.commit(&retried);
        let (_, next) = run(&mut s, "d", 1, 800);
        assert_eq!(next.details[details::SUPPRESSED_FINDINGS], json!(1));
        assert_eq!(next.details[details::SUPPRESSED_OCCURRENCES], json!(4));
    }

    #[test]
    fn a_redelivered_finding_is_a_duplicate_and_not_counted() {
        let mut s = Suppressor::new(secs(300));
        run(&mut s, "a", 1, 0);
        assert_eq!(run(&mut s, "a", 1, 5).0, Verdict::Duplicate);
        let (_, next) = run(&mut s, "b", 1, 400);
        assert!(!next.details.contains_key(details::SUPPRESSED_FINDINGS));
    }

    #[test]
    fn a_zero_window_publishes_everything_and_remembers_nothing() {
        let mut s = Suppressor::new(Duration::ZERO);
        for (n, id) in ["a", "a", "b"].iter().enumerate() {
            assert_eq!(run(&mut s, id, 1, n as u64).0, Verdict::Publish);
        }
        assert!(s.is_empty());
    }

    #[test]
    fn memory_is_bounded() {
        let mut s = Suppressor::new(secs(300));
        let findings = (0..MAX_KEYS + 5).map(|n| (format!("k{n}"), finding(&format!("id{n}"), 1))).collect();
        let plan = s.plan(findings, secs(1));
        s.commit(&plan);
        assert_eq!(s.len(), MAX_KEYS);
        // Keys whose window passed with nothing held are forgotten.
        let plan = s.plan(vec![("new".into(), finding("n", 1))], secs(1000));
        s.commit(&plan);
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn keys_use_the_rules_key_fields() {
        let mut a = finding("a", 1);
        a.details.insert("resource".into(), json!("arn:1"));
        let mut b = finding("b", 1);
        b.details.insert("resource".into(), json!("arn:2"));
        let fields = vec!["resource".to_owned()];
        assert_ne!(key(&a, &fields), key(&b, &fields));
        assert_eq!(key(&a, &[]), key(&b, &[]));
    }
}
