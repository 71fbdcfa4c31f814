//! The analysis every job shares, apart from delivery: the configuration, the compiled catalog
//! and its analyser, and where enrichment fetches missing lines from.
//!
//! The Lambda ([`crate::handler::Troubleshooter`]) analyses, enriches and then publishes; the
//! command line (`scan`, `pull`, `mute`) only analyses, or asks about the catalog. Both build
//! this once, so a batch is read the same way whoever reads it, and the command line needs
//! nothing of the Lambda's delivery.

use std::sync::Arc;

use serde::Serialize;

use crate::config::{Config, ConfigError};
use crate::detect::Analyzer;
use crate::enrich::{self, ContextSource, Enricher};
use crate::ingest::LogBatch;
use crate::model::finding::Finding;
use crate::rules::Catalog;

/// Why findings from a Kinesis stream are not enriched.
const KINESIS_NOT_ENRICHED: &str =
    "records from a Kinesis stream may come from other accounts, whose logs this function cannot read";

/// The configuration, the compiled catalog and the optional context source, built once.
#[derive(Debug, Clone)]
pub struct Analysis {
    config: Config,
    analyzer: Analyzer,
    /// Where a finding's missing lines come from (ENRICH_CONTEXT), if anywhere.
    context: Option<Arc<dyn ContextSource>>,
}

/// What one batch gave.
#[derive(Debug, Clone, Serialize)]
pub struct BatchOutcome {
    /// The log group.
    pub log_group: String,
    /// How many events the batch had.
    pub events: usize,
    /// Why the batch was not analysed, if it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<&'static str>,
    /// The findings.
    #[serde(skip)]
    pub findings: Vec<Finding>,
}

impl Analysis {
    /// Compiles the catalog (built-in rules, EXTRA_RULES_FILE, minus DISABLED_RULES).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] naming the rules file, the rule id or the variable at fault.
    pub fn new(config: Config) -> Result<Self, ConfigError> {
        let catalog = Catalog::load(&config.extra_rule_files()?, &config.disabled_rules)?;
        let analyzer = Analyzer::new(catalog, config.min_severity).with_logged_errors(config.logged_errors);
        Ok(Self { config, analyzer, context: None })
    }

    /// Fetches the lines high and critical findings lack from `source` (CloudWatch Logs), within
    /// [`crate::enrich`]'s budget.
    #[must_use]
    pub fn with_context_source(mut self, source: Arc<dyn ContextSource>) -> Self {
        self.context = Some(source);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The analyser.
    pub fn analyzer(&self) -> &Analyzer {
        &self.analyzer
    }

    /// The compiled catalog.
    pub fn catalog(&self) -> &Catalog {
        self.analyzer.catalog()
    }

    /// True when the catalog has a rule of this id.
    pub fn has_rule(&self, rule_id: &str) -> bool {
        self.catalog().rules().iter().any(|rule| rule.id() == rule_id)
    }

    /// The detail names that tell one finding of `rule_id` from another (the rule's `key`), for
    /// flood control; empty for an unknown rule.
    pub fn key_fields(&self, rule_id: &str) -> &[String] {
        self.catalog().key_fields(rule_id)
    }

    /// Analyses one decoded batch, unless it must be skipped: a control message, or the
    /// function's own log group (analysing it would loop).
    pub fn analyze_batch(&self, batch: &LogBatch) -> BatchOutcome {
        let skipped = if batch.is_control_message() {
            Some("control message")
        } else if self.config.own_log_group.as_deref() == Some(batch.log_group.as_str()) {
            Some("the function's own log group")
        } else {
            None
        };
        let findings = if skipped.is_some() { Vec::new() } else { self.analyzer.analyze(batch, &self.config.region) };
        BatchOutcome { log_group: batch.log_group.clone(), events: batch.log_events.len(), skipped, findings }
    }

    /// Fetches what the outcome's findings lack from the context source, if there is one
    /// ([`crate::enrich`]).
    pub async fn enrich(&self, batch: &LogBatch, outcome: &mut BatchOutcome) {
        if let Some(source) = &self.context {
            let enricher = Enricher { analyzer: &self.analyzer, source: source.as_ref(), region: &self.config.region };
            outcome.findings = enricher.enrich(batch, std::mem::take(&mut outcome.findings)).await;
        }
    }

    /// For a batch from a Kinesis stream, which is never enriched: with a context source, says
    /// so on the findings that would have been.
    pub fn not_enriched_from_kinesis(&self, batch: &LogBatch, outcome: &mut BatchOutcome) {
        if self.context.is_some() {
            enrich::not_enriched(self.analyzer.platform(), batch, &mut outcome.findings, KINESIS_NOT_ENRICHED);
        }
    }
}
