//! `troubleshooter scan`: any saved event, document or log file, analysed as the Lambda would.

use std::io::Write;
use std::path::PathBuf;

use lambda_troubleshooter::config::Config;
use lambda_troubleshooter::handler::Troubleshooter;
use lambda_troubleshooter::ingest::input::{self, Origin};
use lambda_troubleshooter::model::{Finding, Severity};
use lambda_troubleshooter::report::redact::Redactor;
use lambda_troubleshooter::report::render;

use crate::error::CliError;
use crate::summary::Summary;
use crate::{Format, read_input};

/// What `scan` was asked to do.
pub struct ScanArgs {
    /// The input file; `-` or nothing reads stdin.
    pub file: Option<PathBuf>,
    /// `--format` (see `--help`).
    pub format: Format,
    /// `--log-group` (see `--help`).
    pub log_group: String,
    /// `--region` (see `--help`).
    pub region: Option<String>,
    /// `--min-severity` (see `--help`).
    pub min_severity: Option<String>,
}

/// Reads the input, analyses every batch in it and prints the findings, then (text format) the
/// summary table.
pub fn run(args: ScanArgs) -> Result<(), CliError> {
    let mut config = Config::from_env()?;
    if let Some(region) = args.region {
        config.region = region;
    }
    if let Some(text) = args.min_severity {
        config.min_severity = Severity::parse(&text).ok_or_else(|| {
            CliError::Usage(format!("--min-severity {text:?}: expected one of low, medium, high, critical"))
        })?;
    }
    let limit = config.max_decompressed_bytes;
    let origin = Origin {
        log_group: args.log_group,
        log_stream: String::new(),
        owner: String::new(),
        base_timestamp_ms: chrono::Utc::now().timestamp_millis(),
    };
    // Compiling the catalog, compiling the redaction patterns (every finding needs them) and
    // reading the input do not depend on each other, and together cost about as much as
    // analysing a full batch: each has a thread, so a second core takes the compiling off the
    // path to the first finding. A bad configuration is reported before a bad input, as when
    // they ran in turn. Nothing waits for the redaction patterns but the first finding's
    // redaction (a run without findings ends without them; should compiling them panic, the
    // panic is printed and the first redaction compiles them again).
    std::thread::spawn(Redactor::prepare);
    let (troubleshooter, batches) = std::thread::scope(|scope| {
        let init = scope.spawn(|| Troubleshooter::new(config));
        let batches = read_input(args.file.as_ref())
            .and_then(|bytes| input::read_batches(&bytes, &origin, limit).map_err(CliError::from));
        let troubleshooter = init.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (troubleshooter, batches)
    });
    let troubleshooter = troubleshooter?;
    let batches = batches?;
    let mut out = std::io::stdout().lock();
    let mut summary = Summary::default();
    for batch in &batches {
        let outcome = troubleshooter.analyze_batch(batch);
        summary.add(batch, &outcome.findings);
        print_findings(&outcome.findings, args.format, &mut out)?;
    }
    // JSON keeps one finding per line and nothing else (summary.rs says why).
    if matches!(args.format, Format::Text) {
        out.write_all(summary.render().as_bytes())?;
    }
    Ok(())
}

/// Writes findings for people (`text`) or programs (`json`, one per line), as `scan` and
/// `pull` print them.
pub fn print_findings(findings: &[Finding], format: Format, out: &mut impl Write) -> Result<(), CliError> {
    // The catalog's findings first, then the errors no rule explains (as the summary lists them).
    let (unhandled, explained): (Vec<&Finding>, Vec<&Finding>) = findings.iter().partition(|f| f.fingerprint.is_some());
    for finding in explained.into_iter().chain(unhandled) {
        let text = match format {
            Format::Json => render::json_line(finding)? + "\n",
            Format::Text => render::text(finding) + "\n",
        };
        out.write_all(text.as_bytes())?;
    }
    out.flush()?;
    Ok(())
}
