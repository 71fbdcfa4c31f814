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
//! of spaces (LOG-FORMATS.md 2.1–2.5); JSON records follow the telemetry schema
//! (<https://docs.aws.amazon.com/lambda/latest/dg/telemetry-schema-reference.html>).

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use serde::Deserialize;

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

/// The `Key:` names of text platform lines. Longer keys that contain shorter ones are listed
/// so that leftmost-longest matching never mistakes `Billed Duration` for `Duration`.
const FIELD_KEYS: &[&str] = &[
    "RequestId:",
    "Duration:",
    "Billed Duration:",
    "Memory Size:",
    "Max Memory Used:",
    "Init Duration:",
    "Restore Duration:",
    "Billed Restore Duration:",
    "Status:",
    "Error Type:",
    "Phase:",
    "Version:",
    "Runtime Version:",
    "Runtime Version ARN:",
];

/// Parses platform records; build once and reuse (it owns a compiled automaton).
#[derive(Debug, Clone)]
pub struct PlatformParser {
    keys: AhoCorasick,
    /// The platform phrases that can appear after a prefix ([`PHRASES`]), in one automaton.
    phrases: AhoCorasick,
    /// `str::find` builds a searcher on every call; this one is built once.
    platform_type: memchr::memmem::Finder<'static>,
}

impl Default for PlatformParser {
    fn default() -> Self {
        Self::new()
    }
}

/// The fields of one text platform line, by key.
#[derive(Default)]
struct Fields<'a> {
    values: [Option<&'a str>; FIELD_KEYS.len()],
}

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a str> {
        let index = FIELD_KEYS.iter().position(|k| k.trim_end_matches(':') == key)?;
        self.values[index]
    }

    fn number(&self, key: &str) -> Option<f64> {
        self.get(key)?.parse().ok()
    }

    fn megabytes(&self, key: &str) -> Option<u64> {
        self.get(key)?.parse().ok()
    }
}

impl PlatformParser {
    /// Builds the parser.
    ///
    /// # Panics
    ///
    /// Never: the automaton is built from the constant key list above, tested below.
    #[allow(clippy::expect_used)]
    pub fn new() -> Self {
        let keys = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(FIELD_KEYS)
            .expect("constant platform keys always compile");
        // Searched only in messages the anchor pass saw a phrase in: an NFA, cheap to build.
        let phrases = AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .match_kind(MatchKind::LeftmostFirst)
            .build(PHRASES.iter().map(|(text, _)| text))
            .expect("constant platform phrases always compile");
        Self { keys, phrases, platform_type: memchr::memmem::Finder::new(PLATFORM_TYPE) }
    }

    /// Parses one log message; `None` when it is not a platform record.
    ///
    /// A record is recognised at the start of the message, or after a prefix that only
    /// timestamps, log stream names, request ids (or their placeholders), levels such as
    /// `[ERROR]` and `Error:` make up ([`is_prefix`]): the shapes runtimes, `sam logs`,
    /// `aws logs tail` and console copies print. Anything else before the phrase (`INFO the
    /// upstream said: Task timed out…`) is an application quoting it, not the platform.
    pub fn parse(&self, message: &str) -> Option<PlatformRecord> {
        self.parse_start(message).or_else(|| self.parse_embedded(message))
    }

    /// The record of a message that starts with it: a keyword line (`REPORT`, `START`, …) or
    /// a JSON `platform.*` record. Cheap: it looks at the first bytes, and searches JSON for
    /// `"platform.` only.
    pub fn parse_start(&self, message: &str) -> Option<PlatformRecord> {
        let line = message.trim_start();
        if line.starts_with('{') {
            return if self.platform_type.find(line.as_bytes()).is_some() { parse_json(line) } else { None };
        }
        self.keyword_record(line)
    }

    /// The record of a platform phrase inside a text message, after a prefix that
    /// [`is_prefix`] accepts. Call it when the message holds a phrase ([`PLATFORM_PHRASES`](crate::rules::PLATFORM_PHRASES)).
    pub fn parse_embedded(&self, message: &str) -> Option<PlatformRecord> {
        let line = message.trim_start();
        if line.starts_with('{') { None } else { self.embedded(line) }
    }

    /// The record of a line that starts with its keyword (`REPORT`, `START`, …).
    fn keyword_record(&self, line: &str) -> Option<PlatformRecord> {
        match line.as_bytes().first()? {
            b'S' if line.starts_with("START ") => {
                let fields = self.fields(&line[5..]);
                Some(PlatformRecord::Start { request_id: fields.get("RequestId")?.to_owned() })
            }
            b'E' if line.starts_with("END ") => {
                let fields = self.fields(&line[3..]);
                Some(PlatformRecord::End { request_id: fields.get("RequestId")?.to_owned() })
            }
            b'R' if line.starts_with("REPORT ") => Some(self.report(&line[6..])),
            b'R' if line.starts_with("RESTORE_REPORT") => {
                let fields = self.fields(&line[14..]);
                Some(PlatformRecord::RestoreReport {
                    status: fields.get("Status").and_then(Status::parse),
                    error_type: fields.get("Error Type").map(str::to_owned),
                    restore_duration_ms: fields.number("Restore Duration"),
                })
            }
            b'I' if line.starts_with("INIT_START") => Some(PlatformRecord::InitStart),
            b'I' if line.starts_with("INIT_REPORT") => {
                let fields = self.fields(&line[11..]);
                Some(PlatformRecord::InitReport {
                    phase: fields.get("Phase").and_then(parse_phase),
                    status: fields.get("Status").and_then(Status::parse),
                    error_type: fields.get("Error Type").map(str::to_owned),
                    init_duration_ms: fields.number("Init Duration"),
                })
            }
            _ => None,
        }
    }

    /// A platform phrase inside the message, after an acceptable prefix on its line.
    fn embedded(&self, message: &str) -> Option<PlatformRecord> {
        for found in self.phrases.find_iter(message) {
            let line_start = message[..found.start()].rfind('\n').map_or(0, |at| at + 1);
            let line_end = message[found.start()..].find('\n').map_or(message.len(), |at| found.start() + at);
            let prefix = &message[line_start..found.start()];
            let phrase = &message[found.start()..line_end];
            let record = match PHRASES[found.pattern().as_usize()].1 {
                Phrase::HeadlessReport => self.headless_report(message),
                _ if !is_prefix(prefix) => None,
                Phrase::Keyword => self.keyword_record(phrase),
                Phrase::TaskTimedOut => task_timed_out(prefix, phrase),
                Phrase::RuntimeExited => runtime_exited(&self.fields(prefix), phrase),
                Phrase::ProcessExited => {
                    Some(PlatformRecord::ProcessExited { request_id: request_id_of(&self.fields(prefix), prefix) })
                }
            };
            if record.is_some() {
                return record;
            }
        }
        None
    }

    /// A REPORT copied without its `REPORT RequestId:` head: the message starts (after a
    /// prefix) with one of the REPORT's keys and has both memory figures.
    fn headless_report(&self, message: &str) -> Option<PlatformRecord> {
        let mut rest = message.trim_start();
        while let Some((token, after)) = rest.split_once(char::is_whitespace) {
            if FIELD_KEYS.iter().any(|key| rest.starts_with(key)) || !is_prefix_token(token) {
                break;
            }
            rest = after.trim_start();
        }
        if !FIELD_KEYS.iter().any(|key| rest.starts_with(key)) {
            return None;
        }
        match self.report(rest) {
            PlatformRecord::Report(report)
                if report.memory_size_mb.is_some() && report.max_memory_used_mb.is_some() =>
            {
                Some(PlatformRecord::Report(report))
            }
            _ => None,
        }
    }

    fn fields<'a>(&self, text: &'a str) -> Fields<'a> {
        let mut fields = Fields::default();
        let bytes = text.as_bytes();
        for found in self.keys.find_iter(text) {
            let at_boundary = found.start() == 0 || bytes[found.start() - 1].is_ascii_whitespace();
            if !at_boundary {
                continue;
            }
            let rest = text[found.end()..].trim_start();
            let value = rest.split(|c: char| c.is_whitespace()).next().unwrap_or("");
            let slot = &mut fields.values[found.pattern().as_usize()];
            if slot.is_none() && !value.is_empty() {
                *slot = Some(value);
            }
        }
        fields
    }

    fn report(&self, text: &str) -> PlatformRecord {
        let fields = self.fields(text);
        PlatformRecord::Report(Report {
            request_id: fields.get("RequestId").map(str::to_owned),
            duration_ms: fields.number("Duration"),
            memory_size_mb: fields.megabytes("Memory Size"),
            max_memory_used_mb: fields.megabytes("Max Memory Used"),
            init_duration_ms: fields.number("Init Duration"),
            restore_duration_ms: fields.number("Restore Duration"),
            status: fields.get("Status").and_then(Status::parse),
            error_type: fields.get("Error Type").map(str::to_owned),
        })
    }
}

fn parse_phase(text: &str) -> Option<InitPhase> {
    match text {
        "init" => Some(InitPhase::Init),
        "invoke" => Some(InitPhase::Invoke),
        _ => None,
    }
}

/// Every JSON platform record has a `"type":"platform.…"`.
const PLATFORM_TYPE: &str = "\"platform.";

/// What a phrase of [`PHRASES`] introduces.
#[derive(Debug, Clone, Copy)]
enum Phrase {
    /// A keyword line (`REPORT RequestId:`, `INIT_REPORT`, …) after a prefix.
    Keyword,
    /// `Task timed out after N seconds`.
    TaskTimedOut,
    /// `Runtime exited with error: …` / `Runtime exited without providing a reason`.
    RuntimeExited,
    /// `Process exited before completing request`.
    ProcessExited,
    /// `Max Memory Used:` of a REPORT copied without its head.
    HeadlessReport,
}

/// Platform phrases recognised after a prefix (LOG-FORMATS.md 2.1-2.5), in the order of
/// [`PLATFORM_PHRASES`](crate::rules::PLATFORM_PHRASES), which the catalog's anchor pass looks for (a test keeps them equal).
const PHRASES: &[(&str, Phrase)] = &[
    ("Task timed out after ", Phrase::TaskTimedOut),
    ("Runtime exited ", Phrase::RuntimeExited),
    ("Process exited before completing request", Phrase::ProcessExited),
    ("REPORT RequestId:", Phrase::Keyword),
    ("START RequestId:", Phrase::Keyword),
    ("END RequestId:", Phrase::Keyword),
    ("INIT_REPORT ", Phrase::Keyword),
    ("INIT_START ", Phrase::Keyword),
    ("RESTORE_REPORT ", Phrase::Keyword),
    ("Max Memory Used:", Phrase::HeadlessReport),
];

/// `Task timed out after 3.00 seconds`, after a prefix that [`is_prefix`] accepted:
/// `<time> <id> `, `RequestId: <id> Error: `, a bare timestamp, or nothing. Text after
/// `seconds` other than punctuation or an error type means the line is about something else.
fn task_timed_out(prefix: &str, phrase: &str) -> Option<PlatformRecord> {
    let mut words = phrase["Task timed out after ".len()..].split_whitespace();
    let seconds = words.next()?.parse().ok()?;
    if !words.next()?.starts_with("second") || !words.all(is_trailer_token) {
        return None;
    }
    let request_id = prefix.split_whitespace().rev().find(|t| looks_like_request_id(t)).map(str::to_owned);
    Some(PlatformRecord::TaskTimedOut { request_id, seconds })
}

/// `Runtime exited with error: signal: killed`, the reason cut before the error type, which
/// follows after a newline, a tab or a space in copies.
fn runtime_exited(prefix_fields: &Fields<'_>, phrase: &str) -> Option<PlatformRecord> {
    let reason = phrase["Runtime exited".len()..].trim_start();
    let reason = reason.strip_prefix("with error:").unwrap_or(reason).trim_start();
    let reason = reason.split(['\n', '\t', '"']).next().unwrap_or("");
    let reason = reason.split(" Runtime.").next().unwrap_or("").trim().trim_end_matches(['.', ',']);
    if reason.is_empty() {
        return None;
    }
    let request_id = prefix_fields.get("RequestId").map(str::to_owned);
    Some(PlatformRecord::RuntimeExited { request_id, reason: reason.to_owned() })
}

fn request_id_of(fields: &Fields<'_>, prefix: &str) -> Option<String> {
    fields
        .get("RequestId")
        .or_else(|| prefix.split_whitespace().rev().find(|t| looks_like_request_id(t)))
        .map(str::to_owned)
}

/// True when `prefix` (the text before a platform phrase on its line) holds only what
/// runtimes and log tools put there; see [`is_prefix_token`].
pub fn is_prefix(prefix: &str) -> bool {
    let mut after_request_id = false;
    prefix.split_whitespace().all(|token| {
        // Whatever follows `RequestId:` is the id, however short (`RequestId: 1c2d`).
        let ok = after_request_id || is_prefix_token(token);
        after_request_id = token.eq_ignore_ascii_case("RequestId:");
        ok
    })
}

/// A token runtimes and log tools print before a platform phrase: a timestamp
/// (`2024-03-04T17:22:38.033Z`, `2019/07/18`, `12:00:00,123`, `(+00:00)`), a log stream name
/// (`2024/03/04/[$LATEST]94fa…`), a request id or a placeholder for one (`undefined`,
/// `<request-id>`, `xxxxxxxx-xxxx-…`, a shortened `d440b814-…`), a level (`ERROR`,
/// `[ERROR]`, `FATAL`), `RequestId:`, `Error:`, or an error type (`Runtime.ExitError`).
pub fn is_prefix_token(token: &str) -> bool {
    let bare = token.trim_matches(|c: char| matches!(c, '[' | ']' | '(' | ')' | ':' | ',' | ';' | '|'));
    let bare = bare.trim_end_matches('…').trim_end_matches("...");
    if bare.is_empty() {
        return true;
    }
    let lower = bare.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "requestid"
            | "request_id"
            | "error"
            | "err"
            | "fatal"
            | "critical"
            | "undefined"
            | "null"
            | "none"
            | "-"
            | "utc"
            | "gmt"
    ) {
        return true;
    }
    let first = bare.as_bytes()[0];
    let timestamp = (first.is_ascii_digit() || first == b'+')
        && (bare.bytes().all(|b| b.is_ascii_digit() || b"-:T.Z+/,_".contains(&b)) || bare.contains("/["));
    let placeholder = (bare.starts_with('<') && bare.ends_with('>'))
        || (bare.starts_with('{') && bare.ends_with('}'))
        || (bare.contains('-') && bare.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-' || b == b'x' || b == b'X'));
    let error_type = ["Runtime.", "Sandbox.", "Function.", "Extension."].iter().any(|p| bare.starts_with(p));
    // A shortened request id in a copy (`b70435cc`): hex, at least 8 digits.
    let short_id = bare.len() >= 8 && bare.bytes().all(|b| b.is_ascii_hexdigit());
    timestamp || placeholder || error_type || short_id || looks_like_request_id(bare)
}

/// After `seconds`: nothing, punctuation, or an error type (`Sandbox.Timedout`).
fn is_trailer_token(token: &str) -> bool {
    token.bytes().all(|b| b.is_ascii_punctuation()) || is_prefix_token(token)
}

/// A request id is a UUID-like token of hex digits and dashes.
pub fn looks_like_request_id(token: &str) -> bool {
    token.len() >= 4 && token.contains('-') && token.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

#[derive(Deserialize)]
struct JsonPlatform {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    record: JsonRecord,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonRecord {
    request_id: Option<String>,
    status: Option<String>,
    error_type: Option<String>,
    phase: Option<String>,
    metrics: Option<JsonMetrics>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonMetrics {
    #[serde(rename = "durationMs")]
    duration_ms: Option<f64>,
    #[serde(rename = "memorySizeMB")]
    memory_size_mb: Option<u64>,
    #[serde(rename = "maxMemoryUsedMB")]
    max_memory_used_mb: Option<u64>,
    #[serde(rename = "initDurationMs")]
    init_duration_ms: Option<f64>,
    #[serde(rename = "restoreDurationMs")]
    restore_duration_ms: Option<f64>,
}

fn parse_json(line: &str) -> Option<PlatformRecord> {
    let parsed: JsonPlatform = serde_json::from_str(line.trim_end()).ok()?;
    let record = parsed.record;
    let status = record.status.as_deref().and_then(Status::parse);
    let metrics = record.metrics.unwrap_or_default();
    Some(match parsed.kind.as_str() {
        "platform.start" => PlatformRecord::Start { request_id: record.request_id? },
        "platform.report" => PlatformRecord::Report(Report {
            request_id: record.request_id,
            duration_ms: metrics.duration_ms,
            memory_size_mb: metrics.memory_size_mb,
            max_memory_used_mb: metrics.max_memory_used_mb,
            init_duration_ms: metrics.init_duration_ms,
            restore_duration_ms: metrics.restore_duration_ms,
            status,
            error_type: record.error_type,
        }),
        "platform.runtimeDone" => {
            PlatformRecord::RuntimeDone { request_id: record.request_id, status, error_type: record.error_type }
        }
        "platform.initStart" => PlatformRecord::InitStart,
        "platform.initReport" | "platform.initRuntimeDone" => PlatformRecord::InitReport {
            phase: record.phase.as_deref().and_then(parse_phase),
            status,
            error_type: record.error_type,
            init_duration_ms: metrics.duration_ms,
        },
        "platform.restoreReport" | "platform.restoreRuntimeDone" => PlatformRecord::RestoreReport {
            status,
            error_type: record.error_type,
            restore_duration_ms: metrics.duration_ms,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> Option<PlatformRecord> {
        PlatformParser::new().parse(line)
    }

    fn report(line: &str) -> Report {
        match parse(line) {
            Some(PlatformRecord::Report(report)) => report,
            other => panic!("not a report: {other:?}"),
        }
    }

    #[test]
    fn aws_sample_report_with_escaped_tabs_and_stray_space() {
        let r = report(
            "REPORT RequestId: 6234bffe-149a-b642-81ff-2e8e376d8aff\tDuration: 46.84 ms\tBilled Duration: 47 ms \tMemory Size: 192 MB\tMax Memory Used: 72 MB\t\n",
        );
        assert_eq!(r.request_id.as_deref(), Some("6234bffe-149a-b642-81ff-2e8e376d8aff"));
        assert_eq!(r.duration_ms, Some(46.84));
        assert_eq!(r.memory_size_mb, Some(192));
        assert_eq!(r.max_memory_used_mb, Some(72));
        assert_eq!(r.status, None);
        assert!(!r.at_memory_limit());
    }

    #[test]
    fn report_with_init_duration_and_xray_on_one_line() {
        let r = report(
            "REPORT RequestId: c793869b-ee49-115b-a5b6-4fd21e8dedac\tDuration: 128.83 ms\tBilled Duration: 200 ms\tMemory Size: 128 MB\tMax Memory Used: 74 MB\tInit Duration: 166.62 ms\tXRAY TraceId: 1-5d9d007f-0a8c7fd02xmpl480aed55ef0\tSegmentId: 3d752xmpl1bbe37e\tSampled: true",
        );
        assert_eq!(r.init_duration_ms, Some(166.62));
        assert_eq!(r.duration_ms, Some(128.83));
        assert_eq!(r.max_memory_used_mb, Some(74));
    }

    #[test]
    fn snapstart_report_and_field_order_and_xray_after_newline() {
        let r = report(
            "REPORT RequestId: 8c360c87-d4b7-4423-b5f3-af02be3c1763\tDuration: 2338.66 ms\tBilled Duration: 2521 ms\tMemory Size: 3009 MB\tMax Memory Used: 173 MB\tRestore Duration: 398.97 ms\tBilled Restore Duration: 182 ms\t",
        );
        assert_eq!(r.restore_duration_ms, Some(398.97));
        let r = report(
            "REPORT RequestId: f8ac1208-aaaa-bbbb-cccc-000000000000 Init Duration: 48.26 ms   Duration: 237.17 ms   Billed Duration: 238 ms   Memory Size: 128 MB   Max Memory Used: 26 MB",
        );
        assert_eq!((r.init_duration_ms, r.duration_ms), (Some(48.26), Some(237.17)));
        let r = report(
            "REPORT RequestId: 1c2d0000-0000-0000-0000-000000000000\tDuration: 1.0 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 98 MB\t\nXRAY TraceId: 1-5d83c0ad-b8eb33a0b1de97d804fac890\tSegmentId: 31255c3b19bd3637\tSampled: true",
        );
        assert_eq!(r.max_memory_used_mb, Some(98));
    }

    #[test]
    fn new_style_status_and_error_type_with_spaces_or_newlines() {
        let r = report(
            "REPORT RequestId: 1c2d\tDuration: 812.40 ms\tBilled Duration: 813 ms\tMemory Size: 256 MB\tMax Memory Used: 256 MB\tStatus: error\tError Type: Runtime.OutOfMemory\n",
        );
        assert_eq!(r.status, Some(Status::Error));
        assert_eq!(r.error_type.as_deref(), Some("Runtime.OutOfMemory"));
        assert!(r.at_memory_limit());
        let r = report(
            "REPORT RequestId: 527cb862-4f5e-49a9-9ae4-a7edc90f0fda Duration: 3016.78 ms Billed Duration: 3101 ms Memory Size: 128 MB Max Memory Used: 31 MB Init Duration: 84.00 ms Status: timeout",
        );
        assert_eq!(r.status, Some(Status::Timeout));
        assert_eq!(r.init_duration_ms, Some(84.0));
        // Pasted one field per line (DataDog/datadog-lambda-extension#1237).
        let r = report(
            "REPORT RequestId: 514789fd-5e24-49c5-a41c-24c049a36e2a\nDuration: 180000.00 ms\nBilled Duration: 180000 ms\nMemory Size: 192 MB\nMax Memory Used: 192 MB\nStatus: timeout",
        );
        assert_eq!((r.memory_size_mb, r.max_memory_used_mb, r.status), (Some(192), Some(192), Some(Status::Timeout)));
    }

    #[test]
    fn init_and_restore_reports() {
        assert_eq!(
            parse("INIT_REPORT Init Duration: 9999.79 ms    Phase: init    Status: timeout"),
            Some(PlatformRecord::InitReport {
                phase: Some(InitPhase::Init),
                status: Some(Status::Timeout),
                error_type: None,
                init_duration_ms: Some(9999.79)
            })
        );
        assert_eq!(
            parse("INIT_REPORT Phase: invoke  Status: error  Error Type: Extension.Crash"),
            Some(PlatformRecord::InitReport {
                phase: Some(InitPhase::Invoke),
                status: Some(Status::Error),
                error_type: Some("Extension.Crash".into()),
                init_duration_ms: None
            })
        );
        assert_eq!(
            parse("RESTORE_REPORT Restore Duration: 1236.04 ms Status: error Error Type: Runtime.ExitError"),
            Some(PlatformRecord::RestoreReport {
                status: Some(Status::Error),
                error_type: Some("Runtime.ExitError".into()),
                restore_duration_ms: Some(1236.04)
            })
        );
        assert_eq!(
            parse(
                "INIT_START Runtime Version: python:3.12.mainlinev2.v7\tRuntime Version ARN: arn:aws:lambda:us-east-1::runtime:2b83"
            ),
            Some(PlatformRecord::InitStart)
        );
    }

    #[test]
    fn start_and_end_with_tab_or_space_before_version() {
        assert_eq!(
            parse("START RequestId: c3252230-c73d-49f6-8844-968c01d1e2e1 Version: $LATEST\n"),
            Some(PlatformRecord::Start { request_id: "c3252230-c73d-49f6-8844-968c01d1e2e1".into() })
        );
        assert_eq!(
            parse("START RequestId: c3252230-c73d-49f6-8844-968c01d1e2e1\tVersion: $LATEST"),
            Some(PlatformRecord::Start { request_id: "c3252230-c73d-49f6-8844-968c01d1e2e1".into() })
        );
        assert_eq!(
            parse("END RequestId: c3252230-c73d-49f6-8844-968c01d1e2e1\n"),
            Some(PlatformRecord::End { request_id: "c3252230-c73d-49f6-8844-968c01d1e2e1".into() })
        );
    }

    #[test]
    fn old_style_failure_lines() {
        assert_eq!(
            parse("2024-03-04T17:22:38.033Z b70435cc-261c-4438-b9b6-efe4c8f04b21 Task timed out after 3.00 seconds"),
            Some(PlatformRecord::TaskTimedOut {
                request_id: Some("b70435cc-261c-4438-b9b6-efe4c8f04b21".into()),
                seconds: 3.0
            })
        );
        assert_eq!(
            parse(
                "2020-06-09T15:02:26.150Z 7c9567b5-107b-4a6c-8798-0157ac21db52 Task timed out after 3.00 seconds\n\n"
            ),
            Some(PlatformRecord::TaskTimedOut {
                request_id: Some("7c9567b5-107b-4a6c-8798-0157ac21db52".into()),
                seconds: 3.0
            })
        );
        assert_eq!(
            parse(
                "RequestId: 2ea49a23-ff39-4bf5-8761-439f99b7c5f6 Error: Runtime exited with error: signal: killed\nRuntime.ExitError\n"
            ),
            Some(PlatformRecord::RuntimeExited {
                request_id: Some("2ea49a23-ff39-4bf5-8761-439f99b7c5f6".into()),
                reason: "signal: killed".into()
            })
        );
        assert_eq!(
            parse(
                "RequestId: 89894b68-4c17-4ea6-b6e6-91bca83ae5b1 Error: Runtime exited with error: signal: segmentation fault (core dumped) Runtime.ExitError"
            ),
            Some(PlatformRecord::RuntimeExited {
                request_id: Some("89894b68-4c17-4ea6-b6e6-91bca83ae5b1".into()),
                reason: "signal: segmentation fault (core dumped)".into()
            })
        );
        assert_eq!(
            parse(
                "RequestId: c3252230-c73d-49f6-8844-968c01d1e2e1 Error: Runtime exited without providing a reason\nRuntime.ExitError"
            ),
            Some(PlatformRecord::RuntimeExited {
                request_id: Some("c3252230-c73d-49f6-8844-968c01d1e2e1".into()),
                reason: "without providing a reason".into()
            })
        );
        assert_eq!(
            parse("RequestId: b86c93c6-e1d0-11e7-955b-539d8b965ff9 Process exited before completing request"),
            Some(PlatformRecord::ProcessExited { request_id: Some("b86c93c6-e1d0-11e7-955b-539d8b965ff9".into()) })
        );
    }

    #[test]
    fn the_anchor_pass_looks_for_the_phrases_this_parser_reads() {
        assert_eq!(PHRASES.iter().map(|(text, _)| *text).collect::<Vec<_>>(), crate::rules::PLATFORM_PHRASES);
    }

    #[test]
    fn platform_phrases_after_the_prefixes_runtimes_and_tools_print() {
        let timed_out = |line: &str| match parse(line) {
            Some(PlatformRecord::TaskTimedOut { request_id, seconds }) => Some((request_id, seconds)),
            _ => None,
        };
        assert_eq!(timed_out("Task timed out after 12.34 seconds"), Some((None, 12.34)));
        assert_eq!(timed_out("2025-02-03T04:05:06.789Z  Task timed out after 20.02 seconds"), Some((None, 20.02)));
        assert_eq!(
            timed_out("2025-02-03T04:05:06.789Z\tundefined\tTask timed out after 6.01 seconds"),
            Some((None, 6.01))
        );
        // `sam logs` and `aws logs tail` put the log stream and their own time first.
        assert_eq!(
            timed_out(
                "2019/07/18/[$LATEST]94fa87 2019-07-18T18:58:22.286000 b5264ab7-2056-4f5b-bb0f-a06a70f6205d Task timed out after 30.03 seconds"
            ),
            Some((Some("b5264ab7-2056-4f5b-bb0f-a06a70f6205d".into()), 30.03))
        );
        assert_eq!(
            timed_out(
                "[ERROR] RequestId: 0f0e0d0c-0b0a-4990-8887-766554433221 Error: Task timed out after 1.00 seconds"
            ),
            Some((Some("0f0e0d0c-0b0a-4990-8887-766554433221".into()), 1.0))
        );
        assert_eq!(
            parse("Error: Runtime exited with error: signal: killed Runtime.ExitError"),
            Some(PlatformRecord::RuntimeExited { request_id: None, reason: "signal: killed".into() })
        );
        assert_eq!(
            parse("2023-05-01T10:00:00.000Z ERROR Runtime exited with error: exit status 137"),
            Some(PlatformRecord::RuntimeExited { request_id: None, reason: "exit status 137".into() })
        );
        match parse(
            "2024-03-04T17:22:38.033000+00:00 2024/03/04/[$LATEST]94fa REPORT RequestId: 1c2d0000-0000-0000-0000-000000000000\tDuration: 1.0 ms\tBilled Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB",
        ) {
            Some(PlatformRecord::Report(r)) => assert!(r.at_memory_limit()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_report_copied_without_its_head() {
        let r = report(
            "Duration: 3003.45 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 128 MB\tStatus: timeout",
        );
        assert_eq!((r.request_id, r.max_memory_used_mb, r.status), (None, Some(128), Some(Status::Timeout)));
        let r = report(
            "2024-03-04T17:22:38.033Z Duration: 12.0 ms Billed Duration: 12 ms Memory Size: 256 MB Max Memory Used: 80 MB",
        );
        assert_eq!(r.memory_size_mb, Some(256));
    }

    #[test]
    fn applications_quoting_platform_phrases_are_not_platform_records() {
        for line in [
            "INFO upstream call: Task timed out after 3.00 seconds, retrying",
            "Task timed out after 3.00 seconds means the function hit its limit",
            "ERROR:root:handler said Task timed out after 3 seconds",
            "2024-03-04T17:22:38.033Z INFO the docs say: Runtime exited with error: signal: killed is a kill",
            "INFO stats Max Memory Used: 72 MB",
            "DEBUG Memory Size: 128 MB Max Memory Used: 72 MB",
            "we log REPORT RequestId: lines to S3",
        ] {
            assert_eq!(parse(line), None, "{line}");
        }
    }

    #[test]
    fn json_platform_records() {
        let r = report(
            r#"{"time":"2024-12-30T23:20:29.823Z","type":"platform.report","record":{"requestId":"671dc475-78c6-416b-b7ac-56b52940dd13","metrics":{"durationMs":32973.233,"billedDurationMs":32974,"memorySizeMB":128,"maxMemoryUsedMB":125},"status":"error","errorType":"Runtime.OutOfMemory"}}"#,
        );
        assert_eq!((r.memory_size_mb, r.max_memory_used_mb), (Some(128), Some(125)));
        assert_eq!(r.error_type.as_deref(), Some("Runtime.OutOfMemory"));
        assert_eq!(
            parse(
                r#"{"time":"2026-07-09T06:05:50.562Z","type":"platform.runtimeDone","record":{"requestId":"aec7a529-47f9-4090-be01-c9ed91bf83cf","status":"timeout","metrics":{"durationMs":5001.182,"producedBytes":0}}}"#
            ),
            Some(PlatformRecord::RuntimeDone {
                request_id: Some("aec7a529-47f9-4090-be01-c9ed91bf83cf".into()),
                status: Some(Status::Timeout),
                error_type: None
            })
        );
        assert_eq!(
            parse(
                r#"{"time":"2024-06-17T17:48:06.348Z","type":"platform.initReport","record":{"initializationType":"on-demand","phase":"init","status":"timeout","metrics":{"durationMs":10000.487}}}"#
            ),
            Some(PlatformRecord::InitReport {
                phase: Some(InitPhase::Init),
                status: Some(Status::Timeout),
                error_type: None,
                init_duration_ms: Some(10000.487)
            })
        );
        assert_eq!(
            parse(
                r#"{"type":"platform.initRuntimeDone","record":{"initializationType":"on-demand","phase":"init","status":"error","errorType":"Runtime.ImportModuleError"}}"#
            ),
            Some(PlatformRecord::InitReport {
                phase: Some(InitPhase::Init),
                status: Some(Status::Error),
                error_type: Some("Runtime.ImportModuleError".into()),
                init_duration_ms: None
            })
        );
    }

    #[test]
    fn application_lines_are_not_platform_records() {
        for line in [
            r#"{"timestamp":"2024-05-20T16:29:45.009Z","level":"INFO","requestId":"4b142fc3-17b8-4cdb-a46b-a8dbe7918715","message":"ENV 2024-05-20T16:29:42.891Z"}"#,
            r#"{"type":"platform.somethingNew","record":{}}"#,
            "2024-03-04T17:22:38.033Z INFO the upstream said: Task timed out after 3.00 seconds",
            "REPORTING is enabled",
            "STARTED worker",
            "",
            "{not json \"platform.report\"",
        ] {
            assert_eq!(parse(line), None, "{line}");
        }
    }

    #[test]
    fn never_panics_on_truncated_lines() {
        for line in [
            "START ",
            "END",
            "REPORT ",
            "RequestId:",
            "RequestId: x Error: Runtime exited",
            "INIT_REPORT",
            "RESTORE_REPORT",
            "x Task timed out after ",
            "Task timed out after x seconds",
        ] {
            let _ = parse(line);
        }
    }
}
