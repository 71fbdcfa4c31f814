//! `troubleshooter`: scan log files and saved events, and make test events, from a terminal.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use lambda_troubleshooter::config::Config;
use lambda_troubleshooter::handler::Troubleshooter;
use lambda_troubleshooter::ingest::input::{self, Origin};
use lambda_troubleshooter::model::Severity;
use lambda_troubleshooter::report::catalog_doc;
use lambda_troubleshooter::report::render;
use lambda_troubleshooter::rules::Catalog;

#[derive(Parser)]
#[command(
    name = "troubleshooter",
    version,
    about = "Turns AWS Lambda logs into diagnoses: what happened, why, and how to fix it."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// For people in a terminal.
    Text,
    /// One finding JSON per line.
    Json,
}

/// Output of `troubleshooter rules`.
#[derive(Clone, Copy, ValueEnum)]
enum RulesFormat {
    /// For people in a terminal.
    Text,
    /// Markdown tables (RULES.md is this output for the built-in catalog).
    Markdown,
}

#[derive(Subcommand)]
enum Command {
    /// List every rule of the catalog (built-in, plus EXTRA_RULES_FILE, minus DISABLED_RULES):
    /// id, category, severity and what it matches.
    Rules {
        #[arg(long, value_enum, default_value = "text")]
        format: RulesFormat,
    },
    /// Scan an awslogs or Kinesis event, a CloudWatch Logs document, `aws logs filter-log-events`
    /// output or plain log lines, and print the findings.
    Scan {
        /// The input file; `-` or nothing reads stdin.
        file: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "text")]
        format: Format,
        /// Log group for inputs that do not name one (plain text, filter-log-events).
        #[arg(long, default_value = "/aws/lambda/local")]
        log_group: String,
        /// Region for console links and ARNs (default: AWS_REGION, else us-east-1).
        #[arg(long)]
        region: Option<String>,
        /// Drop findings below this severity (default: MIN_SEVERITY, else low).
        #[arg(long)]
        min_severity: Option<String>,
    },
    /// Turn plain log lines into an awslogs Lambda event for `cargo lambda invoke --data-file`.
    Encode {
        /// The log lines; `-` or nothing reads stdin.
        file: Option<PathBuf>,
        #[arg(long)]
        log_group: String,
        #[arg(long, default_value = "2024/03/04/[$LATEST]0123456789abcdef0123456789abcdef")]
        log_stream: String,
        /// The account that owns the logs.
        #[arg(long, default_value = "123456789012")]
        owner: String,
        /// Time of lines that carry none, RFC 3339 (default: now).
        #[arg(long)]
        timestamp: Option<String>,
        /// Read `\t`, `\n` and `\\` in the lines as tab, newline and backslash (the way
        /// LOG-FORMATS.md and many bug reports write CloudWatch messages).
        #[arg(long)]
        unescape: bool,
        /// Make a Kinesis event (a CloudWatch Logs destination stream) instead of an awslogs one.
        #[arg(long)]
        kinesis: bool,
        /// The document's messageType.
        #[arg(long, default_value = "DATA_MESSAGE", value_parser = ["DATA_MESSAGE", "CONTROL_MESSAGE"])]
        message_type: String,
    },
}

fn read_input(file: Option<&PathBuf>) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    match file {
        Some(path) if path.as_os_str() != "-" => {
            bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        }
        _ => {
            std::io::stdin().read_to_end(&mut bytes).map_err(|e| format!("cannot read stdin: {e}"))?;
        }
    }
    Ok(bytes)
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Rules { format } => {
            let config = Config::from_env().map_err(|e| e.to_string())?;
            let catalog = Catalog::load(&config.extra_rule_files().map_err(|e| e.to_string())?, &config.disabled_rules)
                .map_err(|e| e.to_string())?;
            let text = match format {
                RulesFormat::Text => catalog_doc::text(&catalog),
                RulesFormat::Markdown => catalog_doc::markdown(&catalog),
            };
            std::io::stdout().lock().write_all(text.as_bytes()).map_err(|e| e.to_string())?;
            Ok(())
        }
        Command::Scan { file, format, log_group, region, min_severity } => {
            let mut config = Config::from_env().map_err(|e| e.to_string())?;
            if let Some(region) = region {
                config.region = region;
            }
            if let Some(text) = min_severity {
                config.min_severity = Severity::parse(&text)
                    .ok_or_else(|| format!("--min-severity {text:?}: expected one of low, medium, high, critical"))?;
            }
            let limit = config.max_decompressed_bytes;
            let troubleshooter = Troubleshooter::new(config).map_err(|e| e.to_string())?;
            let bytes = read_input(file.as_ref())?;
            let origin = Origin {
                log_group,
                log_stream: String::new(),
                owner: String::new(),
                base_timestamp_ms: chrono::Utc::now().timestamp_millis(),
            };
            let batches = input::read_batches(&bytes, &origin, limit).map_err(|e| e.to_string())?;
            let mut out = std::io::stdout().lock();
            let mut events = 0;
            let mut total = 0;
            for batch in &batches {
                events += batch.log_events.len();
                let outcome = troubleshooter.analyze_batch(batch);
                total += outcome.findings.len();
                for finding in &outcome.findings {
                    let text = match format {
                        Format::Json => render::json_line(finding).map_err(|e| e.to_string())? + "\n",
                        Format::Text => render::text(finding) + "\n",
                    };
                    out.write_all(text.as_bytes()).map_err(|e| e.to_string())?;
                }
            }
            if matches!(format, Format::Text) {
                let message = match total {
                    0 => format!("No problems found in {events} log events."),
                    n => format!("{n} finding(s) in {events} log events."),
                };
                writeln!(out, "{message}").map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        Command::Encode { file, log_group, log_stream, owner, timestamp, unescape, kinesis, message_type } => {
            let base_timestamp_ms = match timestamp {
                Some(text) => chrono::DateTime::parse_from_rfc3339(&text)
                    .map_err(|e| format!("--timestamp {text:?}: expected RFC 3339, e.g. 2024-03-04T17:22:38Z ({e})"))?
                    .timestamp_millis(),
                None => chrono::Utc::now().timestamp_millis(),
            };
            let bytes = read_input(file.as_ref())?;
            let text = std::str::from_utf8(&bytes).map_err(|e| format!("the input is not UTF-8 text: {e}"))?;
            let origin = Origin { log_group, log_stream, owner, base_timestamp_ms };
            let lines = text.lines().filter(|l| !l.trim().is_empty());
            let messages: Vec<String> =
                if unescape { lines.map(input::unescape).collect() } else { lines.map(str::to_owned).collect() };
            let kind = if kinesis { input::EventKind::Kinesis } else { input::EventKind::AwsLogs };
            let batch = input::messages_batch(messages, &origin);
            let event = input::encode_event(batch, &message_type, kind).map_err(|e| e.to_string())?;
            let pretty = serde_json::to_string_pretty(&event).map_err(|e| e.to_string())?;
            println!("{pretty}");
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("troubleshooter: {message}");
            ExitCode::FAILURE
        }
    }
}
