//! Publishing: the seam between the pure pipeline and where findings go.
//!
//! [`Publisher`] is the one trait the handler needs. [`StdoutPublisher`] writes JSON lines
//! (the behaviour without TOPIC_ARN, and for local runs); the SNS adapter implements the same
//! trait. Core tests use a recording fake.

use std::future::Future;
use std::io::Write;

use crate::finding::Finding;
use crate::render;

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
