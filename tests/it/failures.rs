//! Failure injection: the outside world failing while the Lambda runs under
//! `cargo lambda watch`, with the real SNS client, moto server as SNS, and a fault proxy
//! ([`support::fault_proxy`]) between them. Each case is a row of the failure table in docs/operations.md:
//! SNS throttling then recovering, SNS unreachable, SNS slow, a poison record in a Kinesis
//! batch, and the function's own log group and own findings subscribed by mistake.

use crate::support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use lambda_troubleshooter::analysis::Analysis;
use lambda_troubleshooter::config::Config;
use lambda_troubleshooter::ingest::input::{self, EventKind, Origin};
use lambda_troubleshooter::report::render;
use serde_json::Value;
use support::fault_proxy::{Fault, FaultProxy};
use support::{LambdaWatch, MotoServer, deliveries, project_file, rule_ids, squash};

const TOPIC: &str = "findings";

/// moto, a topic on it, a fault proxy in front of its SNS, and the Lambda publishing through
/// the proxy (every other service goes straight to moto).
struct Rig {
    moto: MotoServer,
    proxy: FaultProxy,
    watch: LambdaWatch,
    topic_arn: String,
}

impl Rig {
    async fn start(extra: &[(&'static str, String)]) -> Self {
        let moto = MotoServer::start();
        let sns = aws_sdk_sns::Client::new(&moto.sdk_config().await);
        let topic_arn = sns.create_topic().name(TOPIC).send().await.unwrap().topic_arn().unwrap().to_owned();
        let proxy = FaultProxy::start(moto.port);
        let mut env = moto.aws_env();
        env.extend([("TOPIC_ARN", topic_arn.clone()), ("AWS_ENDPOINT_URL_SNS", proxy.endpoint.clone())]);
        env.extend(extra.iter().cloned());
        let watch = LambdaWatch::start(&env);
        Self { moto, proxy, watch, topic_arn }
    }

    /// The finding ids SNS received, in order.
    fn published_ids(&self) -> Vec<String> {
        self.moto
            .published(&self.topic_arn)
            .iter()
            .map(|(message, _, _)| {
                let envelope: Value = serde_json::from_str(message).unwrap();
                let finding: Value = serde_json::from_str(envelope["default"].as_str().unwrap()).unwrap();
                finding["id"].as_str().unwrap().to_owned()
            })
            .collect()
    }
}

fn ids(response: &Value) -> Vec<String> {
    let mut ids: Vec<String> =
        response["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    ids
}

fn sorted(mut ids: Vec<String>) -> Vec<String> {
    ids.sort();
    ids
}

/// SNS throttles: first with `Throttling` (which the SDK retries itself), then with SNS's own
/// `Throttled` (which it does not, and the adapter does). The invocation succeeds within its
/// budget and each finding reaches SNS exactly once.
#[tokio::test]
async fn sns_throttling_is_retried_within_the_budget_and_each_finding_sent_once() {
    // No flood control: the second event repeats the first's out-of-memory finding.
    let rig = Rig::start(&[("SUPPRESS_SECONDS", "0".to_owned())]).await;
    // The function is built and warm before the fault: the time below is the retries'.
    let warm = rig.watch.invoke_ok(&project_file("events/control-message.json"));
    assert_eq!(warm["findings"], serde_json::json!([]));

    rig.proxy.set(Fault::Throttle { times: 1, status: 400, code: "Throttling" });
    let started = Instant::now();
    let response = rig.watch.invoke_ok(&project_file("events/mixed-batch.json"));
    assert_eq!(rig.proxy.count("PublishBatch", "throttled"), 1);
    assert!(deliveries(&response).iter().all(|(_, d)| d == "published"), "{response}");
    assert_eq!(sorted(rig.published_ids()), ids(&response), "each finding once");

    rig.proxy.set(Fault::Throttle { times: 2, status: 429, code: "Throttled" });
    let response = rig.watch.invoke_ok(&project_file("events/oom-report.json"));
    assert_eq!(rig.proxy.count("PublishBatch", "throttled"), 3, "{:?}\n{response}", rig.proxy.seen());
    assert_eq!(rig.proxy.count("PublishBatch", "forwarded"), 2);
    assert_eq!(rule_ids(&response), ["lambda-out-of-memory"]);
    let published = rig.published_ids();
    assert_eq!(published.len(), 4, "3 + 1 findings, none twice: {published:?}");
    assert_eq!(published[3], ids(&response)[0]);
    assert!(started.elapsed() < Duration::from_secs(30), "retries took {:?}", started.elapsed());
    assert!(rig.watch.log().contains("SNS throttled the request; retrying it"), "{}", rig.watch.log());
}

/// SNS cannot be reached: the invocation fails (Lambda retries it) and sends nothing; the retry,
/// once SNS answers, sends every finding once, with the ids the error named; a third delivery
/// of the same batch is held back, not sent again.
#[tokio::test]
async fn sns_unreachable_fails_the_invocation_and_lambdas_retry_sends_each_finding_once() {
    let rig = Rig::start(&[]).await;
    rig.watch.invoke_ok(&project_file("events/control-message.json"));

    rig.proxy.set(Fault::Unreachable);
    let (status, stdout, stderr) = rig.watch.invoke(&project_file("events/mixed-batch.json"));
    assert!(!status.success(), "the invocation must fail so Lambda retries it: {stdout}");
    assert!(stderr.contains("Troubleshooter.PublishFailed"), "{stderr}");
    assert!(squash(&stderr).contains(&squash("3 of 3 findings were not delivered")), "{stderr}");
    assert!(rig.proxy.count("?", "dropped") >= 1);
    assert!(rig.published_ids().is_empty());

    rig.proxy.set(Fault::Pass);
    let retried = rig.watch.invoke_ok(&project_file("events/mixed-batch.json"));
    assert!(deliveries(&retried).iter().all(|(_, d)| d == "published"), "{retried}");
    for id in ids(&retried) {
        assert!(squash(&stderr).contains(&id), "the error did not name {id}: {stderr}");
    }
    assert_eq!(sorted(rig.published_ids()), ids(&retried));
    assert_eq!(rig.proxy.count("PublishBatch", "forwarded"), 1, "one request for the three findings");

    let again = rig.watch.invoke_ok(&project_file("events/mixed-batch.json"));
    assert!(deliveries(&again).iter().all(|(_, d)| d == "duplicate" || d == "suppressed"), "{again}");
    assert_eq!(rig.published_ids().len(), 3, "nothing sent twice");
}

/// SNS accepts connections and does not answer: the publish gives up on its own (the SDK's
/// attempt timeout, its retries, then the invocation's error) well before the function's
/// timeout (60 s in the template), says so, and sends nothing.
#[tokio::test]
async fn slow_sns_gives_up_before_the_functions_timeout_and_says_so() {
    let rig = Rig::start(&[]).await;
    rig.watch.invoke_ok(&project_file("events/control-message.json"));

    rig.proxy.set(Fault::Silent(Duration::from_secs(120)));
    let started = Instant::now();
    let (status, stdout, stderr) = rig.watch.invoke(&project_file("events/oom-report.json"));
    let took = started.elapsed();
    assert!(!status.success(), "{stdout}");
    assert!(took < Duration::from_secs(45), "gave up after {took:?}");
    eprintln!("slow SNS: gave up after {took:?}: {stderr}");
    let error = squash(&stderr);
    assert!(
        error.contains("Troubleshooter.PublishFailed") || error.contains("Troubleshooter.DeadlineExceeded"),
        "{stderr}"
    );
    assert!(error.to_lowercase().contains("timeout") || error.contains("timedout"), "{stderr}");
    assert!(rig.proxy.count("PublishBatch", "silent") >= 1);
    assert!(rig.published_ids().is_empty());

    // SNS answers again: the same instance publishes the retry.
    rig.proxy.set(Fault::Pass);
    let retried = rig.watch.invoke_ok(&project_file("events/oom-report.json"));
    assert_eq!(rig.published_ids(), ids(&retried));
}

/// A Kinesis batch with one record that is no CloudWatch Logs document among good ones: only
/// that record is reported failed (so the event source mapping retries and bisects only it),
/// and the good records' findings are published.
#[tokio::test]
async fn one_poison_kinesis_record_is_the_only_batch_item_failure() {
    use base64::Engine as _;
    let rig = Rig::start(&[]).await;
    let mut event: Value =
        serde_json::from_slice(&std::fs::read(project_file("events/kinesis-mixed.json")).unwrap()).unwrap();
    let records = event["Records"].as_array_mut().unwrap();
    let mut poison = records[0].clone();
    poison["kinesis"]["data"] =
        base64::engine::general_purpose::STANDARD.encode(b"{\"not\": \"a log document\"}").into();
    poison["kinesis"]["sequenceNumber"] = "49590338271490256608559692538361571095921575989136588899".into();
    records.insert(1, poison);
    let file = temp_event("poison-kinesis", &event);

    let response = rig.watch.invoke_ok(&file);
    assert_eq!(
        response["batchItemFailures"],
        serde_json::json!([{"itemIdentifier": "49590338271490256608559692538361571095921575989136588899"}]),
        "{response}"
    );
    assert_eq!(rig.published_ids().len(), 3, "the good records' findings: {response}");
}

/// The function's own log group, subscribed by mistake, is never analysed; nor are its own
/// findings when they reach another subscribed log group (a forwarder that logs what SNS sent
/// it: the JSON, the email text, the Chatbot card, the SNS envelope). A real failure beside them is
/// still found.
#[tokio::test]
async fn own_log_group_and_own_findings_are_never_analysed() {
    let own = "/aws/lambda/lambda-troubleshooter-Function-AbC123";
    let rig = Rig::start(&[("AWS_LAMBDA_LOG_GROUP_NAME", own.to_owned())]).await;
    let origin = |log_group: &str| Origin {
        log_group: log_group.to_owned(),
        log_stream: "2024/03/04/[$LATEST]0123456789abcdef".to_owned(),
        owner: "123456789012".to_owned(),
        base_timestamp_ms: 1_709_572_958_000,
    };

    // The function's own log group: the lines would be an out-of-memory finding anywhere else.
    let oom = "REPORT RequestId: 1c2d\tDuration: 812.40 ms\tBilled Duration: 813 ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB\tStatus: error\tError Type: Runtime.OutOfMemory";
    let own_event = input::encode_awslogs_event(oom, &origin(own)).unwrap();
    let response = rig.watch.invoke_ok(&temp_event("own-group", &own_event));
    assert_eq!(response["findings"], serde_json::json!([]), "{response}");
    assert_eq!(response["batches"][0]["skipped"], "the function's own log group", "{response}");

    // Findings of this tool, as a forwarder would log them, in another log group.
    let analysis = Analysis::new(Config::default()).unwrap();
    let mixed = input::read_batches(
        &std::fs::read(project_file("events/mixed-batch.json")).unwrap(),
        &origin("/aws/lambda/orders-api"),
        1 << 24,
    )
    .unwrap();
    let findings = analysis.analyze_batch(&mixed[0]).findings;
    assert_eq!(findings.len(), 3);
    let mut forwarded = Vec::new();
    for finding in &findings {
        let json = render::json_line(finding).unwrap();
        forwarded.push(format!("[INFO] received finding {json}"));
        forwarded.push(render::email(finding));
        forwarded.push(format!("posting to Slack: {}", render::chatbot(finding)));
        let envelope =
            serde_json::json!({"Records": [{"EventSource": "aws:sns", "Sns": {"Subject": "x", "Message": json}}]});
        forwarded.push(format!("2024-03-04T17:30:00.000Z\tc0ffee\tINFO\tevent: {envelope}"));
    }
    let real = "2024-03-04T17:31:00.000Z 5b1e6c3a-0f5e-4a55-a8f1-6f3c5e7d9a10 Task timed out after 3.00 seconds";
    forwarded.push(real.to_owned());
    let batch = input::messages_batch(forwarded, &origin("/aws/lambda/slack-forwarder"));
    let event = input::encode_event(batch, lambda_troubleshooter::ingest::DATA_MESSAGE, EventKind::AwsLogs).unwrap();
    let response = rig.watch.invoke_ok(&temp_event("forwarded-findings", &event));
    assert_eq!(rule_ids(&response), ["lambda-timeout"], "{response}");
    assert!(response["findings"][0]["summary"].as_str().unwrap().starts_with("slack-forwarder "), "{response}");
}

fn temp_event(name: &str, event: &Value) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}.json", std::process::id()));
    std::fs::write(&path, serde_json::to_vec(event).unwrap()).unwrap();
    path
}

/// The failure table of docs/operations.md names, in its last column, the test of each row: each must exist.
#[test]
fn every_row_of_the_readmes_failure_table_names_a_test_that_exists() {
    let readme = std::fs::read_to_string(project_file("docs/operations.md")).unwrap();
    let section = readme.split("## Failures: what Lambda retries").nth(1).unwrap();
    let section = section.split("\n## ").next().unwrap();
    let rows: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| What fails") && !l.starts_with("| ---"))
        .collect();
    assert!(rows.len() >= 12, "{section}");
    for row in rows {
        let test = row.trim_end_matches('|').rsplit('|').next().unwrap().trim().trim_matches('`');
        let (module, name) = test.split_once("::").unwrap_or_else(|| panic!("no test in {row}"));
        // A suite of `tests/it/`, or a test binary of its own (`tests/hostile.rs`).
        let source = std::fs::read_to_string(project_file(&format!("tests/it/{module}.rs")))
            .or_else(|_| std::fs::read_to_string(project_file(&format!("tests/{module}.rs"))))
            .unwrap_or_else(|e| panic!("{test}: tests/it/{module}.rs: {e}"));
        assert!(source.contains(&format!("fn {name}(")), "docs/operations.md names {test}, which does not exist");
    }
}

/// A payload the runtime cannot read as JSON (an envelope nested 100,000 deep, or not JSON at
/// all) is the function's own `Troubleshooter.CorruptBatch`, not the runtime's deserializer
/// error, and the process serves the next invocation.
#[test]
fn a_payload_nested_too_deep_is_a_corrupt_batch() {
    let binary = std::path::PathBuf::from(env!("CARGO_BIN_EXE_lambda-troubleshooter"));
    let lambda = support::runtime_api::RuntimeApi::start(&binary, &[]);
    for payload in [format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(), b"not json".to_vec()] {
        let answer = lambda.invoke(&payload);
        assert_eq!(answer.outcome, "error");
        let body: Value = serde_json::from_slice(&answer.body).unwrap();
        assert_eq!(body["errorType"], "Troubleshooter.CorruptBatch", "{body}");
        assert!(body["errorMessage"].as_str().unwrap().contains("the payload is not readable JSON"), "{body}");
    }
    let answer = lambda.invoke(&std::fs::read(project_file("events/control-message.json")).unwrap());
    assert_eq!(answer.outcome, "response");
}
