//! Flood control: one message per problem per window, however many batches and instances see
//! it, and mutes.
//!
//! Aggregation gives one finding per problem per batch. Across batches, a finding's [`Key`]
//! (account, log group, rule and the rule's key values) is *claimed* before it is sent: the
//! first claim in a window wins and the finding is published; a finding of a key claimed
//! within its window is *held back* and counted; the next finding after the window wins the
//! claim and carries the count of what was held back ([`crate::model::details::Held`]),
//! so its message says how many repeats there were.
//!
//! **Where the state lives.** A [`SuppressionStore`] holds it: [`MemoryStore`] in the memory of
//! one instance (local runs, `cargo lambda watch`, no SUPPRESS_TABLE), or a DynamoDB table
//! shared by every instance ([`crate::aws::dynamodb`]), where a conditional write decides who
//! sends, so exactly one instance sends per window however many run. Both follow the same
//! claim rules ([`SuppressionStore::claim`]), tested on both.
//!
//! **Nothing lost, nothing twice.** A claim is *sending* until the publish succeeded
//! ([`Suppression::delivered`] marks it sent and only then counts what was held back). When the
//! publish fails for a finding ([`Suppression::partly_delivered`])
//! its claim is released: Lambda's retry of the batch gives the same finding ids, and a released (or stale, [`STALE_CLAIM`]) claim of the
//! same finding id is claimed again, with the held-back count it carried. A finding id already
//! sent, or being sent by another instance right now, is a [`Verdict::Duplicate`]: a
//! redelivered batch, dropped and not counted.
//!
//! **Fails open.** A store that cannot be reached never silences a finding: it is published,
//! and the reason is logged and counted ([`Plan::failed_open`]).
//!
//! **Mutes.** `troubleshooter mute` writes a [`Mute`] for a function (and a rule, or all its
//! rules) until a time; muted findings are dropped and counted ([`Verdict::Muted`]).
//!
//! Time is passed in (a [`Duration`] since the Unix epoch), so all of this is unit-tested
//! without a clock.
//!
//! Over 400 lines: the claim rules, the plan decided and settled by them, and the in-memory
//! store that keeps them are one contract, read together (the DynamoDB store follows the same
//! rules, checked by [`conformance`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::BoxFuture;
use crate::model::Category;
use crate::model::details::Held;
use crate::model::finding::Finding;

/// How long a claim may stay *sending* before the same finding id may claim it again: an
/// invocation that died mid-publish (a timeout, a crash) released nothing, and Lambda's retry
/// comes a minute or more later. Shorter than that, a second delivery of the same batch is
/// taken for what it is, a duplicate being sent right now by another instance.
pub const STALE_CLAIM: Duration = Duration::from_secs(60);

/// The most keys [`MemoryStore`] remembers. Past this, the keys claimed longest ago are
/// forgotten (and with them any count not yet reported), so a function with unbounded distinct
/// keys cannot grow the instance's memory without bound.
pub const MAX_KEYS: usize = 10_000;

/// A store could not be read or written. Suppression fails open on it: the finding is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{operation} on the suppression table {table} failed: {message}")]
pub struct StoreError {
    /// The table.
    pub table: String,
    /// The call that failed (`UpdateItem`, `Query`, …).
    pub operation: &'static str,
    /// What went wrong, as the SDK said it.
    pub message: String,
}

/// The identity of one problem across batches: account, log group, rule and the rule's key
/// values. `partition` groups a log group's keys (the table's partition key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    /// `finding#ACCOUNT#LOG_GROUP`.
    pub partition: String,
    /// `RULE_ID`, then each key value after a `#`.
    pub sort: String,
}

impl Key {
    /// The key of `finding`, whose rule's `key` names are `key_fields`.
    pub fn of(finding: &Finding, key_fields: &[String]) -> Self {
        let mut sort = finding.rule_id.clone();
        for name in key_fields {
            sort.push('#');
            if let Some(value) = finding.value_of(name) {
                sort.push_str(&value);
            }
        }
        Self { partition: format!("finding#{}#{}", finding.account, finding.log_group), sort }
    }
}

/// What a store answers to a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimed {
    /// This finding may be sent; `held_findings` repeats (`held_occurrences` occurrences) were
    /// held back since the key's previous message.
    Won {
        /// Findings held back since the previous message.
        held_findings: u64,
        /// Their occurrences.
        held_occurrences: u64,
        /// The key was not seen within its window before this claim (no claim, no repeat held
        /// back): for an unhandled error, a *new error type*.
        new: bool,
    },
    /// Another finding of the key was sent (or is being sent) within the window.
    Held,
    /// This very finding id was sent, or is being sent right now.
    Duplicate,
}

/// A claim: may `finding_id` of `key` be sent at `now`, with this window?
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The problem.
    pub key: Key,
    /// The finding (stable across retries of one batch).
    pub finding_id: String,
    /// The key's window.
    pub window: Duration,
    /// Now, since the Unix epoch.
    pub now: Duration,
    /// The finding's occurrences (its `count`), for the key's tally of sightings.
    pub occurrences: u64,
}

/// A mute: findings of `function` (of `rule`, or of all its rules) are dropped until `until`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mute {
    /// The function name.
    pub function: String,
    /// The rule id; `None` mutes every rule of the function.
    pub rule: Option<String>,
    /// Seconds since the Unix epoch when the mute ends.
    pub until: u64,
    /// Why, as the person who muted it said.
    pub reason: Option<String>,
    /// Seconds since the Unix epoch when it was created.
    pub created: u64,
}

impl Mute {
    /// True when the mute silences `finding` at `now` (seconds since the Unix epoch).
    pub fn silences(&self, finding: &Finding, now: u64) -> bool {
        self.until > now
            && self.function == finding.function
            && self.rule.as_ref().is_none_or(|r| *r == finding.rule_id)
    }
}

/// Where suppression state lives; see the module docs for the claim rules every store follows.
pub trait SuppressionStore: Send + Sync {
    /// Claims a key for a finding (see the module docs). Changes the state only when it wins.
    fn claim<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, Result<Claimed, StoreError>>;
    /// The claim of `finding_id` was published: it is sent.
    fn sent<'a>(&'a self, key: &'a Key, finding_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
    /// The claim of `finding_id` was not published: the same id may claim it again.
    fn release<'a>(&'a self, key: &'a Key, finding_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
    /// A finding of `key` with `occurrences` was held back at `now`: count it, and remember the
    /// key as seen at `now` for at least `window` more.
    fn hold<'a>(
        &'a self,
        key: &'a Key,
        occurrences: u64,
        now: Duration,
        window: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>>;
    /// The mutes of these functions (expired ones may be included; [`Mute::silences`] checks).
    fn mutes<'a>(&'a self, functions: &'a [String]) -> BoxFuture<'a, Result<Vec<Mute>, StoreError>>;
}

/// What happens to one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Published (with the count of held-back repeats, if any, in its details).
    Publish,
    /// Held back: a finding of the same key was published within the window.
    Suppressed,
    /// Already published (same finding id): a redelivered batch.
    Duplicate,
    /// Dropped by a mute.
    Muted,
}

impl Verdict {
    /// The lowercase name used in the function's response and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Publish => "published",
            Self::Suppressed => "suppressed",
            Self::Duplicate => "duplicate",
            Self::Muted => "muted",
        }
    }
}

/// The decision for one invocation's findings.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Every finding with its key and verdict, in the order given. Published findings carry
    /// the suppression details.
    pub findings: Vec<(Key, Finding, Verdict)>,
    /// Why the store could not be used, when it failed (the findings concerned were published).
    pub failed_open: Vec<String>,
    now: Duration,
}

impl Plan {
    /// The findings to publish.
    pub fn to_publish(&self) -> Vec<Finding> {
        self.findings.iter().filter(|(_, _, v)| *v == Verdict::Publish).map(|(_, f, _)| f.clone()).collect()
    }

    /// How many findings have the verdict.
    pub fn count(&self, verdict: Verdict) -> usize {
        self.findings.iter().filter(|(_, _, v)| *v == verdict).count()
    }
}

/// The windows: SUPPRESS_SECONDS, and the categories that differ from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windows {
    /// The window of every category not listed.
    pub default: Duration,
    /// Categories with their own window.
    pub by_category: BTreeMap<Category, Duration>,
}

impl Windows {
    /// From seconds; a zero default switches every window off.
    pub fn from_seconds(default: u64, by_category: &BTreeMap<Category, u64>) -> Self {
        let by_category = if default == 0 {
            BTreeMap::new()
        } else {
            by_category.iter().map(|(c, s)| (*c, Duration::from_secs(*s))).collect()
        };
        Self { default: Duration::from_secs(default), by_category }
    }

    /// The window of a category.
    pub fn of(&self, category: Category) -> Duration {
        self.by_category.get(&category).copied().unwrap_or(self.default)
    }
}

/// Flood control and mutes over a store; see the module docs.
#[derive(Clone)]
pub struct Suppression {
    store: Arc<dyn SuppressionStore>,
    windows: Windows,
}

impl std::fmt::Debug for Suppression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Suppression").field("windows", &self.windows).finish_non_exhaustive()
    }
}

impl Suppression {
    /// Suppression with these windows over `store`.
    pub fn new(store: Arc<dyn SuppressionStore>, windows: Windows) -> Self {
        Self { store, windows }
    }

    /// The windows.
    pub fn windows(&self) -> &Windows {
        &self.windows
    }

    /// Decides what happens to each `(key, finding)` at `now` (since the Unix epoch): mutes
    /// first, then a claim per finding. A store error publishes the finding (fails open).
    pub async fn decide(&self, findings: Vec<(Key, Finding)>, now: Duration) -> Plan {
        let mut failed_open = Vec::new();
        let mut functions: Vec<String> = findings.iter().map(|(_, f)| f.function.clone()).collect();
        functions.sort_unstable();
        functions.dedup();
        let mutes = if findings.is_empty() {
            Vec::new()
        } else {
            self.store.mutes(&functions).await.unwrap_or_else(|error| {
                failed_open.push(format!("mutes not read: {error}"));
                Vec::new()
            })
        };
        let mut decided = Vec::with_capacity(findings.len());
        for (key, mut finding) in findings {
            if mutes.iter().any(|m| m.silences(&finding, now.as_secs())) {
                decided.push((key, finding, Verdict::Muted));
                continue;
            }
            let window = self.windows.of(finding.category);
            if window.is_zero() {
                decided.push((key, finding, Verdict::Publish));
                continue;
            }
            let claim = Claim { key, finding_id: finding.id.clone(), window, now, occurrences: finding.count };
            let verdict = match self.store.claim(&claim).await {
                Ok(Claimed::Won { held_findings, held_occurrences, new }) => {
                    if finding.category == Category::UnhandledError {
                        finding.new_error_type = Some(new);
                    }
                    if held_findings > 0 {
                        finding.details.held = Some(Held {
                            findings: held_findings,
                            occurrences: held_occurrences,
                            window_seconds: window.as_secs(),
                        });
                    }
                    Verdict::Publish
                }
                Ok(Claimed::Held) => Verdict::Suppressed,
                Ok(Claimed::Duplicate) => Verdict::Duplicate,
                Err(error) => {
                    failed_open.push(format!("{}: {error}", finding.id));
                    Verdict::Publish
                }
            };
            decided.push((claim.key, finding, verdict));
        }
        Plan { findings: decided, failed_open, now }
    }

    /// The plan's findings were published: their claims are sent, and the held-back ones are
    /// counted for the key's next message. A store error here loses at most a count; it is
    /// logged, and the invocation still succeeds (the messages went out).
    pub async fn delivered(&self, plan: &Plan) {
        for (key, finding, verdict) in &plan.findings {
            let result = match verdict {
                Verdict::Publish => self.store.sent(key, &finding.id).await,
                Verdict::Suppressed => {
                    self.store.hold(key, finding.count, plan.now, self.windows.of(finding.category)).await
                }
                Verdict::Duplicate | Verdict::Muted => Ok(()),
            };
            if let Err(error) = result {
                tracing::warn!(finding = %finding.id, %error, "suppression state not updated after publishing");
            }
        }
    }

    /// The plan's publish went out in part (it failed, or the deadline stopped it): the claims
    /// of the findings `not_delivered` names are released, so Lambda's retry sends them; the
    /// others are sent, so the retry drops them as duplicates. Held-back repeats are not
    /// counted: the retry counts them.
    pub async fn partly_delivered(&self, plan: &Plan, not_delivered: &BTreeSet<&str>) {
        for (key, finding, _) in plan.findings.iter().filter(|(_, _, v)| *v == Verdict::Publish) {
            let undelivered = not_delivered.contains(finding.id.as_str());
            let result = if undelivered {
                self.store.release(key, &finding.id).await
            } else {
                self.store.sent(key, &finding.id).await
            };
            if let Err(error) = result {
                tracing::warn!(finding = %finding.id, undelivered, %error, "claim not settled after a partial publish; it is retried once stale");
            }
        }
    }
}

/// The state of one key's claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClaimState {
    Sending,
    Sent,
    Released,
}

/// What [`MemoryStore`] remembers about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    claimed_at: Duration,
    window: Duration,
    finding_id: String,
    state: ClaimState,
    /// Held back since the claim.
    held_findings: u64,
    held_occurrences: u64,
    /// Held back before the claim, reported by the claimed finding (kept for its retries).
    carried: (u64, u64),
    /// When the key was last seen: claimed or held back.
    last_seen: Duration,
    /// Whether the claim was of a key not seen within its window (kept for its retries).
    new: bool,
}

/// Suppression state in the memory of one instance: each instance suppresses on its own, and a
/// fresh instance starts with nothing held. Mutes need the shared table; here there are none.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<Key, Entry>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many keys are remembered.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// True when no key is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn claim_now(&self, claim: &Claim) -> Claimed {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let now = claim.now;
        // Forget keys whose window passed with nothing held, then the oldest past MAX_KEYS.
        entries.retain(|_, e| e.held_findings > 0 || now.saturating_sub(e.last_seen) < e.window);
        if entries.len() >= MAX_KEYS {
            let mut by_age: Vec<(Duration, Key)> = entries.iter().map(|(k, e)| (e.claimed_at, k.clone())).collect();
            by_age.sort();
            for (_, key) in by_age.into_iter().take(entries.len() + 1 - MAX_KEYS) {
                entries.remove(&key);
            }
        }
        let fresh = |held: (u64, u64), new: bool| Entry {
            claimed_at: now,
            window: claim.window,
            finding_id: claim.finding_id.clone(),
            state: ClaimState::Sending,
            held_findings: 0,
            held_occurrences: 0,
            carried: held,
            last_seen: now,
            new,
        };
        let won = |(held_findings, held_occurrences): (u64, u64), new: bool| Claimed::Won {
            held_findings,
            held_occurrences,
            new,
        };
        match entries.get_mut(&claim.key) {
            None => {
                entries.insert(claim.key.clone(), fresh((0, 0), true));
                won((0, 0), true)
            }
            Some(entry) if entry.finding_id == claim.finding_id => {
                let stale = entry.state == ClaimState::Sending && now.saturating_sub(entry.claimed_at) >= STALE_CLAIM;
                if entry.state == ClaimState::Released || stale {
                    entry.state = ClaimState::Sending;
                    entry.claimed_at = now;
                    won(entry.carried, entry.new)
                } else {
                    Claimed::Duplicate
                }
            }
            Some(entry) if now.saturating_sub(entry.claimed_at) >= claim.window => {
                let held = (entry.held_findings, entry.held_occurrences);
                let new = now.saturating_sub(entry.last_seen) >= claim.window;
                *entry = fresh(held, new);
                won(held, new)
            }
            Some(_) => Claimed::Held,
        }
    }

    fn update(&self, key: &Key, change: impl FnOnce(&mut Entry)) {
        if let Some(entry) = self.entries.lock().unwrap_or_else(PoisonError::into_inner).get_mut(key) {
            change(entry);
        }
    }
}

impl SuppressionStore for MemoryStore {
    fn claim<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, Result<Claimed, StoreError>> {
        let claimed = self.claim_now(claim);
        Box::pin(async move { Ok(claimed) })
    }

    fn sent<'a>(&'a self, key: &'a Key, finding_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        self.update(key, |e| {
            if e.finding_id == finding_id {
                e.state = ClaimState::Sent;
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn release<'a>(&'a self, key: &'a Key, finding_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        self.update(key, |e| {
            if e.finding_id == finding_id {
                e.state = ClaimState::Released;
            }
        });
        Box::pin(async { Ok(()) })
    }

    fn hold<'a>(
        &'a self,
        key: &'a Key,
        occurrences: u64,
        now: Duration,
        _window: Duration,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        self.update(key, |e| {
            e.held_findings += 1;
            e.held_occurrences += occurrences;
            e.last_seen = e.last_seen.max(now);
        });
        Box::pin(async { Ok(()) })
    }

    fn mutes<'a>(&'a self, _functions: &'a [String]) -> BoxFuture<'a, Result<Vec<Mute>, StoreError>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

pub mod conformance;

#[cfg(test)]
mod tests;
