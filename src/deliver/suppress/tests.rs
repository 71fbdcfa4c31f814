//! Tests of flood control and mutes against the in-memory store and stores that fail.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::conformance::{self, finding};
use super::*;

fn secs(n: u64) -> Duration {
    Duration::from_secs(1_800_000_000 + n)
}

fn memory(window: u64) -> (Arc<MemoryStore>, Suppression) {
    let store = Arc::new(MemoryStore::new());
    let suppression = Suppression::new(store.clone(), Windows::from_seconds(window, &BTreeMap::new()));
    (store, suppression)
}

#[tokio::test]
async fn the_memory_store_follows_the_claim_rules() {
    conformance::claim_rules(Arc::new(MemoryStore::new()), "/aws/lambda/orders-api").await.unwrap();
    conformance::new_error_types(Arc::new(MemoryStore::new()), "/aws/lambda/orders-api").await.unwrap();
}

#[tokio::test]
async fn a_zero_window_publishes_everything_and_remembers_nothing() {
    let (store, suppression) = memory(0);
    for (n, id) in ["a", "a", "b"].iter().enumerate() {
        let f = finding("/aws/lambda/f", id, 1);
        let plan = suppression.decide(vec![(Key::of(&f, &[]), f)], secs(n as u64)).await;
        assert_eq!(plan.findings[0].2, Verdict::Publish);
        suppression.delivered(&plan).await;
    }
    assert!(store.is_empty());
}

#[tokio::test]
async fn categories_have_their_own_windows() {
    let windows = Windows::from_seconds(300, &BTreeMap::from([(Category::OutOfMemory, 21_600)]));
    assert_eq!(windows.of(Category::OutOfMemory), Duration::from_secs(21_600));
    assert_eq!(windows.of(Category::Timeout), Duration::from_secs(300));
    let suppression = Suppression::new(Arc::new(MemoryStore::new()), windows);
    let f = |id| finding("/aws/lambda/f", id, 1);
    let plan = suppression.decide(vec![(Key::of(&f("a"), &[]), f("a"))], secs(0)).await;
    suppression.delivered(&plan).await;
    // An hour later an out-of-memory repeat is still held back: its window is six hours.
    let plan = suppression.decide(vec![(Key::of(&f("b"), &[]), f("b"))], secs(3_600)).await;
    assert_eq!(plan.findings[0].2, Verdict::Suppressed);
    // SUPPRESS_SECONDS=0 switches the category windows off too.
    assert!(
        Windows::from_seconds(0, &BTreeMap::from([(Category::OutOfMemory, 60)])).of(Category::OutOfMemory).is_zero()
    );
}

#[tokio::test]
async fn memory_is_bounded() {
    let (store, suppression) = memory(300);
    let findings = (0..MAX_KEYS + 5)
        .map(|n| {
            let f = finding(&format!("/aws/lambda/f{n}"), &format!("id{n}"), 1);
            (Key::of(&f, &[]), f)
        })
        .collect();
    let plan = suppression.decide(findings, secs(1)).await;
    suppression.delivered(&plan).await;
    assert_eq!(store.len(), MAX_KEYS);
    // Keys whose window passed with nothing held are forgotten.
    let f = finding("/aws/lambda/new", "n", 1);
    suppression.decide(vec![(Key::of(&f, &[]), f)], secs(1_000)).await;
    assert_eq!(store.len(), 1);
}

#[test]
fn keys_use_the_rules_key_fields() {
    let mut a = finding("/aws/lambda/f", "a", 1);
    a.details.insert("resource".into(), serde_json::json!("arn:1"));
    let mut b = finding("/aws/lambda/f", "b", 1);
    b.details.insert("resource".into(), serde_json::json!("arn:2"));
    let fields = vec!["resource".to_owned()];
    assert_ne!(Key::of(&a, &fields), Key::of(&b, &fields));
    assert_eq!(Key::of(&a, &[]), Key::of(&b, &[]));
    assert_eq!(Key::of(&a, &fields).partition, "finding#123456789012#/aws/lambda/f");
}

/// A store whose mutes are given and whose every write fails: mutes apply, and a failing store
/// publishes (fails open) and says why.
struct Broken(Vec<Mute>);

impl SuppressionStore for Broken {
    fn claim<'a>(&'a self, _: &'a Claim) -> BoxFuture<'a, Result<Claimed, StoreError>> {
        Box::pin(async {
            Err(StoreError { table: "t".into(), operation: "UpdateItem", message: "unreachable".into() })
        })
    }
    fn sent<'a>(&'a self, _: &'a Key, _: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
    fn release<'a>(&'a self, _: &'a Key, _: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
    fn hold<'a>(&'a self, _: &'a Key, _: u64, _: Duration, _: Duration) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async { Ok(()) })
    }
    fn mutes<'a>(&'a self, _: &'a [String]) -> BoxFuture<'a, Result<Vec<Mute>, StoreError>> {
        let mutes = self.0.clone();
        Box::pin(async move { Ok(mutes) })
    }
}

#[tokio::test]
async fn mutes_drop_their_findings_until_they_expire_and_a_failing_store_fails_open() {
    let mute = |rule: Option<&str>, until: u64| Mute {
        function: "orders-api".into(),
        rule: rule.map(str::to_owned),
        until: 1_800_000_000 + until,
        reason: Some("deploy in progress".into()),
        created: 1_800_000_000,
    };
    let windows = Windows::from_seconds(300, &BTreeMap::new());
    let oom = finding("/aws/lambda/orders-api", "a", 1);
    let elsewhere = finding("/aws/lambda/billing", "b", 1);
    let keyed = || vec![(Key::of(&oom, &[]), oom.clone()), (Key::of(&elsewhere, &[]), elsewhere.clone())];
    for mutes in [vec![mute(Some("lambda-out-of-memory"), 100)], vec![mute(None, 100)]] {
        let suppression = Suppression::new(Arc::new(Broken(mutes)), windows.clone());
        let plan = suppression.decide(keyed(), secs(50)).await;
        let verdicts: Vec<Verdict> = plan.findings.iter().map(|(_, _, v)| *v).collect();
        assert_eq!(verdicts, [Verdict::Muted, Verdict::Publish]);
        assert_eq!(plan.failed_open.len(), 1, "{:?}", plan.failed_open);
        assert!(plan.failed_open[0].contains("unreachable"), "{:?}", plan.failed_open);
        // Expired, or for another rule: not muted.
        let plan = suppression.decide(keyed(), secs(100)).await;
        assert_eq!(plan.count(Verdict::Muted), 0);
    }
    let other_rule = Suppression::new(Arc::new(Broken(vec![mute(Some("lambda-timeout"), 100)])), windows);
    assert_eq!(other_rule.decide(keyed(), secs(50)).await.count(Verdict::Muted), 0);
}
