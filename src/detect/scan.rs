//! Step 1, the scan: each message once, as printed and unfolded, against the platform parser
//! and the rule catalog; what the platform says is gathered per invocation.
//!
//! Over 400 lines: the one pass over a batch keeps everything it reads per message together
//! (the anchor window, the platform record, the rule hits, the level a line states, the error
//! in its own words), so that each message is read once.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use crate::detect::errors::{self, ErrorSignal, StatedLevel};
use crate::detect::normalize;
use crate::detect::platform::{InitPhase, PlatformRecord, Status};
use crate::ingest::LogBatch;
use crate::model::Category;
use crate::model::finding::OWN_OUTPUT_MARKERS;
use crate::rules::{ANCHOR_WINDOW, ANCHOR_WINDOW_BYTES, BatchAnchors, Hit, Parser, ScanScratch};

use super::analyzer::{Analyzer, Observation, Subject};
use super::invocation::{At, Invocation, RuntimeDone};

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

/// An INIT_REPORT or RESTORE_REPORT that failed, or an INIT_REPORT of a suppressed init
/// (`Phase: invoke`: the first init did not complete, whatever this one's status).
#[derive(Debug)]
pub(super) struct PhaseFailure {
    pub(super) event: usize,
    pub(super) subject: Subject,
    pub(super) restore: bool,
    pub(super) status: Option<Status>,
    pub(super) phase: Option<InitPhase>,
    pub(super) error_type: Option<String>,
    pub(super) duration_ms: Option<f64>,
}

#[derive(Default)]
pub(super) struct Scan {
    /// Keyed by request ids read from the batch, hashed with foldhash (seeded per process):
    /// SipHash of every platform line's request id was 5% of an analysis (`make callgrind`).
    pub(super) requests: HashMap<Subject, Invocation, foldhash::fast::RandomState>,
    /// Invocations in the order they first appear in the batch.
    pub(super) order: Vec<Subject>,
    pub(super) observations: Vec<Observation>,
    pub(super) phase_failures: Vec<PhaseFailure>,
    /// Errors in their own words (unhandled or logged), for the failures no rule explains.
    pub(super) errors: Vec<ErrorAt>,
    /// The detail names each rule's observations have shown ([`Analyzer::lean_details`]).
    pub(super) detailed: HashMap<usize, std::collections::HashSet<String>>,
}

/// An error a message reported ([`errors::extract`]), where, and about whom.
#[derive(Debug)]
pub(super) struct ErrorAt {
    pub(super) event: usize,
    pub(super) subject: Subject,
    /// The execution environment whose init the error happened in, when no request ran.
    pub(super) init: Option<usize>,
    pub(super) signal: ErrorSignal,
}

impl Scan {
    /// Moves what was gathered about `from` onto `to` (platform records and observations).
    ///
    /// Only an unnamed invocation is adopted ([`pair`]), a few events after it was first seen:
    /// it is near the end of `order`, and its observations are the last ones, from its event
    /// on. Only those tails are searched; a search of the whole lists for every pair took time
    /// in the square of the batch's invocations.
    fn adopt(&mut self, from: &Subject, to: &Subject) {
        let Subject::Unnamed(since) = *from else { return };
        if let Some(gathered) = self.requests.remove(from) {
            self.request(to).merge(gathered);
        }
        if let Some(at) = self.order.iter().rposition(|subject| subject == from) {
            self.order.remove(at);
        }
        for observation in self.observations.iter_mut().rev().take_while(|o| o.event >= since) {
            if &observation.subject == from {
                observation.subject = to.clone();
            }
        }
    }

    pub(super) fn request(&mut self, subject: &Subject) -> &mut Invocation {
        if !self.requests.contains_key(subject) {
            self.order.push(subject.clone());
        }
        self.requests.entry(subject.clone()).or_default()
    }
}

impl Analyzer {
    /// Step 1: platform records and rule hits, one pass.
    ///
    /// Each message is matched as printed; a message that holds a JSON document (with an
    /// anchor or a platform phrase in it) or a backslash escape is also matched through its
    /// unfolded text ([`normalize::unfold`]), where a platform record inside an error JSON is
    /// found as well.
    pub(super) fn scan(&self, batch: &LogBatch, region: &str) -> Scan {
        let mut scan = Scan::default();
        let mut cursor = Cursor::default();
        let mut scratch = ScanScratch::default();
        let mut hits: Vec<Hit> = Vec::new();
        let mut more: Vec<Hit> = Vec::new();
        let mut unfolded = String::new();
        // The anchor pass goes ahead a window of messages at a time ([`ANCHOR_WINDOW`] says why).
        let mut window: Vec<&str> = Vec::with_capacity(ANCHOR_WINDOW);
        let mut anchors = BatchAnchors::default();
        let mut window_start = 0;
        for (index, event) in batch.log_events.iter().enumerate() {
            if index == window_start + window.len() {
                // A window is at most ANCHOR_WINDOW messages and ANCHOR_WINDOW_BYTES of text
                // (always one message): what the anchor pass keeps of it stays small, however
                // large the messages or dense their anchors.
                window.clear();
                window_start = index;
                let mut bytes = 0;
                for ahead in batch.log_events[index..].iter().take(ANCHOR_WINDOW) {
                    let text = analysed(&ahead.message);
                    if !window.is_empty() && bytes + text.len() > ANCHOR_WINDOW_BYTES {
                        break;
                    }
                    bytes += text.len();
                    window.push(text);
                }
                anchors = self.catalog.find_anchors(&window);
            }
            let message = analysed(&event.message);
            let mut record = self.platform.parse_start(message);
            if let Some(PlatformRecord::InitStart | PlatformRecord::Start { .. } | PlatformRecord::End { .. }) = record
            {
                self.observe_record(&mut scan, &mut cursor, record, index);
                continue;
            }
            hits.clear();
            self.catalog.scan_found(message, anchors.of(index - window_start), &mut scratch, &mut hits);
            let error = if scratch.error_signal() { errors::extract(message) } else { None };
            // Platform phrases ride in the anchor pass: only a message that holds one is
            // searched for a platform record behind a prefix.
            let phrase = scratch.platform_phrase();
            let printed_first = record.is_some();
            if record.is_none() && phrase {
                record = self.platform.parse_embedded(message);
            }
            // Unfold only what may hide a failure: a message with a worded anchor or a platform
            // phrase that holds a JSON document or an escape (numbers are not unfolded, so a
            // numeric anchor alone is no reason).
            if scratch.worded_anchor()
                && (memchr::memchr(b'\\', message.as_bytes()).is_some() || normalize::json_start(message).is_some())
            {
                unfolded.clear();
                let found = normalize::unfold(message, &mut unfolded);
                if found.any {
                    // Whatever level a shipper gave it (apex/up logs REPORT and `Task timed
                    // out` at "info"): the prefix rules keep applications' own words out.
                    if record.is_none() {
                        record = unfolded.lines().find_map(|line| self.platform.parse(line));
                    }
                    more.clear();
                    self.catalog.scan(&unfolded, &mut scratch, &mut more);
                    for hit in more.drain(..) {
                        if !hits.iter().any(|h| h.rule == hit.rule) {
                            hits.push(hit);
                        }
                    }
                }
            }
            // This tool's own findings, forwarded or printed into a subscribed log group, are
            // never analysed: neither their rule hits nor a platform record quoted inside them
            // (checked only on such messages: the anchor pass stays as it is).
            if (!hits.is_empty() || error.is_some() || (record.is_some() && !printed_first)) && is_own_output(message) {
                continue;
            }
            let subject_override = self.observe_record(&mut scan, &mut cursor, record, index);
            if let Some(signal) = error {
                let named = signal.report.request_id.as_deref().map(|id| Subject::Request(id.into()));
                let subject = named.or_else(|| subject_override.clone()).unwrap_or_else(|| match &cursor.current {
                    Some(id) => Subject::Request(id.clone()),
                    None => Subject::Unnamed(index),
                });
                let init = cursor.current.is_none().then_some(cursor.epoch);
                scan.errors.push(ErrorAt { event: index, subject, init, signal });
            }
            if hits.is_empty() {
                continue;
            }
            if let Some(level) = errors::stated_level(message) {
                hits.retain(|hit| !handled(self.catalog.rules()[hit.rule].spec.category, level, message));
            }
            let subject = subject_override.unwrap_or_else(|| cursor.subject());
            for hit in hits.drain(..) {
                let rule = &self.catalog.rules()[hit.rule];
                let mut details: BTreeMap<String, Value> =
                    hit.captures.into_iter().map(|(name, text)| (name, capture_value(text))).collect();
                self.lean_details(hit.rule, &mut details, &mut scan.detailed);
                if rule.spec.parser == Some(Parser::AccessDenied) {
                    details.extend(self.access.details(message, region));
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

    /// Notes what a platform record says about its request or environment; returns the
    /// subject the record's event is about, when it names one.
    fn observe_record(
        &self,
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
                scan.request(&subject).runtime_done =
                    Some(At { event: index, said: RuntimeDone { status, error_type } });
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
            Category::RuntimeStartup => true,
            _ => false,
        },
    }
}

/// The message says the operation is retried (`retrying`, `will retry`, `Retry 1/3`, `try
/// again`).
fn says_it_retries(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    ["retry ", "retry.", "retrying", "retries", "will retry", "trying again", "try again"]
        .iter()
        .any(|word| lower.contains(word))
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
