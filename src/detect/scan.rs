//! Step 1, the scan: each message once, as printed and unfolded, against the platform parser
//! and the rule catalog; what the platform says is gathered per invocation.
//!
//! Over 400 lines: the one pass over a batch keeps everything it reads per message together
//! (the anchor window, the platform record, the rule hits, the level a line states, the error
//! in its own words), so that each message is read once.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::detect::access::AccessDeniedParser;
use crate::detect::errors::{self, ErrorSignal, StatedLevel, Words};
use crate::detect::normalize;
use crate::detect::platform::{InitPhase, PlatformParser, PlatformRecord, Status};
use crate::ingest::{LogBatch, LogEvent};
use crate::model::Category;
use crate::model::finding::OWN_OUTPUT_MARKERS;
use crate::rules::{ANCHOR_WINDOW, ANCHOR_WINDOW_BYTES, AnchorAt, BatchAnchors, Catalog, Hit, Parser, ScanScratch};

use super::invocation::{At, RuntimeDone};
use super::observation::{ErrorAt, Observation, PhaseFailure, Scan, Subject};

/// The parsers the scan reads each message with besides the catalog, compiled once.
#[derive(Debug, Clone, Default)]
pub(super) struct Readers {
    /// Lambda's own records.
    pub(super) platform: PlatformParser,
    /// The IAM denial grammar, for the rules that ask for it.
    pub(super) access: AccessDeniedParser,
}

/// Where the scan stands in the stream: the request running and the execution environment.
#[derive(Debug, Default)]
pub(super) struct Cursor {
    /// The request of the last START.
    pub(super) current: Option<std::sync::Arc<str>>,
    /// How many INIT_STARTs were seen: which execution environment lines belong to.
    pub(super) epoch: usize,
    /// An INIT_START was seen and no START yet: the next request is a cold start.
    pub(super) pending_cold_start: bool,
    /// The last invocation a platform record named without a START before it, and where:
    /// an unnamed failure line next to it is that invocation's (see [`pair`]).
    pub(super) last_seen: Option<(Subject, usize)>,
}

impl Cursor {
    /// Who a line without a request id of its own is about.
    pub(super) fn subject(&self) -> Subject {
        match &self.current {
            Some(id) => Subject::Request(id.clone()),
            None => Subject::Init(self.epoch),
        }
    }

    /// The invocation a platform record is about: its own request id, the running request,
    /// or an unnamed invocation at this event.
    pub(super) fn invocation(&self, request_id: Option<String>, event: usize) -> Subject {
        match request_id.map(std::sync::Arc::from).or_else(|| self.current.clone()) {
            Some(id) => Subject::Request(id),
            None => Subject::Unnamed(event),
        }
    }
}

/// Step 1: platform records and rule hits, one pass.
///
/// Each message is matched as printed; a message that holds a JSON document (with an anchor
/// or a platform phrase in it) or a backslash escape is also matched through its unfolded
/// text ([`normalize::unfold`]), where a platform record inside an error JSON is found as
/// well.
pub(super) fn scan(catalog: &Catalog, readers: &Readers, batch: &LogBatch, region: &str) -> Scan {
    let mut scan = Scan::default();
    let mut cursor = Cursor::default();
    let mut reading = Reading::default();
    let mut window = AnchorWindow::default();
    for (index, event) in batch.log_events.iter().enumerate() {
        window.advance(catalog, &batch.log_events, index);
        let message = analysed(&event.message);
        let Some(read) = reading.read(catalog, readers, message, window.of(index)) else {
            continue;
        };
        let subject_override = observe_record(&mut scan, &mut cursor, read.record, index);
        if let Some(signal) = read.error {
            let named = signal.report.request_id.as_deref().map(|id| Subject::Request(id.into()));
            let subject = named.or_else(|| subject_override.clone()).unwrap_or_else(|| match &cursor.current {
                Some(id) => Subject::Request(id.clone()),
                None => Subject::Unnamed(index),
            });
            let init = cursor.current.is_none().then_some(cursor.epoch);
            scan.errors.push(ErrorAt { event: index, subject, init, signal });
        }
        if reading.hits.is_empty() {
            continue;
        }
        let subject = subject_override.unwrap_or_else(|| cursor.subject());
        for hit in reading.hits.drain(..) {
            let rule = &catalog.rules()[hit.rule];
            let mut details: BTreeMap<String, Value> =
                hit.captures.into_iter().map(|(name, text)| (name, capture_value(text))).collect();
            scan.shown.lean(catalog, hit.rule, &mut details);
            if rule.spec.parser == Some(Parser::AccessDenied) {
                details.extend(readers.access.details(message, region));
            }
            scan.observations.push(Observation {
                rule: hit.rule,
                event: index,
                related: Vec::new(),
                subject: subject.clone(),
                details,
            });
        }
    }
    scan
}

/// The anchor pass goes ahead a window of messages at a time ([`ANCHOR_WINDOW`] says why).
#[derive(Default)]
struct AnchorWindow {
    start: usize,
    len: usize,
    anchors: BatchAnchors,
}

impl AnchorWindow {
    /// Finds the anchors of the next window when `index` is past this one. A window is at most
    /// ANCHOR_WINDOW messages and ANCHOR_WINDOW_BYTES of text (always one message): what the
    /// anchor pass keeps of it stays small, however large the messages or dense their anchors.
    fn advance(&mut self, catalog: &Catalog, events: &[LogEvent], index: usize) {
        if index != self.start + self.len {
            return;
        }
        let mut texts: Vec<&str> = Vec::with_capacity(ANCHOR_WINDOW);
        let mut bytes = 0;
        for ahead in events[index..].iter().take(ANCHOR_WINDOW) {
            let text = analysed(&ahead.message);
            if !texts.is_empty() && bytes + text.len() > ANCHOR_WINDOW_BYTES {
                break;
            }
            bytes += text.len();
            texts.push(text);
        }
        self.start = index;
        self.len = texts.len();
        self.anchors = catalog.find_anchors(&texts);
    }

    /// The anchors found in message `index` of the batch.
    fn of(&self, index: usize) -> &[AnchorAt] {
        self.anchors.of(index - self.start)
    }
}

/// What one message says: its platform record and the error in its own words (its rule hits
/// are in [`Reading::hits`]).
struct Read {
    record: Option<PlatformRecord>,
    error: Option<ErrorSignal>,
}

/// The buffers the scan reuses from one message to the next.
#[derive(Default)]
struct Reading {
    scratch: ScanScratch,
    /// The rule hits of the message read last.
    hits: Vec<Hit>,
    more: Vec<Hit>,
    unfolded: String,
}

impl Reading {
    /// Reads one message: a START, END or INIT_START alone; otherwise its rule hits (as
    /// printed and unfolded, less those a stated level says were handled), its platform record
    /// and its error. `None` for this tool's own output, which is never analysed.
    fn read(&mut self, catalog: &Catalog, readers: &Readers, message: &str, anchors: &[AnchorAt]) -> Option<Read> {
        let mut record = readers.platform.parse_start(message);
        self.hits.clear();
        if let Some(PlatformRecord::InitStart | PlatformRecord::Start { .. } | PlatformRecord::End { .. }) = record {
            return Some(Read { record, error: None });
        }
        catalog.scan_found(message, anchors, &mut self.scratch, &mut self.hits);
        let (platform_phrase, failure_word) = (self.scratch.platform_phrase(), self.scratch.failure_word());
        let error = if self.scratch.error_signal() { errors::extract(message) } else { None };
        // A plain line that says something failed, in words (`Failed to fetch …`).
        let error = error.or_else(|| (failure_word && !platform_phrase).then(|| errors::failure_statement(message))?);
        let mut unfolded = false;
        // Platform phrases ride in the anchor pass: only a message that holds one is searched
        // for a platform record behind a prefix.
        let printed_first = record.is_some();
        if record.is_none() && self.scratch.platform_phrase() {
            record = readers.platform.parse_embedded(message);
        }
        // Unfold only what may hide a failure: a message with a worded anchor or a platform
        // phrase that holds a JSON document or an escape (numbers are not unfolded, so a
        // numeric anchor alone is no reason).
        if self.scratch.worded_anchor()
            && (memchr::memchr(b'\\', message.as_bytes()).is_some() || normalize::json_start(message).is_some())
        {
            self.unfolded.clear();
            if normalize::unfold(message, &mut self.unfolded).any {
                unfolded = true;
                // Whatever level a shipper gave it (apex/up logs REPORT and `Task timed out` at
                // "info"): the prefix rules keep applications' own words out.
                if record.is_none() {
                    record = self.unfolded.lines().find_map(|line| readers.platform.parse(line));
                }
                self.more.clear();
                catalog.scan(&self.unfolded, &mut self.scratch, &mut self.more);
                for hit in self.more.drain(..) {
                    if !self.hits.iter().any(|h| h.rule == hit.rule) {
                        self.hits.push(hit);
                    }
                }
            }
        }
        // This tool's own findings, forwarded or printed into a subscribed log group, are never
        // analysed: neither their rule hits nor a platform record quoted inside them (checked
        // only on such messages: the anchor pass stays as it is).
        if (!self.hits.is_empty() || error.is_some() || (record.is_some() && !printed_first)) && is_own_output(message)
        {
            self.hits.clear();
            return None;
        }
        let class_may_speak = failure_word && record.is_none() && !platform_phrase;
        if !self.hits.is_empty() {
            if let Some(level) = errors::stated_level(message) {
                self.hits.retain(|hit| !handled(catalog.rules()[hit.rule].spec.category, level, message));
            }
            let carriers_only = self.hits.iter().all(|hit| catalog.rules()[hit.rule].spec.yields_to_classes);
            if class_may_speak && carriers_only && !self.hits.is_empty() {
                // A 5xx whose text names its cause, a timeout in a database driver's words: the
                // cause's class rule speaks instead, unless it only says again what the carrier
                // says (a network class over a network rule, which names host and port).
                let carriers = std::mem::take(&mut self.hits);
                self.class_hits(catalog, message, unfolded);
                let category = |hit: &Hit| catalog.rules()[hit.rule].spec.category;
                if self.hits.iter().all(|class| carriers.iter().any(|carrier| category(carrier) == category(class))) {
                    self.hits = carriers;
                }
            }
        } else if class_may_speak {
            self.class_hits(catalog, message, unfolded);
            if !self.hits.is_empty() && is_own_output(message) {
                self.hits.clear();
                return None;
            }
        }
        Some(Read { record, error })
    }

    /// The class rules' hit on a message no other rule matched, that says something failed and
    /// holds no platform record or phrase (the platform parser reads or refuses those: `x Task
    /// timed out after` is no timeout), as printed or else unfolded ([`keep_first_class_hit`]).
    fn class_hits(&mut self, catalog: &Catalog, message: &str, unfolded: bool) {
        catalog.scan_classes(message, &mut self.scratch, &mut self.hits);
        if self.hits.is_empty() && unfolded {
            catalog.scan_classes(&self.unfolded, &mut self.scratch, &mut self.hits);
        }
        if !self.hits.is_empty() {
            keep_first_class_hit(catalog, &mut self.hits, message);
        }
    }
}

/// Notes what a platform record says about its request or environment; returns the
/// subject the record's event is about, when it names one.
fn observe_record(
    scan: &mut Scan,
    cursor: &mut Cursor,
    record: Option<PlatformRecord>,
    index: usize,
) -> Option<Subject> {
    let subject = match record? {
        PlatformRecord::InitStart => {
            cursor.epoch += 1;
            cursor.pending_cold_start = true;
            cursor.current = None;
            return None;
        }
        PlatformRecord::Start { request_id } => {
            let id: std::sync::Arc<str> = request_id.into();
            let subject = Subject::Request(id.clone());
            cursor.current = Some(id);
            let state = scan.request(&subject);
            state.epoch = cursor.epoch;
            if std::mem::take(&mut cursor.pending_cold_start) {
                state.cold_start = true;
            }
            return None;
        }
        PlatformRecord::End { request_id } => {
            scan.request(&Subject::Request(request_id.into()));
            return None;
        }
        PlatformRecord::Report(report) => {
            let subject = cursor.invocation(report.request_id.clone(), index);
            let state = scan.request(&subject);
            if report.init_duration_ms.is_some() {
                state.cold_start = true;
                state.init_duration_ms = report.init_duration_ms;
            }
            state.report = Some(Box::new(At { event: index, said: report }));
            subject
        }
        PlatformRecord::RuntimeDone { request_id, status, error_type } => {
            let subject = cursor.invocation(request_id, index);
            scan.request(&subject).runtime_done = Some(At { event: index, said: RuntimeDone { status, error_type } });
            subject
        }
        PlatformRecord::TaskTimedOut { request_id, seconds } => {
            let subject = cursor.invocation(request_id, index);
            scan.request(&subject).timed_out_after = Some(At { event: index, said: seconds });
            subject
        }
        PlatformRecord::RuntimeExited { request_id, reason } => {
            let subject = cursor.invocation(request_id, index);
            scan.request(&subject).exited = Some(At { event: index, said: reason });
            subject
        }
        PlatformRecord::ProcessExited { request_id } => {
            let subject = cursor.invocation(request_id, index);
            scan.request(&subject).process_exited = Some(index);
            subject
        }
        record @ (PlatformRecord::InitReport { .. } | PlatformRecord::RestoreReport { .. }) => {
            return Some(observe_phase(scan, cursor, record, index));
        }
    };
    Some(pair(scan, cursor, subject, index))
}

/// Class rules ([`RuleSpec::fallback`](crate::rules::RuleSpec)) speak last, for a message that
/// states no level below ERROR (a vocabulary is evidence of a failure only where the line says
/// it failed, or says nothing), that is more than a quoted name (`"Lambda.TooManyRequestsException",`
/// in a retry configuration) and, but for a throttle, that does not say the operation is
/// retried. Of several, the first in the catalog (the more specific class).
fn keep_first_class_hit(catalog: &Catalog, hits: &mut Vec<Hit>, message: &str) {
    let Some(first) = hits.iter().map(|hit| hit.rule).min() else { return };
    let level = errors::stated_level(message);
    let retried = catalog.rules()[first].spec.category != Category::Throttling && says_it_will_retry(message);
    let trimmed = message.trim().trim_end_matches(',');
    let quoted_name = trimmed.starts_with('"') && trimmed.ends_with('"') && !trimmed.contains(' ');
    if level.is_some_and(|level| level != StatedLevel::Error) || retried || quoted_name {
        hits.clear();
    } else {
        hits.retain(|hit| hit.rule == first);
    }
}

/// Whether a rule's hit on a message is a failure the application handled, by the level the
/// line states: a DEBUG or TRACE line is diagnostics; a connection or database error below
/// ERROR that says it will retry was retried (a throttle is reported all the same: retried
/// throttles are how a rate limit shows); a start-up error below ERROR (a
/// library's optional class not found, at WARN) did not stop the start. An explicit ERROR or
/// FATAL, or no level at all, keeps every hit.
fn handled(category: Category, level: StatedLevel, message: &str) -> bool {
    match level {
        StatedLevel::Diagnostic => true,
        StatedLevel::Error => false,
        StatedLevel::Info | StatedLevel::Warning => match category {
            Category::Network | Category::DatabaseConnection => says_it_retries(message),
            // PHP states its own start-up failures as warnings (`PHP Warning:  PHP Startup:
            // Unable to load dynamic library …`).
            Category::RuntimeStartup => !message.contains("PHP Startup:"),
            _ => false,
        },
    }
}

/// The message says the operation is retried (`retrying`, `will retry`, `Retry 1/3`, `try
/// again`).
fn says_it_retries(message: &str) -> bool {
    static RETRIES: Words = Words::new(|| {
        errors::automaton(&["retry ", "retry.", "retrying", "retries", "will retry", "trying again", "try again"])
    });
    RETRIES.in_text(message)
}

/// The message says the operation goes on and is tried again (`retrying`, `will retry`,
/// `Recoverable error occurred …, sleeping for 5 seconds`); AWS's advice to "try again" in an
/// error message is not that.
fn says_it_will_retry(message: &str) -> bool {
    static WILL_RETRY: Words = Words::new(|| {
        errors::automaton(&["retrying", "will retry", "will be retried", "recoverable error", "trying again"])
    });
    WILL_RETRY.in_text(message)
}

/// The most of one message the scan reads: CloudWatch Logs refuses events over 256 KiB, so a
/// longer message is a forged or rewritten batch, and reading only its head keeps the work
/// per message bounded.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// The part of `message` the scan reads: at most [`MAX_MESSAGE_BYTES`], cut at a character.
fn analysed(message: &str) -> &str {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message;
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    &message[..end]
}

/// A finding of this tool's own, as JSON or as the email's text ([`OWN_OUTPUT_MARKERS`]).
fn is_own_output(message: &str) -> bool {
    OWN_OUTPUT_MARKERS.iter().any(|marker| memchr::memmem::find(message.as_bytes(), marker.as_bytes()).is_some())
}

fn capture_value(text: String) -> Value {
    match text.parse::<u64>() {
        Ok(number) if !text.starts_with('0') || text == "0" => json!(number),
        _ => Value::String(text),
    }
}

/// An INIT_REPORT or RESTORE_REPORT: a failed phase, or a suppressed init (`Phase: invoke`),
/// is kept for correlation. Returns the subject: the running request for a suppressed init,
/// else the execution environment's init.
fn observe_phase(scan: &mut Scan, cursor: &Cursor, record: PlatformRecord, event: usize) -> Subject {
    let (restore, phase, status, error_type, duration_ms) = match record {
        PlatformRecord::InitReport { phase, status, error_type, init_duration_ms } => {
            (false, phase, status, error_type, init_duration_ms)
        }
        PlatformRecord::RestoreReport { status, error_type, restore_duration_ms } => {
            (true, None, status, error_type, restore_duration_ms)
        }
        _ => return cursor.subject(),
    };
    let subject = match (phase, &cursor.current) {
        (Some(InitPhase::Invoke), Some(id)) => Subject::Request(id.clone()),
        _ => Subject::Init(cursor.epoch),
    };
    if let Subject::Request(_) = &subject {
        let invocation = scan.request(&subject);
        invocation.cold_start = true;
        invocation.init_duration_ms = invocation.init_duration_ms.or(duration_ms);
    }
    let failed = matches!(status, Some(Status::Error | Status::Timeout));
    if failed || phase == Some(InitPhase::Invoke) {
        scan.phase_failures.push(PhaseFailure {
            event,
            subject: subject.clone(),
            restore,
            status,
            phase,
            error_type,
            duration_ms,
        });
    }
    subject
}

/// Events apart within which an unnamed failure line and a named record are one invocation.
const PAIRING_DISTANCE: usize = 3;

/// Without START lines (a copy, a filtered export), a `Task timed out` or `Runtime exited`
/// line without a request id and the REPORT just before or after it are one invocation: the
/// unnamed one joins the named one, with its observations.
fn pair(scan: &mut Scan, cursor: &mut Cursor, subject: Subject, event: usize) -> Subject {
    if cursor.current.is_some() {
        return subject;
    }
    let near = |at: usize| event.abs_diff(at) <= PAIRING_DISTANCE;
    match (&subject, cursor.last_seen.take()) {
        (Subject::Unnamed(_), Some((named @ Subject::Request(_), at))) if near(at) => {
            scan.adopt(&subject, &named);
            cursor.last_seen = Some((named.clone(), event));
            named
        }
        (Subject::Request(_), Some((unnamed @ Subject::Unnamed(_), at))) if near(at) => {
            scan.adopt(&unnamed, &subject);
            cursor.last_seen = Some((subject.clone(), event));
            subject
        }
        _ => {
            cursor.last_seen = Some((subject.clone(), event));
            subject
        }
    }
}
