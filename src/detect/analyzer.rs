//! Analysis: one pass over a batch, per-request correlation, aggregation into findings.
//!
//! Pure and synchronous, with no network: a [`LogBatch`] goes in, [`Finding`]s come out.
//!
//! 1. **Scan.** Each event is parsed once as a platform record ([`crate::detect::platform`]) and
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

use std::collections::BTreeMap;

use serde_json::Value;

use crate::detect::access::AccessDeniedParser;
use crate::detect::platform::PlatformParser;
use crate::ingest::LogBatch;
use crate::model::finding::function_name;
use crate::model::{Category, Finding, Severity};
use crate::rules::{Catalog, Detector};

use super::correlate::SubjectCategories;

/// The most evidence lines a finding carries.
pub const MAX_EVIDENCE: usize = 3;

/// Evidence lines are cut to this many bytes (at a character boundary).
pub const MAX_EVIDENCE_BYTES: usize = 2048;

/// The most request and event ids a finding lists.
pub const MAX_IDS: usize = 50;

/// A denial followed by a success within this many seconds is propagation delay
/// (LOG-FORMATS.md 7: about 2 minutes documented; invocations may be sparser than that).
pub const PROPAGATION_WINDOW_SECONDS: i64 = 300;

/// Who an observation is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) enum Subject {
    /// An invocation, by its request id (shared: a storm's ids are copied into several maps).
    Request(std::sync::Arc<str>),
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
    pub(super) rule: usize,
    pub(super) event: usize,
    /// Other events that show the same thing (a timeout line beside its REPORT).
    pub(super) related: Vec<usize>,
    pub(super) subject: Subject,
    pub(super) details: BTreeMap<String, Value>,
}

/// Runs the catalog over batches. Build once at init; `analyze` is cheap to call.
#[derive(Debug, Clone)]
pub struct Analyzer {
    pub(super) catalog: Catalog,
    pub(super) platform: PlatformParser,
    pub(super) access: AccessDeniedParser,
    pub(super) min_severity: Severity,
    /// Report exceptions logged at ERROR in invocations that did not fail (`LOGGED_ERRORS`).
    pub(super) logged_errors: bool,
}

/// Batch-wide values the templates and findings need.
pub(super) struct BatchContext<'a> {
    pub(super) batch: &'a LogBatch,
    pub(super) region: &'a str,
    pub(super) function: &'a str,
}

impl Analyzer {
    /// Builds an analyzer over a compiled catalog; findings below `min_severity` are dropped.
    pub fn new(catalog: Catalog, min_severity: Severity) -> Self {
        Self {
            catalog,
            platform: PlatformParser::new(),
            access: AccessDeniedParser::new(),
            min_severity,
            logged_errors: true,
        }
    }

    /// Whether exceptions logged at ERROR in invocations that did not fail are reported
    /// (`LOGGED_ERRORS`, on by default); failed invocations always are.
    pub fn with_logged_errors(mut self, on: bool) -> Self {
        self.logged_errors = on;
        self
    }

    /// The compiled catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The platform-record parser every message goes through.
    pub fn platform(&self) -> &PlatformParser {
        &self.platform
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

    pub(super) fn category_of(&self, observation: &Observation) -> Category {
        self.catalog.rules()[observation.rule].spec.category
    }

    pub(super) fn push_detector(
        &self,
        out: &mut Vec<Observation>,
        seen: &mut SubjectCategories,
        detector: Detector,
        (event, related): (usize, Vec<usize>),
        subject: &Subject,
        mut details: BTreeMap<String, Value>,
    ) {
        if let Some(rule) = self.catalog.detector_rule(detector) {
            seen.insert(subject, self.catalog.rules()[rule].spec.category);
            self.lean_details(rule, &mut details, &mut seen.detailed);
            out.push(Observation { rule, event, related, subject: subject.clone(), details });
        }
    }

    /// Drops the details an observation of `rule` repeats: a finding takes each detail from the
    /// first observation that has it, so once a rule's observations have shown a name, later
    /// ones need not carry it, unless the rule splits or lists by its details (`key`, `values`)
    /// or a parser reads them. A storm of 50,000 timeouts kept a map of figures each (about 45
    /// MiB); `covered` holds the names each rule has shown.
    pub(super) fn lean_details(
        &self,
        rule: usize,
        details: &mut BTreeMap<String, Value>,
        covered: &mut std::collections::HashMap<usize, std::collections::HashSet<String>>,
    ) {
        let spec = &self.catalog.rules()[rule].spec;
        if !spec.key.is_empty() || !spec.values.is_empty() || spec.parser.is_some() {
            return;
        }
        let shown = covered.entry(rule).or_default();
        if details.keys().all(|name| shown.contains(name)) {
            *details = BTreeMap::new();
            return;
        }
        shown.extend(details.keys().cloned());
    }
}
