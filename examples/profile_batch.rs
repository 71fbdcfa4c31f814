//! One decode and three analyses of the benchmark's worst-case batch, for an instruction count
//! that does not depend on a busy machine: `make callgrind` runs it under valgrind. Criterion's
//! wall-clock figures (`make bench`) vary by several percent between runs on a shared machine;
//! instruction counts compare two commits to a fraction of a percent.

use std::process::ExitCode;

use lambda_troubleshooter::detect::Analyzer;
use lambda_troubleshooter::ingest;
use lambda_troubleshooter::model::Severity;
use lambda_troubleshooter::rules::Catalog;

fn main() -> ExitCode {
    let path = std::env::args().nth(1).unwrap_or_else(|| "target/worst-case-event.json".to_owned());
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!("{path}: not readable; `make bench` writes it");
        return ExitCode::FAILURE;
    };
    let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) else {
        eprintln!("{path}: not JSON");
        return ExitCode::FAILURE;
    };
    let Ok(ingest::Invocation::AwsLogs(batch)) = ingest::decode_value(value, 64 << 20) else {
        eprintln!("{path}: not a CloudWatch Logs subscription event");
        return ExitCode::FAILURE;
    };
    let Ok(catalog) = Catalog::load(&[], &[]) else {
        eprintln!("the built-in catalog does not load");
        return ExitCode::FAILURE;
    };
    let analyzer = Analyzer::new(catalog, Severity::Low);
    for _ in 0..3 {
        std::hint::black_box(analyzer.analyze(&batch, "us-east-1"));
    }
    ExitCode::SUCCESS
}
