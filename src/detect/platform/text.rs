//! The text platform lines: `Key: value` fields in any order, keyword lines (`REPORT`,
//! `INIT_REPORT`, …) and platform phrases behind a prefix.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use super::fields::{FIELD_KEYS, Fields};
use super::json::{PLATFORM_TYPE, parse_json};
use super::prefix::{PHRASES, Phrase, is_prefix, is_prefix_token, request_id_of, runtime_exited, task_timed_out};
use super::{InitPhase, PlatformRecord, Report, Status};

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
        // JSON too: the phrase's own line decides (a pretty-printed error JSON's
        // `"errorMessage": "…Task timed out…"`), and an application's JSON line fails the prefix.
        self.embedded(message.trim_start())
    }

    /// The record of a line that starts with its keyword (`REPORT`, `START`, …).
    fn keyword_record(&self, line: &str) -> Option<PlatformRecord> {
        match line.as_bytes().first()? {
            b'S' if line.starts_with("START ") => {
                Some(PlatformRecord::Start { request_id: self.request_id(&line[5..])?.to_owned() })
            }
            b'E' if line.starts_with("END ") => {
                Some(PlatformRecord::End { request_id: self.request_id(&line[3..])?.to_owned() })
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
                    phase: fields.get("Phase").and_then(InitPhase::parse),
                    status: fields.get("Status").and_then(Status::parse),
                    error_type: fields.get("Error Type").map(str::to_owned),
                    init_duration_ms: fields.number("Init Duration"),
                })
            }
            _ => None,
        }
    }

    /// A platform phrase inside the message, after an acceptable prefix on its line.
    ///
    /// Only the first [`MAX_PHRASES_TRIED`] occurrences are tried: each looks at its whole line,
    /// so trying every one of a line that repeats a phrase thousands of times would take time
    /// in the square of its length (a 256 KB message took seconds), and a real record is the
    /// first or second phrase on its line.
    fn embedded(&self, message: &str) -> Option<PlatformRecord> {
        for found in self.phrases.find_iter(message).take(MAX_PHRASES_TRIED) {
            let line_start = message[..found.start()].rfind('\n').map_or(0, |at| at + 1);
            let line_end = message[found.start()..].find('\n').map_or(message.len(), |at| found.start() + at);
            let prefix = &message[line_start..found.start()];
            let phrase = &message[found.start()..line_end];
            let record = match PHRASES[found.pattern().as_usize()].1 {
                Phrase::HeadlessReport => self.headless_report(message),
                _ if !is_prefix(prefix) && !is_emulator_field(prefix) => None,
                Phrase::Keyword => self.keyword_record(phrase),
                Phrase::TaskTimedOut => task_timed_out(prefix, phrase),
                Phrase::RuntimeExited => runtime_exited(&self.fields(prefix), phrase),
                // The runtime's own view of the invocation: it timed out (an invoke response,
                // AppSync's unhandledErrorType, a Step Functions cause).
                Phrase::SandboxTimedOut => Some(PlatformRecord::RuntimeDone {
                    request_id: None,
                    status: Some(Status::Timeout),
                    error_type: phrase.split(['"', '\'', ',', ' ', '}']).next().map(str::to_owned),
                }),
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

    /// The `RequestId` of a START or END line, as [`Self::fields`] reads it. Two of every
    /// three platform lines are these, and they print it first (`START RequestId: <id>
    /// Version: $LATEST`): taken straight from there, without the key automaton.
    fn request_id<'a>(&self, text: &'a str) -> Option<&'a str> {
        if let Some(rest) = text.strip_prefix(" RequestId:")
            && let Some(value) = rest.trim_start().split(char::is_whitespace).next()
            && !value.is_empty()
        {
            return Some(value);
        }
        self.fields(text).get("RequestId")
    }

    fn report(&self, text: &str) -> PlatformRecord {
        let fields = self.fields(text);
        PlatformRecord::Report(Report {
            request_id: fields.get("RequestId").map(str::to_owned),
            duration_ms: fields.number("Duration"),
            memory_size_mb: fields.megabytes("Memory Size"),
            max_memory_used_mb: fields.megabytes("Max Memory Used").filter(|_| !from_emulator(text)),
            init_duration_ms: fields.number("Init Duration"),
            restore_duration_ms: fields.number("Restore Duration"),
            status: fields.get("Status").and_then(Status::parse),
            error_type: fields.get("Error Type").map(str::to_owned),
        })
    }
}

/// A REPORT written by the runtime interface emulator (`sam local invoke`, the Lambda base
/// images run locally), which puts `Init Duration` first and reports Max Memory Used equal to
/// Memory Size whatever the function used: its memory figure measures nothing. Lambda itself
/// writes `Init Duration` after `Max Memory Used`.
fn from_emulator(text: &str) -> bool {
    text.find("Init Duration:").is_some_and(|at| !text[..at].contains("Duration:"))
}

/// How many platform phrases of one message [`PlatformParser::parse_embedded`] tries.
pub const MAX_PHRASES_TRIED: usize = 16;

/// The runtime interface emulator (`sam local`, the Lambda base images) logs the platform's
/// words as a logfmt field (`… error="Runtime exited with error: signal: killed"`) or after
/// its process line (`msg="Process 13(bootstrap) exited: Runtime exited …`).
fn is_emulator_field(prefix: &str) -> bool {
    let trimmed = prefix.trim_end();
    if trimmed.ends_with("error=") || trimmed.ends_with("error=\"") || trimmed.ends_with(") exited:") {
        return true;
    }
    // API Gateway's test console and execution log quote the function's error after its own
    // words: `Lambda execution failed with status 200 due to customer function error: …`.
    prefix.split_once(CUSTOMER_FUNCTION_ERROR).is_some_and(|(_, rest)| is_prefix(rest))
}

const CUSTOMER_FUNCTION_ERROR: &str = "due to customer function error:";
