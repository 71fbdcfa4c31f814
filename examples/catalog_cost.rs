//! Temporary: scan and init cost of the original three rule files versus the full catalog.
#![allow(clippy::unwrap_used, missing_docs)]
use std::time::Instant;

use lambda_troubleshooter::analyze::Analyzer;
use lambda_troubleshooter::ingest::{LogBatch, LogEvent};
use lambda_troubleshooter::rules::{BUILTIN_RULE_FILES, Catalog, Severity, parse_rule_file};

fn catalog(filter: &dyn Fn(&str) -> bool) -> Catalog {
    let mut specs = Vec::new();
    for (file, text) in BUILTIN_RULE_FILES.iter().filter(|(f, _)| filter(f)) {
        for spec in parse_rule_file(file, text).unwrap() {
            specs.push(((*file).to_owned(), spec));
        }
    }
    Catalog::compile(specs).unwrap()
}

fn main() {
    let mut events = Vec::new();
    let mut n = 0;
    while events.len() < 16_700 {
        let id = format!("{n:08x}-1b1b-4c2c-8d3d-4e4e4e4e4e4e");
        let mut lines = vec![format!("START RequestId: {id} Version: $LATEST\n")];
        for step in 0..6 {
            lines.push(format!("[INFO]\t2024-03-04T17:22:38.210Z\t{id}\tprocessing order {n} step {step}: fetched 42 items from inventory, timeout 30 s, retry limit 3\n"));
        }
        lines.push(format!("END RequestId: {id}\n"));
        lines.push(format!("REPORT RequestId: {id}\tDuration: 140.02 ms\tBilled Duration: 141 ms\tMemory Size: 256 MB\tMax Memory Used: 88 MB\t\n"));
        for line in lines {
            events.push(LogEvent { id: format!("{:056}", events.len()), timestamp: 1_709_572_958_000 + events.len() as i64, message: line });
        }
        n += 1;
    }
    let bytes: usize = events.iter().map(|e| e.message.len()).sum();
    let batch = LogBatch { owner: "1".into(), log_group: "/aws/lambda/x".into(), log_stream: "s".into(), message_type: "DATA_MESSAGE".into(), policy_level: None, subscription_filters: vec![], log_events: events };
    let original = |f: &str| f.ends_with("lambda-platform.toml") || f.ends_with("runtime-startup.toml") || f.ends_with("secrets-and-access.toml");
    for (name, filter) in [("original 3 files", &original as &dyn Fn(&str) -> bool), ("full catalog", &|_: &str| true)] {
        let t = Instant::now();
        for _ in 0..10 { std::hint::black_box(catalog(filter)); }
        let init = t.elapsed() / 10;
        let c = catalog(filter);
        let rules = c.rules().len();
        let (mut cand, mut hits) = (Vec::new(), Vec::new());
        let t = Instant::now();
        for _ in 0..20 { for e in &batch.log_events { hits.clear(); c.scan(&e.message, &mut cand, &mut hits); } }
        let scan = t.elapsed() / 20;
        let a = Analyzer::new(c, Severity::Low);
        let t = Instant::now();
        for _ in 0..20 { std::hint::black_box(a.analyze(&batch, "us-east-1")); }
        let analyze = t.elapsed() / 20;
        println!("{name:18} rules {rules:3}  compile {init:>10.2?}  scan {scan:>10.2?} ({:.0} MB/s of messages)  analyze {analyze:>10.2?}", bytes as f64 / scan.as_secs_f64() / 1e6);
    }
}
