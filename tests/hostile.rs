//! Hostile and heavy batches, under a memory limit: the reproducers of the adversarial run
//! (each at its original size, analysed within a time budget and a memory budget), a scaling
//! test per dimension of a batch (twice the input may take at most about twice the time), and
//! a property test that builds batches from hostile pieces.
//!
//! Its own test binary, so that its allocator ([`cap::Cap`]) counts only these tests, which run
//! one at a time ([`serial`]): each sets a limit above what it starts with, and an allocation
//! past it aborts the binary, which fails the test run.
//!
//! The time budgets are loose (the debug build is ten to twenty times slower than the release
//! one; the note of the change gives release figures); the scaling tests compare the best of
//! three runs at n and at 2n, where a square would take four times as long.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::alloc::System;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use cap::Cap;
use lambda_troubleshooter::config::Config;
use lambda_troubleshooter::detect::{Analyzer, MAX_EVIDENCE_BYTES};
use lambda_troubleshooter::handler::{Deadline, Troubleshooter};
use lambda_troubleshooter::ingest::{LogBatch, LogEvent};
use lambda_troubleshooter::model::finding::Finding;
use lambda_troubleshooter::model::{Category, Severity};
use lambda_troubleshooter::rules::Catalog;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// What one scenario may allocate beyond what the process held when it started.
const MEMORY_BUDGET: usize = 192 * 1024 * 1024;

static SERIAL: Mutex<()> = Mutex::new(());

/// One test at a time, with the memory limit set `MEMORY_BUDGET` above what is held now.
fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    ALLOCATOR.set_limit(ALLOCATOR.allocated() + MEMORY_BUDGET).unwrap();
    guard
}

fn analyzer() -> Analyzer {
    Analyzer::new(Catalog::load(&[], &[]).unwrap(), Severity::Low)
}

fn batch(messages: Vec<String>) -> LogBatch {
    LogBatch {
        owner: "123456789012".into(),
        log_group: "/aws/lambda/orders-api".into(),
        log_stream: "2026/12/01/[$LATEST]0f".into(),
        message_type: "DATA_MESSAGE".into(),
        policy_level: None,
        subscription_filters: vec![],
        log_events: messages
            .into_iter()
            .enumerate()
            .map(|(i, message)| LogEvent {
                id: format!("{i:056}").into(),
                timestamp: 1_764_583_200_000 + i as i64,
                message: message.into(),
            })
            .collect(),
    }
}

fn request_id(n: usize) -> String {
    format!("{n:08x}-1111-4c2e-9b1a-0a1b2c3d4e5f")
}

/// Analyses `messages`, and says how long it took.
fn timed(analyzer: &Analyzer, messages: Vec<String>) -> (Vec<Finding>, Duration) {
    let batch = batch(messages);
    let started = Instant::now();
    let findings = analyzer.analyze(&batch, "us-east-1");
    (findings, started.elapsed())
}

/// The best of three analyses of `make(n)` and of `make(2n)`: the second may take at most 2.5
/// times the first (plus 20 ms for the clock's noise), where time in the square of n would
/// take four times.
fn assert_linear(dimension: &str, n: usize, make: impl Fn(usize) -> Vec<String>) {
    let analyzer = analyzer();
    let best = |size: usize| (0..3).map(|_| timed(&analyzer, make(size)).1).min().unwrap();
    let (once, twice) = (best(n), best(2 * n));
    println!("{dimension}: n = {n}: {once:?}; 2n: {twice:?}");
    assert!(
        twice <= once.mul_f64(2.5) + Duration::from_millis(20),
        "{dimension}: twice the input took {twice:?} against {once:?} (more than 2.5 times)"
    );
}

/// `x ` and a platform phrase `n` times: each occurrence was tried with its whole line.
fn phrase_repeated(n: usize) -> Vec<String> {
    (0..5).map(|_| format!("x {}", "Task timed out after ".repeat(n))).collect()
}

/// `n` invocations that time out: START, the timeout line, END, REPORT.
fn timeouts(n: usize) -> Vec<String> {
    (0..n)
        .flat_map(|i| {
            let id = request_id(i);
            [
                format!("START RequestId: {id} Version: $LATEST"),
                format!("2026-12-01T10:00:00.000Z {id} Task timed out after 3.00 seconds"),
                format!("END RequestId: {id}"),
                format!("REPORT RequestId: {id}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tStatus: timeout"),
            ]
        })
        .collect()
}

/// `n` timeout lines without a request id, each beside its REPORT (no START): paired.
fn unnamed_timeouts(n: usize) -> Vec<String> {
    (0..n)
        .flat_map(|i| {
            [
                "Task timed out after 3.00 seconds".to_owned(),
                format!("REPORT RequestId: {}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB", request_id(i)),
            ]
        })
        .collect()
}

/// `n` denials of distinct actions, each in its own invocation followed by a success.
fn denials(n: usize) -> Vec<String> {
    (0..n)
        .flat_map(|i| {
            let id = request_id(i);
            [
                format!("START RequestId: {id} Version: $LATEST"),
                format!("2026-12-01T10:00:00.000Z\t{id}\tERROR\tAccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/orders-role/orders-api is not authorized to perform: dynamodb:Action{i} on resource: arn:aws:dynamodb:us-east-1:123456789012:table/orders-{i} because no identity-based policy allows the dynamodb:Action{i} action"),
                format!("REPORT RequestId: {id}\tDuration: 10.00 ms\tBilled Duration: 10 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB"),
            ]
        })
        .collect()
}

/// `n` unhandled errors of distinct types and frames: `n` fingerprints.
fn distinct_errors(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "2026-12-01T10:00:00.000Z\t{}\tERROR\tInvoke Error \t{{\"errorType\":\"Error{i}Error\",\"errorMessage\":\"boom\",\"stack\":[\"Error: boom\",\"    at f{i} (/var/task/m{i}.js:1:1)\"]}}",
                request_id(i)
            )
        })
        .collect()
}

/// One message of about `bytes` bytes of a numeric anchor every four bytes.
fn dense_anchors(bytes: usize) -> Vec<String> {
    vec!["429 ".repeat(bytes / 4)]
}

#[test]
fn a_platform_phrase_repeated_after_a_prefix_is_read_in_linear_time() {
    let _serial = serial();
    // The reproducer: five messages of 256 KB, 18 s before.
    let (findings, took) = timed(&analyzer(), phrase_repeated(12_000));
    assert!(findings.is_empty());
    assert!(took < Duration::from_secs(10), "{took:?}");
    assert_linear("phrase occurrences", 6_000, phrase_repeated);
}

#[test]
fn distinct_requests_are_gathered_in_linear_time() {
    let _serial = serial();
    let (findings, took) = timed(&analyzer(), timeouts(20_000));
    assert_eq!(
        findings.iter().map(|f| (f.rule_id.as_str(), f.count)).collect::<Vec<_>>(),
        [("lambda-timeout", 20_000)]
    );
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert_linear("requests", 4_000, timeouts);
    assert_linear("unnamed invocations paired with their REPORT", 4_000, unnamed_timeouts);
    assert_linear("denials that recover", 2_000, denials);
}

#[test]
fn twenty_thousand_distinct_denials_give_a_bounded_number_of_findings() {
    let _serial = serial();
    let (findings, _) = timed(&analyzer(), denials(20_000));
    assert!(findings.len() <= 2 * lambda_troubleshooter::detect::MAX_KEYS_PER_RULE, "{} findings", findings.len());
    let total: u64 = findings.iter().map(|f| f.count).sum();
    assert_eq!(total, 20_000, "every denial is counted");
    let merged = findings.iter().find(|f| f.details.members().contains_key("merged_keys")).expect("the rest, merged");
    assert_eq!(
        merged.details.members()["merged_keys"],
        20_000 - (lambda_troubleshooter::detect::MAX_KEYS_PER_RULE - 1)
    );
    let bytes: usize = findings.iter().map(|f| serde_json::to_string(f).unwrap().len()).sum();
    assert!(bytes < 200_000, "{bytes} bytes of findings");
    assert_linear("distinct keys", 2_000, denials);
    // Unhandled errors, one fingerprint each: the same bound.
    let (findings, _) = timed(&analyzer(), distinct_errors(5_000));
    assert!(findings.len() <= lambda_troubleshooter::detect::MAX_KEYS_PER_RULE, "{}", findings.len());
    assert_eq!(findings.iter().map(|f| f.count).sum::<u64>(), 5_000);
    assert_linear("distinct fingerprints", 2_000, distinct_errors);
}

#[test]
fn dense_anchors_in_a_batch_at_the_decompression_cap_stay_within_memory() {
    let _serial = serial();
    // The reproducer: 30 MiB of `429 ` in one event (a 47 KB gzip), through the whole
    // handler as the Lambda runs it at 128 MB; it peaked at 358 MB before.
    let held = ALLOCATOR.allocated();
    let document = serde_json::json!({"messageType": "DATA_MESSAGE", "owner": "1", "logGroup": "/aws/lambda/a",
        "logStream": "s", "subscriptionFilters": [], "logEvents": [{"id": "1", "timestamp": 1, "message": "429 ".repeat(30 << 18)}]});
    let payload = lambda_troubleshooter::ingest::input::encode_document(&document).unwrap();
    drop(document);
    let event = serde_json::json!({"awslogs": {"data": payload}});
    let troubleshooter = Troubleshooter::new(Config { max_decompressed_bytes: 32 << 20, ..Config::default() }).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let started = Instant::now();
    let answer = runtime
        .block_on(troubleshooter.handle(
            event,
            &lambda_troubleshooter::deliver::publish::StdoutPublisher,
            Deadline::none(),
        ))
        .result;
    assert!(answer.is_ok(), "{answer:?}");
    let peak = ALLOCATOR.max_allocated().saturating_sub(held);
    println!("30 MiB of anchors: {:?}, {} MiB above what was held", started.elapsed(), peak >> 20);
    assert!(peak < 128 << 20, "{} MiB", peak >> 20);
    // Messages are read up to 256 KiB: the length that counts is below it.
    assert_linear("message length", 64 << 10, dense_anchors);
}

mod generated {
    //! Batches built from hostile pieces: platform records, error shapes, anchors, escapes,
    //! JSON and long repeats, in any order. Whatever the batch, the analysis ends, within
    //! memory, with findings that keep their bounds.

    use proptest::prelude::*;

    use super::*;

    const PIECES: &[&str] = &[
        "START RequestId: ",
        "END RequestId: ",
        "REPORT RequestId: ",
        "\tDuration: 3000.00 ms",
        "\tMemory Size: 128 MB",
        "\tMax Memory Used: 128 MB",
        "\tStatus: error\tError Type: Runtime.Unknown",
        "\tStatus: timeout",
        "INIT_REPORT Init Duration: 9999.99 ms\tPhase: invoke\tStatus: timeout",
        "Task timed out after ",
        "3.00 seconds",
        "Runtime exited with error: signal: killed",
        "Process exited before completing request",
        "Max Memory Used:",
        "Invoke Error \t",
        "{\"errorType\":\"TypeError\",\"errorMessage\":\"x\",\"stack\":[\"    at f (/var/task/a.js:1:1)\"]}",
        "{\"level\":\"ERROR\",\"exception\":\"Traceback (most recent call last):\\nKeyError: 'a'\"}",
        "[ERROR] ValueError: ",
        "Traceback (most recent call last):\n  File \"/var/task/app.py\", line 1, in h\n",
        "Exception in thread \"main\" java.lang.IllegalStateException: ",
        "\n\tat com.acme.A.b(A.java:1)",
        "is not authorized to perform: s3:GetObject on resource: ",
        "AccessDeniedException",
        "429 ",
        "ECONNREFUSED 10.0.0.1:5432",
        "\\n",
        "\\u0000",
        "\\ud800",
        "\"",
        "{",
        "}",
        "[",
        "password=hunter2 ",
        "é😀",
        "2026-12-01T10:00:00.000Z\t",
        "8f5c2a10-1111-4c2e-9b1a-0a1b2c3d4e5f\t",
        "\n",
    ];

    fn message() -> impl Strategy<Value = String> {
        proptest::collection::vec((0..PIECES.len(), prop_oneof![9 => Just(1usize), 1 => 1usize..2_000]), 1..24)
            .prop_map(|pieces| pieces.into_iter().map(|(piece, times)| PIECES[piece].repeat(times)).collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        #[test]
        fn any_batch_of_hostile_pieces_is_analysed_within_its_bounds(messages in proptest::collection::vec(message(), 1..60)) {
            let _serial = serial();
            let analyzer = analyzer();
            let rules = analyzer.catalog().rules().len();
            let (findings, took) = timed(&analyzer, messages);
            prop_assert!(took < Duration::from_secs(20), "{took:?}");
            prop_assert!(findings.len() <= rules * lambda_troubleshooter::detect::MAX_KEYS_PER_RULE);
            for finding in &findings {
                prop_assert!(finding.evidence.len() <= 3);
                prop_assert!(finding.evidence.iter().all(|e| e.message.len() <= MAX_EVIDENCE_BYTES + 4));
                prop_assert!(!finding.evidence.iter().any(|e| e.message.contains("hunter2")), "{finding:?}");
                prop_assert!(finding.category != Category::UnhandledError || finding.fingerprint_version.is_some() || finding.details.members().contains_key("merged_keys"));
            }
        }
    }
}
