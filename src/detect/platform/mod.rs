//! Platform records: the lines Lambda itself writes about each invocation, parsed into types.
//!
//! Lambda reports every invocation's outcome in platform lines (`START`, `END`, `REPORT`,
//! `INIT_START`, `INIT_REPORT`, `RESTORE_REPORT`), in old-style failure lines (`Task timed out
//! after`, `RequestId: … Error: Runtime exited …`, `Process exited before completing
//! request`), or, with the JSON log format, in `platform.*` records. The detectors that
//! reason about memory, timeouts and init failures read these typed records instead of
//! matching text, so every format variant is handled once, here.
//!
//! Text fields are recognised by key name in any order, separated by tabs, newlines or runs
//! of spaces (CloudWatch writes tabs, copies of its lines spaces); JSON records follow the telemetry schema
//! (<https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html>).
//!
//! Layout: the record types here; [`PlatformParser`] and the text lines in `text`; the
//! phrases found after a prefix in `prefix`; JSON `platform.*` records in `json`.

mod fields;
mod json;
mod prefix;
mod text;

pub use prefix::{is_prefix, is_prefix_token, looks_like_request_id, netlify_stamp};
pub use text::PlatformParser;

/// How an invocation, init or restore phase ended, as Lambda reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// `success` (JSON only; text lines omit the status on success).
    Success,
    /// `error` (text) or `error` / `failure` (JSON).
    Error,
    /// `timeout`.
    Timeout,
}

impl Status {
    fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "success" => Some(Self::Success),
            "error" | "failure" => Some(Self::Error),
            "timeout" => Some(Self::Timeout),
            _ => None,
        }
    }
}

/// The figures of a `REPORT` line or a `platform.report` record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// The invocation's request id.
    pub request_id: Option<String>,
    /// `Duration`, in milliseconds.
    pub duration_ms: Option<f64>,
    /// `Memory Size`, the configured memory, in MB.
    pub memory_size_mb: Option<u64>,
    /// `Max Memory Used`, in MB.
    pub max_memory_used_mb: Option<u64>,
    /// `Init Duration`, present on on-demand cold starts.
    pub init_duration_ms: Option<f64>,
    /// `Restore Duration`, present on SnapStart restores.
    pub restore_duration_ms: Option<f64>,
    /// `Status` (new-style failures only in text; always in JSON).
    pub status: Option<Status>,
    /// `Error Type`, with `Status: error`.
    pub error_type: Option<String>,
}

impl Report {
    /// True when the invocation used all of its configured memory.
    pub fn at_memory_limit(&self) -> bool {
        matches!((self.max_memory_used_mb, self.memory_size_mb), (Some(used), Some(size)) if size > 0 && used >= size)
    }

    /// Used memory as a share of configured memory, when both are known.
    pub fn memory_ratio(&self) -> Option<f64> {
        match (self.max_memory_used_mb, self.memory_size_mb) {
            (Some(used), Some(size)) if size > 0 => Some(used as f64 / size as f64),
            _ => None,
        }
    }
}

/// Which phase an `INIT_REPORT` describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitPhase {
    /// The regular init phase, limited to 10 seconds on demand.
    Init,
    /// A suppressed init: init re-run inside an invocation, under the function timeout.
    Invoke,
}

impl InitPhase {
    /// The phase a record names (`init`, `invoke`).
    pub(super) fn parse(text: &str) -> Option<Self> {
        match text {
            "init" => Some(Self::Init),
            "invoke" => Some(Self::Invoke),
            _ => None,
        }
    }
}

/// One platform record, from a text line or a JSON record.
#[derive(Debug, Clone, PartialEq)]
pub enum PlatformRecord {
    /// `START RequestId: …` / `platform.start`.
    Start {
        /// The request id.
        request_id: String,
    },
    /// `END RequestId: …`.
    End {
        /// The request id.
        request_id: String,
    },
    /// `REPORT …` / `platform.report`.
    Report(Report),
    /// `platform.runtimeDone`: the runtime's own view of how the invocation ended.
    RuntimeDone {
        /// The request id.
        request_id: Option<String>,
        /// How it ended.
        status: Option<Status>,
        /// The error type, if any.
        error_type: Option<String>,
    },
    /// `INIT_START` / `platform.initStart`: a new execution environment (a cold start).
    InitStart,
    /// `INIT_REPORT` / `platform.initReport` / `platform.initRuntimeDone`.
    InitReport {
        /// `init`, or `invoke` for a suppressed init.
        phase: Option<InitPhase>,
        /// How init ended; absent on success in text.
        status: Option<Status>,
        /// The error type, with `Status: error`.
        error_type: Option<String>,
        /// `Init Duration` in milliseconds, when given.
        init_duration_ms: Option<f64>,
    },
    /// `RESTORE_REPORT` / `platform.restoreReport` (SnapStart).
    RestoreReport {
        /// How the restore ended.
        status: Option<Status>,
        /// The error type, with `Status: error`.
        error_type: Option<String>,
        /// `Restore Duration` in milliseconds.
        restore_duration_ms: Option<f64>,
    },
    /// Old style: `<time> <request id> Task timed out after 3.00 seconds`.
    TaskTimedOut {
        /// The request id, when the line carries one.
        request_id: Option<String>,
        /// The configured timeout, in seconds.
        seconds: f64,
    },
    /// Old style: `RequestId: <id> Error: Runtime exited …`, also without the request id.
    RuntimeExited {
        /// The request id, when the line carries one.
        request_id: Option<String>,
        /// `signal: killed`, `exit status 1`, or `without providing a reason`.
        reason: String,
    },
    /// Old style: `RequestId: <id> Process exited before completing request`.
    ProcessExited {
        /// The request id, when the line carries one.
        request_id: Option<String>,
    },
}

#[cfg(test)]
mod tests;
