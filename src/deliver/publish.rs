//! Publishing: the seam between the pure pipeline and where findings go.
//!
//! [`Publisher`] is the one trait the handler needs. [`StdoutPublisher`] writes JSON lines
//! (the behaviour without TOPIC_ARN, and for local runs); the SNS adapter
//! ([`crate::aws::sns::SnsPublisher`]) implements the same trait. Core tests use a recording fake.
//!
//! A publisher delivers every finding it can and fails naming the ones it could not
//! ([`PublishError::Undelivered`]); the handler then fails the invocation, so Lambda retries the
//! batch and finally keeps it in the on-failure destination. A retried batch gives the same
//! finding ids, so subscribers drop what they already received.

use std::future::Future;
use std::io::Write;

use crate::model::finding::Finding;
use crate::report::render;

/// Why findings could not be delivered. Any error fails the invocation, so Lambda's retry
/// and on-failure destination keep the batch.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// Writing to stdout failed.
    #[error("cannot write findings to stdout: {0}")]
    Stdout(#[from] std::io::Error),
    /// A finding could not be serialised.
    #[error("cannot serialise finding {id}: {source}")]
    Serialise {
        /// The finding id.
        id: String,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },
    /// Some findings were not delivered to the SNS topic, after retries.
    #[error(
        "{} of {total} findings were not delivered to {topic}: {}",
        .failed.len(),
        FailedFinding::list(.failed)
    )]
    Undelivered {
        /// The topic ARN.
        topic: String,
        /// How many findings the invocation tried to publish.
        total: usize,
        /// The findings that were not delivered, and why.
        failed: Vec<FailedFinding>,
        /// The adapter's own error, when a whole request failed (the port names no SDK type).
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
}

/// One finding that was not delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedFinding {
    /// The finding id.
    pub id: String,
    /// SNS's error code (`InternalError`, `NotFound`, …) or ours (`MessageTooLarge`).
    pub code: String,
    /// What went wrong.
    pub message: String,
}

impl FailedFinding {
    /// `id (code: message), …` for error messages.
    pub fn list(failed: &[Self]) -> String {
        failed.iter().map(|f| format!("{} ({}: {})", f.id, f.code, f.message)).collect::<Vec<_>>().join(", ")
    }
}

/// Where findings go.
pub trait Publisher {
    /// Delivers every finding, or fails naming what was not delivered.
    fn publish(&self, findings: &[Finding]) -> impl Future<Output = Result<(), PublishError>> + Send;
}

/// Writes each finding as one line of JSON to stdout.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdoutPublisher;

impl Publisher for StdoutPublisher {
    async fn publish(&self, findings: &[Finding]) -> Result<(), PublishError> {
        let mut lines = String::new();
        for finding in findings {
            let line = render::json_line(finding)
                .map_err(|source| PublishError::Serialise { id: finding.id.clone(), source })?;
            lines.push_str(&line);
            lines.push('\n');
        }
        let mut stdout = std::io::stdout().lock();
        stdout.write_all(lines.as_bytes())?;
        stdout.flush()?;
        Ok(())
    }
}
