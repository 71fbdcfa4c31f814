//! One message per problem, with honest numbers: within a batch, one finding per
//! rule and function unless the rule's `key` names a value that needs a different fix; values
//! that merely vary are listed inside; `count` is the number of occurrences.

use std::process::Command;

use lambda_troubleshooter::detect::Analyzer;
use lambda_troubleshooter::ingest::{self, Invocation};
use lambda_troubleshooter::model::Severity;
use lambda_troubleshooter::model::finding::Finding;
use lambda_troubleshooter::report::render;
use lambda_troubleshooter::rules::Catalog;
use serde_json::{Value, json};

use crate::support::batch::batch;
use crate::support::project_file;

fn analyzer() -> Analyzer {
    Analyzer::new(Catalog::load(&[], &[]).unwrap(), Severity::Low)
}

/// The storm of scripts/storm.py: an awslogs event, decoded.
pub fn storm_event(part: u32) -> Value {
    storm_of(part, false)
}

/// The storm of errors no rule names (`scripts/storm.py --unhandled`).
pub fn unhandled_storm_event(part: u32) -> Value {
    storm_of(part, true)
}

fn storm_of(part: u32, unhandled: bool) -> Value {
    let output = Command::new("python3")
        .arg(project_file("scripts/storm.py"))
        .args(["--part", &part.to_string()])
        .args(unhandled.then_some("--unhandled"))
        .output()
        .expect("python3 runs scripts/storm.py");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

fn storm_findings() -> Vec<Finding> {
    let Invocation::AwsLogs(batch) = ingest::decode_value(storm_event(0), 64 << 20).unwrap() else {
        panic!("the storm is an awslogs event")
    };
    assert_eq!(batch.log_events.len(), 10_000);
    analyzer().analyze(&batch, "us-east-1")
}

fn by_rule<'a>(findings: &'a [Finding], rule_id: &str) -> &'a Finding {
    findings
        .iter()
        .find(|f| f.rule_id == rule_id)
        .unwrap_or_else(|| panic!("no {rule_id} among {:?}", findings.iter().map(|f| &f.rule_id).collect::<Vec<_>>()))
}

#[test]
fn ten_thousand_error_lines_of_five_kinds_give_five_findings_with_exact_counts() {
    let findings = storm_findings();
    let mut rules: Vec<&str> = findings.iter().map(|f| f.rule_id.as_str()).collect();
    rules.sort_unstable();
    assert_eq!(
        rules,
        [
            "aws-access-denied",
            "aws-api-throttled",
            "database-connection-failed",
            "dns-resolution-failed",
            "lambda-timeout"
        ]
    );
    for finding in &findings {
        assert_eq!(finding.count, 2_000, "{}: {}", finding.rule_id, finding.summary);
    }
    let throttled = by_rule(&findings, "aws-api-throttled");
    assert!(throttled.summary.ends_with("(2000 times)"), "{}", throttled.summary);
    assert_eq!(render::subject(throttled), "[MEDIUM] orders-api: throttling (2000x)");
    // Timeouts carry their request ids: 2,000 distinct invocations.
    let timeout = by_rule(&findings, "lambda-timeout");
    assert_eq!(timeout.requests, Some(2_000));
    // Request ids known: a Logs Insights link to every line of those invocations; none without.
    assert!(timeout.insights_url.as_deref().is_some_and(|url| url.contains("logs-insights$3FqueryDetail$3D")));
    assert_eq!(throttled.insights_url, None);
    assert!(render::email(timeout).contains("Seen:       2000 invocations, 2024-03-04T17:22:38.010Z to "));
}

#[test]
fn ten_thousand_unhandled_errors_of_five_kinds_give_five_findings_with_exact_counts() {
    let Invocation::AwsLogs(batch) = ingest::decode_value(unhandled_storm_event(0), 64 << 20).unwrap() else {
        panic!("the storm is an awslogs event")
    };
    assert_eq!(batch.log_events.len(), 10_000);
    let findings = analyzer().analyze(&batch, "us-east-1");
    let mut found: Vec<(&str, &str, u64)> =
        findings.iter().map(|f| (f.rule_id.as_str(), f.error_type.as_deref().unwrap_or(""), f.count)).collect();
    found.sort_unstable();
    assert_eq!(
        found,
        [
            ("logged-error", "ValidationError", 2_000),
            ("unhandled-error", "KeyError", 2_000),
            ("unhandled-error", "System.InvalidOperationException", 2_000),
            ("unhandled-error", "TypeError", 2_000),
            ("unhandled-error", "com.acme.orders.OrderNotFoundException", 2_000),
        ]
    );
    let fingerprints: std::collections::BTreeSet<_> = findings.iter().map(|f| f.fingerprint.clone()).collect();
    assert_eq!(fingerprints.len(), 5);
    let node = findings.iter().find(|f| f.error_type.as_deref() == Some("TypeError")).unwrap();
    assert_eq!(node.title, "TypeError: Cannot read properties of undefined (reading <*>)");
    assert_eq!(node.top_frame.as_deref(), Some("priceOrder (pricing.js)"));
    assert_eq!(node.requests, Some(2_000));
}

#[test]
fn addresses_of_one_database_are_listed_inside_one_finding() {
    let findings = storm_findings();
    let database = by_rule(&findings, "database-connection-failed");
    let hosts = database.details.members()["values"]["host"].clone();
    assert_eq!(hosts["total"], 200);
    assert_eq!(hosts["first"], json!(["10.0.0.10", "10.0.0.11", "10.0.0.12", "10.0.0.13", "10.0.0.14"]));
    assert!(database.summary.ends_with("(2000 times, 200 different hosts)"), "{}", database.summary);
    let text = render::text(database);
    assert!(
        text.contains("Varied: hosts (200): 10.0.0.10, 10.0.0.11, 10.0.0.12, 10.0.0.13, 10.0.0.14 and 195 more"),
        "{text}"
    );
    // The port did not vary: nothing listed for it.
    assert!(database.details.members()["values"].get("port").is_none());
}

#[test]
fn one_action_denied_on_seven_tables_is_one_finding_whose_fix_is_one_statement() {
    let findings = storm_findings();
    let denied = by_rule(&findings, "aws-access-denied");
    let statement: Value = serde_json::from_str(denied.details["iam_statement"].as_str().unwrap()).unwrap();
    let tables: Vec<String> =
        (0..7).map(|n| format!("arn:aws:dynamodb:us-east-1:123456789012:table/orders-{n}")).collect();
    assert_eq!(statement, json!({"Effect": "Allow", "Action": "dynamodb:PutItem", "Resource": tables}));
    let command = denied.details["iam_command"].as_str().unwrap();
    assert!(command.starts_with("aws iam put-role-policy --role-name orders-api-role "), "{command}");
    assert!(command.contains("table/orders-6"), "{command}");
    assert!(denied.fix[0].contains("table/orders-6"), "{:?}", denied.fix);
    assert_eq!(denied.details.members()["values"]["resource"]["total"], 7);
}

const DENIED: &str = "AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/app-role/app is not authorized to perform: ACTION on resource: RESOURCE because no identity-based policy allows the ACTION action";

fn denial(action: &str, resource: &str) -> String {
    DENIED.replace("ACTION", action).replace("RESOURCE", resource)
}

#[test]
fn another_iam_action_or_another_secret_needs_another_fix_so_another_finding() {
    let lines = [
        denial("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:123456789012:table/a"),
        denial("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/a"),
        denial("dynamodb:PutItem", "arn:aws:dynamodb:us-east-1:123456789012:table/b"),
        denial("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"),
        denial("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:123456789012:secret:api-GhIjKl"),
    ];
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    let findings = analyzer().analyze(&batch("/aws/lambda/app", &lines), "us-east-1");
    let mut seen: Vec<(String, u64)> = findings
        .iter()
        .map(|f| {
            let action = f.details["action"].as_str().unwrap_or_default();
            let resource = if f.rule_id == "aws-access-denied" {
                String::new()
            } else {
                f.details["resource"].as_str().unwrap_or_default().to_owned()
            };
            (format!("{} {action} {resource}", f.rule_id).trim_end().to_owned(), f.count)
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("aws-access-denied dynamodb:GetItem".to_owned(), 1),
            ("aws-access-denied dynamodb:PutItem".to_owned(), 2),
            (
                "secrets-manager-access-denied secretsmanager:GetSecretValue arn:aws:secretsmanager:us-east-1:123456789012:secret:api-GhIjKl"
                    .to_owned(),
                1
            ),
            (
                "secrets-manager-access-denied secretsmanager:GetSecretValue arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"
                    .to_owned(),
                1
            ),
        ]
    );
}

#[test]
fn a_failure_that_ends_the_invocation_counts_once_per_invocation_however_many_lines_show_it() {
    // One invocation: its out-of-memory error line and its REPORT both show the kill.
    let lines = [
        "START RequestId: 1c2d8f4e-1111-4a6b-9c2d-0e1f2a3b4c5d Version: $LATEST",
        "RequestId: 1c2d8f4e-1111-4a6b-9c2d-0e1f2a3b4c5d Error: Runtime exited with error: signal: killed\nRuntime.ExitError",
        "REPORT RequestId: 1c2d8f4e-1111-4a6b-9c2d-0e1f2a3b4c5d\tDuration: 812.40 ms\tBilled Duration: 813 ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB\tStatus: error\tError Type: Runtime.OutOfMemory",
    ];
    let findings = analyzer().analyze(&batch("/aws/lambda/orders-api", &lines), "us-east-1");
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!((findings[0].count, findings[0].requests), (1, Some(1)));
    assert_eq!(render::seen(&findings[0]), format!("once, {} to {}", findings[0].first_seen, findings[0].last_seen));
}

#[test]
fn every_rule_s_values_and_key_name_details_the_rule_has() {
    // The catalog refuses a rule whose `values` or `key` names something it never fills, and a
    // name in both (checked at load, like templates); the built-in catalog loads.
    let catalog = Catalog::load(&[], &[]).unwrap();
    let grouped = catalog.rules().iter().filter(|r| !r.spec.values.is_empty()).count();
    assert!(grouped >= 20, "only {grouped} rules list varying values");
    let toml = r#"
[[rule]]
id = "both"
category = "network"
severity = "low"
title = "t"
summary = "s"
cause = "c"
fix = ["f"]
key = ["host"]
values = ["host"]
[rule.match]
anchors = ["X"]
regex = 'X (?P<host>\S+)'
"#;
    let error = Catalog::from_file_text("mine.toml", toml).unwrap_err().to_string();
    assert!(error.contains("`host` is in both `key`"), "{error}");
    let unknown = toml.replace("key = [\"host\"]\n", "").replace("values = [\"host\"]", "values = [\"port\"]");
    let error = Catalog::from_file_text("mine.toml", &unknown).unwrap_err().to_string();
    assert!(error.contains("`port` is not a value this rule has"), "{error}");
}
