//! Analysis: one pass over a batch, per-request correlation, aggregation into findings.
//!
//! Pure and synchronous, with no network: a [`LogBatch`] goes in, [`Finding`]s come out.
//!
//! 1. **Scan.** Each event is parsed once as a platform record ([`crate::platform`]) and
//!    scanned once against every rule ([`Catalog::scan`]). Lines without a request id of their
//!    own belong to the request running when they were written; lines before any request
//!    belong to the init phase of the current execution environment (a batch is one stream).
//! 2. **Correlate.** Per request, the platform records decide what happened: out of memory
//!    (`Runtime.OutOfMemory`; Max Memory Used at Memory Size on a failed, killed or timed-out
//!    invocation; or a runtime's own out-of-memory text), else timeout (cold or warm), else a
//!    runtime exit, else memory pressure on success. Several signals of one request count once.
//!    Failed inits and restores are reported unless a more specific rule already explains them.
//!    A denial followed by a successful invocation becomes eventual consistency.
//! 3. **Aggregate.** One finding per (rule, key fields) with count, first/last seen, request
//!    and event ids, up to three redacted evidence lines, merged details and a stable id.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::access::AccessDeniedParser;
use crate::finding::{Evidence, Finding, SCHEMA, console_url, excerpt, function_name, rfc3339_millis};
use crate::ingest::LogBatch;
use crate::normalize;
use crate::platform::{InitPhase, PlatformParser, PlatformRecord, Report, Status};
use crate::redact::Redactor;
use crate::rules::{Catalog, Category, Detector, Hit, Parser, ScanScratch, Severity};

/// The most evidence lines a finding carries.
pub const MAX_EVIDENCE: usize = 3;
/// Evidence lines are cut to this many bytes (at a character boundary).
pub const MAX_EVIDENCE_BYTES: usize = 2048;
/// The most request and event ids a finding lists.
pub const MAX_IDS: usize = 50;
/// A successful invocation at or above this share of its memory is memory pressure.
pub const MEMORY_PRESSURE_RATIO: f64 = 0.9;
/// A denial followed by a success within this many seconds is propagation delay
/// (LOG-FORMATS.md 7: about 2 minutes documented; invocations may be sparser than that).
pub const PROPAGATION_WINDOW_SECONDS: i64 = 300;
/// A runtime killed with its REPORT below this share of its memory was not killed by the
/// memory limit. Max Memory Used is a sampled peak, and a burst can be killed before it is
/// sampled, so only a REPORT well below the limit rules the memory out.
pub const KILLED_WELL_BELOW_RATIO: f64 = 0.5;
/// Lambda's largest memory setting, in MB.
const MAX_MEMORY_MB: u64 = 10_240;

/// Who an observation is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Subject {
    /// An invocation.
    Request(String),
    /// The init phase of the n-th execution environment seen in the batch.
    Init(usize),
    /// An invocation whose request id the batch does not show (a `Task timed out` line with
    /// no id and no START before it, a REPORT copied without its head), by the event that
    /// reported it.
    Unnamed(usize),
}

/// Where the scan stands in the stream: the request running and the execution environment.
#[derive(Debug, Default)]
struct Cursor {
    /// The request of the last START.
    current: Option<String>,
    /// How many INIT_STARTs were seen: which execution environment lines belong to.
    epoch: usize,
    /// An INIT_START was seen and no START yet: the next request is a cold start.
    pending_cold_start: bool,
}

impl Cursor {
    /// Who a line without a request id of its own is about.
    fn subject(&self) -> Subject {
        match &self.current {
            Some(id) => Subject::Request(id.clone()),
            None => Subject::Init(self.epoch),
        }
    }

    /// The invocation a platform record is about: its own request id, the running request,
    /// or an unnamed invocation at this event.
    fn invocation(&self, request_id: Option<String>, event: usize) -> Subject {
        match request_id.or_else(|| self.current.clone()) {
            Some(id) => Subject::Request(id),
            None => Subject::Unnamed(event),
        }
    }
}

/// One rule observed at one event, about one subject.
#[derive(Debug, Clone)]
struct Observation {
    rule: usize,
    event: usize,
    /// Other events that show the same thing (a timeout line beside its REPORT).
    related: Vec<usize>,
    subject: Subject,
    details: BTreeMap<String, Value>,
}

/// What the platform said about one request.
#[derive(Debug, Default)]
struct RequestState {
    cold_start: bool,
    init_duration_ms: Option<f64>,
    report: Option<(usize, Report)>,
    timed_out: Option<(usize, f64)>,
    runtime_done: Option<(usize, Option<Status>, Option<String>)>,
    exited: Option<(usize, String)>,
    process_exited: Option<usize>,
}

impl RequestState {
    fn status(&self) -> Option<Status> {
        self.report.as_ref().and_then(|(_, r)| r.status).or_else(|| self.runtime_done.as_ref().and_then(|(_, s, _)| *s))
    }

    fn error_type(&self) -> Option<&str> {
        self.report
            .as_ref()
            .and_then(|(_, r)| r.error_type.as_deref())
            .or_else(|| self.runtime_done.as_ref().and_then(|(_, _, e)| e.as_deref()))
    }

    fn timed_out(&self) -> bool {
        self.timed_out.is_some() || self.status() == Some(Status::Timeout)
    }

    fn crashed(&self) -> bool {
        self.exited.is_some() || self.process_exited.is_some() || self.error_type() == Some("Runtime.ExitError")
    }

    fn failed(&self) -> bool {
        self.timed_out() || self.crashed() || self.status() == Some(Status::Error)
    }

    /// Completed with a report and no failure of any kind.
    fn succeeded(&self) -> bool {
        self.report.is_some() && !self.failed()
    }

    /// Every event that shows the outcome, in batch order: failure lines and the REPORT.
    fn outcome_events(&self) -> Vec<usize> {
        let mut events: Vec<usize> = [
            self.timed_out.map(|(i, _)| i),
            self.exited.as_ref().map(|(i, _)| *i),
            self.process_exited,
            self.runtime_done.as_ref().map(|(i, _, _)| *i),
            self.report.as_ref().map(|(i, _)| *i),
        ]
        .into_iter()
        .flatten()
        .collect();
        events.sort_unstable();
        events
    }
}

/// An INIT_REPORT or RESTORE_REPORT that failed, or an INIT_REPORT of a suppressed init
/// (`Phase: invoke`: the first init did not complete, whatever this one's status).
#[derive(Debug)]
struct PhaseFailure {
    event: usize,
    subject: Subject,
    restore: bool,
    status: Option<Status>,
    phase: Option<InitPhase>,
    error_type: Option<String>,
    duration_ms: Option<f64>,
}

/// Runs the catalog over batches. Build once at init; `analyze` is cheap to call.
#[derive(Debug, Clone)]
pub struct Analyzer {
    catalog: Catalog,
    platform: PlatformParser,
    access: AccessDeniedParser,
    redactor: Redactor,
    min_severity: Severity,
}

/// Batch-wide values the templates and findings need.
struct BatchContext<'a> {
    batch: &'a LogBatch,
    region: &'a str,
    function: &'a str,
}

impl Analyzer {
    /// Builds an analyzer over a compiled catalog; findings below `min_severity` are dropped.
    pub fn new(catalog: Catalog, min_severity: Severity) -> Self {
        Self {
            catalog,
            platform: PlatformParser::new(),
            access: AccessDeniedParser::new(),
            redactor: Redactor::new(),
            min_severity,
        }
    }

    /// The compiled catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// Analyses one batch; `region` is where the log group lives (for links and ARNs).
    /// A control message, or a batch without events, gives no findings.
    pub fn analyze(&self, batch: &LogBatch, region: &str) -> Vec<Finding> {
        if batch.is_control_message() || batch.log_events.is_empty() {
            return Vec::new();
        }
        let context = BatchContext { batch, region, function: function_name(&batch.log_group) };
        let mut scan = self.scan(batch, region);
        self.correlate(&mut scan, batch);
        self.aggregate(&scan.observations, &context)
    }

    /// Step 1: platform records and rule hits, one pass.
    ///
    /// Each message is matched as printed; a message that holds a JSON document (with an
    /// anchor or a platform phrase in it) or a backslash escape is also matched through its
    /// unfolded text ([`normalize::unfold`]), where a platform record inside an error JSON is
    /// found as well.
    fn scan(&self, batch: &LogBatch, region: &str) -> Scan {
        let mut scan = Scan::default();
        let mut cursor = Cursor::default();
        let mut scratch = ScanScratch::default();
        let mut hits: Vec<Hit> = Vec::new();
        let mut more: Vec<Hit> = Vec::new();
        let mut unfolded = String::new();
        for (index, event) in batch.log_events.iter().enumerate() {
            let message = event.message.as_str();
            let mut record = self.platform.parse_start(message);
            if let Some(PlatformRecord::InitStart | PlatformRecord::Start { .. } | PlatformRecord::End { .. }) = record
            {
                self.observe_record(&mut scan, &mut cursor, record, index);
                continue;
            }
            hits.clear();
            self.catalog.scan(message, &mut scratch, &mut hits);
            // Platform phrases ride in the anchor pass: only a message that holds one is
            // searched for a platform record behind a prefix.
            let phrase = scratch.platform_phrase();
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
                    if record.is_none() && !found.informational {
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
            let subject_override = self.observe_record(&mut scan, &mut cursor, record, index);
            if hits.is_empty() {
                continue;
            }
            let subject = subject_override.unwrap_or_else(|| cursor.subject());
            for hit in hits.drain(..) {
                let rule = &self.catalog.rules()[hit.rule];
                let mut details: BTreeMap<String, Value> =
                    hit.captures.into_iter().map(|(name, text)| (name, capture_value(text))).collect();
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
                let subject = Subject::Request(request_id.clone());
                cursor.current = Some(request_id);
                let state = scan.request(&subject);
                if std::mem::take(&mut cursor.pending_cold_start) {
                    state.cold_start = true;
                }
                return None;
            }
            PlatformRecord::End { request_id } => {
                scan.request(&Subject::Request(request_id));
                return None;
            }
            PlatformRecord::Report(report) => {
                let subject = cursor.invocation(report.request_id.clone(), index);
                let state = scan.request(&subject);
                if report.init_duration_ms.is_some() {
                    state.cold_start = true;
                    state.init_duration_ms = report.init_duration_ms;
                }
                state.report = Some((index, report));
                subject
            }
            PlatformRecord::RuntimeDone { request_id, status, error_type } => {
                let subject = cursor.invocation(request_id, index);
                scan.request(&subject).runtime_done = Some((index, status, error_type));
                subject
            }
            PlatformRecord::TaskTimedOut { request_id, seconds } => {
                let subject = cursor.invocation(request_id, index);
                scan.request(&subject).timed_out = Some((index, seconds));
                subject
            }
            PlatformRecord::RuntimeExited { request_id, reason } => {
                let subject = cursor.invocation(request_id, index);
                scan.request(&subject).exited = Some((index, reason));
                subject
            }
            PlatformRecord::ProcessExited { request_id } => {
                let subject = cursor.invocation(request_id, index);
                scan.request(&subject).process_exited = Some(index);
                subject
            }
            PlatformRecord::InitReport { phase, status, error_type, init_duration_ms } => {
                let subject = match (phase, &cursor.current) {
                    (Some(InitPhase::Invoke), Some(id)) => Subject::Request(id.clone()),
                    _ => Subject::Init(cursor.epoch),
                };
                if let Subject::Request(_) = &subject {
                    let state = scan.request(&subject);
                    state.cold_start = true;
                    state.init_duration_ms = state.init_duration_ms.or(init_duration_ms);
                }
                let failed = matches!(status, Some(Status::Error | Status::Timeout));
                if failed || phase == Some(InitPhase::Invoke) {
                    scan.phase_failures.push(PhaseFailure {
                        event: index,
                        subject: subject.clone(),
                        restore: false,
                        status,
                        phase,
                        error_type,
                        duration_ms: init_duration_ms,
                    });
                }
                subject
            }
            PlatformRecord::RestoreReport { status, error_type, restore_duration_ms } => {
                let subject = Subject::Init(cursor.epoch);
                if let Some(Status::Error | Status::Timeout) = status {
                    scan.phase_failures.push(PhaseFailure {
                        event: index,
                        subject: subject.clone(),
                        restore: true,
                        status,
                        phase: None,
                        error_type,
                        duration_ms: restore_duration_ms,
                    });
                }
                subject
            }
        };
        Some(subject)
    }

    fn category_of(&self, observation: &Observation) -> Category {
        self.catalog.rules()[observation.rule].spec.category
    }

    /// Step 2: what each request's platform records mean.
    fn correlate(&self, scan: &mut Scan, batch: &LogBatch) {
        // Which categories each subject already has, built once and kept up to date as the
        // detectors add observations (a lookup per question, not a scan of every observation).
        let mut seen = SubjectCategories::default();
        for observation in &scan.observations {
            seen.insert(&observation.subject, self.category_of(observation));
        }
        let mut new = Vec::new();
        for subject in &scan.order {
            let Some(state) = scan.requests.get(subject) else { continue };
            let subject = subject.clone();
            let outcome = state.outcome_events();
            let Some(&first) = outcome.first() else { continue };
            let shown = (first, outcome.clone());
            let report = state.report.as_ref().map(|(_, r)| r);
            let mut details = memory_details(report);
            let at_limit = report.is_some_and(Report::at_memory_limit);
            let oom_text = seen.has(&subject, &[Category::OutOfMemory]);
            // A kill of the runtime is the memory limit unless the REPORT shows memory well
            // below it (LOG-FORMATS.md 2.5 and 5); a REPORT at the limit is out of memory
            // whatever its status (AWS's curated query `@maxMemoryUsed=@memorySize`).
            let killed = state.exited.as_ref().is_some_and(|(_, reason)| is_kill(reason));
            let well_below = report.and_then(Report::memory_ratio).is_some_and(|r| r < KILLED_WELL_BELOW_RATIO);
            let is_oom =
                oom_text || state.error_type() == Some("Runtime.OutOfMemory") || at_limit || (killed && !well_below);
            if let Some(error_type) = state.error_type() {
                details.insert("error_type".into(), json!(error_type));
            }
            if let Some((_, reason)) = &state.exited {
                details.insert("exit_reason".into(), json!(reason));
            }
            if is_oom {
                let reported_as = if state.timed_out() {
                    "timeout"
                } else if state.crashed() {
                    "runtime exit"
                } else if state.failed() || oom_text {
                    "error"
                } else {
                    "no error status"
                };
                details.insert("reported_as".into(), json!(reported_as));
                if let Some(status) = state.status() {
                    details.insert("status".into(), json!(status_name(status)));
                }
                self.push_detector(&mut new, &mut seen, Detector::OutOfMemory, shown.clone(), &subject, details);
            } else if state.timed_out() {
                // A suppressed init that timed out inside this invocation explains its timeout.
                if scan.phase_failures.iter().any(|f| f.subject == subject && f.status == Some(Status::Timeout)) {
                    continue;
                }
                let detector = if state.cold_start { Detector::ColdStartTimeout } else { Detector::Timeout };
                let seconds = state
                    .timed_out
                    .map(|(_, s)| s)
                    .or_else(|| report.and_then(|r| r.duration_ms).map(|ms| (ms / 1000.0 * 100.0).round() / 100.0));
                let mut details = BTreeMap::new();
                if let Some(seconds) = seconds {
                    details.insert("timeout_seconds".into(), json!(seconds));
                }
                if let Some(ms) = report.and_then(|r| r.duration_ms) {
                    details.insert("duration_ms".into(), json!(ms));
                }
                details.insert("cold_start".into(), json!(state.cold_start));
                if let Some(ms) = state.init_duration_ms {
                    details.insert("init_duration_ms".into(), json!(ms));
                }
                if let Some(r) = report {
                    details.extend(memory_details(Some(r)).into_iter().filter(|(k, _)| k.ends_with("_mb")));
                }
                self.push_detector(&mut new, &mut seen, detector, shown.clone(), &subject, details);
            } else if state.crashed() {
                if !seen.has(&subject, &[Category::RuntimeStartup, Category::RuntimeCrash]) {
                    let exit_reason = state
                        .exited
                        .as_ref()
                        .map(|(_, r)| r.clone())
                        .unwrap_or_else(|| "process exited before completing the request".to_owned());
                    details.insert("exit_reason".into(), json!(exit_reason));
                    details.retain(|k, _| Detector::RuntimeExit.detail_names().contains(&k.as_str()));
                    self.push_detector(&mut new, &mut seen, Detector::RuntimeExit, shown.clone(), &subject, details);
                }
            } else if state.succeeded()
                && report.and_then(Report::memory_ratio).is_some_and(|r| r >= MEMORY_PRESSURE_RATIO)
            {
                self.push_detector(&mut new, &mut seen, Detector::MemoryPressure, shown.clone(), &subject, details);
            }
        }
        for failure in &scan.phase_failures {
            self.correlate_phase(failure, &mut new, &mut seen);
        }
        scan.observations.extend(new);
        self.reclassify_recovered_denials(scan, batch);
    }

    /// A failed init or restore, or a suppressed init, unless a more specific finding (an
    /// import error, an out-of-memory kill) already explains it.
    fn correlate_phase(&self, failure: &PhaseFailure, new: &mut Vec<Observation>, seen: &mut SubjectCategories) {
        let mut details = BTreeMap::new();
        if let Some(status) = failure.status {
            details.insert("status".into(), json!(status_name(status)));
        }
        if let Some(error_type) = &failure.error_type {
            details.insert("error_type".into(), json!(error_type));
        }
        let shown = (failure.event, Vec::new());
        if failure.restore {
            if let Some(ms) = failure.duration_ms {
                details.insert("restore_duration_ms".into(), json!(ms));
            }
            if !seen.has(&failure.subject, &[Category::RuntimeStartup, Category::OutOfMemory]) {
                self.push_detector(new, seen, Detector::RestoreFailure, shown, &failure.subject, details);
            }
            return;
        }
        let suppressed = failure.phase == Some(InitPhase::Invoke);
        details.insert("phase".into(), json!(if suppressed { "invoke" } else { "init" }));
        if let Some(ms) = failure.duration_ms {
            details.insert("init_duration_ms".into(), json!(ms));
        }
        if suppressed || failure.status != Some(Status::Error) {
            details.insert("init_outcome".into(), json!(init_outcome(failure)));
        }
        let timed_out = match failure.status {
            Some(Status::Timeout) => true,
            Some(Status::Error) => false,
            // A suppressed init without a failure: the first init did not complete. Past the
            // 10 s limit it timed out; otherwise it failed and its cause is in earlier lines.
            Some(Status::Success) | None => true,
        };
        if timed_out {
            // An out-of-memory kill during a suppressed init is reported as out of memory.
            if !seen.has(&failure.subject, &[Category::OutOfMemory]) {
                self.push_detector(new, seen, Detector::InitTimeout, shown, &failure.subject, details);
            }
        } else if !seen
            .has(&failure.subject, &[Category::RuntimeStartup, Category::OutOfMemory, Category::RuntimeCrash])
        {
            self.push_detector(new, seen, Detector::InitFailure, shown, &failure.subject, details);
        }
    }

    fn push_detector(
        &self,
        out: &mut Vec<Observation>,
        seen: &mut SubjectCategories,
        detector: Detector,
        (event, related): (usize, Vec<usize>),
        subject: &Subject,
        details: BTreeMap<String, Value>,
    ) {
        if let Some(rule) = self.catalog.detector_rule(detector) {
            seen.insert(subject, self.catalog.rules()[rule].spec.category);
            out.push(Observation { rule, event, related, subject: subject.clone(), details });
        }
    }

    /// A denial (implicit, parsed) followed in the batch by a successful invocation of the
    /// same function is reported as propagation delay, not as a missing permission
    /// (LOG-FORMATS.md section 7). Explicit denies and KMS denials stay as they are.
    fn reclassify_recovered_denials(&self, scan: &mut Scan, batch: &LogBatch) {
        let Some(target) = self.catalog.detector_rule(Detector::DenialThenSuccess) else { return };
        let denied_requests: Vec<Subject> = scan
            .observations
            .iter()
            .filter(|o| matches!(self.category_of(o), Category::SecretAccessDenied | Category::AccessDenied))
            .filter(|o| matches!(o.subject, Subject::Request(_)))
            .map(|o| o.subject.clone())
            .collect();
        for observation in &mut scan.observations {
            let category = self.catalog.rules()[observation.rule].spec.category;
            let implicit = observation.details.get("deny").and_then(Value::as_str) == Some("implicit");
            if !matches!(category, Category::SecretAccessDenied | Category::AccessDenied) || !implicit {
                continue;
            }
            let denied = &observation.subject;
            if !matches!(denied, Subject::Request(_)) {
                continue;
            }
            let Some(position) = scan.order.iter().position(|id| id == denied) else { continue };
            let denied_at = batch.log_events[observation.event].timestamp;
            let recovered = scan.order[position + 1..].iter().find_map(|subject| {
                let Subject::Request(id) = subject else { return None };
                let state = scan.requests.get(subject)?;
                let (report_event, _) = state.report.as_ref()?;
                let at = batch.log_events[*report_event].timestamp;
                let in_window = at.saturating_sub(denied_at) <= PROPAGATION_WINDOW_SECONDS * 1000;
                (!denied_requests.contains(subject) && state.succeeded() && in_window).then_some((id, at))
            });
            let Some((recovered_id, recovered_at)) = recovered else { continue };
            let denied_rule_id = self.catalog.rules()[observation.rule].id().to_owned();
            observation.rule = target;
            observation.details.insert("denied_rule_id".into(), json!(denied_rule_id));
            observation.details.insert("recovered_request_id".into(), json!(recovered_id));
            observation.details.insert(
                "recovered_after_seconds".into(),
                json!((recovered_at.saturating_sub(denied_at).max(0) as f64) / 1000.0),
            );
        }
    }

    /// Step 3: one finding per (rule, key fields).
    fn aggregate(&self, observations: &[Observation], context: &BatchContext<'_>) -> Vec<Finding> {
        let mut groups: Vec<Group> = Vec::new();
        let mut index: HashMap<(usize, Vec<String>), usize> = HashMap::new();
        for observation in observations {
            let rule = &self.catalog.rules()[observation.rule];
            let key: Vec<String> = rule
                .spec
                .key
                .iter()
                .map(|name| observation.details.get(name).map(value_text).unwrap_or_default())
                .collect();
            let slot = *index.entry((observation.rule, key.clone())).or_insert_with(|| {
                groups.push(Group { rule: observation.rule, key, observations: Vec::new() });
                groups.len() - 1
            });
            groups[slot].observations.push(observation);
        }
        let mut findings: Vec<Finding> = groups
            .iter()
            .filter(|g| self.catalog.rules()[g.rule].spec.severity >= self.min_severity)
            .map(|group| self.finding(group, context))
            .collect();
        findings.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.first_seen.cmp(&b.first_seen)));
        findings
    }

    fn finding(&self, group: &Group<'_>, context: &BatchContext<'_>) -> Finding {
        let batch = context.batch;
        let rule = &self.catalog.rules()[group.rule];
        let mut observations = group.observations.clone();
        observations.sort_by_key(|o| o.event);
        let mut subjects: Vec<&Subject> = Vec::new();
        let mut details: BTreeMap<String, Value> = BTreeMap::new();
        let mut events: Vec<usize> = Vec::new();
        for o in &observations {
            if !subjects.contains(&&o.subject) {
                subjects.push(&o.subject);
            }
            for &event in std::iter::once(&o.event).chain(&o.related) {
                if !events.contains(&event) {
                    events.push(event);
                }
            }
            for (name, value) in &o.details {
                details.entry(name.clone()).or_insert_with(|| value.clone());
            }
        }
        if let Some(size) = details.get("memory_size_mb").and_then(Value::as_u64) {
            details.entry("suggested_memory_mb".into()).or_insert_with(|| json!(suggest_memory(size)));
        }
        for value in details.values_mut() {
            if let Value::String(text) = value {
                *text = self.redactor.redact(text);
            }
        }
        events.sort_unstable();
        let count = subjects.len() as u64;
        let request_ids: Vec<String> = subjects
            .iter()
            .filter_map(|s| match s {
                // Read from log text like the evidence, so redacted like it: a line forged to
                // look like a platform record must not carry a secret out as a request id.
                Subject::Request(id) => Some(self.redactor.redact(id)),
                Subject::Init(_) | Subject::Unnamed(_) => None,
            })
            .take(MAX_IDS)
            .collect();
        let all_requests = request_ids.len() as u64 == count;
        let first_event = &batch.log_events[events[0]];
        let last_event = &batch.log_events[events[events.len() - 1]];
        let lookup = |name: &str| -> Option<String> {
            match name {
                "function" => Some(context.function.to_owned()),
                "log_group" => Some(batch.log_group.clone()),
                "account" => Some(batch.owner.clone()),
                "region" => Some(context.region.to_owned()),
                "count" => Some(count.to_string()),
                _ => details.get(name).map(value_text),
            }
        };
        let mut summary =
            rule.summary.render(&lookup).unwrap_or_else(|| format!("{}: {}", context.function, rule.spec.title));
        if count > 1 {
            summary.push_str(&format!(" ({count} {})", if all_requests { "invocations" } else { "times" }));
        }
        let fix = rule.fix.iter().filter_map(|step| step.render(&lookup)).filter(|s| !s.trim().is_empty()).collect();
        let evidence = events
            .iter()
            .take(MAX_EVIDENCE)
            .map(|&i| {
                let event = &batch.log_events[i];
                Evidence {
                    timestamp: rfc3339_millis(event.timestamp),
                    message: excerpt(&self.redactor.redact(event.message.trim_end()), MAX_EVIDENCE_BYTES),
                }
            })
            .collect();
        let event_ids =
            events.iter().map(|&i| batch.log_events[i].id.clone()).filter(|id| !id.is_empty()).take(MAX_IDS).collect();
        Finding {
            schema: SCHEMA.to_owned(),
            id: finding_id(rule.id(), &batch.log_group, &group.key, &first_event.id, first_event.timestamp),
            rule_id: rule.id().to_owned(),
            category: rule.spec.category,
            severity: rule.spec.severity,
            title: rule.spec.title.clone(),
            summary,
            cause: rule.spec.cause.clone(),
            fix,
            docs: rule.spec.docs.clone(),
            account: batch.owner.clone(),
            region: context.region.to_owned(),
            log_group: batch.log_group.clone(),
            log_stream: batch.log_stream.clone(),
            function: context.function.to_owned(),
            count,
            first_seen: rfc3339_millis(first_event.timestamp),
            last_seen: rfc3339_millis(last_event.timestamp),
            request_ids,
            event_ids,
            evidence,
            details,
            console_url: console_url(context.region, &batch.log_group, &batch.log_stream),
        }
    }
}

#[derive(Default)]
struct Scan {
    requests: HashMap<Subject, RequestState>,
    /// Invocations in the order they first appear in the batch.
    order: Vec<Subject>,
    observations: Vec<Observation>,
    phase_failures: Vec<PhaseFailure>,
}

impl Scan {
    fn request(&mut self, subject: &Subject) -> &mut RequestState {
        if !self.requests.contains_key(subject) {
            self.order.push(subject.clone());
        }
        self.requests.entry(subject.clone()).or_default()
    }
}

/// The categories observed per subject.
#[derive(Default)]
struct SubjectCategories(HashMap<Subject, Vec<Category>>);

impl SubjectCategories {
    fn insert(&mut self, subject: &Subject, category: Category) {
        let categories = self.0.entry(subject.clone()).or_default();
        if !categories.contains(&category) {
            categories.push(category);
        }
    }

    fn has(&self, subject: &Subject, categories: &[Category]) -> bool {
        self.0.get(subject).is_some_and(|seen| categories.iter().any(|c| seen.contains(c)))
    }
}

struct Group<'a> {
    rule: usize,
    key: Vec<String>,
    observations: Vec<&'a Observation>,
}

/// A kill of the runtime process: `signal: killed` (SIGKILL) or `exit status 137` (128 + 9).
fn is_kill(reason: &str) -> bool {
    let reason = reason.to_ascii_lowercase();
    reason.contains("signal: killed") || reason.contains("exit status 137") || reason.contains("signal: 9")
}

/// On-demand init is limited to 10 s (LOG-FORMATS.md 2.4); an init that ran this long hit it.
const INIT_LIMIT_MS: f64 = 9_500.0;

/// What happened to an init phase, in words, from its phase, status and duration against the
/// 10 s limit (LOG-FORMATS.md 2.4: `Phase: invoke` is a suppressed init, re-run inside the
/// invocation under the function timeout after the first init failed or timed out).
fn init_outcome(failure: &PhaseFailure) -> String {
    let at_limit = failure.duration_ms.is_some_and(|ms| ms >= INIT_LIMIT_MS);
    let error = failure.error_type.as_deref().unwrap_or("an error");
    match (failure.phase == Some(InitPhase::Invoke), failure.status) {
        (false, Some(Status::Timeout)) if at_limit => "init ran into the 10 s limit of the init phase".into(),
        (false, Some(Status::Timeout)) => {
            "init timed out before its 10 s limit ran out (provisioned concurrency and SnapStart have their own limit)"
                .into()
        }
        (false, _) => format!("init failed with {error}"),
        (true, Some(Status::Timeout)) => "the first init did not complete, Lambda ran it again inside the invocation (a suppressed init), and it timed out again under the function timeout".into(),
        (true, Some(Status::Error)) => format!("the first init did not complete, Lambda ran it again inside the invocation (a suppressed init), and it failed with {error}"),
        (true, _) if at_limit => "the first init did not complete: this suppressed init, run inside the invocation, took longer than the 10 s init limit, so the first init timed out".into(),
        (true, _) => "the first init did not complete (it timed out or failed), so Lambda ran it again inside the invocation (a suppressed init)".into(),
    }
}

fn status_name(status: Status) -> &'static str {
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

/// The next memory size worth trying: double, rounded up to 64 MB, within Lambda's limit.
pub fn suggest_memory(size_mb: u64) -> u64 {
    (size_mb.saturating_mul(2).div_ceil(64) * 64).clamp(256, MAX_MEMORY_MB)
}

fn capture_value(text: String) -> Value {
    match text.parse::<u64>() {
        Ok(number) if !text.starts_with('0') || text == "0" => json!(number),
        _ => Value::String(text),
    }
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() < 1e15) => {
            format!("{}", n.as_f64().unwrap_or_default() as i64)
        }
        other => other.to_string(),
    }
}

/// Stable id: the same batch always gives the same ids, so retries can be deduplicated.
fn finding_id(rule_id: &str, log_group: &str, key: &[String], first_event_id: &str, first_timestamp: i64) -> String {
    let mut hasher = Sha256::new();
    for part in [rule_id, log_group].into_iter().chain(key.iter().map(String::as_str)) {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    if first_event_id.is_empty() {
        hasher.update(first_timestamp.to_be_bytes());
    } else {
        hasher.update(first_event_id.as_bytes());
    }
    hasher.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_suggestions_double_within_limits() {
        assert_eq!(suggest_memory(128), 256);
        assert_eq!(suggest_memory(192), 384);
        assert_eq!(suggest_memory(1280), 2560);
        assert_eq!(suggest_memory(3009), 6080);
        assert_eq!(suggest_memory(10240), 10240);
    }
}
