//! The analyzer: the compiled parts detection needs, built once at init, and the one path a
//! batch takes through detection's steps, read top to bottom in [`Analyzer::analyze`].
//!
//! Pure and synchronous, with no network: a [`LogBatch`] goes in, [`Finding`]s come out.
//!
//! 1. **Scan** ([`scan::scan`]). Each event is parsed once as a platform record and scanned
//!    once against every rule. Lines without a request id of their own belong to the request
//!    running when they were written; lines before any request belong to the init phase of the
//!    current execution environment (a batch is one stream).
//! 2. **Correlate** ([`correlate::correlate`]). Per request, the platform records decide what
//!    happened: out of memory, else timeout (cold or warm), else a runtime exit, else memory
//!    pressure on success. Several signals of one request count once. Failed inits and
//!    restores are reported unless a more specific rule already explains them. A denial
//!    followed by a successful invocation becomes eventual consistency. Last, every failure no
//!    observation explains gets one of its own, in the error's own words.
//! 3. **Aggregate** ([`aggregate::aggregate`]). One finding per (rule, key fields) with count,
//!    first/last seen, request and event ids, up to three redacted evidence lines, merged
//!    details and a stable id.

use crate::detect::platform::PlatformParser;
use crate::ingest::LogBatch;
use crate::model::finding::function_name;
use crate::model::{Finding, Severity};
use crate::rules::Catalog;

use super::aggregate::{self, BatchContext};
use super::correlate;
use super::scan::{self, Readers};

/// Runs the catalog over batches. Build once at init; `analyze` is cheap to call.
#[derive(Debug, Clone)]
pub struct Analyzer {
    catalog: Catalog,
    readers: Readers,
    min_severity: Severity,
    /// Report exceptions logged at ERROR in invocations that did not fail (`LOGGED_ERRORS`).
    logged_errors: bool,
}

impl Analyzer {
    /// Builds an analyzer over a compiled catalog; findings below `min_severity` are dropped.
    pub fn new(catalog: Catalog, min_severity: Severity) -> Self {
        Self { catalog, readers: Readers::default(), min_severity, logged_errors: true }
    }

    /// Whether exceptions logged at ERROR in invocations that did not fail are reported
    /// (`LOGGED_ERRORS`, on by default); failed invocations always are.
    #[must_use]
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
        &self.readers.platform
    }

    /// Analyses one batch; `region` is where the log group lives (for links and ARNs).
    /// A control message, or a batch without events, gives no findings.
    pub fn analyze(&self, batch: &LogBatch, region: &str) -> Vec<Finding> {
        if batch.is_control_message() || batch.log_events.is_empty() {
            return Vec::new();
        }
        let scan = scan::scan(&self.catalog, &self.readers, batch, region);
        let observations = correlate::correlate(&self.catalog, scan, batch, self.logged_errors);
        let context = BatchContext { batch, region, function: function_name(&batch.log_group) };
        aggregate::aggregate(&self.catalog, self.min_severity, &observations, &context)
    }
}
