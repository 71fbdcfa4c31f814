//! The CloudWatch Logs adapter: reads a log group's events with `FilterLogEvents`, for
//! `troubleshooter pull` (a function's recent logs, without a subscription) and for the lines
//! a finding lacks in the Lambda (the REPORT and the lines before a failure).
//!
//! One call is one page ([`LogsReader::page`]): `FilterLogEvents` may return an empty page that
//! still carries a `nextToken`, so callers page until the token is gone or their budget is
//! spent. Throttling and transient errors are retried by the SDK's standard retry policy, with
//! exponential backoff and jitter ([`LogsReader::from_config`] allows more attempts than the
//! default). Every error is a [`LogsError`] that says what to do: a missing log group, missing
//! credentials, or a denied `logs:FilterLogEvents` with the IAM statement that allows it.

use std::time::Duration;

use aws_sdk_cloudwatchlogs::error::SdkError;
use aws_sdk_cloudwatchlogs::operation::filter_log_events::FilterLogEventsError;
use serde_json::json;

use crate::BoxFuture;
use crate::enrich::{ContextSource, FetchError};
use crate::ingest::LogEvent;

/// How many attempts a call gets (the first and its retries) when CloudWatch Logs throttles or
/// fails transiently: FilterLogEvents allows only a few calls per second per account.
pub const MAX_ATTEMPTS: u32 = 6;

/// Why events could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogsError {
    /// The log group does not exist (in this region and account).
    #[error("log group {log_group} does not exist in {region} (check the function name, --region and the account)")]
    NoLogGroup {
        /// The log group.
        log_group: String,
        /// The region asked.
        region: String,
    },
    /// The caller may not read the log group.
    #[error(
        "not allowed to read {log_group}: {message}. Allow it to the role or user that runs this with the statement {statement}"
    )]
    AccessDenied {
        /// The log group.
        log_group: String,
        /// What CloudWatch Logs said.
        message: String,
        /// The IAM statement that allows the read.
        statement: String,
    },
    /// No AWS credentials were found.
    #[error(
        "no AWS credentials: set AWS_PROFILE (or --profile) to a configured profile, run `aws sso login` or `aws configure`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY ({message})"
    )]
    NoCredentials {
        /// The SDK's message.
        message: String,
    },
    /// Anything else, after retries.
    #[error("FilterLogEvents on {log_group} failed: {message}")]
    Failed {
        /// The log group.
        log_group: String,
        /// The SDK's message.
        message: String,
    },
}

/// One page of events: each with its log stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// The events, with the log stream each was written to.
    pub events: Vec<(String, LogEvent)>,
    /// The token of the next page; `None` when this was the last.
    pub next_token: Option<String>,
}

/// What to read from one log group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// The log group.
    pub log_group: String,
    /// From this time (milliseconds since the epoch), inclusive.
    pub start_ms: i64,
    /// Up to this time, inclusive; `None` for now.
    pub end_ms: Option<i64>,
    /// A CloudWatch Logs filter pattern.
    pub filter_pattern: Option<String>,
    /// Only streams whose name starts with this.
    pub stream_prefix: Option<String>,
    /// Only these streams.
    pub streams: Vec<String>,
    /// The most events per page (CloudWatch Logs allows up to 10,000).
    pub page_size: Option<i32>,
}

/// Reads log events; see the module docs.
#[derive(Debug, Clone)]
pub struct LogsReader {
    client: aws_sdk_cloudwatchlogs::Client,
    region: String,
}

impl LogsReader {
    /// A reader through `client`.
    pub fn new(client: aws_sdk_cloudwatchlogs::Client) -> Self {
        let region = client.config().region().map(ToString::to_string).unwrap_or_default();
        Self { client, region }
    }

    /// A reader with the SDK configured from `config`, retrying throttling up to
    /// [`MAX_ATTEMPTS`] times with the SDK's backoff, each attempt cut at `attempt_timeout`.
    pub fn from_config(config: &aws_config::SdkConfig, attempt_timeout: Duration) -> Self {
        let config = aws_sdk_cloudwatchlogs::config::Builder::from(config)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder().operation_attempt_timeout(attempt_timeout).build(),
            )
            .build();
        Self::new(aws_sdk_cloudwatchlogs::Client::from_conf(config))
    }

    /// The region the reader reads in.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// One `FilterLogEvents` page of `query`, from `next_token` (none for the first page).
    ///
    /// # Errors
    ///
    /// A [`LogsError`] saying what is wrong and what to do.
    pub async fn page(&self, query: &Query, next_token: Option<String>) -> Result<Page, LogsError> {
        let mut request = self
            .client
            .filter_log_events()
            .log_group_name(&query.log_group)
            .start_time(query.start_ms)
            .set_end_time(query.end_ms)
            .set_filter_pattern(query.filter_pattern.clone())
            .set_log_stream_name_prefix(query.stream_prefix.clone())
            .set_limit(query.page_size)
            .set_next_token(next_token);
        for stream in &query.streams {
            request = request.log_stream_names(stream);
        }
        let output = request.send().await.map_err(|error| self.error(&query.log_group, error))?;
        let events = output
            .events
            .unwrap_or_default()
            .into_iter()
            .map(|event| {
                let stream = event.log_stream_name.unwrap_or_default();
                let message = event.message.unwrap_or_default();
                (
                    stream,
                    LogEvent {
                        id: event.event_id.unwrap_or_default().into(),
                        timestamp: event.timestamp.unwrap_or_default(),
                        message: message.into(),
                    },
                )
            })
            .collect();
        Ok(Page { events, next_token: output.next_token })
    }

    fn error<R>(&self, log_group: &str, error: SdkError<FilterLogEventsError, R>) -> LogsError
    where
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let log_group = log_group.to_owned();
        match crate::aws::CallFailure::of(&error) {
            crate::aws::CallFailure::NotFound => LogsError::NoLogGroup { log_group, region: self.region.clone() },
            crate::aws::CallFailure::Denied(message) => {
                let statement = read_statement(&self.region, &log_group);
                LogsError::AccessDenied { log_group, message, statement }
            }
            crate::aws::CallFailure::NoCredentials(message) => LogsError::NoCredentials { message },
            crate::aws::CallFailure::Other(message) => LogsError::Failed { log_group, message },
        }
    }
}

/// The IAM statement that allows reading `log_group` in `region` (any region when unknown),
/// its ARN in the region's partition.
fn read_statement(region: &str, log_group: &str) -> String {
    let arn = format!(
        "arn:{}:logs:{}:*:log-group:{log_group}:*",
        crate::model::partition(region),
        if region.is_empty() { "*" } else { region }
    );
    json!({"Effect": "Allow", "Action": "logs:FilterLogEvents", "Resource": arn}).to_string()
}

/// The Lambda's enrichment reads one page of one stream around a failure.
impl ContextSource for LogsReader {
    fn fetch<'a>(
        &'a self,
        log_group: &'a str,
        log_stream: &'a str,
        start_ms: i64,
        end_ms: i64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<LogEvent>, FetchError>> {
        Box::pin(async move {
            let query = Query {
                log_group: log_group.to_owned(),
                start_ms,
                end_ms: Some(end_ms),
                streams: vec![log_stream.to_owned()],
                page_size: Some(i32::try_from(limit.clamp(1, 10_000)).unwrap_or(10_000)),
                ..Query::default()
            };
            let page = self.page(&query, None).await.map_err(|e| FetchError(e.to_string()))?;
            Ok(page.events.into_iter().map(|(_, event)| event).collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::read_statement;

    #[test]
    fn the_statement_that_allows_the_read_names_the_log_group_in_the_regions_partition() {
        let statement = |region| read_statement(region, "/aws/lambda/orders-api");
        let resource = |region| {
            serde_json::from_str::<serde_json::Value>(&statement(region))
                .ok()
                .and_then(|v| v["Resource"].as_str().map(str::to_owned))
                .unwrap_or_default()
        };
        assert_eq!(resource("eu-west-1"), "arn:aws:logs:eu-west-1:*:log-group:/aws/lambda/orders-api:*");
        assert_eq!(resource(""), "arn:aws:logs:*:*:log-group:/aws/lambda/orders-api:*");
        assert_eq!(resource("cn-northwest-1"), "arn:aws-cn:logs:cn-northwest-1:*:log-group:/aws/lambda/orders-api:*");
        assert_eq!(resource("us-gov-east-1"), "arn:aws-us-gov:logs:us-gov-east-1:*:log-group:/aws/lambda/orders-api:*");
    }
}
