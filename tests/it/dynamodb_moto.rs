//! Suppression shared by every instance, against moto server's DynamoDB with the
//! real SDK: the claim rules on the table, one winner among concurrent claims, mutes, failing
//! open, and a storm sent as 20 concurrent invocations to 20 instances of the Lambda (`cargo
//! lambda watch --concurrency 20`) that publishes each problem once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TimeToLiveSpecification,
};
use lambda_troubleshooter::BoxFuture;
use lambda_troubleshooter::aws::dynamodb::SuppressionTable;
use lambda_troubleshooter::config::Config;
use lambda_troubleshooter::deliver::publish::{PublishError, Publisher};
use lambda_troubleshooter::deliver::suppress::{Claim, Claimed, Key, Mute, SuppressionStore, conformance};
use lambda_troubleshooter::handler::{Deadline, Troubleshooter};
use lambda_troubleshooter::model::finding::Finding;
use serde_json::Value;

use crate::grouping::{storm_event, unhandled_storm_event};
use crate::support::{LambdaWatch, MotoServer, deliveries, free_port, project_file};

/// Creates the table as template.yaml does (keys, on-demand, TTL) and returns the adapter.
pub async fn create_table(moto: &MotoServer, name: &str) -> SuppressionTable {
    let client = aws_sdk_dynamodb::Client::new(&moto.sdk_config().await);
    let key = |name: &str, kind| KeySchemaElement::builder().attribute_name(name).key_type(kind).build().unwrap();
    let attribute = |name: &str| {
        AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build().unwrap()
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .send()
        .await
        .unwrap();
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder().attribute_name("expires_at").enabled(true).build().unwrap(),
        )
        .send()
        .await
        .unwrap();
    SuppressionTable::new(client, name)
}

#[tokio::test]
async fn the_table_follows_the_claim_rules() {
    let moto = MotoServer::start();
    let table = create_table(&moto, "troubleshooter-state").await;
    conformance::claim_rules(Arc::new(table), "/aws/lambda/orders-api").await.unwrap();
}

#[tokio::test]
async fn the_table_tells_new_error_types_from_known_ones() {
    let moto = MotoServer::start();
    let table = create_table(&moto, "troubleshooter-state").await;
    conformance::new_error_types(Arc::new(table), "/aws/lambda/orders-api").await.unwrap();
}

#[tokio::test]
async fn of_twenty_concurrent_claims_exactly_one_wins() {
    let moto = MotoServer::start();
    let table = Arc::new(create_table(&moto, "troubleshooter-state").await);
    let key = Key { partition: "finding#123456789012#/aws/lambda/orders-api".into(), sort: "lambda-timeout".into() };
    let now = Duration::from_secs(1_800_000_000);
    let claims = (0..20).map(|n| {
        let table = table.clone();
        let claim = Claim {
            key: key.clone(),
            finding_id: format!("f{n}"),
            window: Duration::from_secs(300),
            now,
            occurrences: 1,
        };
        tokio::spawn(async move { table.claim(&claim).await.unwrap() })
    });
    let mut outcomes = Vec::new();
    for claim in claims {
        outcomes.push(claim.await.unwrap());
    }
    let won = outcomes.iter().filter(|c| matches!(c, Claimed::Won { .. })).count();
    assert_eq!(won, 1, "{outcomes:?}");
    assert_eq!(outcomes.iter().filter(|c| **c == Claimed::Held).count(), 19, "{outcomes:?}");
}

#[tokio::test]
async fn mutes_are_written_listed_and_removed() {
    let moto = MotoServer::start();
    let table = create_table(&moto, "troubleshooter-state").await;
    let mute = |function: &str, rule: Option<&str>| Mute {
        function: function.into(),
        rule: rule.map(str::to_owned),
        until: 1_900_000_000,
        reason: Some("fix deploying".into()),
        created: 1_800_000_000,
    };
    table.put_mute(&mute("orders-api", Some("lambda-timeout"))).await.unwrap();
    table.put_mute(&mute("orders-api", None)).await.unwrap();
    table.put_mute(&mute("orders-api-v2", None)).await.unwrap();
    let listed = table.mutes(&["orders-api".to_owned()]).await.unwrap();
    assert_eq!(listed.len(), 2, "orders-api-v2 is another function: {listed:?}");
    assert!(listed.contains(&mute("orders-api", Some("lambda-timeout"))));
    assert_eq!(table.list_mutes("").await.unwrap().len(), 3);
    assert!(table.delete_mute("orders-api", None).await.unwrap());
    assert!(!table.delete_mute("orders-api", None).await.unwrap(), "already gone");
    assert_eq!(table.mutes(&["orders-api".to_owned()]).await.unwrap(), [mute("orders-api", Some("lambda-timeout"))]);
}

#[derive(Default)]
struct Recording(std::sync::Mutex<Vec<Finding>>);

impl Publisher for Recording {
    fn publish<'a>(&'a self, findings: &'a [Finding], _: Option<Instant>) -> BoxFuture<'a, Result<(), PublishError>> {
        self.0.lock().unwrap().extend_from_slice(findings);
        Box::pin(async { Ok(()) })
    }
}

/// `troubleshooter ARGS` with moto's endpoint and the table in the environment.
fn cli(moto: &MotoServer, table: &str, args: &[&str]) -> (i32, String, String) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_troubleshooter"));
    command.args(args).env("SUPPRESS_TABLE", table).env_remove("AWS_PROFILE");
    for (name, value) in moto.aws_env() {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

fn mixed_batch() -> Value {
    serde_json::from_str(&std::fs::read_to_string(project_file("events/mixed-batch.json")).unwrap()).unwrap()
}

/// The deliveries of a response by rule.
fn delivered(response: &Value) -> BTreeMap<String, String> {
    deliveries(response).into_iter().collect()
}

#[tokio::test]
async fn a_rule_muted_from_the_command_line_sends_nothing_until_unmuted() {
    let moto = MotoServer::start();
    let table = Arc::new(create_table(&moto, "troubleshooter-state").await);
    let name = table.table().to_owned();
    let (code, out, err) = cli(
        &moto,
        &name,
        &[
            "mute",
            "--function",
            "orders-api",
            "--rule",
            "lambda-out-of-memory",
            "--for",
            "2h",
            "--reason",
            "fix deploying",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("Muted orders-api (rule lambda-out-of-memory) until 20"), "{out}");
    assert!(out.trim_end().ends_with(": fix deploying"), "{out}");
    let (code, out, _) = cli(&moto, &name, &["mutes"]);
    assert_eq!(code, 0);
    assert!(out.contains("orders-api (rule lambda-out-of-memory)  until ") && out.contains("fix deploying"), "{out}");
    assert!(out.contains("(2h left)") || out.contains("(1h 59m left)"), "{out}");
    let (_, json, _) = cli(&moto, &name, &["mutes", "--json"]);
    let listed: Value = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(
        (listed["function"].as_str(), listed["rule"].as_str()),
        (Some("orders-api"), Some("lambda-out-of-memory"))
    );

    // The function honours it: out of memory is muted, the rest goes out.
    let troubleshooter = Troubleshooter::new(Config::default()).unwrap().with_store(table.clone());
    let publisher = Recording::default();
    let response = troubleshooter.handle(mixed_batch(), &publisher, Deadline::none()).await.result.unwrap();
    let by_rule = delivered(&response);
    assert_eq!(by_rule["lambda-out-of-memory"], "muted");
    assert_eq!(by_rule["lambda-timeout"], "published");
    assert!(publisher.0.lock().unwrap().iter().all(|f| f.rule_id != "lambda-out-of-memory"));

    let (code, out, err) = cli(&moto, &name, &["unmute", "--function", "orders-api", "--rule", "lambda-out-of-memory"]);
    assert_eq!((code, out.trim()), (0, "Unmuted orders-api (rule lambda-out-of-memory)"), "{err}");
    assert_eq!(cli(&moto, &name, &["mutes"]).1.trim(), "No mutes in troubleshooter-state.");
    // Unmuted, the same batch's out-of-memory finding goes out (the others were sent already).
    let after = delivered(&troubleshooter.handle(mixed_batch(), &publisher, Deadline::none()).await.result.unwrap());
    assert_eq!(after["lambda-out-of-memory"], "published");
    assert_eq!(after["lambda-timeout"], "duplicate");

    // Clear errors: a bad duration, no table.
    let (code, _, err) = cli(&moto, &name, &["mute", "--function", "f", "--for", "forever"]);
    assert_eq!(code, 2);
    assert!(err.contains("--for \"forever\": expected a duration"), "{err}");
    let (code, _, err) = cli(&moto, "", &["mutes"]);
    assert_eq!(code, 2);
    assert!(err.contains("--table or SUPPRESS_TABLE"), "{err}");
    let (code, _, err) = cli(&moto, "no-such-table", &["mutes"]);
    assert_eq!(code, 69, "{err}");
    assert!(err.contains("no-such-table"), "{err}");
}

#[tokio::test]
async fn an_unreachable_table_fails_open() {
    let moto = MotoServer::start();
    // A table nobody answers for: every finding is published, none muted or held.
    let unreachable = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&moto.sdk_config().await)
            .endpoint_url(format!("http://127.0.0.1:{}", free_port()))
            .build(),
    );
    let troubleshooter = Troubleshooter::new(Config::default())
        .unwrap()
        .with_store(Arc::new(SuppressionTable::new(unreachable, "troubleshooter-state")));
    let publisher = Recording::default();
    let response = troubleshooter.handle(mixed_batch(), &publisher, Deadline::none()).await.result.unwrap();
    let findings = response["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 3);
    assert!(findings.iter().all(|f| f["delivery"] == "published"), "{response}");
    assert_eq!(publisher.0.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_storm_sent_to_twenty_instances_at_once_is_published_once_per_problem() {
    const INSTANCES: u32 = 20;
    let (moto, topic, watch, responses) = storm_through_instances(INSTANCES, "storm", storm_event).await;

    // The batches really ran in separate instances (each with its own memory), at once.
    let instances = watch.log().matches("spawning function instance").count();
    assert!(instances >= 5, "only {instances} instances ran the storm:\n{}", watch.log());

    let delivered = published_and_held(&responses, "rule_id");
    assert_eq!(delivered.len(), 5, "{delivered:?}");
    for (rule, (published, suppressed)) in &delivered {
        assert_eq!(
            (*published, *suppressed),
            (1, INSTANCES as usize - 1),
            "{rule}: {delivered:?}\n--- cargo lambda watch:\n{}",
            watch.log()
        );
    }
    let published = moto.published(&topic);
    assert_eq!(published.len(), 5, "SNS received {} messages", published.len());
    let subjects: Vec<String> = published.iter().filter_map(|(_, subject, _)| subject.clone()).collect();
    assert!(subjects.contains(&"[MEDIUM] orders-api: throttling (2000x)".to_owned()), "{subjects:?}");
}

/// The storm of errors no rule names, as five batches to five instances at once: one message
/// per fingerprint (5), each a new error type with its exact count, the rest held back.
#[tokio::test]
async fn an_unhandled_error_storm_sends_one_new_error_type_per_kind() {
    const INSTANCES: u32 = 5;
    let (moto, topic, _watch, responses) =
        storm_through_instances(INSTANCES, "unhandled-storm", unhandled_storm_event).await;
    let delivered = published_and_held(&responses, "title");
    assert_eq!(delivered.len(), 5, "{delivered:?}");
    assert!(delivered.values().all(|&counts| counts == (1, INSTANCES as usize - 1)), "{delivered:?}");
    let published = moto.published(&topic);
    assert_eq!(published.len(), 5, "SNS received {} messages", published.len());
    let subjects: Vec<String> = published.iter().filter_map(|(_, subject, _)| subject.clone()).collect();
    assert!(subjects.iter().all(|s| s.contains(": new error type ") && s.ends_with("(2000x)")), "{subjects:?}");
}

/// Per finding (named by its `field`), how many instances published it and how many held it
/// back; every response has the storm's five findings of 2,000 occurrences each.
fn published_and_held(responses: &[Value], field: &str) -> BTreeMap<String, (usize, usize)> {
    let mut delivered: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for response in responses {
        let findings = response["findings"].as_array().unwrap();
        assert_eq!(findings.len(), 5, "{response}");
        for finding in findings {
            assert_eq!(finding["count"], 2_000, "{finding}");
            let entry = delivered.entry(finding[field].as_str().unwrap().to_owned()).or_default();
            match finding["delivery"].as_str().unwrap() {
                "published" => entry.0 += 1,
                "suppressed" => entry.1 += 1,
                other => panic!("unexpected delivery {other}: {finding}"),
            }
        }
    }
    delivered
}

/// A storm sent as `instances` batches (`event(part)`) to as many instances of the Lambda at
/// once (`cargo lambda watch` with that concurrency), against moto's SNS topic and a suppression
/// table: moto, the topic, the watch and the responses.
async fn storm_through_instances(
    instances: u32,
    name: &str,
    event: impl Fn(u32) -> Value,
) -> (MotoServer, String, LambdaWatch, Vec<Value>) {
    let moto = MotoServer::start();
    let config = moto.sdk_config().await;
    let sns = aws_sdk_sns::Client::new(&config);
    let topic = sns.create_topic().name("findings").send().await.unwrap().topic_arn().unwrap().to_owned();
    let table = create_table(&moto, "troubleshooter-state").await;
    let mut env = moto.aws_env();
    env.push(("TOPIC_ARN", topic.clone()));
    env.push(("SUPPRESS_TABLE", table.table().to_owned()));
    let watch = LambdaWatch::start_with(&env, instances as usize);
    // Build (or find built) the function once before the storm.
    watch.invoke_ok(&project_file("events/control-message.json"));
    // The storm in batches (other event and request ids each), one per instance, at once.
    let files: Vec<std::path::PathBuf> = (0..instances)
        .map(|part| {
            let path = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{part}.json"));
            std::fs::write(&path, event(part).to_string()).unwrap();
            path
        })
        .collect();
    let responses: Vec<Value> = std::thread::scope(|scope| {
        let calls: Vec<_> = files.iter().map(|file| scope.spawn(|| watch.invoke_ok(file))).collect();
        calls.into_iter().map(|call| call.join().unwrap()).collect()
    });
    (moto, topic, watch, responses)
}

/// An awslogs event of `lines` in /aws/lambda/orders-api, its ids and times after `start_ms`.
fn awslogs(lines: &[String], start_ms: i64) -> Value {
    use base64::Engine;
    use std::io::Write;
    let events: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(i, line)| {
            serde_json::json!({"id": format!("{start_ms}{i:06}"), "timestamp": start_ms + i as i64, "message": line})
        })
        .collect();
    let document = serde_json::json!({"messageType": "DATA_MESSAGE", "owner": "123456789012",
        "logGroup": "/aws/lambda/orders-api", "logStream": "2026/12/01/[$LATEST]0f", "subscriptionFilters": ["f"],
        "logEvents": events});
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(document.to_string().as_bytes()).unwrap();
    let data = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    serde_json::json!({"awslogs": {"data": data}})
}

/// One fingerprint in two batches an hour apart is published once (the second is held back and
/// counted); after NEW_ERROR_WINDOW without it, it is published again as a new error type.
#[tokio::test]
async fn one_fingerprint_an_hour_apart_is_published_once_and_again_as_new_after_the_window() {
    let moto = MotoServer::start();
    let table = Arc::new(create_table(&moto, "troubleshooter-state").await);
    let troubleshooter = Troubleshooter::new(Config::default()).unwrap().with_store(table);
    let publisher = Recording::default();
    let node_error = |n: u32| {
        format!(
            "2026-12-01T10:00:00.000Z\t{n:08x}-2222-4c2e-9b1a-0a1b2c3d4e5f\tERROR\tInvoke Error \t{{\"errorType\":\"TypeError\",\"errorMessage\":\"Cannot read properties of undefined (reading 'f{n}')\",\"stack\":[\"TypeError: x\",\"    at Runtime.handler (/var/task/index.js:5:20)\"]}}"
        )
    };
    let t0 = Duration::from_secs(1_800_000_000);
    let hour = Duration::from_secs(3_600);
    let verdicts = |response: &Value| -> Vec<(String, Option<bool>)> {
        response["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["delivery"].as_str().unwrap().to_owned(), f["new_error_type"].as_bool()))
            .collect()
    };
    let first = troubleshooter
        .handle(awslogs(&[node_error(1), node_error(2)], 1), &publisher, Deadline { now: t0, remaining: None })
        .await
        .result
        .unwrap();
    assert_eq!(verdicts(&first), [("published".to_owned(), Some(true))], "{first}");
    let later = troubleshooter
        .handle(awslogs(&[node_error(3)], 2), &publisher, Deadline { now: t0 + hour, remaining: None })
        .await
        .result
        .unwrap();
    assert_eq!(verdicts(&later), [("suppressed".to_owned(), None)], "{later}");
    assert_eq!(publisher.0.lock().unwrap().len(), 1, "one message for the fingerprint");
    // 49 hours after it was last seen: new again, and it says what was held back meanwhile.
    let again = troubleshooter
        .handle(awslogs(&[node_error(4)], 3), &publisher, Deadline { now: t0 + hour * 50, remaining: None })
        .await
        .result
        .unwrap();
    assert_eq!(verdicts(&again), [("published".to_owned(), Some(true))], "{again}");
    let published = publisher.0.lock().unwrap();
    assert_eq!(published.len(), 2);
    assert_eq!(published[1].details.members()[lambda_troubleshooter::model::details::SUPPRESSED_FINDINGS], 1);
}
