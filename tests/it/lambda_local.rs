//! The Lambda as Lambda runs it, locally: `cargo lambda watch` + `cargo lambda invoke
//! --data-file events/…`, without TOPIC_ARN (findings go to stdout as JSON lines).

use crate::support;

use support::{LambdaWatch, project_file, rule_ids};

#[test]
fn the_lambda_answers_with_its_findings_and_fails_a_corrupt_batch() {
    // No suppression, so each event is judged on its own whatever ran before.
    let watch = LambdaWatch::start(&[("SUPPRESS_SECONDS", "0".into())]);

    let oom = watch.invoke_ok(&project_file("events/oom-report.json"));
    assert_eq!(rule_ids(&oom), ["lambda-out-of-memory"], "{oom}");
    assert_eq!(oom["findings"][0]["count"], 2, "{oom}");
    assert_eq!(oom["batches"][0]["log_group"], "/aws/lambda/orders-api", "{oom}");

    let mixed = watch.invoke_ok(&project_file("events/mixed-batch.json"));
    assert_eq!(
        rule_ids(&mixed),
        ["lambda-out-of-memory", "lambda-timeout", "secrets-manager-access-denied"],
        "{mixed}"
    );
    assert!(mixed["findings"].as_array().unwrap().iter().all(|f| f["delivery"] == "published"), "{mixed}");

    // Without TOPIC_ARN every finding is one JSON line of the contract on the function's stdout.
    let log = watch.log();
    let printed: Vec<serde_json::Value> = log
        .lines()
        .filter(|line| line.starts_with("{\"schema\":\"lambda-troubleshooter/finding/v1\""))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    for finding in mixed["findings"].as_array().unwrap() {
        assert!(printed.iter().any(|p| p["id"] == finding["id"]), "finding {} not printed:\n{log}", finding["id"]);
    }

    let control = watch.invoke_ok(&project_file("events/control-message.json"));
    assert_eq!(control["findings"], serde_json::json!([]), "{control}");
    assert_eq!(control["batches"][0]["skipped"], "control message", "{control}");

    let (status, stdout, stderr) = watch.invoke(&project_file("events/corrupt-batch.json"));
    assert!(!status.success(), "a corrupt batch must fail the invocation: {stdout}");
    assert!(stderr.contains("Troubleshooter.CorruptBatch"), "{stderr}");
}
