//! What one invocation measures, written as Embedded Metric Format documents, checked
//! against the specification's JSON schema; counted whatever the outcome (a corrupt batch, a
//! failed publish, the deadline), and never carrying log text.
//!
//! Over 400 lines: every metric is checked here against the one schema, with the publishers
//! and the store that make each outcome happen.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lambda_troubleshooter::BoxFuture;
use lambda_troubleshooter::config::Config;
use lambda_troubleshooter::deliver::publish::{FailedFinding, PublishError, Publisher};
use lambda_troubleshooter::handler::{DEADLINE_MARGIN, Deadline, HandlerError, Measured, Troubleshooter};
use lambda_troubleshooter::ingest::{self, Invocation};
use lambda_troubleshooter::model::Finding;
use lambda_troubleshooter::report::metrics::{self as emf, InvocationMetrics};
use serde_json::{Value, json};

use crate::support::{emf as spec, project_file};

/// Records what it publishes; fails every publish when `fail` is set; never answers when
/// `stall` is set (a hung SNS, which does not even keep to the deadline it is given).
#[derive(Default)]
struct Recording {
    fail: bool,
    stall: bool,
    published: Mutex<Vec<Finding>>,
}

impl Publisher for Recording {
    fn publish<'a>(&'a self, findings: &'a [Finding], _: Option<Instant>) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            if self.stall {
                std::future::pending::<()>().await;
            }
            if self.fail && !findings.is_empty() {
                // SNS refused one entry; the rest went out.
                let failed = vec![FailedFinding {
                    id: findings[0].id.clone(),
                    code: "InternalError".into(),
                    message: "down".into(),
                }];
                return Err(PublishError::Undelivered {
                    topic: "t".into(),
                    total: findings.len(),
                    failed,
                    source: None,
                });
            }
            self.published.lock().unwrap().extend_from_slice(findings);
            Ok(())
        })
    }
}

fn event(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(project_file(&format!("events/{name}.json"))).unwrap()).unwrap()
}

/// Named as Lambda names it; `suppress_seconds` 0 (every finding published) unless given.
fn troubleshooter_with(per_function: bool, suppress_seconds: u64) -> Troubleshooter {
    Troubleshooter::new(Config {
        suppress_seconds,
        metrics_per_function: per_function,
        own_function_name: Some("prod-troubleshooter".into()),
        ..Config::default()
    })
    .unwrap()
}

fn troubleshooter(per_function: bool) -> Troubleshooter {
    troubleshooter_with(per_function, 0)
}

/// The documents `write_metrics` writes for these metrics, each checked against the spec.
fn written(troubleshooter: &Troubleshooter, metrics: &InvocationMetrics) -> (String, Vec<Value>) {
    let mut out = Vec::new();
    troubleshooter.write_metrics(metrics, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let documents: Vec<Value> = text.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert_eq!(spec::documents_in(&text).len(), documents.len(), "one document per line:\n{text}");
    for document in &documents {
        spec::assert_valid(document);
        assert_eq!(document["Troubleshooter"], "prod-troubleshooter");
    }
    (text, documents)
}

/// `(category, severity) -> (findings, occurrences)` as the documents report it.
fn by_kind(documents: &[Value]) -> BTreeMap<(String, String), (u64, u64)> {
    documents
        .iter()
        .filter(|d| d.get("Category").is_some())
        .map(|d| {
            let key = (d["Category"].as_str().unwrap().to_owned(), d["Severity"].as_str().unwrap().to_owned());
            (key, (d["Findings"].as_u64().unwrap(), d["Occurrences"].as_u64().unwrap()))
        })
        .collect()
}

/// The same, counted from the findings themselves.
fn expected_by_kind(findings: &[Finding]) -> BTreeMap<(String, String), (u64, u64)> {
    let mut out = BTreeMap::new();
    for f in findings {
        let entry = out.entry((f.category.as_str().to_owned(), f.severity.as_str().to_owned())).or_insert((0, 0));
        entry.0 += 1;
        entry.1 += f.count;
    }
    out
}

fn events_in(payload: &Value) -> u64 {
    match ingest::decode_value(payload.clone(), usize::MAX).unwrap() {
        Invocation::AwsLogs(batch) => batch.log_events.len() as u64,
        Invocation::Kinesis(records) => {
            records.iter().map(|r| r.decode(usize::MAX).unwrap().log_events.len() as u64).sum()
        }
    }
}

/// Every string in a JSON value, keys included.
fn strings(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::String(s) => {
            out.insert(s.clone());
        }
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => {
            for (k, v) in map {
                out.insert(k.clone());
                strings(v, out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_schema_refuses_what_cloudwatch_refuses() {
    // The specification's own example passes; each break of it fails.
    let example = json!({
        "_aws": {"Timestamp": 1574109732004_i64, "CloudWatchMetrics": [{
            "Namespace": "lambda-function-metrics", "Dimensions": [["functionVersion"]],
            "Metrics": [{"Name": "time", "Unit": "Milliseconds", "StorageResolution": 60}]}]},
        "functionVersion": "$LATEST", "time": 100, "requestId": "989ffbf8-9ace-4817-a57c-e4dd734019ee"
    });
    spec::assert_valid(&example);
    // (what, how, whether the schema itself catches it or only the rules it leaves out)
    type Break = fn(&mut Value);
    let broken: [(&str, Break, bool); 7] = [
        ("no Timestamp", |d| drop(d["_aws"].as_object_mut().unwrap().remove("Timestamp")), true),
        (
            "a unit CloudWatch does not have",
            |d| d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"] = json!("Kilograms"),
            true,
        ),
        (
            "31 dimensions in a set",
            |d| {
                let names: Vec<String> = (0..31).map(|i| format!("d{i}")).collect();
                for name in &names {
                    d[name.as_str()] = json!("v");
                }
                d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([names]);
            },
            true,
        ),
        ("no dimension sets", |d| d["_aws"]["CloudWatchMetrics"][0]["Dimensions"] = json!([]), true),
        ("a timestamp as text", |d| d["_aws"]["Timestamp"] = json!("1574109732004"), true),
        ("a metric value that is text", |d| d["time"] = json!("100"), false),
        ("a dimension without its value", |d| drop(d.as_object_mut().unwrap().remove("functionVersion")), false),
    ];
    for (what, breaks, by_schema) in broken {
        let mut document = example.clone();
        breaks(&mut document);
        let problems = spec::problems(&document);
        assert!(!problems.is_empty(), "{what} passed: {document}");
        assert_eq!(problems.iter().any(|p| p.starts_with("schema:")), by_schema, "{what}: {problems:?}");
    }
}

#[tokio::test]
async fn every_sample_event_gives_valid_documents_with_that_batchs_counts_and_no_log_text() {
    let troubleshooter = troubleshooter(true);
    let mut seen_several_kinds = false;
    for entry in std::fs::read_dir(project_file("events")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let payload = event(&name);
        let publisher = Recording::default();
        let Measured { result, metrics } = troubleshooter.handle(payload.clone(), &publisher, Deadline::none()).await;
        let (text, documents) = written(&troubleshooter, &metrics);
        let health = &documents[0];
        assert!(health.get("Batches").is_some(), "{name}: the health document comes first: {text}");
        assert_eq!(documents.iter().filter(|d| d.get("Batches").is_some()).count(), 1, "{name}: {text}");

        if name == "corrupt-batch" {
            assert!(matches!(result, Err(HandlerError::Ingest(_))), "{name}: {result:?}");
            assert_eq!((health["Batches"].as_u64(), health["DecodeErrors"].as_u64()), (Some(1), Some(1)), "{text}");
            assert_eq!(documents.len(), 1, "{text}");
            continue;
        }
        result.unwrap_or_else(|e| panic!("{name}: {e}"));
        let published = publisher.published.lock().unwrap().clone();
        let kinesis = payload.get("Records").is_some();
        let batches = if kinesis { payload["Records"].as_array().unwrap().len() as u64 } else { 1 };
        assert_eq!(health["Batches"].as_u64(), Some(batches), "{name}: {text}");
        assert_eq!(health["LogEvents"].as_u64(), Some(events_in(&payload)), "{name}: {text}");
        assert_eq!(health["DecodeErrors"], 0, "{name}");
        assert_eq!(health["PublishFailures"], 0, "{name}");
        assert_eq!(health["SuppressedFindings"], 0, "{name}: suppression is off");
        assert_eq!(health["MutedFindings"], 0, "{name}: nothing mutes yet");
        assert!(health["BatchMilliseconds"].as_f64().unwrap() > 0.0, "{name}: {text}");
        assert_eq!(by_kind(&documents), expected_by_kind(&published), "{name}: {text}");
        let kinds = by_kind(&documents).len();
        seen_several_kinds |= kinds > 1;
        let functions: BTreeSet<&str> = published.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(
            documents.len(),
            kinds.max(1) + functions.len(),
            "{name}: one line per further kind and per function: {text}"
        );

        // No log text: every string is a name the code declares or a dimension value.
        let mut allowed: BTreeSet<String> = [
            "_aws",
            "Timestamp",
            "CloudWatchMetrics",
            "Namespace",
            "Dimensions",
            "Metrics",
            "Name",
            "Unit",
            "Count",
            "Milliseconds",
            "prod-troubleshooter",
            emf::NAMESPACE,
        ]
        .into_iter()
        .chain(emf::METRIC_NAMES)
        .chain(emf::DIMENSION_NAMES)
        .map(str::to_owned)
        .collect();
        for f in &published {
            allowed.extend([f.category.as_str().to_owned(), f.severity.as_str().to_owned(), f.function.clone()]);
        }
        let mut found = BTreeSet::new();
        for document in &documents {
            strings(document, &mut found);
        }
        let foreign: Vec<&String> = found.difference(&allowed).collect();
        assert!(foreign.is_empty(), "{name}: strings that are not names or dimension values: {foreign:?}");
        for f in &published {
            assert!(!text.contains(&f.summary), "{name}: the summary leaked");
            for e in &f.evidence {
                assert!(!text.contains(e.message.trim()), "{name}: evidence leaked");
            }
        }
    }
    assert!(seen_several_kinds, "no sample event has two kinds of finding: the several-documents path went untested");
}

#[tokio::test]
async fn a_kinesis_record_that_cannot_be_decoded_is_a_decode_error_beside_the_good_ones() {
    let mut payload = event("kinesis-mixed");
    let mut bad = payload["Records"][0].clone();
    bad["kinesis"]["data"] = json!("bm90IGd6aXA="); // "not gzip"
    bad["kinesis"]["sequenceNumber"] = json!("2");
    payload["Records"].as_array_mut().unwrap().push(bad);
    let troubleshooter = troubleshooter(false);
    let publisher = Recording::default();
    let Measured { result, metrics } = troubleshooter.handle(payload.clone(), &publisher, Deadline::none()).await;
    assert_eq!(result.unwrap()["batchItemFailures"], json!([{"itemIdentifier": "2"}]));
    let (text, documents) = written(&troubleshooter, &metrics);
    assert_eq!(documents[0]["Batches"], 2, "{text}");
    assert_eq!(documents[0]["DecodeErrors"], 1, "{text}");
    let mut good = payload.clone();
    good["Records"].as_array_mut().unwrap().pop();
    assert_eq!(documents[0]["LogEvents"].as_u64(), Some(events_in(&good)), "{text}");
    assert_eq!(by_kind(&documents), expected_by_kind(&publisher.published.lock().unwrap()), "{text}");
}

#[tokio::test]
async fn a_failed_publish_is_measured_and_its_findings_counted() {
    let troubleshooter = troubleshooter(false);
    let failing = Recording { fail: true, ..Recording::default() };
    let Measured { result, metrics } = troubleshooter.handle(event("mixed-batch"), &failing, Deadline::none()).await;
    assert!(matches!(result, Err(HandlerError::Publish(_))), "{result:?}");
    let (text, documents) = written(&troubleshooter, &metrics);
    assert_eq!(documents[0]["PublishFailures"], 1, "the one entry SNS refused: {text}");
    assert_eq!(by_kind(&documents).values().map(|(findings, _)| findings).sum::<u64>(), 3, "{text}");
}

#[tokio::test]
async fn a_publish_cut_by_the_deadline_counts_every_finding_as_undelivered() {
    let troubleshooter = troubleshooter(false);
    let hung = Recording { stall: true, ..Recording::default() };
    let remaining = Some(DEADLINE_MARGIN + Duration::from_millis(200));
    let Measured { result, metrics } =
        troubleshooter.handle(event("mixed-batch"), &hung, Deadline::from_clock(remaining)).await;
    assert!(matches!(result, Err(HandlerError::Deadline { .. })), "{result:?}");
    let (text, documents) = written(&troubleshooter, &metrics);
    assert_eq!(documents[0]["PublishFailures"], 3, "{text}");
    assert!(documents[0]["BatchMilliseconds"].as_f64().unwrap() >= 200.0, "the time until the cut: {text}");
}

#[tokio::test]
async fn repeats_held_back_by_flood_control_are_counted() {
    let troubleshooter = troubleshooter_with(false, 300);
    let publisher = Recording::default();
    let first = troubleshooter.handle(event("oom-report"), &publisher, Deadline::none()).await;
    assert_eq!(first.metrics.suppressed, 0);
    let repeat = troubleshooter.handle(event("oom-json"), &publisher, Deadline::none()).await;
    repeat.result.unwrap();
    let (text, documents) = written(&troubleshooter, &repeat.metrics);
    assert_eq!(documents[0]["SuppressedFindings"], 1, "{text}");
    // A held-back repeat is still a finding of that batch.
    assert_eq!(documents[0]["Findings"], 1, "{text}");
    // A batch delivered again (its finding already published) is not counted twice.
    let again = troubleshooter.handle(event("oom-report"), &publisher, Deadline::none()).await;
    let (text, documents) = written(&troubleshooter, &again.metrics);
    assert!(documents[0].get("Findings").is_none(), "{text}");
}

#[test]
fn the_readme_prices_the_kinds_the_catalog_can_report() {
    // Each (category, severity) pair a rule can report is two custom metrics; the cost figures
    // of docs/operations.md are built on their number.
    let catalog = lambda_troubleshooter::rules::Catalog::load(&[], &[]).unwrap();
    let pairs: BTreeSet<_> = catalog.rules().iter().map(|r| (r.spec.category, r.spec.severity)).collect();
    let readme = std::fs::read_to_string(project_file("docs/operations.md")).unwrap();
    let n = pairs.len();
    for claim in [
        format!("catalog has {n} pairs"),
        format!("so at most {} more", 2 * n),
        format!("at most {} metrics: ${:.2}", 7 + 2 * n, 0.30 * (7 + 2 * n) as f64),
    ] {
        assert!(
            readme.contains(&claim),
            "docs/operations.md, Metrics and dashboard, should say {claim:?} ({n} pairs today)"
        );
    }
}

#[test]
fn every_kind_and_a_thousand_functions_still_give_valid_documents() {
    // EMF allows 100 metrics a directive and 30 dimensions a set, and one value per dimension
    // in a document: a batch with every kind of finding from many functions spreads over
    // documents instead of breaking those limits.
    use lambda_troubleshooter::model::{Category, Severity};
    let template: Finding = serde_json::from_value(json!({
        "schema": "lambda-troubleshooter/finding/v1", "id": "i", "rule_id": "r", "category": "network",
        "severity": "low", "title": "t", "summary": "s", "cause": "c", "fix": [], "docs": [], "account": "1",
        "region": "us-east-1", "log_group": "g", "log_stream": "s", "function": "f", "count": 2,
        "first_seen": "", "last_seen": "", "request_ids": [], "event_ids": [], "evidence": [], "details": {},
        "console_url": ""
    }))
    .unwrap();
    let mut metrics = InvocationMetrics { batches: 100, ..InvocationMetrics::default() };
    for (n, (category, severity)) in
        Category::ALL.iter().flat_map(|c| Severity::ALL.iter().map(move |s| (*c, *s))).enumerate()
    {
        for f in 0..15 {
            let finding = Finding { category, severity, function: format!("fn-{}", n * 15 + f), ..template.clone() };
            metrics.findings.add(&finding);
        }
    }
    let kinds = Category::ALL.len() * Severity::ALL.len();
    assert_eq!(metrics.findings.by_function.len(), kinds * 15);
    for per_function in [false, true] {
        let options = emf::MetricsOptions { troubleshooter: "t".into(), per_function };
        let documents = emf::documents(&metrics, &options, 1_709_572_958_033);
        // Functions with unhandled errors get their own document whatever the switch says.
        let unhandled_functions = Severity::ALL.len() * 15;
        let expected = kinds + if per_function { kinds * 15 } else { unhandled_functions };
        assert_eq!(documents.len(), expected);
        documents.iter().for_each(spec::assert_valid);
        assert_eq!(by_kind(&documents).len(), kinds);
        assert!(by_kind(&documents).values().all(|&tally| tally == (15, 30)));
    }
}

/// The in-memory store, with one mute (the in-memory store itself keeps none).
struct MutingStore {
    inner: lambda_troubleshooter::deliver::suppress::MemoryStore,
    mute: lambda_troubleshooter::deliver::suppress::Mute,
}

mod muting {
    use std::time::Duration;

    use lambda_troubleshooter::BoxFuture;
    use lambda_troubleshooter::deliver::suppress::{Claim, Claimed, Key, Mute, StoreError, SuppressionStore};

    impl SuppressionStore for super::MutingStore {
        fn claim<'a>(&'a self, claim: &'a Claim) -> BoxFuture<'a, Result<Claimed, StoreError>> {
            self.inner.claim(claim)
        }
        fn sent<'a>(&'a self, key: &'a Key, finding_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
            self.inner.sent(key, finding_id)
        }
        fn release<'a>(&'a self, key: &'a Key, finding_id: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
            self.inner.release(key, finding_id)
        }
        fn hold<'a>(
            &'a self,
            key: &'a Key,
            occurrences: u64,
            now: Duration,
            window: Duration,
        ) -> BoxFuture<'a, Result<(), StoreError>> {
            self.inner.hold(key, occurrences, now, window)
        }
        fn mutes<'a>(&'a self, _functions: &'a [String]) -> BoxFuture<'a, Result<Vec<Mute>, StoreError>> {
            let mute = self.mute.clone();
            Box::pin(async move { Ok(vec![mute]) })
        }
    }
}

#[tokio::test]
async fn muted_findings_are_counted_as_muted_and_as_found() {
    use lambda_troubleshooter::deliver::suppress::{MemoryStore, Mute};
    let mute = Mute {
        function: "orders-api".into(),
        rule: Some("lambda-timeout".into()),
        until: u64::MAX,
        reason: Some("known, fix in review".into()),
        created: 0,
    };
    let store = std::sync::Arc::new(MutingStore { inner: MemoryStore::new(), mute });
    let troubleshooter = troubleshooter(false).with_store(store);
    let publisher = Recording::default();
    let Measured { result, metrics } = troubleshooter.handle(event("mixed-batch"), &publisher, Deadline::none()).await;
    result.unwrap();
    let (text, documents) = written(&troubleshooter, &metrics);
    assert_eq!(documents[0]["MutedFindings"], 1, "{text}");
    assert_eq!(publisher.published.lock().unwrap().len(), 2, "the muted timeout is not sent");
    let kinds = by_kind(&documents);
    assert_eq!(kinds.get(&("timeout".into(), "high".into())), Some(&(1, 1)), "a muted finding was still found: {text}");
}
