//! When an invocation runs and how long it has ([`Deadline`], what the caller gives), and the
//! times it keeps to from that ([`Cut`]): when the publisher must stop, when a publisher that
//! did not stop is abandoned, by when the claims of what was not delivered are released, and
//! the safety net for a stage that hangs.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::DEADLINE_MARGIN;

/// When an invocation runs, and how long it has: what [`super::Troubleshooter::handle`] is
/// given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// Now, since the Unix epoch: the time flood control and mutes decide at.
    pub now: Duration,
    /// The time left until the function's timeout; `None` when none is known (local runs,
    /// emulators that give none): then only the publisher's own timeouts bound the invocation.
    pub remaining: Option<Duration>,
}

impl Deadline {
    /// Now by the system clock, with `remaining` until the function's timeout, if known.
    pub fn from_clock(remaining: Option<Duration>) -> Self {
        Self { now: SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default(), remaining }
    }

    /// Now by the system clock, with no deadline.
    pub fn none() -> Self {
        Self::from_clock(None)
    }
}

/// The times an invocation with a deadline keeps to, for a margin `M` ([`DEADLINE_MARGIN`], or
/// all the time left when there is less) before the function's timeout: the publisher stops
/// `M` before it; a publisher that did not stop is abandoned `3M/4` before it; the claims of
/// what was not delivered are released by `M/2` before it; and the whole invocation, should a
/// stage outside the publish hang (the suppression store, enrichment), is stopped `M/4`
/// before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cut {
    /// When the publisher must have stopped.
    pub stop_by: Instant,
    /// When a publisher still running is abandoned, everything it was given undelivered.
    pub abandon_at: Instant,
    /// When releasing claims stops (the rest are retried once stale).
    pub release_by: Instant,
    /// When the whole invocation is stopped: the safety net.
    pub net: Instant,
    /// `M`, in milliseconds, for [`super::HandlerError::Deadline`].
    pub margin_ms: u64,
}

impl Cut {
    /// The times of an invocation that started at `started` with `remaining` left.
    pub fn new(started: Instant, remaining: Duration) -> Self {
        let margin = remaining.min(DEADLINE_MARGIN);
        let end = started + remaining;
        Self {
            stop_by: end - margin,
            abandon_at: end - margin * 3 / 4,
            release_by: end - margin / 2,
            net: end - margin / 4,
            margin_ms: u64::try_from(margin.as_millis()).unwrap_or(u64::MAX),
        }
    }
}
