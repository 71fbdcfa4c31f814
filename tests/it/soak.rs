//! A warm instance over time: 10,000 invocations of one function process through
//! the Runtime API ([`support::runtime_api`]), publishing to moto SNS, with storms, repeats,
//! corrupt batches, Kinesis batches with a poison record and control messages mixed in.
//!
//! It checks what an operator relies on after a week of uptime: resident memory stays flat
//! (at most 10% above what it was after the first 1,000 invocations), every invocation gets the
//! answer its event deserves, and every problem is published exactly once: none lost, none sent
//! twice (the suppression window outlasts the run, so each rule and function is one message).
//!
//! `make soak` runs it on the release build and prints the numbers; `make test` on the debug
//! build. `SOAK_INVOCATIONS` and `SOAK_LAMBDA` change the count and the binary.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use base64::Engine as _;
use lambda_troubleshooter::ingest::input::{self, Origin};
use serde_json::Value;
use support::runtime_api::RuntimeApi;
use support::{MotoServer, project_file, tool};

/// The kinds of event the soak hands out, and how often.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// A new failure (a timeout, sometimes an out-of-memory REPORT) of one of 300 functions.
    Fresh,
    /// An event handed out before, again: as CloudWatch Logs or Lambda may redeliver.
    Repeat,
    /// 10,000 error lines of five kinds from one function (`scripts/storm.py`).
    Storm,
    /// A batch whose gzip is corrupt: the invocation must fail.
    Corrupt,
    /// Three good Kinesis records and one that is no CloudWatch Logs document.
    PoisonKinesis,
    /// CloudWatch Logs' health check.
    Control,
}

fn kind(i: usize) -> Kind {
    match i {
        _ if i % 500 == 499 => Kind::Storm,
        _ if i % 50 == 7 => Kind::Corrupt,
        _ if i % 50 == 13 => Kind::PoisonKinesis,
        _ if i % 100 == 21 => Kind::Control,
        _ if i % 10 == 3 && i > 10 => Kind::Repeat,
        _ => Kind::Fresh,
    }
}

/// A new failure of function `fn-(i % 300)`, with request ids of its own.
fn fresh(i: usize) -> Vec<u8> {
    let function = format!("fn-{}", i % 300);
    let origin = Origin {
        log_group: format!("/aws/lambda/{function}"),
        log_stream: format!("2026/11/29/[$LATEST]{i:032x}"),
        owner: "123456789012".into(),
        base_timestamp_ms: 1_764_400_000_000 + i as i64 * 1000,
    };
    let request = format!("{i:08x}-0000-4000-8000-{:012x}", i * 7919);
    let mut lines = format!(
        "START RequestId: {request} Version: $LATEST\n2026-11-29T07:00:00.000Z {request} Task timed out after 3.00 seconds\nREPORT RequestId: {request}\\tDuration: 3000.00 ms\\tBilled Duration: 3000 ms\\tMemory Size: 256 MB\\tMax Memory Used: 120 MB\n"
    );
    if i.is_multiple_of(7) {
        let other = format!("{i:08x}-1111-4000-8000-{:012x}", i * 104_729);
        lines.push_str(&format!(
            "START RequestId: {other} Version: $LATEST\nREPORT RequestId: {other}\\tDuration: 812.40 ms\\tBilled Duration: 813 ms\\tMemory Size: 256 MB\\tMax Memory Used: 256 MB\\tStatus: error\\tError Type: Runtime.OutOfMemory\n"
        ));
    }
    let batch = input::messages_batch(lines.lines().map(input::unescape), &origin);
    let event =
        input::encode_event(batch, lambda_troubleshooter::ingest::DATA_MESSAGE, input::EventKind::AwsLogs).unwrap();
    serde_json::to_vec(&event).unwrap()
}

fn poison_kinesis() -> Vec<u8> {
    let mut event: Value =
        serde_json::from_slice(&std::fs::read(project_file("events/kinesis-mixed.json")).unwrap()).unwrap();
    let records = event["Records"].as_array_mut().unwrap();
    let mut poison = records[0].clone();
    poison["kinesis"]["data"] = base64::engine::general_purpose::STANDARD.encode(b"\x1f\x8b\x08 cut").into();
    poison["kinesis"]["sequenceNumber"] = "4999".into();
    records.push(poison);
    serde_json::to_vec(&event).unwrap()
}

fn storm() -> Vec<u8> {
    let out = std::process::Command::new(tool("python")).arg(project_file("scripts/storm.py")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn ten_thousand_invocations_keep_memory_flat_and_publish_each_problem_once() {
    let invocations: usize = std::env::var("SOAK_INVOCATIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(10_000);
    let binary = std::env::var("SOAK_LAMBDA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_BIN_EXE_lambda-troubleshooter")));
    let moto = MotoServer::start();
    let sns = aws_sdk_sns::Client::new(&moto.sdk_config().await);
    let topic = sns.create_topic().name("soak").send().await.unwrap().topic_arn().unwrap().to_owned();
    let mut env = moto.aws_env();
    env.extend([
        ("TOPIC_ARN", topic.clone()),
        ("SUPPRESS_SECONDS", "86400".to_owned()),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/lambda-troubleshooter".to_owned()),
    ]);
    let function = RuntimeApi::start(&binary, &env);

    let (storm, corrupt, kinesis, control) = (
        storm(),
        std::fs::read(project_file("events/corrupt-batch.json")).unwrap(),
        poison_kinesis(),
        std::fs::read(project_file("events/control-message.json")).unwrap(),
    );
    let mut handed: Vec<Vec<u8>> = Vec::new();
    let mut published: Vec<(String, String, String)> = Vec::new();
    let mut problems: BTreeSet<(String, String)> = BTreeSet::new();
    let mut deliveries: BTreeMap<String, usize> = BTreeMap::new();
    let mut rss_at_1000 = 0;
    let mut rss_after_1000_max = 0;
    for i in 0..invocations {
        let kind = kind(i);
        let event = match kind {
            Kind::Fresh => fresh(i),
            Kind::Repeat => handed[(i * 31) % handed.len()].clone(),
            Kind::Storm => storm.clone(),
            Kind::Corrupt => corrupt.clone(),
            Kind::PoisonKinesis => kinesis.clone(),
            Kind::Control => control.clone(),
        };
        let answer = function.invoke(&event);
        let body = String::from_utf8_lossy(&answer.body);
        if kind == Kind::Corrupt {
            assert_eq!(answer.outcome, "error", "invocation {i}: {body}");
            assert!(body.contains("Troubleshooter.CorruptBatch"), "invocation {i}: {body}");
        } else {
            assert_eq!(answer.outcome, "response", "invocation {i} ({kind:?}): {body}");
            let response: Value = serde_json::from_slice(&answer.body).unwrap();
            if std::env::var("SOAK_SHOW").is_ok_and(|v| v.split(',').any(|n| n == i.to_string())) {
                eprintln!("invocation {i} ({kind:?}): {response}");
            }
            if kind == Kind::PoisonKinesis {
                assert_eq!(response["batchItemFailures"], serde_json::json!([{"itemIdentifier": "4999"}]));
            }
            for finding in response["findings"].as_array().into_iter().flatten() {
                let (id, rule, delivery) = (
                    finding["id"].as_str().unwrap().to_owned(),
                    finding["rule_id"].as_str().unwrap().to_owned(),
                    finding["delivery"].as_str().unwrap().to_owned(),
                );
                let function = finding["summary"].as_str().unwrap().split_whitespace().next().unwrap().to_owned();
                assert!(
                    ["published", "suppressed", "duplicate"].contains(&delivery.as_str()),
                    "invocation {i}: {finding}"
                );
                *deliveries.entry(delivery.clone()).or_default() += 1;
                problems.insert((rule.clone(), function.clone()));
                if delivery == "published" {
                    published.push((id, rule, function));
                }
            }
        }
        if kind == Kind::Fresh {
            handed.push(event);
        }
        if (i + 1).is_multiple_of(100) {
            let rss = function.memory_kb()["VmRSS"];
            if i + 1 == 1000 {
                rss_at_1000 = rss;
            } else if i + 1 > 1000 {
                rss_after_1000_max = rss_after_1000_max.max(rss);
            }
        }
    }
    let memory = function.memory_kb();
    let (final_rss, peak) = (memory["VmRSS"], memory["VmHWM"]);
    eprintln!(
        "soak: {invocations} invocations of {}: RSS {:.1} MiB after 1,000, at most {:.1} MiB after that, {:.1} MiB at the end; peak (VmHWM) {:.1} MiB; findings {deliveries:?}; {} problems, {} published",
        binary.display(),
        rss_at_1000 as f64 / 1024.0,
        rss_after_1000_max as f64 / 1024.0,
        final_rss as f64 / 1024.0,
        peak as f64 / 1024.0,
        problems.len(),
        published.len()
    );

    // Each problem (rule and function) reached SNS once: none sent twice, none lost, and every
    // finding the function says it published is there. (A Kinesis invocation answers with its
    // batch item failures only, so its findings are known from SNS alone.)
    let sent: Vec<(String, String, String)> = moto
        .published(&topic)
        .iter()
        .map(|(message, _, _)| {
            let envelope: Value = serde_json::from_str(message).unwrap();
            let finding: Value = serde_json::from_str(envelope["default"].as_str().unwrap()).unwrap();
            let field = |name: &str| finding[name].as_str().unwrap().to_owned();
            (field("id"), field("rule_id"), field("function"))
        })
        .collect();
    let sent_problems: BTreeSet<(String, String)> =
        sent.iter().map(|(_, rule, function)| (rule.clone(), function.clone())).collect();
    assert_eq!(sent_problems.len(), sent.len(), "a problem was sent twice");
    let lost: Vec<_> = problems.difference(&sent_problems).collect();
    assert!(lost.is_empty(), "problems never sent: {lost:?}");
    let sent_ids: BTreeSet<&str> = sent.iter().map(|(id, _, _)| id.as_str()).collect();
    for (id, rule, function) in &published {
        assert!(sent_ids.contains(id.as_str()), "{rule} of {function} ({id}) was published but SNS never got it");
    }

    if invocations >= 2000 {
        let limit = rss_at_1000 + rss_at_1000 / 10;
        assert!(
            rss_after_1000_max <= limit && final_rss <= limit,
            "resident memory grew more than 10% after the first 1,000 invocations: {rss_at_1000} KiB then up to {rss_after_1000_max} KiB"
        );
    }
}
