//! Rule tests as data: for every rule file `rules/X.toml`, `tests/rules/X.toml` lists real
//! lines (from LOG-FORMATS.md and the guides) that must fire and near misses that must not.
//!
//! ```toml
//! [[rule]]
//! id = "lambda-out-of-memory"
//! positive = ["one event", ["several events", "of one batch"]]
//! negative = ["a line that must not fire this rule"]
//! also = ["other-rule"]      # optional: rules that may fire beside it on its positives
//! [[rule.detail]]            # optional: details a positive must produce
//! lines = ["…"]
//! details = { memory_size_mb = 256 }
//! ```
//!
//! A positive must fire its rule and no other, unless that other rule is listed in `also`:
//! one failure, one finding (several rules on one line would report it twice).
//!
//! `tests/rules/ordinary-lines.toml` holds everyday INFO/DEBUG lines that fire no rule at all.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;

use lambda_troubleshooter::analyze::Analyzer;
use lambda_troubleshooter::finding::Finding;
use lambda_troubleshooter::rules::{BUILTIN_RULE_FILES, Catalog, Severity};
use serde::Deserialize;

#[path = "support/batch.rs"]
mod batch;
use batch::batch;

#[derive(Deserialize)]
#[serde(untagged)]
enum Case {
    Line(String),
    Batch(Vec<String>),
}

impl Case {
    fn lines(&self) -> Vec<&str> {
        match self {
            Case::Line(line) => vec![line.as_str()],
            Case::Batch(lines) => lines.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DetailCase {
    lines: Vec<String>,
    details: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleCorpus {
    id: String,
    positive: Vec<Case>,
    negative: Vec<Case>,
    #[serde(default)]
    also: Vec<String>,
    #[serde(default)]
    detail: Vec<DetailCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CorpusFile {
    rule: Vec<RuleCorpus>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrdinaryLines {
    lines: Vec<String>,
}

fn analyzer() -> Analyzer {
    Analyzer::new(Catalog::load(&[], &[]).expect("the shipped catalog compiles"), Severity::Low)
}

fn findings(analyzer: &Analyzer, lines: &[&str]) -> Vec<Finding> {
    analyzer.analyze(&batch("/aws/lambda/corpus-fn", lines), "us-east-1")
}

fn corpus_files() -> Vec<(String, CorpusFile)> {
    BUILTIN_RULE_FILES
        .iter()
        .map(|(file, _)| {
            let name = Path::new(file).file_name().unwrap().to_string_lossy().into_owned();
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules").join(&name);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{file} has no test corpus at {}: {e}", path.display()));
            let corpus: CorpusFile = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (name, corpus)
        })
        .collect()
}

#[test]
fn every_rule_fires_on_its_real_lines_and_not_on_its_near_misses() {
    let analyzer = analyzer();
    let mut failures = Vec::new();
    for (file, corpus) in corpus_files() {
        for rule in &corpus.rule {
            for case in &rule.positive {
                let found = findings(&analyzer, &case.lines());
                let got: Vec<_> = found.iter().map(|f| f.rule_id.as_str()).collect();
                if !got.contains(&rule.id.as_str()) {
                    failures.push(format!("{file}: {} did not fire on {:?} (got {got:?})", rule.id, case.lines()));
                }
                let others: Vec<_> =
                    got.iter().filter(|id| **id != rule.id && !rule.also.iter().any(|a| a == *id)).collect();
                if !others.is_empty() {
                    failures.push(format!(
                        "{file}: {}'s positive {:?} also fired {others:?} (one failure, one finding; or list them in `also`)",
                        rule.id,
                        case.lines()
                    ));
                }
            }
            for case in &rule.negative {
                if findings(&analyzer, &case.lines()).iter().any(|f| f.rule_id == rule.id) {
                    failures.push(format!("{file}: {} fired on the near miss {:?}", rule.id, case.lines()));
                }
            }
            for case in &rule.detail {
                let lines: Vec<&str> = case.lines.iter().map(String::as_str).collect();
                let found = findings(&analyzer, &lines);
                match found.iter().find(|f| f.rule_id == rule.id) {
                    None => failures.push(format!("{file}: {} did not fire on detail case {lines:?}", rule.id)),
                    Some(finding) => {
                        for (name, expected) in &case.details {
                            if finding.details.get(name) != Some(expected) {
                                failures.push(format!(
                                    "{file}: {} detail {name}: expected {expected}, got {:?}",
                                    rule.id,
                                    finding.details.get(name)
                                ));
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} corpus failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_shipped_rule_has_two_positives_and_one_negative() {
    let catalog = Catalog::load(&[], &[]).unwrap();
    let corpora = corpus_files();
    let mut missing = Vec::new();
    for rule in catalog.rules() {
        let corpus = corpora.iter().flat_map(|(_, c)| &c.rule).find(|c| c.id == rule.id());
        match corpus {
            None => missing.push(format!("{}: no corpus entry", rule.id())),
            Some(c) if c.positive.len() < 2 || c.negative.is_empty() => missing.push(format!(
                "{}: {} positives, {} negatives (need 2 and 1)",
                rule.id(),
                c.positive.len(),
                c.negative.len()
            )),
            Some(_) => {}
        }
    }
    for (file, corpus) in &corpora {
        for c in &corpus.rule {
            if !catalog.rules().iter().any(|r| r.id() == c.id) {
                missing.push(format!("{file}: corpus for unknown rule {}", c.id));
            }
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn ordinary_info_and_debug_lines_fire_nothing() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rules/ordinary-lines.toml");
    let ordinary: OrdinaryLines = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert!(ordinary.lines.len() >= 20);
    let analyzer = analyzer();
    for line in &ordinary.lines {
        let found = findings(&analyzer, &[line]);
        assert!(found.is_empty(), "{line:?} fired {:?}", found.iter().map(|f| &f.rule_id).collect::<Vec<_>>());
    }
    // And all of them together, as one batch, still fire nothing.
    let all: Vec<&str> = ordinary.lines.iter().map(String::as_str).collect();
    assert!(findings(&analyzer, &all).is_empty());
}
