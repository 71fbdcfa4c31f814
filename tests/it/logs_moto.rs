//! `troubleshooter pull` against moto server's CloudWatch Logs with the real SDK:
//! log groups and streams created, events put, the findings read across pages equal to what
//! `scan` finds in the same events, `--follow` picking up an event put after it started, and
//! clear errors.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use serde_json::{Value, json};

use crate::support::MotoServer;

const GROUP: &str = "/aws/lambda/orders-api";
const OOM_STREAM: &str = "2026/11/29/[$LATEST]0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const TIMEOUT_STREAM: &str = "2026/11/29/[$LATEST]ffeeddccbbaa99887766554433221100";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// An out-of-memory kill: START, the application's lines, the REPORT at the limit, END.
fn oom_lines() -> Vec<String> {
    let id = "7d1b6a2e-4c3f-4e0a-9b8d-1f2e3d4c5b6a";
    vec![
        format!("START RequestId: {id} Version: $LATEST\n"),
        format!("2026-11-29T08:00:00.100Z\t{id}\tINFO\tloading 120000 orders into memory\n"),
        format!("2026-11-29T08:00:01.200Z\t{id}\tINFO\tbuilding the report\n"),
        format!(
            "REPORT RequestId: {id}\tDuration: 2811.12 ms\tBilled Duration: 2812 ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB\tStatus: error\tError Type: Runtime.OutOfMemory\n"
        ),
        format!("END RequestId: {id}\n"),
    ]
}

fn timeout_lines(id: &str) -> Vec<String> {
    vec![
        format!("START RequestId: {id} Version: $LATEST\n"),
        format!("2026-11-29T08:10:00.000Z {id} Task timed out after 3.00 seconds\n"),
        format!(
            "REPORT RequestId: {id}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 512 MB\tMax Memory Used: 91 MB\tStatus: timeout\n"
        ),
    ]
}

async fn logs(moto: &MotoServer) -> aws_sdk_cloudwatchlogs::Client {
    aws_sdk_cloudwatchlogs::Client::new(&moto.sdk_config().await)
}

/// Puts `lines` into `stream` (created if needed), 10 ms apart from `at`.
async fn put(client: &aws_sdk_cloudwatchlogs::Client, stream: &str, lines: &[String], at: i64) {
    let _ = client.create_log_stream().log_group_name(GROUP).log_stream_name(stream).send().await;
    let mut request = client.put_log_events().log_group_name(GROUP).log_stream_name(stream);
    for (n, line) in lines.iter().enumerate() {
        request =
            request.log_events(InputLogEvent::builder().timestamp(at + 10 * n as i64).message(line).build().unwrap());
    }
    request.send().await.unwrap();
}

fn troubleshooter(moto: &MotoServer) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_troubleshooter"));
    command.env_remove("AWS_PROFILE").env_remove("SUPPRESS_TABLE").env_remove("MIN_SEVERITY");
    for (name, value) in moto.aws_env() {
        command.env(name, value);
    }
    command
}

fn run(command: &mut Command) -> (i32, String, String) {
    let Output { status, stdout, stderr } = command.output().unwrap();
    (status.code().unwrap_or(-1), String::from_utf8_lossy(&stdout).into(), String::from_utf8_lossy(&stderr).into())
}

/// `(log_stream, rule_id, summary, count)` of JSON-lines findings, sorted.
fn findings(json_lines: &str) -> Vec<(String, String, String, u64)> {
    let mut out: Vec<_> = json_lines
        .lines()
        .map(|line| serde_json::from_str::<Value>(line).unwrap())
        .map(|f| {
            let text = |k: &str| f[k].as_str().unwrap().to_owned();
            (text("log_stream"), text("rule_id"), text("summary"), f["count"].as_u64().unwrap())
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn pull_reads_every_page_and_reports_what_scan_reports_on_the_same_events() {
    let moto = MotoServer::start();
    let client = logs(&moto).await;
    client.create_log_group().log_group_name(GROUP).send().await.unwrap();
    let start = now_ms() - 20 * 60_000;
    put(&client, OOM_STREAM, &oom_lines(), start).await;
    put(&client, TIMEOUT_STREAM, &timeout_lines("3c2b1a09-8f7e-4d6c-5b4a-392817160504"), start + 60_000).await;

    // Two events a page: four pages (and an empty one may follow), read to the end.
    let (code, pulled, err) = run(troubleshooter(&moto).args([
        "pull",
        "--function",
        "orders-api",
        "--since",
        "1h",
        "--page-size",
        "2",
        "--format",
        "json",
    ]));
    assert_eq!(code, 0, "{err}");
    assert!(err.is_empty(), "no progress or chatter when stderr is not a terminal: {err}");
    let pulled = findings(&pulled);
    let rules: Vec<&str> = pulled.iter().map(|(_, rule, _, _)| rule.as_str()).collect();
    assert_eq!(rules, ["lambda-out-of-memory", "lambda-timeout"], "{pulled:?}");
    assert_eq!(pulled[0].0, OOM_STREAM);

    // The same events, as `aws logs filter-log-events` prints them, given to scan.
    let mut events = Vec::new();
    let mut token = None;
    loop {
        let page = client.filter_log_events().log_group_name(GROUP).set_next_token(token).send().await.unwrap();
        for e in page.events() {
            events.push(json!({"logStreamName": e.log_stream_name(), "timestamp": e.timestamp(), "message": e.message(), "eventId": e.event_id()}));
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let file = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("filter-log-events.json");
    std::fs::write(&file, json!({"events": events}).to_string()).unwrap();
    let (code, scanned, err) =
        run(troubleshooter(&moto).args(["scan", "--format", "json", "--log-group", GROUP]).arg(&file));
    assert_eq!(code, 0, "{err}");
    assert_eq!(findings(&scanned), pulled);

    // For people: the findings, then the summary.
    let (code, text, _) = run(troubleshooter(&moto).args(["pull", "--function", "orders-api", "--since", "1h"]));
    assert_eq!(code, 0);
    assert!(text.contains("[CRITICAL] Lambda function ran out of memory — orders-api"), "{text}");
    assert!(text.contains("Summary: 2 findings"), "{text}");
}

#[tokio::test]
async fn pull_names_what_is_wrong() {
    let moto = MotoServer::start();
    let (code, _, err) = run(troubleshooter(&moto).args(["pull", "--function", "no-such-function"]));
    assert_eq!(code, 66, "{err}");
    assert!(err.contains("log group /aws/lambda/no-such-function does not exist in us-east-1"), "{err}");
    let (code, _, err) = run(troubleshooter(&moto).args(["pull", "--function", "f", "--since", "yesterday-ish"]));
    assert_eq!(code, 2);
    assert!(err.contains("--since \"yesterday-ish\": expected a duration before now"), "{err}");
    let (code, _, err) = run(troubleshooter(&moto).args(["pull"]));
    assert_eq!(code, 2);
    assert!(err.contains("--function NAME or --log-group GROUP"), "{err}");
    // No credentials anywhere in the chain.
    let mut command = troubleshooter(&moto);
    command
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    let (code, _, err) = run(command.args(["pull", "--function", "orders-api"]));
    assert_eq!(code, 77, "{err}");
    assert!(err.contains("no AWS credentials"), "{err}");
    // One sentence a person reads, not the SDK's debug dump of its connector.
    assert!(err.len() < 600 && !err.contains("DispatchFailure"), "{} bytes: {err}", err.len());
    // No region anywhere in the chain: what to give, before any call.
    let mut command = troubleshooter(&moto);
    command.env_remove("AWS_REGION").env_remove("AWS_DEFAULT_REGION").env("AWS_CONFIG_FILE", "/nonexistent/config");
    let (code, _, err) = run(command.args(["pull", "--function", "orders-api"]));
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("no AWS region: pass --region (e.g. --region us-east-1), export AWS_REGION"), "{err}");
}

#[tokio::test]
async fn follow_reports_a_failure_logged_after_it_started() {
    let moto = MotoServer::start();
    let client = logs(&moto).await;
    client.create_log_group().log_group_name(GROUP).send().await.unwrap();
    put(&client, OOM_STREAM, &oom_lines(), now_ms() - 5 * 60_000).await;
    let mut child = troubleshooter(&moto)
        .args(["pull", "--function", "orders-api", "--since", "1h", "--format", "json", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, received) = mpsc::channel::<String>();
    let stdout = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = lines.send(line);
        }
    });
    let first = received.recv_timeout(Duration::from_secs(60)).expect("the existing failure is reported");
    assert!(first.contains("\"rule_id\":\"lambda-out-of-memory\""), "{first}");

    // Logged after pull started: reported on a later poll.
    put(&client, TIMEOUT_STREAM, &timeout_lines("0f9e8d7c-6b5a-4493-8271-605f4e3d2c1b"), now_ms()).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let later = loop {
        let line = received.recv_timeout(deadline.saturating_duration_since(Instant::now())).expect("a new finding");
        if line.contains("lambda-timeout") {
            break line;
        }
    };
    let finding: Value = serde_json::from_str(&later).unwrap();
    assert_eq!(finding["log_stream"], TIMEOUT_STREAM);
    assert_eq!(finding["request_ids"][0], "0f9e8d7c-6b5a-4493-8271-605f4e3d2c1b");

    // Ctrl-C ends it cleanly; the out-of-memory finding was not printed twice.
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let rest: Vec<String> = received.try_iter().collect();
    assert!(rest.iter().all(|l| !l.contains("lambda-out-of-memory")), "{rest:?}");
}

/// The awslogs event CloudWatch Logs would deliver for these events of `stream`.
fn awslogs_event(group: &str, stream: &str, events: &[Value]) -> Value {
    use base64::Engine as _;
    use std::io::Write as _;
    let document = json!({
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": group, "logStream": stream,
        "subscriptionFilters": ["troubleshooter"], "logEvents": events,
    });
    let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gzip.write_all(document.to_string().as_bytes()).unwrap();
    json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(gzip.finish().unwrap())}})
}

#[derive(Default)]
struct Recording(std::sync::Mutex<Vec<lambda_troubleshooter::model::finding::Finding>>);

impl lambda_troubleshooter::deliver::publish::Publisher for Recording {
    fn publish<'a>(
        &'a self,
        findings: &'a [lambda_troubleshooter::model::finding::Finding],
        _: Option<std::time::Instant>,
    ) -> lambda_troubleshooter::BoxFuture<'a, Result<(), lambda_troubleshooter::deliver::publish::PublishError>> {
        self.0.lock().unwrap().extend_from_slice(findings);
        Box::pin(async { Ok(()) })
    }
}

#[tokio::test]
async fn the_lambda_fetches_what_a_timeout_lacks_and_still_reports_it_when_logs_cannot_be_read() {
    use lambda_troubleshooter::aws::logs::LogsReader;
    use lambda_troubleshooter::config::Config;
    use lambda_troubleshooter::handler::Troubleshooter;
    use std::sync::Arc;

    let moto = MotoServer::start();
    let client = logs(&moto).await;
    client.create_log_group().log_group_name(GROUP).send().await.unwrap();
    // In CloudWatch Logs: the whole request. In the batch: only its `Task timed out` line.
    let id = "5e4d3c2b-1a09-4f8e-9d7c-6b5a49382716";
    let lines = [
        format!("START RequestId: {id} Version: $LATEST\n"),
        format!("2026-11-29T08:00:00.100Z\t{id}\tINFO\tloading 120000 orders into memory\n"),
        format!("2026-11-29T08:00:00.200Z\t{id}\tINFO\tconnecting with postgres://app:s3cr3t-Pa55@db:5432/orders\n"),
        format!("2026-11-29T08:00:03.000Z {id} Task timed out after 3.00 seconds\n"),
        format!("END RequestId: {id}\n"),
        format!(
            "REPORT RequestId: {id}\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB\tInit Duration: 411.20 ms\tStatus: timeout\n"
        ),
    ];
    put(&client, OOM_STREAM, &lines, now_ms() - 60_000).await;
    let stored = client.filter_log_events().log_group_name(GROUP).send().await.unwrap();
    let timeout = stored.events().iter().find(|e| e.message().unwrap_or_default().contains("Task timed out")).unwrap();
    let event = awslogs_event(
        GROUP,
        OOM_STREAM,
        &[json!({"id": timeout.event_id(), "timestamp": timeout.timestamp(), "message": timeout.message()})],
    );

    let config = Config { enrich_context: true, ..Config::default() };
    let reader = LogsReader::from_config(&moto.sdk_config().await, Duration::from_secs(1));
    let troubleshooter = Troubleshooter::new(config.clone()).unwrap().with_context_source(Arc::new(reader));
    let publisher = Recording::default();
    troubleshooter
        .handle(event.clone(), &publisher, lambda_troubleshooter::handler::Deadline::none())
        .await
        .result
        .unwrap();
    let published = publisher.0.lock().unwrap().clone();
    assert_eq!(published.len(), 1, "{published:?}");
    let finding = &published[0];
    // Its REPORT says the kill was at the memory limit, on a cold start.
    assert_eq!(finding.rule_id, "lambda-out-of-memory", "{finding:?}");
    assert_eq!(finding.details["memory_size_mb"], 256);
    let members = finding.details.members();
    let context: Vec<&str> =
        members["context"].as_array().unwrap().iter().map(|l| l["message"].as_str().unwrap()).collect();
    assert_eq!(context.len(), 2, "{context:?}");
    assert!(context[0].ends_with("loading 120000 orders into memory"));
    assert!(!context[1].contains("s3cr3t-Pa55"), "redacted: {context:?}");
    assert!(members["enrichment"].as_str().unwrap().contains("fetched from CloudWatch Logs"));

    // The Lambda itself, under `cargo lambda watch` with ENRICH_CONTEXT=on, does the same.
    let file = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("timeout-alone.json");
    std::fs::write(&file, event.to_string()).unwrap();
    let mut env = moto.aws_env();
    env.push(("ENRICH_CONTEXT", "on".to_owned()));
    let watch = crate::support::LambdaWatch::start(&env);
    let response = watch.invoke_ok(&file);
    assert_eq!(crate::support::rule_ids(&response), ["lambda-out-of-memory"], "{response}\n{}", watch.log());
    drop(watch);

    // CloudWatch Logs unreachable: the timeout still goes out, within the budget, saying why.
    let unreachable = aws_sdk_cloudwatchlogs::config::Builder::from(&moto.sdk_config().await)
        .endpoint_url(format!("http://127.0.0.1:{}", crate::support::free_port()))
        .build();
    let reader = LogsReader::new(aws_sdk_cloudwatchlogs::Client::from_conf(unreachable));
    let troubleshooter = Troubleshooter::new(config).unwrap().with_context_source(Arc::new(reader));
    let publisher = Recording::default();
    let started = Instant::now();
    troubleshooter.handle(event, &publisher, lambda_troubleshooter::handler::Deadline::none()).await.result.unwrap();
    assert!(started.elapsed() < Duration::from_secs(4), "{:?}", started.elapsed());
    let published = publisher.0.lock().unwrap().clone();
    assert_eq!(published[0].rule_id, "lambda-timeout");
    let members = published[0].details.members();
    let why = members["enrichment"].as_str().unwrap();
    assert!(why.starts_with("context not fetched"), "{why}");
}
