//! A batch of log lines, as one stream delivers them: one event per line, a second apart,
//! for the tests that feed rules real lines without an event file.

use lambda_troubleshooter::ingest::{LogBatch, LogEvent};

/// One event per line in `log_group`, with ids 1, 2, … and timestamps a second apart.
pub fn batch(log_group: &str, lines: &[&str]) -> LogBatch {
    LogBatch {
        owner: "123456789012".into(),
        log_group: log_group.into(),
        log_stream: "2024/03/04/[$LATEST]0123456789abcdef".into(),
        message_type: "DATA_MESSAGE".into(),
        policy_level: None,
        subscription_filters: vec![],
        log_events: lines
            .iter()
            .enumerate()
            .map(|(i, line)| LogEvent {
                id: format!("{:056}", i + 1).into(),
                timestamp: 1_709_572_958_000 + i as i64 * 1000,
                message: format!("{line}\n").into(),
            })
            .collect(),
    }
}
