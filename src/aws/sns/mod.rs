//! The SNS adapter: publishes findings to a topic with `PublishBatch`, one message per finding,
//! inside SNS's limits, retrying what fails (docs/publishing.md).
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
//! those SNS says are the sender's fault, which would fail again; so is a whole request SNS
//! throttled with a code the SDK does not retry itself (`Throttled`, `KMSThrottling`). Whatever
//! still fails is returned as [`PublishError::Undelivered`] naming the finding ids, and the
//! invocation fails. Given the invocation's deadline, no request is sent, waited for or backed
//! off for past it: what did not go out by then is named in [`PublishError::Deadline`].
//!
//! Why one file of ~560 lines: the message, its size limits, the request chunking and the
//! retry loop within the deadline enforce one contract (SNS's limits) and are tested together
//! against it.

use std::ops::Range;
use std::time::{Duration, Instant};

use aws_sdk_sns::error::ProvideErrorMetadata as _;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use sha2::{Digest, Sha256};

use crate::BoxFuture;
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
        if let Some(note) = &mut trimmed.details.enrichment {
            *note = excerpt(note, LAST_RESORT_DETAIL_BYTES);
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
pub trait BatchSender: Send + Sync {
    /// Sends the messages as one request and returns the entries that failed, or the SDK's
    /// error when the whole request failed (after the SDK's own retries).
    fn send<'a>(&'a self, messages: &'a [&'a Message]) -> BoxFuture<'a, Result<Vec<EntryFailure>, aws_sdk_sns::Error>>;
}

/// Delivers `messages` in requests of at most 10 entries and 256 KiB, retrying failed entries
/// with backoff, and stopping by `stop_by`: no request is sent, waited for or backed off for
/// past it. `failed` holds findings that could not even be rendered; they are reported with
/// whatever else fails.
///
/// # Errors
///
/// [`PublishError::Undelivered`] naming every finding that was not delivered;
/// [`PublishError::Deadline`] when `stop_by` came first, naming those and the ones it stopped.
pub async fn deliver(
    sender: &impl BatchSender,
    topic: &str,
    messages: &[Message],
    failed: Vec<FailedFinding>,
    retry: Retry,
    stop_by: Option<Instant>,
) -> Result<(), PublishError> {
    let total = messages.len() + failed.len();
    let mut tally = Tally { messages, failed, source: None, stopped: Vec::new() };
    let mut pending: Vec<usize> = (0..messages.len()).collect();
    let mut backoff = retry.first_backoff;
    for attempt in 1..=retry.attempts.max(1) {
        let last = attempt >= retry.attempts;
        let mut again = Vec::new();
        let sizes: Vec<usize> = pending.iter().map(|&i| messages[i].size()).collect();
        for range in chunks(&sizes) {
            let batch: Vec<&Message> = pending[range.clone()].iter().map(|&i| &messages[i]).collect();
            let answer = match stop_by {
                Some(stop_by) if Instant::now() >= stop_by => None,
                Some(stop_by) => tokio::time::timeout_at(stop_by.into(), sender.send(&batch)).await.ok(),
                None => Some(sender.send(&batch).await),
            };
            let Some(answer) = answer else {
                // The deadline: this request (which may or may not have reached SNS), those not
                // sent yet and those waiting for a retry did not go out.
                tally.stopped.extend_from_slice(&pending[range.start..]);
                tally.stopped.append(&mut again);
                return tally.finish(topic, total);
            };
            tally.answer(answer, &pending[range], last, &mut again, (topic, attempt));
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
        if stop_by.is_some_and(|stop_by| Instant::now() + backoff >= stop_by) {
            tally.stopped = again;
            break;
        }
        tokio::time::sleep(backoff).await;
        backoff = backoff.saturating_mul(2);
        pending = again;
    }
    tally.finish(topic, total)
}

/// What a delivery has not delivered so far.
struct Tally<'m> {
    messages: &'m [Message],
    /// Failed for good.
    failed: Vec<FailedFinding>,
    /// The SDK's error of the first whole request that failed.
    source: Option<aws_sdk_sns::Error>,
    /// The messages the deadline stopped.
    stopped: Vec<usize>,
}

impl Tally<'_> {
    /// SNS's answer to a request of the messages `sent`: each failed entry is retried (into
    /// `again`) or failed for good. `at` is the topic and the attempt, for the log.
    fn answer(
        &mut self,
        answer: Result<Vec<EntryFailure>, aws_sdk_sns::Error>,
        sent: &[usize],
        last: bool,
        again: &mut Vec<usize>,
        (topic, attempt): (&str, u32),
    ) {
        match answer {
            Ok(failures) => {
                for failure in failures {
                    let Some(&i) = sent.get(failure.index) else { continue };
                    if failure.sender_fault || last {
                        self.failed.push(FailedFinding {
                            id: self.messages[i].finding_id.clone(),
                            code: failure.code,
                            message: failure.message,
                        });
                    } else {
                        again.push(i);
                    }
                }
            }
            // SNS's own throttling codes (`Throttled`, `KMSThrottling` of an encrypted topic)
            // are not among those the SDK retries: retried here, within the attempts and the
            // invocation's deadline.
            Err(error) if !last && is_throttling(error.code()) => {
                tracing::warn!(topic, attempt, code = error.code(), "SNS throttled the request; retrying it");
                again.extend_from_slice(sent);
            }
            // The SDK has already retried transient request errors (throttling, 5xx, timeouts)
            // with its own backoff; what reaches us (no such topic, no permission, no network)
            // will not heal within this invocation.
            Err(error) => {
                let (code, message) = describe(&error);
                for &i in sent {
                    self.failed.push(FailedFinding {
                        id: self.messages[i].finding_id.clone(),
                        code: code.clone(),
                        message: message.clone(),
                    });
                }
                self.source.get_or_insert(error);
            }
        }
    }

    fn finish(mut self, topic: &str, total: usize) -> Result<(), PublishError> {
        if !self.stopped.is_empty() {
            self.failed.extend(self.stopped.iter().map(|&i| FailedFinding {
                id: self.messages[i].finding_id.clone(),
                code: "Deadline".into(),
                message: "not delivered before the invocation's deadline".into(),
            }));
            return Err(PublishError::Deadline { total, undelivered: self.failed });
        }
        if self.failed.is_empty() {
            return Ok(());
        }
        let source = self.source.map(|e| Box::new(e) as _);
        Err(PublishError::Undelivered { topic: topic.to_owned(), total, failed: self.failed, source })
    }
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
    fn send<'a>(&'a self, messages: &'a [&'a Message]) -> BoxFuture<'a, Result<Vec<EntryFailure>, aws_sdk_sns::Error>> {
        Box::pin(async move {
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
                if let Some(index) =
                    success.id().and_then(|id| id.parse::<usize>().ok()).filter(|i| *i < answered.len())
                {
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
        })
    }
}

/// The code and message of a whole request's failure. SNS's own errors have a code; the
/// SDK's (no answer in time, no connection) only a chain of sources, joined here so the
/// error says `Timeout` or `Unreachable` and why, not "unhandled error".
fn describe(error: &aws_sdk_sns::Error) -> (String, String) {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.ends_with(&cause_text) {
            message = format!("{message}: {cause_text}");
        }
        source = cause.source();
    }
    let code = match error.code() {
        Some(code) => code,
        None if message.contains("timeout") || message.contains("timed out") => "Timeout",
        None if message.contains("dispatch failure") => "Unreachable",
        None => "RequestFailed",
    };
    (code.to_owned(), message)
}

/// A throttling error code, SNS's own or the AWS-wide ones (`Throttled`, `Throttling`,
/// `KMSThrottling`, `TooManyRequestsException`): the request may pass a moment later.
fn is_throttling(code: Option<&str>) -> bool {
    code.is_some_and(|code| code.contains("Throttl") || code.starts_with("TooManyRequests"))
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

    /// A publisher built from the process's SDK configuration ([`crate::aws::sdk_config`]), in
    /// the topic's own region so a topic in another region than the function works, with a
    /// timeout per attempt: a hung attempt is abandoned and retried by the SDK, rather than
    /// eating the function's whole timeout. Makes no network call.
    pub fn from_config(config: &aws_config::SdkConfig, topic_arn: &str) -> Self {
        let mut builder = aws_sdk_sns::config::Builder::from(config).timeout_config(
            aws_config::timeout::TimeoutConfig::builder().operation_attempt_timeout(Duration::from_secs(5)).build(),
        );
        if let Some(region) = topic_region(topic_arn) {
            builder = builder.region(aws_config::Region::new(region.to_owned()));
        }
        Self::new(aws_sdk_sns::Client::from_conf(builder.build()), topic_arn)
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
    fn publish<'a>(
        &'a self,
        findings: &'a [Finding],
        stop_by: Option<Instant>,
    ) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(async move {
            let mut messages = Vec::with_capacity(findings.len());
            let mut failed = Vec::new();
            for finding in findings {
                match Message::render(finding, self.fifo) {
                    Ok(message) => messages.push(message),
                    Err(failure) => failed.push(failure),
                }
            }
            deliver(&self.sender, &self.sender.topic_arn, &messages, failed, self.retry, stop_by).await?;
            if !findings.is_empty() {
                tracing::info!(topic = %self.sender.topic_arn, findings = findings.len(), "findings published");
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
