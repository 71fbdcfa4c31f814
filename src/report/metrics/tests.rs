//! Tests of `report::metrics`.

use super::*;

fn options(per_function: bool) -> MetricsOptions {
    MetricsOptions { troubleshooter: "prod-troubleshooter".into(), per_function }
}

/// A finding of the contract's JSON (so fields added to it later need no change here).
fn finding(category: Category, severity: Severity, function: &str, count: u64) -> Finding {
    serde_json::from_value(json!({
        "schema": crate::model::finding::SCHEMA, "id": format!("{function}-{}", category.as_str()),
        "rule_id": "rule", "category": category, "severity": severity, "title": "title",
        "summary": "summary", "cause": "", "fix": [], "docs": [], "account": "123456789012",
        "region": "us-east-1", "log_group": format!("/aws/lambda/{function}"), "log_stream": "s",
        "function": function, "count": count, "first_seen": "", "last_seen": "", "request_ids": [],
        "event_ids": [], "evidence": [], "details": {}, "console_url": ""
    }))
    .unwrap()
}

/// The root member a directive's metric or dimension refers to.
fn member<'a>(document: &'a Value, name: &str) -> &'a Value {
    document.get(name).unwrap_or_else(|| panic!("{name} missing from {document}"))
}

/// Every (dimension set, metric name) a document publishes.
fn published(document: &Value) -> Vec<(Vec<String>, String)> {
    let mut out = Vec::new();
    for directive in document["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
        assert_eq!(directive["Namespace"], NAMESPACE);
        for set in directive["Dimensions"].as_array().unwrap() {
            let set: Vec<String> = set.as_array().unwrap().iter().map(|d| d.as_str().unwrap().to_owned()).collect();
            for metric in directive["Metrics"].as_array().unwrap() {
                out.push((set.clone(), metric["Name"].as_str().unwrap().to_owned()));
            }
        }
    }
    out
}

#[test]
fn an_invocation_without_findings_writes_one_health_document() {
    let metrics = InvocationMetrics {
        batches: 1,
        log_events: 42,
        decode_errors: 0,
        publish_failures: 0,
        suppressed: 0,
        muted: 0,
        findings: FindingCounts::default(),
        duration_ms: 12.3456,
    };
    let documents = documents(&metrics, &options(true), 1_709_572_958_033);
    assert_eq!(documents.len(), 1, "{documents:?}");
    let health = &documents[0];
    assert_eq!(health["_aws"]["Timestamp"], 1_709_572_958_033_i64);
    assert_eq!(health[TROUBLESHOOTER], "prod-troubleshooter");
    assert_eq!(health[LOG_EVENTS], 42);
    assert_eq!(health[BATCHES], 1);
    assert_eq!(health[BATCH_MILLISECONDS], 12.346);
    assert!(health.get(FINDINGS).is_none() && health.get(CATEGORY).is_none(), "{health}");
    let names: Vec<String> = published(health)
        .into_iter()
        .map(|(set, name)| {
            assert_eq!(set, [TROUBLESHOOTER]);
            name
        })
        .collect();
    assert_eq!(
        names,
        [BATCHES, LOG_EVENTS, DECODE_ERRORS, PUBLISH_FAILURES, SUPPRESSED_FINDINGS, MUTED_FINDINGS, BATCH_MILLISECONDS]
    );
}

#[test]
fn unhandled_errors_and_new_error_types_are_counted_per_function() {
    let mut metrics = InvocationMetrics { batches: 1, ..Default::default() };
    let mut new = finding(Category::UnhandledError, Severity::High, "orders-api", 1_000);
    new.new_error_type = Some(true);
    let mut known = finding(Category::UnhandledError, Severity::High, "orders-api", 4);
    known.new_error_type = Some(false);
    let held = finding(Category::UnhandledError, Severity::Medium, "billing", 2);
    for f in [new, known, held, finding(Category::Timeout, Severity::High, "orders-api", 2)] {
        metrics.findings.add(&f);
    }
    let documents = documents(&metrics, &options(false), 0);
    let per_function: Vec<(String, u64, u64)> = documents
        .iter()
        .filter(|d| d.get(FUNCTION).is_some())
        .map(|d| {
            assert_eq!(
                published(d),
                [
                    (vec![TROUBLESHOOTER.into(), FUNCTION.into()], UNHANDLED_ERRORS.into()),
                    (vec![TROUBLESHOOTER.into(), FUNCTION.into()], NEW_ERROR_TYPES.into()),
                ],
                "without METRICS_PER_FUNCTION, only the unhandled errors are per function: {d}"
            );
            (
                member(d, FUNCTION).as_str().unwrap().to_owned(),
                d[UNHANDLED_ERRORS].as_u64().unwrap(),
                d[NEW_ERROR_TYPES].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(per_function, [("billing".into(), 2, 0), ("orders-api".into(), 1_004, 1)]);
}

#[test]
fn each_category_and_severity_pair_gets_its_own_dimension_values() {
    let mut metrics = InvocationMetrics { batches: 3, decode_errors: 1, duration_ms: 30.0, ..Default::default() };
    for f in [
        finding(Category::Timeout, Severity::High, "orders-api", 2),
        finding(Category::OutOfMemory, Severity::Critical, "orders-api", 3),
        finding(Category::OutOfMemory, Severity::Critical, "billing", 1),
        finding(Category::Throttling, Severity::Medium, "billing", 5),
    ] {
        metrics.findings.add(&f);
    }
    let without = documents(&metrics, &options(false), 0);
    // Three kinds: the first rides in the health document, each other one has its own.
    assert_eq!(without.len(), 3, "{without:?}");
    let kinds: Vec<(String, String, u64, u64)> = without
        .iter()
        .map(|d| {
            (
                member(d, CATEGORY).as_str().unwrap().to_owned(),
                member(d, SEVERITY).as_str().unwrap().to_owned(),
                member(d, FINDINGS).as_u64().unwrap(),
                member(d, OCCURRENCES).as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("out_of_memory".into(), "critical".into(), 2, 4),
            ("timeout".into(), "high".into(), 1, 2),
            ("throttling".into(), "medium".into(), 1, 5),
        ]
    );
    assert_eq!(without[0][DECODE_ERRORS], 1);
    assert_eq!(without[0][BATCH_MILLISECONDS], 10.0);
    for document in &without[1..] {
        assert!(document.get(BATCHES).is_none(), "health is written once: {document}");
        assert_eq!(
            published(document),
            [
                (vec![TROUBLESHOOTER.into(), CATEGORY.into(), SEVERITY.into()], FINDINGS.into()),
                (vec![TROUBLESHOOTER.into(), CATEGORY.into(), SEVERITY.into()], OCCURRENCES.into()),
            ]
        );
    }
    assert!(without.iter().all(|d| d.get(FUNCTION).is_none()));

    let with = documents(&metrics, &options(true), 0);
    assert_eq!(with.len(), 5);
    let functions: Vec<(String, u64, u64)> = with[3..]
        .iter()
        .map(|d| {
            assert_eq!(published(d)[0].0, [TROUBLESHOOTER, FUNCTION]);
            (
                member(d, FUNCTION).as_str().unwrap().to_owned(),
                d[FINDINGS].as_u64().unwrap(),
                d[OCCURRENCES].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(functions, [("billing".into(), 2, 6), ("orders-api".into(), 2, 5)]);
}

#[test]
fn every_name_emitted_is_a_declared_constant() {
    let mut metrics = InvocationMetrics { batches: 1, ..Default::default() };
    metrics.findings.add(&finding(Category::Network, Severity::High, "a", 1));
    metrics.findings.add(&finding(Category::UnhandledError, Severity::High, "a", 1));
    let mut metric_names = std::collections::BTreeSet::new();
    let mut dimension_names = std::collections::BTreeSet::new();
    for document in documents(&metrics, &options(true), 0) {
        for (set, name) in published(&document) {
            metric_names.insert(name);
            dimension_names.extend(set);
        }
    }
    let declared = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<std::collections::BTreeSet<_>>();
    assert_eq!(metric_names, declared(&METRIC_NAMES));
    assert_eq!(dimension_names, declared(&DIMENSION_NAMES));
}

#[test]
fn dimension_values_are_what_cloudwatch_accepts() {
    assert_eq!(dimension_value("orders-api"), "orders-api");
    assert_eq!(dimension_value("café\tbar"), "caf??bar");
    assert_eq!(dimension_value("  "), "unknown");
    assert_eq!(dimension_value(&"x".repeat(2000)).len(), 1024);
}

#[test]
fn documents_are_written_one_per_line() {
    let mut metrics = InvocationMetrics { batches: 1, ..Default::default() };
    metrics.findings.add(&finding(Category::Network, Severity::High, "a", 1));
    metrics.findings.add(&finding(Category::Timeout, Severity::High, "a", 1));
    let documents = documents(&metrics, &options(false), 7);
    let mut out = Vec::new();
    write_documents(&documents, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines, documents);
    assert!(text.ends_with('\n'));
}
