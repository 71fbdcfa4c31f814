//! The Lambda as Lambda runs it, locally: `cargo lambda watch` + `cargo lambda invoke
//! --data-file events/…`, without TOPIC_ARN (findings go to stdout as JSON lines, and each
//! invocation's metrics as Embedded Metric Format lines).

use crate::support;

use support::{LambdaWatch, emf, project_file, rule_ids};

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

/// The EMF documents in the function's output, waiting a little for `want` of them: the
/// function writes them before it answers, and `cargo lambda watch` passes its output on.
fn emf_documents(watch: &LambdaWatch, want: usize) -> Vec<serde_json::Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let documents = emf::documents_in(&watch.log());
        if documents.len() >= want || std::time::Instant::now() > deadline {
            return documents;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// The number of log events in an event file, decoded by the library.
fn log_events_in(file: &str) -> u64 {
    let payload = serde_json::from_str(&std::fs::read_to_string(project_file(file)).unwrap()).unwrap();
    match lambda_troubleshooter::ingest::decode_value(payload, usize::MAX).unwrap() {
        lambda_troubleshooter::ingest::Invocation::AwsLogs(batch) => batch.log_events.len() as u64,
        lambda_troubleshooter::ingest::Invocation::Kinesis(_) => panic!("{file} is a Kinesis event"),
    }
}

#[test]
fn each_invocation_writes_its_metrics_as_emf_on_stdout_even_when_it_fails() {
    let watch = LambdaWatch::start(&[("SUPPRESS_SECONDS", "0".into())]);

    // One batch with one kind of problem: exactly one document, with that batch's counts.
    let oom = watch.invoke_ok(&project_file("events/oom-report.json"));
    let documents = emf_documents(&watch, 1);
    assert_eq!(documents.len(), 1, "one invocation, one document:\n{}", watch.log());
    let document = &documents[0];
    emf::assert_valid(document);
    assert_eq!(document["_aws"]["CloudWatchMetrics"][0]["Namespace"], "LambdaTroubleshooter");
    assert_eq!(document["Batches"], 1, "{document}");
    assert_eq!(document["LogEvents"].as_u64(), Some(log_events_in("events/oom-report.json")), "{document}");
    assert_eq!((&document["DecodeErrors"], &document["PublishFailures"]), (&0.into(), &0.into()), "{document}");
    assert_eq!((&document["Category"], &document["Severity"]), (&"out_of_memory".into(), &"critical".into()));
    assert_eq!(document["Findings"].as_u64(), Some(oom["findings"].as_array().unwrap().len() as u64));
    assert_eq!(document["Occurrences"], oom["findings"][0]["count"], "{document}");
    assert!(!document["Troubleshooter"].as_str().unwrap().is_empty(), "{document}");
    // The finding's own log line, with the fields where the dashboard's Logs Insights widgets
    // query them (fields.rule_id, fields.summary, …).
    let log = watch.log();
    let line = log.lines().find(|l| l.contains(r#""message":"finding""#)).expect("a finding log line");
    let record: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(record["level"], "INFO", "{line}");
    let fields = &record["fields"];
    assert_eq!(fields["rule_id"], "lambda-out-of-memory", "{line}");
    assert_eq!((&fields["category"], &fields["severity"]), (&"out_of_memory".into(), &"critical".into()));
    assert_eq!((&fields["function"], &fields["count"]), (&"orders-api".into(), &oom["findings"][0]["count"]));
    assert_eq!(fields["summary"], oom["findings"][0]["summary"], "{line}");
    assert_eq!(fields["delivery"], "published", "{line}");

    // A corrupt batch fails the invocation, and its document is written all the same.
    let (status, _, _) = watch.invoke(&project_file("events/corrupt-batch.json"));
    assert!(!status.success());
    let documents = emf_documents(&watch, 2);
    assert_eq!(documents.len(), 2, "{}", watch.log());
    emf::assert_valid(&documents[1]);
    assert_eq!((&documents[1]["Batches"], &documents[1]["DecodeErrors"]), (&1.into(), &1.into()), "{}", documents[1]);
    assert!(documents[1].get("Findings").is_none(), "{}", documents[1]);

    // Three kinds of problem in one batch: three documents (a dimension has one value per
    // document), the health counts once.
    let mixed = watch.invoke_ok(&project_file("events/mixed-batch.json"));
    let documents = emf_documents(&watch, 5);
    let mixed_documents = &documents[2..];
    assert_eq!(mixed_documents.len(), 3, "{}", watch.log());
    mixed_documents.iter().for_each(emf::assert_valid);
    assert_eq!(mixed_documents.iter().filter(|d| d.get("Batches").is_some()).count(), 1);
    let findings: u64 = mixed_documents.iter().map(|d| d["Findings"].as_u64().unwrap()).sum();
    assert_eq!(findings, mixed["findings"].as_array().unwrap().len() as u64);
    assert_eq!(mixed_documents[0]["LogEvents"].as_u64(), Some(log_events_in("events/mixed-batch.json")));
}
