//! Step 2, last: failures no rule explains. Every failed invocation gives a finding: when no
//! rule or platform detector explained it, the error it reported in its own words becomes an
//! `unhandled-error` observation, grouped by fingerprint ([`errors::fingerprint`]); an exception
//! logged at ERROR in an invocation that did not fail becomes a `logged-error` one.
//!
//! One failure, one finding:
//! - an error on a line a rule matched, or in a request a rule or detector already reported
//!   (a timeout, an out-of-memory kill, a denial), is that finding's, and gives nothing here;
//!   so is an error during an init that a start-up or init finding explains;
//! - a failed request gives one observation: the error its runtime reported, else the last
//!   error it logged, else (no error line in the batch) the error type of its REPORT or
//!   `platform.runtimeDone` (`Runtime.Unknown`);
//! - a request that did not fail (or whose outcome the batch does not show) gives one
//!   observation per fingerprint.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::{Value, json};

use crate::detect::errors::{self, ErrorKind, ErrorReport, top_in_app_frame};
use crate::model::Category;
use crate::model::finding::excerpt;
use crate::rules::{Catalog, Detector};

use super::invocation::Invocation;
use super::observation::{ErrorAt, Observation, Scan, Subject};

/// The longest error message kept in a finding's details, in bytes.
const MAX_ERROR_MESSAGE_BYTES: usize = 500;

/// What the other detectors already explain (borrowing their observations' subjects).
struct Explained<'a> {
    events: HashSet<usize>,
    subjects: HashSet<&'a Subject>,
    /// Execution environments whose init failed (a start-up failure, an init timeout, a kill):
    /// their invocations' failures are that failure's (the suppressed init failing again).
    failed_inits: HashSet<usize>,
}

impl<'a> Explained<'a> {
    fn of(catalog: &Catalog, observations: &'a [Observation]) -> Self {
        let mut explained = Self { events: HashSet::new(), subjects: HashSet::new(), failed_inits: HashSet::new() };
        // Memory pressure is a success's: it explains no error.
        for o in observations.iter().filter(|o| o.category(catalog) != Category::MemoryPressure) {
            explained.events.insert(o.event);
            explained.events.extend(o.related.iter().copied());
            // A class rule's hit (a category's vocabulary on one line) explains its line and its
            // invocation, never a whole execution environment: in a batch without START lines
            // every line is the init's, and one such line must not hide every other error.
            if catalog.rules()[o.rule].spec.fallback && !matches!(o.subject, Subject::Request(_)) {
                continue;
            }
            explained.subjects.insert(&o.subject);
            if let Subject::Init(epoch) = o.subject
                && o.category(catalog).ends_the_invocation()
            {
                explained.failed_inits.insert(epoch);
            }
        }
        explained
    }

    fn explains(&self, error: &ErrorAt, invocation: Option<&Invocation>) -> bool {
        self.events.contains(&error.event)
            || self.subjects.contains(&error.subject)
            || error.init.is_some_and(|epoch| self.subjects.contains(&Subject::Init(epoch)))
            || invocation.is_some_and(|i| self.explains_invocation(&error.subject, i))
    }

    fn explains_invocation(&self, subject: &Subject, invocation: &Invocation) -> bool {
        self.subjects.contains(subject) || self.failed_inits.contains(&invocation.epoch)
    }
}

/// How an error becomes an observation: the catalog's detector rules, whose function, and
/// whether errors logged in invocations that did not fail are reported (`LOGGED_ERRORS`).
struct Observer<'a> {
    catalog: &'a Catalog,
    function: &'a str,
    logged_errors: bool,
}

/// The observations of the failures and logged errors no observation of `scan` explains.
pub(super) fn observe(catalog: &Catalog, scan: &Scan, function: &str, logged_errors: bool) -> Vec<Observation> {
    let observer = Observer { catalog, function, logged_errors };
    let explained = Explained::of(catalog, &scan.observations);
    let errors = &scan.errors;
    // Each subject's errors, in batch order.
    let mut by_subject: HashMap<&Subject, Vec<&ErrorAt>> = HashMap::new();
    let mut subjects: Vec<&Subject> = Vec::new();
    for error in errors.iter().filter(|e| !explained.explains(e, scan.requests.get(&e.subject))) {
        let list = by_subject.entry(&error.subject).or_default();
        if list.is_empty() {
            subjects.push(&error.subject);
        }
        list.push(error);
    }
    let with_errors: HashSet<&Subject> = errors.iter().map(|e| &e.subject).collect();
    let mut new = Vec::new();
    for subject in subjects {
        let list = &by_subject[subject];
        match scan.requests.get(subject).filter(|invocation| invocation.failed()) {
            Some(invocation) => {
                let chosen = list.iter().find(|e| e.signal.kind == ErrorKind::Failure).or_else(|| list.last()).copied();
                if let Some(error) = chosen {
                    let related = invocation.outcome_events();
                    let runtime_type = invocation.error_type();
                    new.extend(observer.observe(error, ErrorKind::Failure, related, runtime_type));
                }
            }
            None => {
                let mut fingerprints: HashMap<String, usize> = HashMap::new();
                for error in list {
                    let Some(observation) = observer.observe(error, error.signal.kind, Vec::new(), None) else {
                        continue;
                    };
                    let fingerprint = fingerprint_of(&observation);
                    match fingerprints.get(&fingerprint) {
                        Some(&at) => {
                            let first: &mut Observation = &mut new[at];
                            first.related.push(error.event);
                            // A failure's own report outranks the same error logged before it.
                            if error.signal.kind == ErrorKind::Failure {
                                first.rule = observation.rule;
                            }
                        }
                        None => {
                            fingerprints.insert(fingerprint, new.len());
                            new.push(observation);
                        }
                    }
                }
            }
        }
    }
    // A failed request that printed no error the batch shows: its REPORT's error type.
    for subject in &scan.order {
        let Some(invocation) = scan.requests.get(subject) else { continue };
        if invocation.failed() && !explained.explains_invocation(subject, invocation) && !with_errors.contains(subject)
        {
            new.extend(observer.observe_bare_failure(subject, invocation));
        }
    }
    new
}

impl Observer<'_> {
    fn observe(
        &self,
        error: &ErrorAt,
        kind: ErrorKind,
        mut related: Vec<usize>,
        runtime_type: Option<&str>,
    ) -> Option<Observation> {
        let detector = match kind {
            ErrorKind::Failure => Detector::UnhandledError,
            ErrorKind::Logged if self.logged_errors => Detector::LoggedError,
            ErrorKind::Logged => return None,
        };
        let rule = self.catalog.detector_rule(detector)?;
        let mut details = error_details(&error.signal.report, self.function);
        details.insert(
            "reported_as".into(),
            json!(match (kind, error.signal.kind) {
                (ErrorKind::Failure, ErrorKind::Failure) => "the runtime's error report",
                (ErrorKind::Failure, ErrorKind::Logged) => "an error logged in an invocation that failed",
                (ErrorKind::Logged, _) => "an exception logged at ERROR",
            }),
        );
        if let Some(runtime_type) = runtime_type.filter(|t| Some(*t) != error.signal.report.error_type.as_deref()) {
            details.insert("runtime_error_type".into(), json!(runtime_type));
        }
        related.retain(|&e| e != error.event);
        Some(Observation { rule, event: error.event, related, subject: error.subject.clone(), details })
    }

    fn observe_bare_failure(&self, subject: &Subject, invocation: &Invocation) -> Option<Observation> {
        let rule = self.catalog.detector_rule(Detector::UnhandledError)?;
        let outcome = invocation.outcome_events();
        let (&event, related) = outcome.split_first()?;
        let error_type = invocation.error_type().unwrap_or("Runtime.Unknown");
        let report = ErrorReport { error_type: Some(error_type.to_owned()), ..ErrorReport::default() };
        let mut details = error_details(&report, self.function);
        details.insert("reported_as".into(), json!("a failed status in the platform's report, with no error line"));
        details.insert("runtime_error_type".into(), json!(error_type));
        Some(Observation { rule, event, related: related.to_vec(), subject: subject.clone(), details })
    }
}

fn fingerprint_of(observation: &Observation) -> String {
    observation.details.get("fingerprint").and_then(Value::as_str).unwrap_or("").to_owned()
}

/// The details of an error: its type, message, title, top frame and fingerprint.
fn error_details(report: &ErrorReport, function: &str) -> BTreeMap<String, Value> {
    let error_type = report.error_type.as_deref();
    let message = report.message.as_deref().map(|m| m.trim().lines().next().unwrap_or("").trim());
    let mut details = BTreeMap::new();
    if let Some(error_type) = error_type {
        details.insert("error_type".into(), json!(error_type));
    }
    if let Some(message) = message.filter(|m| !m.is_empty()) {
        details.insert("error_message".into(), json!(excerpt(message, MAX_ERROR_MESSAGE_BYTES)));
    }
    let title = errors::title(error_type, message).unwrap_or_else(|| "an error without a type or message".into());
    details.insert("error_title".into(), json!(title));
    if let Some(frame) = top_in_app_frame(&report.frames) {
        details.insert("top_frame".into(), json!(frame.to_string()));
    }
    details.insert("fingerprint".into(), json!(errors::fingerprint(function, error_type, message, &report.frames)));
    details
}
