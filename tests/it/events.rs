//! Every file in events/ gives exactly the findings it was written to show, and bad input
//! gives a clear error, never a panic, through the same handler the Lambda runs.
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use base64::Engine as _;
use flate2::{Compression, write::GzEncoder};
use lambda_troubleshooter::BoxFuture;
use lambda_troubleshooter::config::Config;
use lambda_troubleshooter::deliver::publish::{PublishError, Publisher};
use lambda_troubleshooter::handler::{Deadline, HandlerError, Troubleshooter};
use lambda_troubleshooter::model::finding::Finding;
use serde_json::{Value, json};
use std::io::Write;

/// A publisher that records what it was given (the core's fake; SNS is tested against moto).
#[derive(Default)]
struct Recording(Mutex<Vec<Finding>>);

impl Publisher for Recording {
    fn publish<'a>(&'a self, findings: &'a [Finding], _: Option<Instant>) -> BoxFuture<'a, Result<(), PublishError>> {
        self.0.lock().unwrap().extend_from_slice(findings);
        Box::pin(async { Ok(()) })
    }
}

fn troubleshooter(config: Config) -> Troubleshooter {
    Troubleshooter::new(config).unwrap()
}

fn event(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("events").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

async fn findings_of(name: &str) -> Vec<Finding> {
    let publisher = Recording::default();
    troubleshooter(Config::default()).handle(event(name), &publisher, Deadline::none()).await.result.unwrap();
    publisher.0.into_inner().unwrap()
}

/// (event file, [(rule id, count)]) — exactly these findings, no others.
const EXPECTED: &[(&str, &[(&str, u64)])] = &[
    ("oom-report.json", &[("lambda-out-of-memory", 2)]),
    ("oom-json.json", &[("lambda-out-of-memory", 1)]),
    ("oom-as-timeout.json", &[("lambda-out-of-memory", 1)]),
    ("oom-node-heap.json", &[("lambda-out-of-memory", 1)]),
    ("memory-pressure.json", &[("lambda-memory-pressure", 2)]),
    ("timeout.json", &[("lambda-timeout", 2)]),
    ("timeout-json.json", &[("lambda-timeout", 1)]),
    ("cold-start-timeout.json", &[("lambda-cold-start-timeout", 1)]),
    ("init-timeout.json", &[("lambda-init-timeout", 2)]),
    ("init-timeout-json.json", &[("lambda-init-timeout", 1)]),
    ("secret-access-denied.json", &[("secrets-manager-access-denied", 2)]),
    ("secret-access-denied-json.json", &[("secrets-manager-access-denied", 1)]),
    ("kms-access-denied.json", &[("secrets-manager-kms-access-denied", 1)]),
    (
        "eventual-consistency.json",
        &[("secrets-manager-secret-not-found", 1), ("eventual-consistency-access-denied", 1)],
    ),
    ("import-module-error.json", &[("lambda-import-module-error", 1)]),
    ("node-syntax-error.json", &[("lambda-user-code-syntax-error", 2)]),
    (
        "startup-failures.json",
        &[("lambda-extension-failure", 1), ("lambda-exec-format-error", 1), ("lambda-glibc-not-found", 1)],
    ),
    ("runtime-exit.json", &[("lambda-runtime-exit", 2)]),
    ("mixed-batch.json", &[("lambda-out-of-memory", 1), ("secrets-manager-access-denied", 1), ("lambda-timeout", 1)]),
    ("kinesis-mixed.json", &[("lambda-out-of-memory", 1), ("secrets-manager-access-denied", 1), ("lambda-timeout", 1)]),
    ("control-message.json", &[]),
];

#[tokio::test]
async fn every_event_gives_exactly_its_findings() {
    let mut failures = Vec::new();
    for (name, expected) in EXPECTED {
        let findings = findings_of(name).await;
        let mut got: Vec<(String, u64)> = findings.iter().map(|f| (f.rule_id.clone(), f.count)).collect();
        let mut want: Vec<(String, u64)> = expected.iter().map(|(r, c)| ((*r).to_owned(), *c)).collect();
        got.sort();
        want.sort();
        if got != want {
            failures.push(format!("{name}: expected {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_event_is_listed_here_and_has_a_readable_source() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("events");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name == "corrupt-batch.json" {
                continue;
            }
            assert!(EXPECTED.iter().any(|(n, _)| *n == name), "{name} has no expected findings in tests/events.rs");
            let source = dir.join("src").join(name.replace(".json", ".log"));
            assert!(source.exists(), "{name} has no source {}", source.display());
        }
    }
}

#[tokio::test]
async fn the_oom_finding_follows_the_json_contract() {
    let findings = findings_of("oom-report.json").await;
    let oom = &findings[0];
    let json: Value = serde_json::to_value(oom).unwrap();
    for field in [
        "schema",
        "id",
        "rule_id",
        "category",
        "severity",
        "title",
        "summary",
        "cause",
        "fix",
        "docs",
        "account",
        "region",
        "log_group",
        "log_stream",
        "function",
        "count",
        "first_seen",
        "last_seen",
        "request_ids",
        "event_ids",
        "evidence",
        "details",
        "console_url",
    ] {
        assert!(json.get(field).is_some(), "missing {field}");
    }
    assert_eq!(json["schema"], "lambda-troubleshooter/finding/v1");
    assert_eq!(json["category"], "out_of_memory");
    assert_eq!(json["severity"], "critical");
    assert_eq!(json["function"], "orders-api");
    assert_eq!(json["account"], "123456789012");
    assert_eq!(json["details"]["memory_size_mb"], 256);
    assert_eq!(json["details"]["max_memory_used_mb"], 256);
    assert_eq!(
        json["request_ids"],
        json!(["1c2d8f4e-1111-4a6b-9c2d-0e1f2a3b4c5d", "2ea49a23-ff39-4bf5-8761-439f99b7c5f6"])
    );
    assert_eq!(
        oom.summary,
        "orders-api ran out of memory: used 256 of 256 MB and was stopped (Runtime.OutOfMemory) (2 invocations)"
    );
    assert!(oom.fix[0].contains("--memory-size 512"), "{}", oom.fix[0]);
    assert!(oom.evidence.len() <= 3 && !oom.evidence.is_empty());
    assert!(oom.first_seen <= oom.last_seen);
    assert!(oom.console_url.contains("#logsV2:log-groups/log-group/$252Faws$252Flambda$252Forders-api/log-events/"));
    assert_eq!(oom.id.len(), 32);
}

#[tokio::test]
async fn finding_ids_are_stable_across_retries() {
    let first: Vec<String> = findings_of("mixed-batch.json").await.into_iter().map(|f| f.id).collect();
    let again: Vec<String> = findings_of("mixed-batch.json").await.into_iter().map(|f| f.id).collect();
    assert_eq!(first, again);
    let mut unique = first.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), first.len());
}

#[tokio::test]
async fn the_secret_finding_names_the_role_and_the_statement_to_add() {
    let findings = findings_of("mixed-batch.json").await;
    let secret = findings.iter().find(|f| f.rule_id == "secrets-manager-access-denied").unwrap();
    assert_eq!(secret.details["role"], "orders-api-role");
    assert_eq!(
        secret.fix[0],
        r#"Add this statement to a policy of the role orders-api-role: {"Action":"secretsmanager:GetSecretValue","Effect":"Allow","Resource":"arn:aws:secretsmanager:us-east-1:123456789012:secret:orders/db-password-a1B2c3"}"#
    );
    let scp = findings_of("secret-access-denied-json.json").await;
    assert!(scp[0].fix.iter().any(|f| f.contains("Organizations") && f.contains("p-ddxnpgbm")), "{:?}", scp[0].fix);
    assert!(!scp[0].fix.iter().any(|f| f.contains("put-role-policy")));
}

/// A function in China or GovCloud gets links to its own partition's console and ARNs of its
/// own partition; a commercial region's links are as before.
#[tokio::test]
async fn links_and_arns_follow_the_partition_of_the_functions_region() {
    for (region, partition, console) in [
        ("cn-north-1", "aws-cn", "https://cn-north-1.console.amazonaws.cn/cloudwatch/home?region=cn-north-1#"),
        ("us-gov-west-1", "aws-us-gov", "https://console.amazonaws-us-gov.com/cloudwatch/home?region=us-gov-west-1#"),
        ("eu-west-1", "aws", "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#"),
    ] {
        let publisher = Recording::default();
        let config = Config { region: region.to_owned(), ..Config::default() };
        troubleshooter(config)
            .handle(event("kms-access-denied.json"), &publisher, Deadline::none())
            .await
            .result
            .unwrap();
        let findings = publisher.0.into_inner().unwrap();
        let kms = findings.iter().find(|f| f.rule_id == "secrets-manager-kms-access-denied").unwrap();
        assert!(kms.console_url.starts_with(console), "{region}: {}", kms.console_url);
        let key = format!("\"arn:{partition}:kms:{region}:{}:key/KEY_ID\"", kms.account);
        assert!(kms.fix.iter().any(|step| step.contains(&key)), "{region}: {:?}", kms.fix);
    }
}

#[tokio::test]
async fn the_cold_start_timeout_says_so() {
    let findings = findings_of("cold-start-timeout.json").await;
    assert_eq!(findings[0].details["cold_start"], true);
    assert_eq!(findings[0].details["init_duration_ms"], 111.23);
    assert!(findings[0].fix.iter().any(|f| f.contains("provisioned concurrency")));
    assert!(findings[0].fix.iter().any(|f| f.contains("SnapStart")));
}

fn awslogs(document: &[u8]) -> Value {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(document).unwrap();
    json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(encoder.finish().unwrap())}})
}

#[tokio::test]
async fn bad_input_gives_clear_errors_and_the_diagnostic_lambda_reports() {
    let ts = troubleshooter(Config { max_decompressed_bytes: 1024 * 1024, ..Config::default() });
    let publisher = Recording::default();
    let cases: Vec<(Value, &str, &str)> = vec![
        (event("corrupt-batch.json"), "Troubleshooter.CorruptBatch", "gzip"),
        (awslogs(&vec![b' '; 8 * 1024 * 1024]), "Troubleshooter.BatchTooLarge", "MAX_DECOMPRESSED_BYTES"),
        (awslogs(&[b'{', 0xff, 0xfe, b'}']), "Troubleshooter.CorruptBatch", "UTF-8"),
        (awslogs(b"{\"logEvents\": \"nope\"}"), "Troubleshooter.CorruptBatch", "CloudWatch Logs document"),
        (json!({"awslogs": {"data": "not*base64"}}), "Troubleshooter.CorruptBatch", "base64"),
        (json!({"awslogs": {}}), "Troubleshooter.UnknownEvent", "data"),
        (json!({"hello": "world"}), "Troubleshooter.UnknownEvent", "awslogs"),
        (json!([1, 2, 3]), "Troubleshooter.UnknownEvent", "awslogs"),
    ];
    for (payload, error_type, mentions) in cases {
        let error = ts.handle(payload, &publisher, Deadline::none()).await.result.unwrap_err();
        let message = error.to_string();
        let diagnostic = lambda_runtime::Diagnostic::from(error);
        assert_eq!(diagnostic.error_type, error_type, "{message}");
        assert!(message.contains(mentions), "{message} should mention {mentions}");
    }
    assert!(publisher.0.lock().unwrap().is_empty());
}

#[tokio::test]
async fn huge_messages_are_analysed_and_their_evidence_cut() {
    let huge = format!(
        "[ERROR] Runtime.ImportModuleError: Unable to import module 'app': No module named 'x' {}",
        "y".repeat(300_000)
    );
    let doc = json!({"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/big", "logStream": "s",
        "logEvents": [{"id": "1", "timestamp": 1, "message": huge}]});
    let publisher = Recording::default();
    troubleshooter(Config::default())
        .handle(awslogs(doc.to_string().as_bytes()), &publisher, Deadline::none())
        .await
        .result
        .unwrap();
    let findings = publisher.0.into_inner().unwrap();
    assert_eq!(findings[0].rule_id, "lambda-import-module-error");
    assert!(findings[0].evidence[0].message.len() < 4096);
}

#[tokio::test]
async fn the_functions_own_log_group_is_never_analysed() {
    let config = Config { own_log_group: Some("/aws/lambda/orders-api".into()), ..Config::default() };
    let publisher = Recording::default();
    let response =
        troubleshooter(config).handle(event("mixed-batch.json"), &publisher, Deadline::none()).await.result.unwrap();
    assert!(publisher.0.lock().unwrap().is_empty());
    assert_eq!(response["batches"][0]["skipped"], "the function's own log group");
}

#[tokio::test]
async fn min_severity_and_disabled_rules_trim_the_findings() {
    let config = Config {
        min_severity: lambda_troubleshooter::model::Severity::Critical,
        disabled_rules: vec!["lambda-out-of-memory".into()],
        ..Config::default()
    };
    let publisher = Recording::default();
    troubleshooter(config).handle(event("mixed-batch.json"), &publisher, Deadline::none()).await.result.unwrap();
    let ids: Vec<String> = publisher.0.into_inner().unwrap().into_iter().map(|f| f.rule_id).collect();
    assert_eq!(ids, vec!["secrets-manager-access-denied"]);
}

#[tokio::test]
async fn a_kinesis_record_that_cannot_be_decoded_is_a_batch_item_failure() {
    let mut payload = event("kinesis-mixed.json");
    let mut bad = payload["Records"][0].clone();
    bad["kinesis"]["data"] = json!(base64::engine::general_purpose::STANDARD.encode(b"\x1f\x8b not really gzip"));
    bad["kinesis"]["sequenceNumber"] = json!("49590338271490256608559692538361571095921575989136588899");
    payload["Records"].as_array_mut().unwrap().push(bad);
    let publisher = Recording::default();
    let response =
        troubleshooter(Config::default()).handle(payload, &publisher, Deadline::none()).await.result.unwrap();
    assert_eq!(
        response,
        json!({"batchItemFailures": [{"itemIdentifier": "49590338271490256608559692538361571095921575989136588899"}]})
    );
    assert_eq!(publisher.0.lock().unwrap().len(), 3, "the good record's findings are still published");
}

#[tokio::test]
async fn a_failing_publisher_fails_the_invocation() {
    struct Failing;
    impl Publisher for Failing {
        fn publish<'a>(&'a self, _: &'a [Finding], _: Option<Instant>) -> BoxFuture<'a, Result<(), PublishError>> {
            Box::pin(async { Err(PublishError::Stdout(std::io::Error::other("pipe closed"))) })
        }
    }
    let error = troubleshooter(Config::default())
        .handle(event("oom-report.json"), &Failing, Deadline::none())
        .await
        .result
        .unwrap_err();
    assert!(matches!(error, HandlerError::Publish(_)));
    assert_eq!(lambda_runtime::Diagnostic::from(error).error_type, "Troubleshooter.PublishFailed");
}
