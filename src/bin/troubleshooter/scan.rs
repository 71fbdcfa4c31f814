//! `troubleshooter scan`: any saved event, document or log file, analysed as the Lambda would.

use std::io::Write;
use std::path::PathBuf;

use lambda_troubleshooter::analysis::Analysis;
use lambda_troubleshooter::config::Config;
use lambda_troubleshooter::ingest::LogBatch;
use lambda_troubleshooter::ingest::input::{self, Origin};
use lambda_troubleshooter::model::{Finding, Severity};
use lambda_troubleshooter::redact::Redactor;
use lambda_troubleshooter::report::render;

use crate::Format;
use crate::error::CliError;
use crate::source::{self, Lines, Source};
use crate::summary::Summary;

/// What was read: the batches of a saved event or document, or log lines still to read.
enum Input {
    Batches(Vec<LogBatch>),
    Lines(Lines),
}

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
    let (analysis, input) = std::thread::scope(|scope| {
        let init = scope.spawn(|| Analysis::new(config));
        let input = source::open(args.file.as_ref(), limit).and_then(|source| match source {
            Source::Whole(bytes) => {
                input::read_batches(&bytes, &origin, limit).map(Input::Batches).map_err(CliError::from)
            }
            Source::Lines(lines) => Ok(Input::Lines(lines)),
        });
        let analysis = init.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (analysis, input)
    });
    let analysis = analysis?;
    let mut out = std::io::stdout().lock();
    let mut summary = Summary::default();
    let mut analyse = |batch: &LogBatch, out: &mut std::io::StdoutLock<'_>| -> Result<(), CliError> {
        let outcome = analysis.analyze_batch(batch);
        summary.add(batch, &outcome.findings);
        print_findings(&outcome.findings, args.format, out)
    };
    match input? {
        Input::Batches(batches) => {
            for batch in &batches {
                analyse(batch, &mut out)?;
            }
        }
        // Log lines a chunk at a time: a file of any size in bounded memory; a problem that
        // spans two chunks is reported in each.
        Input::Lines(mut lines) => {
            let mut any = false;
            while let Some(chunk) = lines.next_chunk()? {
                any = true;
                analyse(&input::messages_batch(chunk, &origin), &mut out)?;
            }
            if !any {
                return Err(CliError::BadInput(input::InputError::Empty));
            }
        }
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
