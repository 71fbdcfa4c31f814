//! Publishing: the seam between the pure pipeline and where findings go.
//!
//! [`Publisher`] is the one trait the handler needs. [`StdoutPublisher`] writes JSON lines
//! (the behaviour without TOPIC_ARN, and for local runs); the SNS adapter
//! ([`crate::aws::sns::SnsPublisher`]) implements the same trait. Core tests use a recording fake.
//!
//! A publisher delivers every finding it can, stops by the deadline it is given rather than run
//! past it, and fails naming the findings that did not go out ([`PublishError::Undelivered`],
//! [`PublishError::Deadline`]; [`PublishError::not_delivered`] reads any error so). The handler
//! releases the claims of those, counts them, and fails the invocation, so Lambda retries the
//! batch and finally keeps it in the on-failure destination. A retried batch gives the same
//! finding ids, so subscribers drop what they already received.

use std::collections::BTreeSet;
use std::io::Write;
use std::time::Instant;

use crate::BoxFuture;
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
    /// The deadline came before every finding was delivered: the publish stopped there. A
    /// request the deadline cut short may or may not have reached the service; its findings are
    /// named with the rest, and the retry's finding ids let subscribers drop a repeat.
    #[error(
        "stopped at the deadline with {} of {total} findings not delivered: {}",
        .undelivered.len(),
        FailedFinding::list(.undelivered)
    )]
    Deadline {
        /// How many findings the invocation tried to publish.
        total: usize,
        /// The findings that did not go out, and why (code `Deadline` for those it stopped).
        undelivered: Vec<FailedFinding>,
    },
}

impl PublishError {
    /// The ids of the findings of `attempted` that did not go out: those the error names, or
    /// every one when it names none (stdout could not be written, a finding not serialised).
    pub fn not_delivered<'a>(&self, attempted: &'a [Finding]) -> BTreeSet<&'a str> {
        let named = match self {
            Self::Undelivered { failed, .. } | Self::Deadline { undelivered: failed, .. } => Some(failed),
            Self::Stdout(_) | Self::Serialise { .. } => None,
        };
        attempted
            .iter()
            .map(|finding| finding.id.as_str())
            .filter(|id| named.is_none_or(|failed| failed.iter().any(|f| f.id == *id)))
            .collect()
    }

    /// True when the publish stopped at its deadline.
    pub fn is_deadline(&self) -> bool {
        matches!(self, Self::Deadline { .. })
    }
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
pub trait Publisher: Send + Sync {
    /// Delivers every finding, stopping by `stop_by` when one is given (the invocation's
    /// deadline, less the time to fail cleanly) rather than running past it; `Ok` when every
    /// finding went out, else an error naming those that did not
    /// ([`PublishError::not_delivered`]), [`PublishError::Deadline`] when the time ran out.
    fn publish<'a>(
        &'a self,
        findings: &'a [Finding],
        stop_by: Option<Instant>,
    ) -> BoxFuture<'a, Result<(), PublishError>>;
}

/// Writes each finding as one line of JSON to stdout, at once: nothing to wait for, so no
/// deadline cuts it.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdoutPublisher;

impl Publisher for StdoutPublisher {
    fn publish<'a>(&'a self, findings: &'a [Finding], _: Option<Instant>) -> BoxFuture<'a, Result<(), PublishError>> {
        Box::pin(async move { write_lines(findings) })
    }
}

fn write_lines(findings: &[Finding]) -> Result<(), PublishError> {
    let mut lines = String::new();
    for finding in findings {
        let line =
            render::json_line(finding).map_err(|source| PublishError::Serialise { id: finding.id.clone(), source })?;
        lines.push_str(&line);
        lines.push('\n');
    }
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(lines.as_bytes())?;
    stdout.flush()?;
    Ok(())
}
