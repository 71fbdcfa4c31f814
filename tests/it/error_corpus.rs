//! No silent failure, measured: real failed invocations and logged exceptions from public
//! sources (`tests/errors/real/failures-*.toml`) must each give a finding, whatever rule or
//! category; real lines that only look alarming (`tests/errors/real/quiet.toml`: handled
//! errors below ERROR, zero counters, healthy platform records, test output) must give none,
//! except what the product reports by design on a success (a case's `expect`, with its reason).
//!
//! The report (`cargo test --test it error_corpus -- --nocapture`) prints recall by runtime
//! and format, the quiet share, and every miss, and writes `target/error-corpus-report.md`.

use std::collections::BTreeMap;
use std::path::Path;

use lambda_troubleshooter::detect::Analyzer;
use lambda_troubleshooter::model::Severity;
use lambda_troubleshooter::model::finding::Finding;
use lambda_troubleshooter::rules::Catalog;
use serde::Deserialize;

use crate::support::batch::batch;
use crate::support::corpus::{self, RealCase};

/// Every failure gives a finding, at least this share of them (issue: recall ≥ 0.98).
const TARGET_RECALL: f64 = 0.98;
/// At least this share of the quiet lines give none.
const TARGET_QUIET: f64 = 0.99;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CorpusFile {
    #[serde(default)]
    failure: Vec<RealCase>,
    #[serde(default)]
    quiet: Vec<RealCase>,
}

fn corpus() -> Vec<(String, CorpusFile)> {
    corpus::files("tests/errors/real", |_| true)
}

fn findings(analyzer: &Analyzer, lines: &[&str]) -> Vec<Finding> {
    analyzer.analyze(&batch("/aws/lambda/corpus-fn", lines), "us-east-1")
}

#[test]
fn every_real_failure_gives_a_finding_and_quiet_lines_give_none() {
    let analyzer = Analyzer::new(Catalog::load(&[], &[]).unwrap(), Severity::Low);
    let mut by_group: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut failures, mut caught, mut quiet, mut loud) = (0usize, 0usize, 0usize, 0usize);
    let mut misses = Vec::new();
    let mut noisy = Vec::new();
    for (file, corpus) in corpus() {
        for case in &corpus.failure {
            assert!(!case.source.is_empty() && !case.lines().is_empty(), "{file}: a case without source or line");
            let found = findings(&analyzer, &case.lines());
            let group =
                format!("{} {}", case.runtime.as_deref().unwrap_or("?"), case.format.as_deref().unwrap_or("text"));
            let entry = by_group.entry(group).or_default();
            entry.0 += 1;
            failures += 1;
            if found.is_empty() {
                misses.push(format!("- {file} ({}): {:?}", case.source, case.lines()));
            } else {
                entry.1 += 1;
                caught += 1;
            }
        }
        for case in &corpus.quiet {
            quiet += 1;
            let found = findings(&analyzer, &case.lines());
            let by_design = |f: &Finding| case.expect.as_deref() == Some(f.category.as_str());
            if !found.iter().all(by_design) {
                loud += 1;
                let rules: Vec<&str> = found.iter().map(|f| f.rule_id.as_str()).collect();
                noisy.push(format!("- {file} ({}) fired {rules:?}: {:?}", case.source, case.lines()));
            }
        }
    }
    let recall = caught as f64 / failures.max(1) as f64;
    let quiet_share = (quiet - loud) as f64 / quiet.max(1) as f64;
    let mut report = String::from("# Failed invocations and quiet lines (tests/errors/real/)\n\n");
    report.push_str("| runtime and format | failures | with a finding | recall |\n| --- | ---: | ---: | ---: |\n");
    for (group, (total, hit)) in &by_group {
        report.push_str(&format!("| {group} | {total} | {hit} | {:.2} |\n", *hit as f64 / *total as f64));
    }
    report.push_str(&format!(
        "\nRecall {recall:.3} ({caught} of {failures}); quiet {quiet_share:.3} ({} of {quiet} gave nothing).\n",
        quiet - loud
    ));
    report.push_str(&format!("\nMissed ({}):\n{}\n", misses.len(), misses.join("\n")));
    report.push_str(&format!("\nFired on a quiet line ({}):\n{}\n", noisy.len(), noisy.join("\n")));
    println!("{report}");
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/error-corpus-report.md");
    let _ = std::fs::write(target, &report);
    assert!(failures >= 150 && quiet >= 100, "the corpus holds {failures} failures and {quiet} quiet lines");
    assert!(recall >= TARGET_RECALL, "recall {recall:.3} below {TARGET_RECALL}\n{report}");
    assert!(quiet_share >= TARGET_QUIET, "quiet share {quiet_share:.3} below {TARGET_QUIET}\n{report}");
}
