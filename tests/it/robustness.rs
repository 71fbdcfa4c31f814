//! Any input, no panic, no leak: every sample batch in events/ is mutated thousands of ways
//! (lines cut short, spliced into each other, dropped, repeated, reordered, fragments of
//! platform records and failures grafted on, multi-byte characters and control characters
//! inserted, secrets planted) and run through the analyser and every renderer. A panic fails
//! the test; so does a finding that breaks SNS's limits or carries a planted secret out.
//!
//! The mutations come from fixed seeds, so a failure reproduces; its message names the batch
//! and the seed. `ROBUSTNESS_CASES=5000 cargo test --release --test it robustness` searches deeper.
use std::path::Path;

use lambda_runtime::Diagnostic;
use lambda_troubleshooter::analysis::Analysis;
use lambda_troubleshooter::aws::sns;
use lambda_troubleshooter::config::Config;
use lambda_troubleshooter::handler::HandlerError;
use lambda_troubleshooter::ingest::input::{self, Origin};
use lambda_troubleshooter::ingest::{self, Invocation, LogBatch, LogEvent};
use lambda_troubleshooter::model::finding::Finding;
use lambda_troubleshooter::report::render;

use crate::support::batch;
use crate::support::choices;
use batch::batch;
use choices::Choices;

/// Pieces of the formats the parsers know, so mutations reach deep into them.
const FRAGMENTS: &[&str] = &[
    "START RequestId: ",
    "END RequestId: ",
    "REPORT RequestId: ",
    "\tDuration: ",
    "\tMemory Size: ",
    "\tMax Memory Used: ",
    "\tInit Duration: ",
    "\tStatus: timeout",
    "\tStatus: error\tError Type: Runtime.OutOfMemory",
    "INIT_REPORT Init Duration: 9999.99 ms\tPhase: init\tStatus: timeout",
    "RESTORE_REPORT Restore Duration: ",
    "Task timed out after ",
    "Runtime exited with error: signal: killed",
    "RequestId: ",
    "{\"time\":\"2024-03-04T17:22:38.210Z\",\"type\":\"platform.report\",\"record\":{\"requestId\":\"",
    "\"metrics\":{\"memorySizeMB\":",
    "{\"type\":\"platform.initReport\",\"record\":{\"phase\":\"init\",\"status\":\"timeout\"",
    "is not authorized to perform: secretsmanager:GetSecretValue on resource: ",
    " because no identity-based policy allows the ",
    " with an explicit deny in a service control policy",
    "AccessDeniedException",
    "ECONNREFUSED 10.0.0.5:5432",
    "status: 503",
    "\"errorType\":\"Runtime.ImportModuleError\"",
    "java.lang.OutOfMemoryError",
    "MB",
    " ms",
    "\t",
    "\n",
    "",
    "-1",
    "18446744073709551616",
    "NaN",
    "1e309",
    "é",
    "漢字",
    "🦀",
    "\u{0}",
    "\u{feff}",
    "\r\n",
    "\\",
    "\"",
    "[",
    "{",
    "}",
];

/// Secrets planted as whole words: none of these may appear in anything that leaves.
const SECRETS: &[(&str, &str)] = &[
    (" password=Hunter2Secret!x ", "Hunter2Secret!x"),
    (" AKIAIOSFODNN7EXAMPLE ", "AKIAIOSFODNN7EXAMPLE"),
    (" postgres://app:Pa55wordInUrl@db.internal:5432/app ", "Pa55wordInUrl"),
    (" {\"SecretString\": \"sup3r-s3cret-json\"} ", "sup3r-s3cret-json"),
    (" Authorization: Bearer abcDEF123456789xyzTOKEN ", "abcDEF123456789xyzTOKEN"),
];

/// A char boundary at or below `at`.
fn boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// One random edit of the batch's events.
fn mutate(events: &mut Vec<LogEvent>, choices: &mut Choices) {
    if events.is_empty() {
        events.push(LogEvent { id: "1".into(), timestamp: 0, message: "".into() });
    }
    let i = choices.below(events.len());
    match choices.below(8) {
        0 => edit(&mut events[i], |message| {
            let at = boundary(message, choices.below(message.len() + 1));
            message.truncate(at);
        }),
        1 => edit(&mut events[i], |message| {
            let at = boundary(message, choices.below(message.len() + 1));
            let fragment = FRAGMENTS[choices.below(FRAGMENTS.len())];
            message.insert_str(at, fragment);
        }),
        2 => {
            let donor = events[choices.below(events.len())].message.clone();
            let from = boundary(&donor, choices.below(donor.len() + 1));
            edit(&mut events[i], |message| {
                let at = boundary(message, choices.below(message.len() + 1));
                message.insert_str(at, &donor[from..]);
            });
        }
        3 => {
            events.remove(i);
        }
        4 => {
            let copy = events[i].clone();
            events.insert(choices.below(events.len() + 1), copy);
        }
        5 => {
            let j = choices.below(events.len());
            events.swap(i, j);
        }
        6 => {
            events[i].timestamp = *choices.pick(&[i64::MIN, -1, 0, i64::MAX, 253_402_300_800_000]);
        }
        _ => edit(&mut events[i], |message| {
            let at = boundary(message, choices.below(message.len() + 1));
            let number = *choices.pick(&["0", "00000", "4294967296", "99999999999999999999", "-0", "1.5e3", "."]);
            message.insert_str(at, number);
        }),
    }
}

/// Edits an event's message as a `String`.
fn edit(event: &mut LogEvent, change: impl FnOnce(&mut String)) {
    let mut message = event.message.to_string();
    change(&mut message);
    event.message = message.into();
}

/// Appends a whole secret to a few messages, after the other edits (an edit inside a planted
/// secret would make it something no redactor could recognise). Returns the secret values.
fn plant_secrets(events: &mut [LogEvent], choices: &mut Choices) -> Vec<&'static str> {
    let mut planted = Vec::new();
    for _ in 0..choices.below(3) {
        if events.is_empty() {
            break;
        }
        let (text, secret) = *choices.pick(SECRETS);
        let i = choices.below(events.len());
        edit(&mut events[i], |message| message.push_str(text));
        planted.push(secret);
    }
    planted
}

fn sample_batches() -> Vec<(String, LogBatch)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    let mut batches = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    for path in names.into_iter().filter(|p| p.extension().is_some_and(|e| e == "json")) {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match ingest::decode_invocation(&bytes, ingest::DEFAULT_MAX_DECOMPRESSED_BYTES) {
            Ok(Invocation::AwsLogs(batch)) => batches.push((name, batch)),
            Ok(Invocation::Kinesis(records)) => {
                for record in records {
                    if let Ok(batch) = record.decode(ingest::DEFAULT_MAX_DECOMPRESSED_BYTES) {
                        batches.push((name.clone(), batch));
                    }
                }
            }
            Err(_) => {} // corrupt-batch.json: its error is tested in tests/events.rs
        }
    }
    assert!(batches.len() >= 20, "expected the sample batches of events/, found {}", batches.len());
    batches
}

/// Where the command line's plain-text lines are said to come from.
fn origin() -> Origin {
    Origin {
        log_group: "/aws/lambda/orders-api".into(),
        log_stream: "local".into(),
        owner: "123456789012".into(),
        base_timestamp_ms: 1_709_572_958_000,
    }
}

/// Everything a subscriber or the CLI could see of a finding.
fn everything_that_leaves(finding: &Finding) -> String {
    let message = sns::Message::render(finding, false).unwrap_or_else(|e| panic!("cannot render for SNS: {e:?}"));
    assert!(message.size() <= sns::MAX_MESSAGE_BYTES, "{} is over the SNS limit", finding.rule_id);
    let subject = render::subject(finding);
    assert!(subject.chars().count() <= render::MAX_SUBJECT_CHARS, "subject too long: {subject}");
    assert!(!subject.contains(['\n', '\r']), "subject has a line break: {subject:?}");
    [
        render::text(finding),
        render::json_line(finding).unwrap(),
        render::email(finding),
        render::chatbot(finding).to_string(),
        render::sns_message(finding).unwrap(),
        subject,
        format!("{:?}", render::message_attributes(finding)),
    ]
    .join("\n")
}

#[test]
fn mutated_batches_never_panic_break_sns_limits_or_leak_a_planted_secret() {
    let analysis = Analysis::new(Config::default()).unwrap();
    let batches = sample_batches();
    // ROBUSTNESS_CASES=5000 searches deeper; CI runs the default.
    let cases_per_batch: usize = std::env::var("ROBUSTNESS_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(200);
    let mut findings_seen = 0usize;
    for (b, (name, original)) in batches.iter().enumerate() {
        for case in 0..cases_per_batch {
            let seed = 0x5eed_0000_0000 + (b * cases_per_batch + case) as u64;
            let mut choices = Choices(seed);
            let mut batch = original.clone();
            for _ in 0..1 + choices.below(12) {
                mutate(&mut batch.log_events, &mut choices);
            }
            let planted = plant_secrets(&mut batch.log_events, &mut choices);
            let outcome = analysis.analyze_batch(&batch);
            for finding in &outcome.findings {
                findings_seen += 1;
                assert!(finding.count >= 1, "{name} seed {seed:#x}: {} has count 0", finding.rule_id);
                assert!(finding.evidence.len() <= 3, "{name} seed {seed:#x}: too much evidence");
                let shown = everything_that_leaves(finding);
                for secret in &planted {
                    assert!(
                        !shown.contains(secret),
                        "{name} seed {seed:#x}: the planted secret {secret:?} left in {}:\n{shown}",
                        finding.rule_id
                    );
                }
            }
        }
    }
    assert!(findings_seen > 1000, "the mutations should still give findings to render, got {findings_seen}");
}

/// Byte-level damage to the envelope itself: the Lambda's decoder either reports a corrupt batch
/// (the error type Lambda records, so the event goes to the on-failure destination) or, when
/// the damage missed what the gzip checksum and the JSON protect, decodes the very same batch:
/// never a different one. The command line's reader, which falls back to plain text, analyses
/// whatever it got without a panic.
#[test]
fn damaged_envelopes_give_a_named_error_or_a_batch() {
    let analysis = Analysis::new(Config::default()).unwrap();
    let origin = origin();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("events/mixed-batch.json");
    let original = std::fs::read(path).unwrap();
    let Ok(Invocation::AwsLogs(undamaged)) = ingest::decode_invocation(&original, 1 << 20) else {
        panic!("mixed-batch.json must decode");
    };
    let mut choices = Choices(0xdead_beef);
    let (mut errors, mut decoded) = (0, 0);
    for _ in 0..2_000 {
        let mut bytes = original.clone();
        for _ in 0..1 + choices.below(4) {
            let at = choices.below(bytes.len());
            match choices.below(3) {
                0 => bytes[at] = choices.next() as u8,
                1 => bytes.truncate(at),
                _ => {
                    bytes.remove(at);
                }
            }
            if bytes.is_empty() {
                break;
            }
        }
        match ingest::decode_invocation(&bytes, 1 << 20) {
            Ok(Invocation::AwsLogs(batch)) => {
                assert_eq!(batch, undamaged, "damage gave a different batch");
                decoded += 1;
            }
            Ok(Invocation::Kinesis(_)) => panic!("damage turned an awslogs event into a Kinesis one"),
            Err(error) => {
                let diagnostic = Diagnostic::from(HandlerError::from(error));
                assert!(
                    ["Troubleshooter.CorruptBatch", "Troubleshooter.UnknownEvent"]
                        .contains(&diagnostic.error_type.as_str()),
                    "{diagnostic:?}"
                );
                errors += 1;
            }
        }
        if let Ok(batches) = input::read_batches(&bytes, &origin, 1 << 20) {
            for batch in batches {
                analysis.analyze_batch(&batch);
            }
        }
    }
    for text in [
        "9999-99-99T99:99:99.999Z START RequestId: x\n",
        "2024-03-04T17:22:38.210Z\tREPORT RequestId:\tDuration: 1e400 ms\tMemory Size: -5 MB",
        "0000-01-01T00:00:00Z \\",
        "+275760-09-13T00:00:00.000Z Task timed out after -0.00 seconds",
    ] {
        let batch = input::plain_text_batch(&input::unescape(text), &origin);
        analysis.analyze_batch(&batch);
    }
    assert!(errors > 1_000, "most damage must be caught: {errors} errors, {decoded} decoded");
}

/// What the mutation search found: a line forged to look like a platform record made a secret
/// the request id, and request ids were not redacted like the rest of the text.
#[test]
fn a_request_id_read_from_the_log_is_redacted_like_any_excerpt() {
    let analysis = Analysis::new(Config::default()).unwrap();
    let lines = [
        "START RequestId: AKIAIOSFODNN7EXAMPLE Version: $LATEST",
        "[ERROR] An error occurred (AccessDeniedException) when calling the GetSecretValue operation: User: arn:aws:sts::123456789012:assumed-role/orders-api-role/orders-api is not authorized to perform: secretsmanager:GetSecretValue on resource: orders/db because no identity-based policy allows the secretsmanager:GetSecretValue action",
        "END RequestId: AKIAIOSFODNN7EXAMPLE",
    ];
    let outcome = analysis.analyze_batch(&batch("/aws/lambda/orders-api", &lines));
    let finding = outcome.findings.iter().find(|f| f.rule_id == "secrets-manager-access-denied").unwrap();
    assert_eq!(finding.request_ids, ["[REDACTED]"]);
    assert!(!everything_that_leaves(finding).contains("AKIAIOSFODNN7EXAMPLE"));
}
