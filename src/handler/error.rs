//! Why an invocation fails, and the error type Lambda records for each: what the on-failure
//! destination and the `Errors` metric show (README, "Failures").

use lambda_runtime::Diagnostic;

use crate::deliver::publish::PublishError;
use crate::ingest::IngestError;

/// Why an invocation failed; see the module docs for what Lambda does with each.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// The event could not be decoded.
    #[error("{0}")]
    Ingest(#[from] IngestError),
    /// Findings could not be delivered.
    #[error("{0}")]
    Publish(#[from] PublishError),
    /// The invocation would have run past the function's timeout: it stopped itself first, so
    /// Lambda records a clean error (and retries the event) instead of a timeout.
    #[error(
        "stopped {margin_ms} ms before the function's timeout, with findings not yet published; Lambda retries the event"
    )]
    Deadline {
        /// How long before the timeout it stopped.
        margin_ms: u64,
    },
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Self {
        let error_type = match &error {
            HandlerError::Ingest(IngestError::TooLarge { .. }) => "Troubleshooter.BatchTooLarge",
            HandlerError::Ingest(IngestError::UnknownEvent(_)) => "Troubleshooter.UnknownEvent",
            HandlerError::Ingest(_) => "Troubleshooter.CorruptBatch",
            HandlerError::Publish(_) => "Troubleshooter.PublishFailed",
            HandlerError::Deadline { .. } => "Troubleshooter.DeadlineExceeded",
        };
        Diagnostic { error_type: error_type.to_owned(), error_message: error.to_string() }
    }
}
