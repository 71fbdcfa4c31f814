//! The SNS adapter: publishes findings to a topic with `PublishBatch`, one message per finding,
//! inside SNS's limits, retrying what fails (DESIGN.md, "SNS message").
//!
//! Each finding becomes a [`Message`]: `MessageStructure=json` with the `default` finding JSON,
//! the `email` text and the `https` AWS Chatbot notification ([`render::sns_message`]), the
//! email subject, and the message attributes filter policies select on. A `.fifo` topic also
//! gets `MessageGroupId` (the log group) and `MessageDeduplicationId` (the finding id).
//!
//! The limits are enforced here, not left to SNS (moto, the local endpoint the tests use,
//! enforces only some of them: 10 entries, and 256 KiB per message counted in characters):
//!
//! * a message is at most 256 KiB, attributes included: evidence is trimmed first, then
//!   dropped, and the message rendered again, so it is always valid JSON ([`Message::render`]);
//! * a request has at most 10 entries and 256 KiB in total ([`chunks`]).
//!
//! Entries SNS reports as failed are retried with exponential backoff ([`Retry`]), except
//! those SNS says are the sender's fault, which would fail again. Whatever still fails is
//! returned as [`PublishError::Undelivered`] naming the finding ids, and the invocation fails.

use std::future::Future;
use std::ops::Range;
use std::time::Duration;

use aws_sdk_sns::error::ProvideErrorMetadata as _;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use sha2::{Digest, Sha256};

use crate::deliver::publish::{FailedFinding, PublishError, Publisher};
use crate::model::finding::{Finding, excerpt};
use crate::report::render;

/// `PublishBatch` takes at most 10 entries per request (SNS quota, not adjustable).
pub const MAX_BATCH_ENTRIES: usize = 10;
/// `PublishBatch` takes at most 256 KiB (262,144 bytes) of messages per request, all entries
/// together.
pub const MAX_BATCH_BYTES: usize = 262_144;
/// One SNS message is at most 256 KiB (262,144 bytes), counting the message and its
/// attributes' names, types and values; we count the subject and FIFO ids too, to be safe.
pub const MAX_MESSAGE_BYTES: usize = 262_144;
/// `MessageGroupId` is at most 128 characters.
const MAX_GROUP_ID_CHARS: usize = 128;
/// Evidence is never halved below this many bytes per line before lines are dropped instead.
const MIN_EVIDENCE_BYTES: usize = 64;
/// Detail strings and id lists kept when even an evidence-free message does not fit.
const LAST_RESORT_DETAIL_BYTES: usize = 256;
const LAST_RESORT_IDS: usize = 5;
/// Set in the details of a finding whose message had to be trimmed to fit.
pub const TRIMMED_DETAIL: &str = "trimmed_to_fit_sns";
/// The attribute type of every message attribute.
const STRING: &str = "String";

/// One SNS message, rendered and within the limits; independent of the SDK so the limits are
/// unit-tested.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The finding id, to name the finding if it is not delivered.
    pub finding_id: String,
    /// The email subject.
    pub subject: String,
    /// The `MessageStructure=json` body.
    pub body: String,
    /// The message attributes, all `String`.
    pub attributes: Vec<(&'static str, String)>,
    /// `MessageGroupId`, for a FIFO topic.
    pub group_id: Option<String>,
    /// `MessageDeduplicationId`, for a FIFO topic.
    pub deduplication_id: Option<String>,
}

impl Message {
    /// Renders `finding` for a topic (`fifo` for a `.fifo` topic), trimming evidence until
    /// the message fits [`MAX_MESSAGE_BYTES`].
    ///
    /// # Errors
    ///
    /// A [`FailedFinding`] when the finding cannot be serialised, or does not fit even without
    /// evidence (only possible with a very large rule, fix or details text).
    pub fn render(finding: &Finding, fifo: bool) -> Result<Self, FailedFinding> {
        let mut message = Self {
            finding_id: finding.id.clone(),
            subject: render::subject(finding),
            body: String::new(),
            attributes: render::message_attributes(finding),
            group_id: fifo.then(|| group_id(&finding.log_group)),
            deduplication_id: fifo.then(|| finding.id.clone()),
        };
        let room = MAX_MESSAGE_BYTES.saturating_sub(message.size());
        message.body = body_within(finding, room)?;
        Ok(message)
    }

    /// The bytes this message counts against the message and request limits.
    pub fn size(&self) -> usize {
        self.body.len()
            + self.subject.len()
            + self.attributes.iter().map(|(name, value)| name.len() + STRING.len() + value.len()).sum::<usize>()
            + self.group_id.as_ref().map_or(0, String::len)
            + self.deduplication_id.as_ref().map_or(0, String::len)
    }
}

/// The `MessageGroupId` of a log group: the log group itself (CloudWatch log group names only
/// use characters SNS allows; anything else becomes `_`), or, past 128 characters, its start
/// and a hash of the whole name.
fn group_id(log_group: &str) -> String {
    let cleaned: String = log_group.chars().map(|c| if c.is_ascii_graphic() { c } else { '_' }).collect();
    if cleaned.len() <= MAX_GROUP_ID_CHARS {
        return cleaned;
    }
    let hash: String = Sha256::digest(log_group.as_bytes()).iter().take(16).map(|b| format!("{b:02x}")).collect();
    // `cleaned` is ASCII, so any byte index is a character boundary.
    let head = MAX_GROUP_ID_CHARS - hash.len() - 1;
    format!("{}#{hash}", &cleaned[..head])
}

/// The SNS body of `finding` in at most `limit` bytes: whole if it fits; else with evidence
/// lines halved in length, then dropped from the last, then detail strings and id lists cut.
/// Each step renders the whole message again, so the result is always valid JSON.
fn body_within(finding: &Finding, limit: usize) -> Result<String, FailedFinding> {
    let fail = |code: &str, message: String| FailedFinding { id: finding.id.clone(), code: code.into(), message };
    let render = |f: &Finding| render::sns_message(f).map_err(|e| fail("Serialise", e.to_string()));
    let body = render(finding)?;
    if body.len() <= limit {
        return Ok(body);
    }
    let original = body.len();
    let mut trimmed = finding.clone();
    trimmed.details.insert(TRIMMED_DETAIL.into(), serde_json::Value::Bool(true));
    let mut body = render(&trimmed)?;
    let mut cap = trimmed.evidence.iter().map(|e| e.message.len()).max().unwrap_or(0);
    while body.len() > limit && cap > MIN_EVIDENCE_BYTES {
        cap /= 2;
        for evidence in &mut trimmed.evidence {
            evidence.message = excerpt(&evidence.message, cap);
        }
        body = render(&trimmed)?;
    }
    while body.len() > limit && trimmed.evidence.pop().is_some() {
        body = render(&trimmed)?;
    }
    if body.len() > limit {
        for value in trimmed.details.values_mut() {
            if let serde_json::Value::String(text) = value {
                *text = excerpt(text, LAST_RESORT_DETAIL_BYTES);
            }
        }
        trimmed.request_ids.truncate(LAST_RESORT_IDS);
        trimmed.event_ids.truncate(LAST_RESORT_IDS);
        body = render(&trimmed)?;
    }
    if body.len() > limit {
        return Err(fail(
            "MessageTooLarge",
            format!("{} bytes without evidence, over the {limit} bytes left of SNS's 256 KiB", body.len()),
        ));
    }
    tracing::warn!(finding_id = %finding.id, original_bytes = original, bytes = body.len(), "finding trimmed to fit SNS's message limit");
    Ok(body)
}

/// Splits messages of these sizes, in order, into `PublishBatch` requests of at most
/// [`MAX_BATCH_ENTRIES`] entries and [`MAX_BATCH_BYTES`] bytes. Every message is at most
/// [`MAX_MESSAGE_BYTES`], so every request has at least one entry.
pub fn chunks(sizes: &[usize]) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut bytes = 0;
    for (i, &size) in sizes.iter().enumerate() {
        if i > start && (i - start == MAX_BATCH_ENTRIES || bytes + size > MAX_BATCH_BYTES) {
            ranges.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < sizes.len() {
        ranges.push(start..sizes.len());
    }
    ranges
}

/// How failed entries are retried: `attempts` in all, waiting `first_backoff`, then twice as
/// long each time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Attempts per entry, the first included.
    pub attempts: u32,
    /// The wait before the second attempt.
    pub first_backoff: Duration,
}

impl Default for Retry {
    /// Three attempts, 200 ms then 400 ms apart: well inside a Lambda timeout, and past the
    /// short throttling bursts that make single entries fail.
    fn default() -> Self {
        Self { attempts: 3, first_backoff: Duration::from_millis(200) }
    }
}

/// One entry of a request that SNS did not accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFailure {
    /// The entry's position in the request.
    pub index: usize,
    /// SNS's error code.
    pub code: String,
    /// SNS's message.
    pub message: String,
    /// SNS says the request was wrong: retrying cannot help.
    pub sender_fault: bool,
}

/// Sends one `PublishBatch` request: the seam between the retry logic and the SDK.
pub trait BatchSender {
    /// Sends the messages as one request and returns the entries that failed.
    ///
    /// # Errors
    ///
    /// The SDK's error when the whole request failed (after the SDK's own retries).
    fn send(&self, messages: &[&Message])
    -> impl Future<Output = Result<Vec<EntryFailure>, aws_sdk_sns::Error>> + Send;
}

/// Delivers `messages` in requests of at most 10 entries and 256 KiB, retrying failed entries
/// with backoff. `failed` holds findings that could not even be rendered; they are reported
/// with whatever else fails.
///
/// # Errors
///
/// [`PublishError::Undelivered`] naming every finding that was not delivered.
pub async fn deliver(
    sender: &impl BatchSender,
    topic: &str,
    messages: &[Message],
    mut failed: Vec<FailedFinding>,
    retry: Retry,
) -> Result<(), PublishError> {
    let total = messages.len() + failed.len();
    let mut source = None;
    let mut pending: Vec<usize> = (0..messages.len()).collect();
    let mut backoff = retry.first_backoff;
    for attempt in 1..=retry.attempts.max(1) {
        let last = attempt >= retry.attempts;
        let mut again = Vec::new();
        let sizes: Vec<usize> = pending.iter().map(|&i| messages[i].size()).collect();
        for range in chunks(&sizes) {
            let batch: Vec<&Message> = pending[range.clone()].iter().map(|&i| &messages[i]).collect();
            match sender.send(&batch).await {
                Ok(failures) => {
                    for failure in failures {
                        let Some(&i) = pending[range.clone()].get(failure.index) else { continue };
                        if failure.sender_fault || last {
                            failed.push(FailedFinding {
                                id: messages[i].finding_id.clone(),
                                code: failure.code,
                                message: failure.message,
                            });
                        } else {
                            again.push(i);
                        }
                    }
                }
                // The SDK has already retried transient request errors (throttling, 5xx,
                // timeouts) with its own backoff; what reaches us (no such topic, no
                // permission, no network) will not heal within this invocation.
                Err(error) => {
                    let code = error.code().unwrap_or("RequestFailed").to_owned();
                    for &i in &pending[range] {
                        failed.push(FailedFinding {
                            id: messages[i].finding_id.clone(),
                            code: code.clone(),
                            message: error.to_string(),
                        });
                    }
                    source.get_or_insert(error);
                }
            }
        }
        if again.is_empty() {
            break;
        }
        tracing::warn!(
            topic,
            attempt,
            entries = again.len(),
            backoff_ms = backoff.as_millis() as u64,
            "SNS did not accept some entries; retrying them"
        );
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2);
        pending = again;
    }
    if failed.is_empty() {
        return Ok(());
    }
    Err(PublishError::Undelivered { topic: topic.to_owned(), total, failed, source })
}

/// The region of a topic ARN (`arn:aws:sns:REGION:ACCOUNT:NAME`).
pub fn topic_region(topic_arn: &str) -> Option<&str> {
    topic_arn.split(':').nth(3).filter(|region| !region.is_empty())
}

/// True for a FIFO topic.
pub fn is_fifo(topic_arn: &str) -> bool {
    topic_arn.ends_with(".fifo")
}

/// [`BatchSender`] over the AWS SDK.
#[derive(Debug, Clone)]
pub struct SdkSender {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl SdkSender {
    fn entry(index: usize, message: &Message) -> Result<PublishBatchRequestEntry, aws_sdk_sns::error::BuildError> {
        let mut entry = PublishBatchRequestEntry::builder()
            // Entry ids only need to be unique within the request.
            .id(index.to_string())
            .message(&message.body)
            .message_structure("json")
            .subject(&message.subject)
            .set_message_group_id(message.group_id.clone())
            .set_message_deduplication_id(message.deduplication_id.clone());
        for (name, value) in &message.attributes {
            entry = entry.message_attributes(
                *name,
                MessageAttributeValue::builder().data_type(STRING).string_value(value).build()?,
            );
        }
        entry.build()
    }
}

impl BatchSender for SdkSender {
    async fn send(&self, messages: &[&Message]) -> Result<Vec<EntryFailure>, aws_sdk_sns::Error> {
        let mut failures = Vec::new();
        let mut entries = Vec::new();
        let mut sent = Vec::new();
        for (index, message) in messages.iter().enumerate() {
            match Self::entry(index, message) {
                Ok(entry) => {
                    entries.push(entry);
                    sent.push(index);
                }
                Err(error) => failures.push(EntryFailure {
                    index,
                    code: "InvalidEntry".into(),
                    message: error.to_string(),
                    sender_fault: true,
                }),
            }
        }
        if entries.is_empty() {
            return Ok(failures);
        }
        // Boxed: the SDK's future is deep enough to overflow the compiler's layout query depth
        // once nested in the handler's and the runtime's futures.
        let output = Box::pin(
            self.client
                .publish_batch()
                .topic_arn(&self.topic_arn)
                .set_publish_batch_request_entries(Some(entries))
                .send(),
        )
        .await?;
        let mut answered = vec![false; messages.len()];
        for success in output.successful() {
            if let Some(index) = success.id().and_then(|id| id.parse::<usize>().ok()).filter(|i| *i < answered.len()) {
                answered[index] = true;
            }
        }
        for failure in output.failed() {
            if let Some(index) = failure.id().parse::<usize>().ok().filter(|i| *i < answered.len()) {
                answered[index] = true;
                failures.push(EntryFailure {
                    index,
                    code: failure.code().to_owned(),
                    message: failure.message().unwrap_or_default().to_owned(),
                    sender_fault: failure.sender_fault(),
                });
            }
        }
        // An entry SNS neither accepted nor rejected was not delivered; try it again.
        for index in sent.into_iter().filter(|i| !answered[*i]) {
            failures.push(EntryFailure {
                index,
                code: "NoResult".into(),
                message: "PublishBatch returned no result for this entry".into(),
                sender_fault: false,
            });
        }
        Ok(failures)
    }
}

/// Publishes findings to an SNS topic; see the module docs.
#[derive(Debug, Clone)]
pub struct SnsPublisher {
    sender: SdkSender,
    fifo: bool,
    retry: Retry,
}

impl SnsPublisher {
    /// A publisher to `topic_arn` through `client`.
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        let topic_arn = topic_arn.into();
        Self { fifo: is_fifo(&topic_arn), sender: SdkSender { client, topic_arn }, retry: Retry::default() }
    }

    /// A publisher with the SDK configured from the environment (credentials, and
    /// `AWS_ENDPOINT_URL` for a local endpoint), in the topic's own region so a topic in
    /// another region than the function works. Makes no network call.
    pub async fn from_env(topic_arn: &str) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest()).timeout_config(
            // A hung attempt is abandoned and retried by the SDK, rather than eating the
            // function's whole timeout.
            aws_config::timeout::TimeoutConfig::builder().operation_attempt_timeout(Duration::from_secs(5)).build(),
        );
        if let Some(region) = topic_region(topic_arn) {
            loader = loader.region(aws_config::Region::new(region.to_owned()));
        }
        let config = loader.load().await;
        Self::new(aws_sdk_sns::Client::new(&config), topic_arn)
    }

    /// Uses another retry policy.
    pub fn with_retry(mut self, retry: Retry) -> Self {
        self.retry = retry;
        self
    }

    /// The topic ARN.
    pub fn topic_arn(&self) -> &str {
        &self.sender.topic_arn
    }
}

impl Publisher for SnsPublisher {
    async fn publish(&self, findings: &[Finding]) -> Result<(), PublishError> {
        let mut messages = Vec::with_capacity(findings.len());
        let mut failed = Vec::new();
        for finding in findings {
            match Message::render(finding, self.fifo) {
                Ok(message) => messages.push(message),
                Err(failure) => failed.push(failure),
            }
        }
        deliver(&self.sender, &self.sender.topic_arn, &messages, failed, self.retry).await?;
        if !findings.is_empty() {
            tracing::info!(topic = %self.sender.topic_arn, findings = findings.len(), "findings published");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::model::finding::Evidence;

    fn finding(id: &str) -> Finding {
        let event = r#"{"schema":"lambda-troubleshooter/finding/v1","id":"ID","rule_id":"lambda-out-of-memory","category":"out_of_memory","severity":"critical","title":"Lambda function ran out of memory","summary":"orders-api used 256 of 256 MB and was stopped","cause":"The function needed more memory than configured.","fix":["Raise MemorySize to 512 MB"],"docs":[],"account":"123456789012","region":"us-east-1","log_group":"/aws/lambda/orders-api","log_stream":"s","function":"orders-api","count":1,"first_seen":"2024-03-04T17:22:38.033Z","last_seen":"2024-03-04T17:22:38.033Z","request_ids":[],"event_ids":[],"evidence":[],"details":{},"console_url":"https://example.invalid"}"#;
        let mut finding: Finding = serde_json::from_str(event).unwrap();
        finding.id = id.into();
        finding
    }

    #[test]
    fn eleven_findings_make_two_requests() {
        let messages: Vec<Message> =
            (0..11).map(|n| Message::render(&finding(&format!("f{n}")), false).unwrap()).collect();
        let sizes: Vec<usize> = messages.iter().map(Message::size).collect();
        assert_eq!(chunks(&sizes), vec![0..10, 10..11]);
    }

    #[test]
    fn requests_stay_within_256_kib() {
        // Five 100 KB messages: two per request, never three (300 KB).
        assert_eq!(chunks(&[100_000; 5]), vec![0..2, 2..4, 4..5]);
        assert_eq!(chunks(&[MAX_BATCH_BYTES, 1, MAX_BATCH_BYTES - 1]), vec![0..1, 1..3]);
        assert_eq!(chunks(&[]), Vec::<Range<usize>>::new());
    }

    #[test]
    fn three_hundred_kib_of_evidence_is_trimmed_and_still_valid_json() {
        let mut big = finding("big");
        big.evidence = vec![
            Evidence {
                timestamp: "t1".into(),
                message: format!("java.lang.OutOfMemoryError \"{}\"", "é\\x".repeat(100 * 1024)),
            },
            Evidence { timestamp: "t2".into(), message: "second line".into() },
        ];
        let original_json = serde_json::to_string(&big).unwrap().len();
        assert!(original_json > 300 * 1024, "{original_json}");
        let message = Message::render(&big, false).unwrap();
        assert!(message.size() <= MAX_MESSAGE_BYTES, "{}", message.size());
        let body: serde_json::Value = serde_json::from_str(&message.body).unwrap();
        let default: Finding = serde_json::from_str(body["default"].as_str().unwrap()).unwrap();
        assert_eq!(default.id, "big");
        assert_eq!(default.details[TRIMMED_DETAIL], serde_json::Value::Bool(true));
        assert!(default.evidence[0].message.starts_with("java.lang.OutOfMemoryError"));
        assert!(default.evidence[0].message.ends_with('…'));
        assert_eq!(default.evidence[1].message, "second line");
        let chatbot: serde_json::Value = serde_json::from_str(body["https"].as_str().unwrap()).unwrap();
        assert_eq!(chatbot["version"], "1.0");
        assert!(body["email"].as_str().unwrap().contains("java.lang.OutOfMemoryError"));
        // Halving keeps as much evidence as fits: more than a quarter of the budget is used.
        assert!(message.size() > MAX_MESSAGE_BYTES / 4, "{}", message.size());
    }

    #[test]
    fn a_small_finding_is_not_trimmed() {
        let message = Message::render(&finding("small"), false).unwrap();
        assert!(!message.body.contains(TRIMMED_DETAIL));
    }

    #[test]
    fn fifo_messages_carry_group_and_deduplication_ids() {
        let message = Message::render(&finding("abc"), true).unwrap();
        assert_eq!(message.group_id.as_deref(), Some("/aws/lambda/orders-api"));
        assert_eq!(message.deduplication_id.as_deref(), Some("abc"));
        assert_eq!(Message::render(&finding("abc"), false).unwrap().group_id, None);
        let long = format!("/aws/lambda/{}", "x".repeat(500));
        let id = group_id(&long);
        assert_eq!(id.len(), 128);
        assert!(id.starts_with("/aws/lambda/xxx"));
        assert_ne!(id, group_id(&format!("{long}y")));
        assert_eq!(group_id("/custom/é group"), "/custom/__group");
        assert_eq!(group_id(&"é".repeat(200)).len(), 128);
        assert!(is_fifo("arn:aws:sns:us-east-1:123456789012:findings.fifo"));
        assert_eq!(topic_region("arn:aws:sns:eu-west-1:123456789012:findings"), Some("eu-west-1"));
    }

    /// Fails the entries of the given finding ids a number of times, then accepts them.
    struct Flaky {
        fail: Vec<(&'static str, u32, bool)>,
        requests: Mutex<Vec<Vec<String>>>,
    }

    impl BatchSender for Flaky {
        async fn send(&self, messages: &[&Message]) -> Result<Vec<EntryFailure>, aws_sdk_sns::Error> {
            let attempt = {
                let mut requests = self.requests.lock().unwrap();
                requests.push(messages.iter().map(|m| m.finding_id.clone()).collect());
                requests.len() as u32
            };
            Ok(messages
                .iter()
                .enumerate()
                .filter_map(|(index, m)| {
                    let (_, times, sender_fault) = self.fail.iter().find(|(id, _, _)| *id == m.finding_id)?;
                    (attempt <= *times).then(|| EntryFailure {
                        index,
                        code: if *sender_fault { "InvalidParameter" } else { "InternalError" }.into(),
                        message: "boom".into(),
                        sender_fault: *sender_fault,
                    })
                })
                .collect())
        }
    }

    fn messages(ids: &[&str]) -> Vec<Message> {
        ids.iter().map(|id| Message::render(&finding(id), false).unwrap()).collect()
    }

    const QUICK: Retry = Retry { attempts: 3, first_backoff: Duration::ZERO };

    #[tokio::test]
    async fn failed_entries_are_retried_alone_until_they_succeed() {
        let sender = Flaky { fail: vec![("b", 2, false)], requests: Mutex::default() };
        deliver(&sender, "topic", &messages(&["a", "b", "c"]), Vec::new(), QUICK).await.unwrap();
        assert_eq!(*sender.requests.lock().unwrap(), vec![vec!["a", "b", "c"], vec!["b"], vec!["b"]]);
    }

    #[tokio::test]
    async fn what_still_fails_is_named_in_the_error() {
        let sender = Flaky { fail: vec![("b", 9, false), ("c", 9, true)], requests: Mutex::default() };
        let error = deliver(&sender, "arn:topic", &messages(&["a", "b", "c"]), Vec::new(), QUICK).await.unwrap_err();
        let PublishError::Undelivered { topic, total, failed, .. } = &error else { panic!("{error:?}") };
        assert_eq!((topic.as_str(), *total), ("arn:topic", 3));
        let ids: Vec<&str> = failed.iter().map(|f| f.id.as_str()).collect();
        assert_eq!(ids, ["c", "b"]);
        // The sender's fault is not retried; the other is, up to the attempts.
        assert_eq!(*sender.requests.lock().unwrap(), vec![vec!["a", "b", "c"], vec!["b"], vec!["b"]]);
        let text = error.to_string();
        assert!(text.starts_with("2 of 3 findings were not delivered to arn:topic"), "{text}");
        assert!(text.contains("b (InternalError: boom)") && text.contains("c (InvalidParameter: boom)"), "{text}");
    }

    #[tokio::test]
    async fn eleven_findings_are_delivered_in_two_requests() {
        let sender = Flaky { fail: vec![], requests: Mutex::default() };
        let ids: Vec<String> = (0..11).map(|n| format!("f{n}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        deliver(&sender, "topic", &messages(&ids), Vec::new(), QUICK).await.unwrap();
        let sizes: Vec<usize> = sender.requests.lock().unwrap().iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 1]);
    }

    #[tokio::test]
    async fn retries_back_off() {
        let sender = Flaky { fail: vec![("a", 2, false)], requests: Mutex::default() };
        let started = std::time::Instant::now();
        let retry = Retry { attempts: 3, first_backoff: Duration::from_millis(40) };
        deliver(&sender, "topic", &messages(&["a"]), Vec::new(), retry).await.unwrap();
        // 40 ms, then 80 ms.
        assert!(started.elapsed() >= Duration::from_millis(120), "{:?}", started.elapsed());
    }
}
