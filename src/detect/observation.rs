//! The hand-offs between detection's steps, in one leaf module: what the scan gathers
//! ([`Scan`]), who a line is about ([`Subject`]), and what every step adds to ([`Observation`]).
//! The steps themselves (`scan`, `correlate`, `unhandled`, `aggregate`) are functions over
//! these types; none of them reaches into another's state.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use crate::detect::errors::ErrorSignal;
use crate::detect::platform::{InitPhase, Status};
use crate::model::Category;
use crate::rules::Catalog;

use super::invocation::Invocation;

/// Who an observation is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Subject {
    /// An invocation, by its request id (shared: a storm's ids are copied into several maps).
    Request(Arc<str>),
    /// The init phase of the n-th execution environment seen in the batch.
    Init(usize),
    /// An invocation whose request id the batch does not show (a `Task timed out` line with
    /// no id and no START before it, a REPORT copied without its head), by the event that
    /// reported it.
    Unnamed(usize),
}

/// One rule observed at one event, about one subject.
#[derive(Debug, Clone)]
pub(super) struct Observation {
    /// The rule's index in the catalog.
    pub(super) rule: usize,
    pub(super) event: usize,
    /// Other events that show the same thing (a timeout line beside its REPORT).
    pub(super) related: Vec<usize>,
    pub(super) subject: Subject,
    pub(super) details: BTreeMap<String, Value>,
}

impl Observation {
    /// The category of the observation's rule.
    pub(super) fn category(&self, catalog: &Catalog) -> Category {
        catalog.rules()[self.rule].spec.category
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

/// An error a message reported in its own words ([`crate::detect::errors::extract`]), where,
/// and about whom.
#[derive(Debug)]
pub(super) struct ErrorAt {
    pub(super) event: usize,
    pub(super) subject: Subject,
    /// The execution environment whose init the error happened in, when no request ran.
    pub(super) init: Option<usize>,
    pub(super) signal: ErrorSignal,
}

/// What the scan gathered from a batch: the platform's records per invocation, the rule hits,
/// the failed init phases and the errors in their own words.
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
    /// The detail names each rule's observations have shown.
    pub(super) shown: ShownDetails,
}

impl Scan {
    /// Moves what was gathered about `from` onto `to` (platform records and observations).
    ///
    /// Only an unnamed invocation is adopted (the scan pairs one with the named record next
    /// to it), a few events after it was first seen: it is near the end of `order`, and its
    /// observations are the last ones, from its event on. Only those tails are searched; a
    /// search of the whole lists for every pair took time in the square of the batch's
    /// invocations.
    pub(super) fn adopt(&mut self, from: &Subject, to: &Subject) {
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

    /// What the platform said about `subject` so far (a new, empty record the first time).
    pub(super) fn request(&mut self, subject: &Subject) -> &mut Invocation {
        if !self.requests.contains_key(subject) {
            self.order.push(subject.clone());
        }
        self.requests.entry(subject.clone()).or_default()
    }
}

/// The detail names each rule's observations have shown, so that later observations of the
/// rule need not repeat them ([`Self::lean`]).
#[derive(Debug, Default)]
pub(super) struct ShownDetails(HashMap<usize, HashSet<String>>);

impl ShownDetails {
    /// Drops the details an observation of `rule` repeats: a finding takes each detail from the
    /// first observation that has it, so once a rule's observations have shown a name, later
    /// ones need not carry it, unless the rule splits or lists by its details (`key`, `values`)
    /// or a parser reads them. A storm of 50,000 timeouts kept a map of figures each (about 45
    /// MiB).
    pub(super) fn lean(&mut self, catalog: &Catalog, rule: usize, details: &mut BTreeMap<String, Value>) {
        let spec = &catalog.rules()[rule].spec;
        if !spec.key.is_empty() || !spec.values.is_empty() || spec.parser.is_some() {
            return;
        }
        let shown = self.0.entry(rule).or_default();
        if details.keys().all(|name| shown.contains(name)) {
            *details = BTreeMap::new();
            return;
        }
        shown.extend(details.keys().cloned());
    }
}
