//! One invocation as the platform reported it, and what that means: [`classify`] is the
//! decision a Lambda expert makes from an invocation's REPORT, failure lines and status (out
//! of memory, timeout, cold-start timeout, runtime exit, memory pressure), as a pure function
//! tested on a table of real request shapes.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::detect::platform::{Report, Status};
use crate::rules::Detector;

/// A successful invocation at or above this share of its memory is memory pressure.
pub const MEMORY_PRESSURE_RATIO: f64 = 0.9;
/// A runtime killed with its REPORT below this share of its memory was not killed by the
/// memory limit. Max Memory Used is a sampled peak, and a burst can be killed before it is
/// sampled, so only a REPORT well below the limit rules the memory out.
pub const KILLED_WELL_BELOW_RATIO: f64 = 0.5;
/// A failed (timed-out, errored, killed) invocation at or above this share of its memory hit
/// the limit: Max Memory Used is a sampled peak and often stops a megabyte or two short of
/// it (DataDog/datadog-lambda-extension#1237: 127 of 128 MB, 252-254 of 256 MB, then a
/// timeout).
pub const FAILED_AT_LIMIT_RATIO: f64 = 0.98;

/// Something the platform said, and the event that said it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct At<T> {
    pub(super) event: usize,
    pub(super) said: T,
}

/// `platform.runtimeDone`: the runtime's own view of how the invocation ended.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct RuntimeDone {
    pub(super) status: Option<Status>,
    pub(super) error_type: Option<String>,
}

/// What the platform said about one invocation.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Invocation {
    /// A new execution environment served it (INIT_START, `Init Duration`, a suppressed init).
    pub(super) cold_start: bool,
    /// The execution environment (counted by INIT_START in the batch) that served it.
    pub(super) epoch: usize,
    pub(super) init_duration_ms: Option<f64>,
    /// Boxed: most invocations of a storm have none in the batch, and an inline REPORT would
    /// double the size of every invocation kept.
    pub(super) report: Option<Box<At<Report>>>,
    /// `Task timed out after N seconds`: the configured timeout.
    pub(super) timed_out_after: Option<At<f64>>,
    pub(super) runtime_done: Option<At<RuntimeDone>>,
    /// `Runtime exited …`: the reason (`signal: killed`, `exit status 1`, …).
    pub(super) exited: Option<At<String>>,
    /// `Process exited before completing request`.
    pub(super) process_exited: Option<usize>,
}

/// What else the batch says about an invocation, besides its platform records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Context {
    /// A runtime's own out-of-memory text was seen for it.
    pub(super) oom_text: bool,
    /// A start-up failure or a crash was already found for it (its exit needs no finding).
    pub(super) startup_or_crash_found: bool,
    /// A suppressed init inside it timed out (the init timeout explains its timeout).
    pub(super) suppressed_init_timed_out: bool,
}

impl Invocation {
    /// Takes what `other` knows and this one does not (the same invocation, seen twice).
    pub(super) fn merge(&mut self, other: Invocation) {
        self.cold_start |= other.cold_start;
        self.epoch = self.epoch.max(other.epoch);
        self.init_duration_ms = self.init_duration_ms.or(other.init_duration_ms);
        self.report = self.report.take().or(other.report);
        self.timed_out_after = self.timed_out_after.take().or(other.timed_out_after);
        self.runtime_done = self.runtime_done.take().or(other.runtime_done);
        self.exited = self.exited.take().or(other.exited);
        self.process_exited = self.process_exited.or(other.process_exited);
    }

    pub(super) fn report(&self) -> Option<&Report> {
        self.report.as_ref().map(|at| &at.said)
    }

    pub(super) fn status(&self) -> Option<Status> {
        self.report().and_then(|r| r.status).or_else(|| self.runtime_done.as_ref().and_then(|at| at.said.status))
    }

    pub(super) fn error_type(&self) -> Option<&str> {
        self.report()
            .and_then(|r| r.error_type.as_deref())
            .or_else(|| self.runtime_done.as_ref().and_then(|at| at.said.error_type.as_deref()))
    }

    pub(super) fn timed_out(&self) -> bool {
        self.timed_out_after.is_some() || self.status() == Some(Status::Timeout)
    }

    pub(super) fn crashed(&self) -> bool {
        self.exited.is_some() || self.process_exited.is_some() || self.error_type() == Some("Runtime.ExitError")
    }

    pub(super) fn failed(&self) -> bool {
        self.timed_out() || self.crashed() || self.status() == Some(Status::Error)
    }

    /// Completed with a report and no failure of any kind.
    pub(super) fn succeeded(&self) -> bool {
        self.report.is_some() && !self.failed()
    }

    /// Every event that shows the outcome, in batch order: failure lines and the REPORT.
    pub(super) fn outcome_events(&self) -> Vec<usize> {
        let mut events: Vec<usize> = [
            self.timed_out_after.as_ref().map(|at| at.event),
            self.exited.as_ref().map(|at| at.event),
            self.process_exited,
            self.runtime_done.as_ref().map(|at| at.event),
            self.report.as_ref().map(|at| at.event),
        ]
        .into_iter()
        .flatten()
        .collect();
        events.sort_unstable();
        events
    }

    /// The runtime was killed (SIGKILL), not exited on its own.
    ///
    /// `Process exited before completing request`, the older wording, is not a kill: runtimes
    /// printed it for a crash, an exit and an out-of-memory stop alike
    /// (<https://dashbird.io/docs/best-practices-and-common-use-cases/lambda-errors-runtime-agnostic/>),
    /// so it is a crash unless memory says otherwise, a REPORT at the limit.
    fn killed(&self) -> bool {
        self.exited.as_ref().is_some_and(|at| is_kill(&at.said))
    }

    /// Out of memory: a runtime's own text; `Runtime.OutOfMemory`; a REPORT at the limit
    /// whatever its status (AWS's curated query `@maxMemoryUsed=@memorySize`,
    /// <https://serverlessland.com/content/service/lambda/guides/aws-lambda-operator-guide/useful-queries>),
    /// or within 2% of it for a failed invocation; a kill of the runtime unless the REPORT shows
    /// memory well below the limit (`signal: killed`, or exit 137 as in aws/aws-lambda-dotnet#480).
    fn out_of_memory(&self, context: Context) -> bool {
        let report = self.report();
        let well_below = report.and_then(Report::memory_ratio).is_some_and(|r| r < KILLED_WELL_BELOW_RATIO);
        let failed_near_limit =
            self.failed() && report.and_then(Report::memory_ratio).is_some_and(|r| r >= FAILED_AT_LIMIT_RATIO);
        context.oom_text
            || self.error_type() == Some("Runtime.OutOfMemory")
            || report.is_some_and(Report::at_memory_limit)
            || failed_near_limit
            || (self.killed() && !well_below)
    }
}

/// What an invocation's platform records mean: the detector that reports it, with its
/// details, or `None` when nothing is wrong (or something else already explains it).
pub(super) fn classify(invocation: &Invocation, context: Context) -> Option<(Detector, BTreeMap<String, Value>)> {
    let report = invocation.report();
    let mut details = memory_details(report);
    if let Some(error_type) = invocation.error_type() {
        details.insert("error_type".into(), json!(error_type));
    }
    if let Some(at) = &invocation.exited {
        details.insert("exit_reason".into(), json!(at.said));
    }
    if invocation.out_of_memory(context) {
        let reported_as = if invocation.timed_out() {
            "timeout"
        } else if invocation.crashed() {
            "runtime exit"
        } else if invocation.failed() || context.oom_text {
            "error"
        } else {
            "no error status"
        };
        details.insert("reported_as".into(), json!(reported_as));
        if let Some(status) = invocation.status() {
            details.insert("status".into(), json!(status_name(status)));
        }
        return Some((Detector::OutOfMemory, details));
    }
    if invocation.timed_out() {
        return (!context.suppressed_init_timed_out).then(|| timeout(invocation));
    }
    if invocation.crashed() {
        if context.startup_or_crash_found {
            return None;
        }
        if !details.contains_key("exit_reason") {
            details.insert("exit_reason".into(), json!("process exited before completing the request"));
        }
        details.retain(|k, _| Detector::RuntimeExit.detail_names().contains(&k.as_str()));
        return Some((Detector::RuntimeExit, details));
    }
    let pressure = report.and_then(Report::memory_ratio).is_some_and(|r| r >= MEMORY_PRESSURE_RATIO);
    (invocation.succeeded() && pressure).then_some((Detector::MemoryPressure, details))
}

fn timeout(invocation: &Invocation) -> (Detector, BTreeMap<String, Value>) {
    let report = invocation.report();
    let detector = if invocation.cold_start { Detector::ColdStartTimeout } else { Detector::Timeout };
    let seconds = invocation
        .timed_out_after
        .as_ref()
        .map(|at| at.said)
        .or_else(|| report.and_then(|r| r.duration_ms).map(|ms| (ms / 1000.0 * 100.0).round() / 100.0));
    let mut details = BTreeMap::new();
    if let Some(seconds) = seconds {
        details.insert("timeout_seconds".into(), json!(seconds));
    }
    if let Some(ms) = report.and_then(|r| r.duration_ms) {
        details.insert("duration_ms".into(), json!(ms));
    }
    details.insert("cold_start".into(), json!(invocation.cold_start));
    if let Some(ms) = invocation.init_duration_ms {
        details.insert("init_duration_ms".into(), json!(ms));
    }
    details.extend(memory_details(report).into_iter().filter(|(k, _)| k.ends_with("_mb")));
    (detector, details)
}

/// A kill of the runtime process: `signal: killed` (SIGKILL) or `exit status 137` (128 + 9).
fn is_kill(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    reason.contains("signal: killed") || reason.contains("exit status 137") || reason.contains("signal: 9")
}

pub(super) fn status_name(status: Status) -> &'static str {
    match status {
        Status::Success => "success",
        Status::Error => "error",
        Status::Timeout => "timeout",
    }
}

fn memory_details(report: Option<&Report>) -> BTreeMap<String, Value> {
    let mut details = BTreeMap::new();
    let Some(report) = report else { return details };
    if let Some(size) = report.memory_size_mb {
        details.insert("memory_size_mb".into(), json!(size));
    }
    if let Some(used) = report.max_memory_used_mb {
        details.insert("max_memory_used_mb".into(), json!(used));
    }
    if let Some(ratio) = report.memory_ratio() {
        details.insert("memory_used_percent".into(), json!((ratio * 100.0).round() as u64));
    }
    if let Some(ms) = report.duration_ms {
        details.insert("duration_ms".into(), json!(ms));
    }
    details
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::platform::PlatformParser;

    /// An invocation from the platform lines of one request, as the scan would gather them.
    fn invocation(lines: &[&str]) -> Invocation {
        let parser = PlatformParser::new();
        let mut invocation = Invocation::default();
        for (event, line) in lines.iter().enumerate() {
            use crate::detect::platform::PlatformRecord as R;
            match parser.parse(line) {
                Some(R::Report(report)) => {
                    invocation.cold_start |= report.init_duration_ms.is_some();
                    invocation.init_duration_ms = report.init_duration_ms;
                    invocation.report = Some(Box::new(At { event, said: report }));
                }
                Some(R::TaskTimedOut { seconds, .. }) => invocation.timed_out_after = Some(At { event, said: seconds }),
                Some(R::RuntimeExited { reason, .. }) => invocation.exited = Some(At { event, said: reason }),
                Some(R::ProcessExited { .. }) => invocation.process_exited = Some(event),
                Some(R::RuntimeDone { status, error_type, .. }) => {
                    invocation.runtime_done = Some(At { event, said: RuntimeDone { status, error_type } });
                }
                other => panic!("not an invocation record: {line} ({other:?})"),
            }
        }
        invocation
    }

    #[test]
    fn real_request_shapes_and_what_they_mean() {
        use Detector::*;
        let none = Context::default();
        let oom_text = Context { oom_text: true, ..Context::default() };
        /// (platform lines of one request, context, expected detector, expected `reported_as`)
        type Case<'a> = (&'a [&'a str], Context, Option<Detector>, Option<&'a str>);
        #[rustfmt::skip]
        let table: &[Case] = &[
            // New style (nasa-gcn/gcn.nasa.gov#3628): Runtime.OutOfMemory, at the limit.
            (&["REPORT RequestId: 1c2d\tDuration: 812.40 ms\tBilled Duration: 813 ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB\tStatus: error\tError Type: Runtime.OutOfMemory"], none, Some(OutOfMemory), Some("error")),
            // Runtime.OutOfMemory below the limit (a real JSON report: 125 of 128 MB).
            (&[r#"{"time":"2024-12-30T23:20:29.823Z","type":"platform.report","record":{"requestId":"671dc475","metrics":{"durationMs":32973.233,"billedDurationMs":32974,"memorySizeMB":128,"maxMemoryUsedMB":125},"status":"error","errorType":"Runtime.OutOfMemory"}}"#], none, Some(OutOfMemory), Some("error")),
            // An OOM reported only as a timeout, at the limit (DataDog/datadog-lambda-extension#1237).
            (&["REPORT RequestId: 514789fd\nDuration: 180000.00 ms\nBilled Duration: 180000 ms\nMemory Size: 192 MB\nMax Memory Used: 192 MB\nStatus: timeout"], none, Some(OutOfMemory), Some("timeout")),
            // signal: killed with no REPORT, and with a REPORT at the limit.
            (&["RequestId: 2ea49a23 Error: Runtime exited with error: signal: killed\nRuntime.ExitError"], none, Some(OutOfMemory), Some("runtime exit")),
            (&["RequestId: 2ea49a23 Error: Runtime exited with error: signal: killed", "REPORT RequestId: 2ea49a23\tDuration: 3012.11 ms\tBilled Duration: 3013 ms\tMemory Size: 512 MB\tMax Memory Used: 512 MB"], none, Some(OutOfMemory), Some("runtime exit")),
            // A kill far below the memory limit is not the memory limit.
            (&["RequestId: 2ea49a23 Error: Runtime exited with error: signal: killed", "REPORT RequestId: 2ea49a23\tDuration: 3012.11 ms\tBilled Duration: 3013 ms\tMemory Size: 512 MB\tMax Memory Used: 40 MB"], none, Some(RuntimeExit), None),
            // A REPORT at the limit with no failure status (AWS's curated OOM query).
            (&["REPORT RequestId: 6234bffe\tDuration: 46.84 ms\tBilled Duration: 47 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB"], none, Some(OutOfMemory), Some("no error status")),
            // A timeout within 2% of the limit (DataDog/datadog-lambda-extension#1237, a REPORT pasted without its head).
            (&["Memory Size: 128 MB\nMax Memory Used: 127 MB\nStatus: timeout"], none, Some(OutOfMemory), Some("timeout")),
            // A success near the limit is pressure, not a kill.
            (&["REPORT RequestId: 6234bffe\tDuration: 46.84 ms\tBilled Duration: 47 ms\tMemory Size: 128 MB\tMax Memory Used: 127 MB"], none, Some(MemoryPressure), None),
            // A runtime's OOM text beside an ordinary REPORT.
            (&["REPORT RequestId: 6234bffe\tDuration: 46.84 ms\tBilled Duration: 47 ms\tMemory Size: 1024 MB\tMax Memory Used: 700 MB"], oom_text, Some(OutOfMemory), Some("error")),
            // Timeouts: old style, new style, JSON, warm and cold.
            (&["2024-03-04T17:22:38.033Z b70435cc Task timed out after 3.00 seconds", "REPORT RequestId: b70435cc Duration: 3004.92 ms Billed Duration: 3117 ms Memory Size: 128 MB Max Memory Used: 33 MB Init Duration: 111.23 ms"], none, Some(ColdStartTimeout), None),
            (&["REPORT RequestId: 527cb862 Duration: 3016.78 ms Billed Duration: 3101 ms Memory Size: 128 MB Max Memory Used: 31 MB Status: timeout"], none, Some(Timeout), None),
            (&[r#"{"time":"2026-07-09T06:05:50.562Z","type":"platform.runtimeDone","record":{"requestId":"aec7a529","status":"timeout","metrics":{"durationMs":5001.182}}}"#], none, Some(Timeout), None),
            // A timeout the suppressed init inside it already explains.
            (&["REPORT RequestId: 527cb862 Duration: 3016.78 ms Billed Duration: 3101 ms Memory Size: 128 MB Max Memory Used: 31 MB Status: timeout"], Context { suppressed_init_timed_out: true, ..none }, None, None),
            // `Process exited before completing request`: a crash unless memory says otherwise.
            // Alone, or with a REPORT well below or between, a crash; with a REPORT
            // at the limit (or within 2% of it), out of memory.
            (&["RequestId: 0f83acda-87fa-4d37-92e7-2208f799fb33 Process exited before completing request"], none, Some(RuntimeExit), None),
            (&["REPORT RequestId: 18fea243\tDuration: 99.90 ms\tBilled Duration: 100 ms \tMemory Size: 128 MB\tMax Memory Used: 33 MB\t", "RequestId: 18fea243 Process exited before completing request"], none, Some(RuntimeExit), None),
            (&["REPORT RequestId: 18fea243\tDuration: 99.90 ms\tBilled Duration: 100 ms \tMemory Size: 128 MB\tMax Memory Used: 100 MB\t", "RequestId: 18fea243 Process exited before completing request"], none, Some(RuntimeExit), None),
            (&["REPORT RequestId: b86c93c6\tDuration: 122204.28 ms\tBilled Duration: 122300 ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB", "RequestId: b86c93c6 Process exited before completing request"], none, Some(OutOfMemory), Some("runtime exit")),
            (&["REPORT RequestId: b86c93c6\tDuration: 122204.28 ms\tBilled Duration: 122300 ms\tMemory Size: 128 MB\tMax Memory Used: 127 MB", "RequestId: b86c93c6 Process exited before completing request"], none, Some(OutOfMemory), Some("runtime exit")),
            (&["RequestId: 0f83acda-87fa-4d37-92e7-2208f799fb33 Process exited before completing request"], oom_text, Some(OutOfMemory), Some("runtime exit")),
            // Crashes: old style, new style, and one an import error already explains.
            (&["RequestId: c3252230 Error: Runtime exited without providing a reason\nRuntime.ExitError", "REPORT RequestId: c3252230 Duration: 933.59 ms Billed Duration: 934 ms Memory Size: 128 MB Max Memory Used: 9 MB"], none, Some(RuntimeExit), None),
            (&["REPORT RequestId: 5b866fb1 Duration: 133.61 ms Billed Duration: 214 ms Memory Size: 128 MB Max Memory Used: 31 MB Init Duration: 80.00 ms Status: error Error Type: Runtime.ExitError"], none, Some(RuntimeExit), None),
            (&["REPORT RequestId: 5b866fb1 Duration: 133.61 ms Billed Duration: 214 ms Memory Size: 128 MB Max Memory Used: 31 MB Status: error Error Type: Runtime.ExitError"], Context { startup_or_crash_found: true, ..none }, None, None),
            // Memory pressure on success; nothing on an ordinary success.
            (&["REPORT RequestId: 6234bffe\tDuration: 46.84 ms\tBilled Duration: 47 ms\tMemory Size: 128 MB\tMax Memory Used: 121 MB\t"], none, Some(MemoryPressure), None),
            (&["REPORT RequestId: 6234bffe\tDuration: 46.84 ms\tBilled Duration: 47 ms \tMemory Size: 192 MB\tMax Memory Used: 72 MB\t\n"], none, None, None),
        ];
        for (lines, context, expected, reported_as) in table {
            let found = classify(&invocation(lines), *context);
            assert_eq!(found.as_ref().map(|(d, _)| *d), *expected, "{lines:?}");
            if let Some(reported_as) = reported_as {
                assert_eq!(found.unwrap().1["reported_as"], *reported_as, "{lines:?}");
            }
        }
    }
}
