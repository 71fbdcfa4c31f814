//! The SNS adapter end to end: moto server as SNS and SQS on 127.0.0.1, the Lambda run by
//! `cargo lambda watch` with TOPIC_ARN and AWS_ENDPOINT_URL, events sent with `cargo lambda
//! invoke`, and assertions on what SQS subscribers of the topic received (subject, message
//! attributes, the finding JSON) and on the raw message SNS got (the email and Chatbot
//! renderings, which moto does not deliver anywhere we can read).

use crate::support;

use std::collections::BTreeSet;
use std::time::Duration;

use lambda_troubleshooter::model::finding::{Finding, SCHEMA};
use serde_json::Value;
use support::{LambdaWatch, MotoServer, deliveries, project_file, squash};

struct Aws {
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
}

impl Aws {
    async fn new(moto: &MotoServer) -> Self {
        let config = moto.sdk_config().await;
        Self { sns: aws_sdk_sns::Client::new(&config), sqs: aws_sdk_sqs::Client::new(&config) }
    }

    async fn topic(&self, name: &str) -> String {
        let mut request = self.sns.create_topic().name(name);
        if name.ends_with(".fifo") {
            request = request.attributes("FifoTopic", "true");
        }
        request.send().await.unwrap().topic_arn().unwrap().to_owned()
    }

    /// Creates a queue subscribed to the topic (with a filter policy on message attributes, if
    /// given) and returns its URL.
    async fn queue(&self, topic_arn: &str, name: &str, filter_policy: Option<&str>) -> String {
        let mut request = self.sqs.create_queue().queue_name(name);
        if name.ends_with(".fifo") {
            request = request.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
        }
        let url = request.send().await.unwrap().queue_url().unwrap().to_owned();
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap();
        let queue_arn = attributes.attributes().unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn].clone();
        let mut subscribe = self.sns.subscribe().topic_arn(topic_arn).protocol("sqs").endpoint(queue_arn);
        if let Some(policy) = filter_policy {
            subscribe = subscribe.attributes("FilterPolicy", policy);
        }
        subscribe.send().await.unwrap();
        url
    }

    /// Everything in the queue now (moto delivers while PublishBatch runs), as SQS messages.
    async fn drain(&self, queue_url: &str) -> Vec<aws_sdk_sqs::types::Message> {
        let mut all = Vec::new();
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .send()
                .await
                .unwrap();
            let messages = received.messages().to_vec();
            if messages.is_empty() {
                return all;
            }
            for message in &messages {
                self.sqs
                    .delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
            all.extend(messages);
        }
    }

    /// The SNS notifications in the queue: the envelope JSON an SQS subscriber reads.
    async fn notifications(&self, queue_url: &str) -> Vec<Value> {
        self.drain(queue_url).await.iter().map(|m| serde_json::from_str(m.body().unwrap()).unwrap()).collect()
    }
}

/// The finding JSON of an SNS notification (the `default` rendering), checked against the
/// contract by deserialising it.
fn finding_of(notification: &Value) -> Finding {
    let message = notification["Message"].as_str().expect("Message is a string");
    let finding: Finding = serde_json::from_str(message).unwrap_or_else(|e| panic!("not a finding ({e}): {message}"));
    assert_eq!(finding.schema, SCHEMA);
    finding
}

fn attribute<'a>(notification: &'a Value, name: &str) -> &'a str {
    let attribute = &notification["MessageAttributes"][name];
    assert_eq!(attribute["Type"], "String", "{name} in {notification}");
    attribute["Value"].as_str().unwrap_or_else(|| panic!("no attribute {name} in {notification}"))
}

fn lambda_env(moto: &MotoServer, topic_arn: &str, suppress_seconds: u64) -> Vec<(&'static str, String)> {
    let mut env = moto.aws_env();
    env.push(("TOPIC_ARN", topic_arn.to_owned()));
    env.push(("SUPPRESS_SECONDS", suppress_seconds.to_string()));
    // Out of memory has a window of hours by default; these tests wait for the window to pass.
    env.push(("SUPPRESS_CATEGORY_SECONDS", format!("out_of_memory={suppress_seconds}")));
    env
}

#[tokio::test]
async fn subscribers_receive_one_message_per_finding_as_the_publish_contract_says() {
    let moto = MotoServer::start();
    let aws = Aws::new(&moto).await;
    let topic = aws.topic("findings").await;
    let all = aws.queue(&topic, "all-findings", None).await;
    let critical = aws.queue(&topic, "critical-only", Some(r#"{"severity":["critical"]}"#)).await;
    let watch = LambdaWatch::start(&lambda_env(&moto, &topic, 300));

    let response = watch.invoke_ok(&project_file("events/mixed-batch.json"));
    assert_eq!(
        deliveries(&response),
        [
            ("lambda-out-of-memory".into(), "published".into()),
            ("lambda-timeout".into(), "published".into()),
            ("secrets-manager-access-denied".into(), "published".into()),
        ],
        "{response}"
    );
    let answered: BTreeSet<&str> =
        response["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();

    // An SQS subscriber gets the finding JSON, the subject and the attributes.
    let received = aws.notifications(&all).await;
    assert_eq!(received.len(), 3, "{received:#?}\n{}", watch.log());
    let mut subjects = BTreeSet::new();
    for notification in &received {
        assert_eq!(notification["TopicArn"], topic.as_str());
        let finding = finding_of(notification);
        assert!(answered.contains(finding.id.as_str()), "{} not in the response", finding.id);
        let subject = notification["Subject"].as_str().unwrap();
        assert!(subject.len() < 100 && !subject.contains('\n'), "{subject}");
        subjects.insert(subject.to_owned());
        assert_eq!(attribute(notification, "severity"), finding.severity.as_str());
        assert_eq!(attribute(notification, "category"), finding.category.as_str());
        assert_eq!(attribute(notification, "rule_id"), finding.rule_id);
        assert_eq!(attribute(notification, "function"), "orders-api");
        assert_eq!(attribute(notification, "log_group"), "/aws/lambda/orders-api");
        assert_eq!(attribute(notification, "account"), finding.account);
        assert_eq!(finding.account, "123456789012");
        assert!(!finding.fix.is_empty() && !finding.evidence.is_empty(), "{finding:?}");
    }
    assert_eq!(
        subjects,
        BTreeSet::from([
            "[CRITICAL] orders-api: out of memory".to_owned(),
            "[CRITICAL] orders-api: secret access denied".to_owned(),
            "[HIGH] orders-api: timeout".to_owned(),
        ])
    );

    // A filter policy on the severity attribute: only the two critical findings.
    let mut critical_rules: Vec<String> =
        aws.notifications(&critical).await.iter().map(|n| finding_of(n).rule_id).collect();
    critical_rules.sort();
    assert_eq!(critical_rules, ["lambda-out-of-memory", "secrets-manager-access-denied"]);

    // What SNS received: MessageStructure=json with the three renderings, as strings.
    let published = moto.published(&topic);
    assert_eq!(published.len(), 3);
    for (message, subject, attributes) in &published {
        let structure: Value = serde_json::from_str(message).expect("the SNS message is JSON");
        let keys: Vec<&String> = structure.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["default", "email", "https"]);
        let finding: Finding = serde_json::from_str(structure["default"].as_str().unwrap()).unwrap();
        assert!(subjects.contains(subject.as_deref().unwrap()));
        assert_eq!(attributes["rule_id"]["Value"], finding.rule_id.as_str());

        let email = structure["email"].as_str().unwrap();
        for part in
            ["WHAT HAPPENED", "WHY", "HOW TO FIX", "EVIDENCE (redacted)", &finding.summary, &finding.console_url]
        {
            assert!(email.contains(part), "email lacks {part:?}:\n{email}");
        }
        assert!(email.contains(&format!("1. {}", finding.fix[0])), "{email}");
        assert!(email.contains("Account:    123456789012 (us-east-1)"), "{email}");

        let chatbot: Value = serde_json::from_str(structure["https"].as_str().unwrap()).expect("Chatbot JSON");
        assert_eq!(chatbot["version"], "1.0");
        assert_eq!(chatbot["source"], "custom");
        assert_eq!(chatbot["id"], finding.id.as_str());
        assert!(chatbot["content"]["description"].as_str().unwrap().starts_with(&finding.summary));
        assert!(chatbot["content"]["title"].as_str().unwrap().contains(&finding.title));
        assert_eq!(chatbot["content"]["nextSteps"], serde_json::json!(finding.fix));
        assert_eq!(chatbot["metadata"]["eventType"], finding.category.as_str());
        assert_eq!(chatbot["metadata"]["threadId"].as_str().unwrap().len(), 32);
        assert_eq!(
            chatbot["metadata"]["relatedResources"][0],
            "arn:aws:lambda:us-east-1:123456789012:function:orders-api"
        );
    }
    // One thread per function and rule.
    let threads: BTreeSet<String> = published
        .iter()
        .map(|(m, _, _)| {
            let s: Value = serde_json::from_str(m).unwrap();
            let c: Value = serde_json::from_str(s["https"].as_str().unwrap()).unwrap();
            c["metadata"]["threadId"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(threads.len(), 3);
}

#[tokio::test]
async fn repeats_are_held_back_per_instance_and_counted_in_the_next_message() {
    const WINDOW: u64 = 6;
    let moto = MotoServer::start();
    let aws = Aws::new(&moto).await;
    let topic = aws.topic("findings").await;
    let queue = aws.queue(&topic, "all-findings", None).await;
    let watch = LambdaWatch::start(&lambda_env(&moto, &topic, WINDOW));

    let first = watch.invoke_ok(&project_file("events/oom-report.json"));
    assert_eq!(deliveries(&first), [("lambda-out-of-memory".into(), "published".into())]);
    let started = std::time::Instant::now();
    // The same batch again (a redelivery): same finding id, dropped and not counted.
    let again = watch.invoke_ok(&project_file("events/oom-report.json"));
    assert_eq!(deliveries(&again), [("lambda-out-of-memory".into(), "duplicate".into())]);
    assert_eq!(again["findings"][0]["id"], first["findings"][0]["id"]);
    // Another batch of the same function: its out-of-memory finding is held back, the others go.
    let mixed = watch.invoke_ok(&project_file("events/mixed-batch.json"));
    assert!(started.elapsed() < Duration::from_secs(WINDOW), "the machine is too slow for this window");
    assert_eq!(
        deliveries(&mixed),
        [
            ("lambda-out-of-memory".into(), "suppressed".into()),
            ("lambda-timeout".into(), "published".into()),
            ("secrets-manager-access-denied".into(), "published".into()),
        ]
    );
    let rules: Vec<String> = aws.notifications(&queue).await.iter().map(|n| finding_of(n).rule_id).collect();
    assert_eq!(rules.iter().filter(|r| *r == "lambda-out-of-memory").count(), 1, "{rules:?}");
    assert_eq!(rules.len(), 3, "{rules:?}");

    // After the window, the next out-of-memory finding goes out and says one was held back.
    tokio::time::sleep(Duration::from_secs(WINDOW).saturating_sub(started.elapsed()) + Duration::from_millis(200))
        .await;
    let later = watch.invoke_ok(&project_file("events/oom-json.json"));
    assert_eq!(deliveries(&later), [("lambda-out-of-memory".into(), "published".into())]);
    let received = aws.notifications(&queue).await;
    assert_eq!(received.len(), 1);
    let finding = finding_of(&received[0]);
    assert_eq!(finding.details.members()["suppressed_findings"], 1, "{:?}", finding.details);
    assert_eq!(finding.details.members()["suppressed_occurrences"], 1, "{:?}", finding.details);
    let (message, _, _) = moto.published(&topic).pop().unwrap();
    let structure: Value = serde_json::from_str(&message).unwrap();
    let email = structure["email"].as_str().unwrap();
    assert!(
        email.contains("1 more finding of this problem (1 occurrence) was held back since the previous message"),
        "{email}"
    );
}

#[tokio::test]
async fn a_failed_publish_fails_the_invocation_and_the_retry_delivers_the_same_ids() {
    let moto = MotoServer::start();
    let aws = Aws::new(&moto).await;
    // The topic does not exist yet: every PublishBatch fails.
    let topic = "arn:aws:sns:us-east-1:123456789012:created-later";
    let watch = LambdaWatch::start(&lambda_env(&moto, topic, 300));

    let (status, stdout, stderr) = watch.invoke(&project_file("events/mixed-batch.json"));
    assert!(!status.success(), "the invocation must fail so Lambda retries it: {stdout}");
    assert!(stderr.contains("Troubleshooter.PublishFailed"), "{stderr}");
    let error = squash(&stderr);
    assert!(error.contains(&squash(&format!("3 of 3 findings were not delivered to {topic}"))), "{stderr}");

    // Lambda's retry, once the topic is there: every finding is delivered (nothing was
    // suppressed by the failed attempt), with the ids the error named.
    assert_eq!(aws.topic("created-later").await, topic);
    let queue = aws.queue(topic, "all-findings", None).await;
    let retried = watch.invoke_ok(&project_file("events/mixed-batch.json"));
    let ids: Vec<&str> = retried["findings"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3);
    for id in &ids {
        assert!(error.contains(&format!("{id}(NotFound:")), "the error did not name {id}: {stderr}");
    }
    assert!(retried["findings"].as_array().unwrap().iter().all(|f| f["delivery"] == "published"), "{retried}");
    let mut delivered: Vec<String> = aws.notifications(&queue).await.iter().map(|n| finding_of(n).id).collect();
    delivered.sort();
    let mut expected: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
    expected.sort();
    assert_eq!(delivered, expected);
}

#[tokio::test]
async fn a_fifo_topic_gets_group_and_deduplication_ids() {
    let moto = MotoServer::start();
    let aws = Aws::new(&moto).await;
    let topic = aws.topic("findings.fifo").await;
    let queue = aws.queue(&topic, "findings.fifo", None).await;
    let watch = LambdaWatch::start(&lambda_env(&moto, &topic, 300));

    watch.invoke_ok(&project_file("events/mixed-batch.json"));
    let messages = aws.drain(&queue).await;
    assert_eq!(messages.len(), 3, "{}", watch.log());
    for message in &messages {
        let notification: Value = serde_json::from_str(message.body().unwrap()).unwrap();
        let finding = finding_of(&notification);
        let system = message.attributes().unwrap();
        use aws_sdk_sqs::types::MessageSystemAttributeName as Name;
        assert_eq!(system[&Name::MessageGroupId], "/aws/lambda/orders-api");
        assert_eq!(system[&Name::MessageDeduplicationId], finding.id);
    }
}
