//! `troubleshooter`: scan log files and saved events, and make test events, from a terminal.
//!
//! One file per command (`rules`, `scan`, `encode`), and `summary` for the table `scan` ends
//! with; every failure is a [`CliError`] with a
//! sentence on stderr and an exit code that says what kind of failure it was.

mod encode;
mod error;
mod rules;
mod scan;
mod summary;

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use error::CliError;

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

/// Output of `troubleshooter scan`.
#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    /// For people in a terminal.
    Text,
    /// One finding JSON per line, and nothing else (no summary).
    Json,
}

/// Output of `troubleshooter rules`.
#[derive(Clone, Copy, ValueEnum)]
pub enum RulesFormat {
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
    /// output or plain log lines, and print the findings; in text, then a summary (findings by
    /// category and severity, top functions, the time span covered).
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

fn read_input(file: Option<&PathBuf>) -> Result<Vec<u8>, CliError> {
    let mut bytes = Vec::new();
    match file {
        Some(path) if path.as_os_str() != "-" => {
            bytes =
                std::fs::read(path).map_err(|e| CliError::NoInput(format!("cannot read {}: {e}", path.display())))?;
        }
        _ => {
            std::io::stdin()
                .read_to_end(&mut bytes)
                .map_err(|e| CliError::NoInput(format!("cannot read stdin: {e}")))?;
        }
    }
    Ok(bytes)
}

fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Rules { format } => rules::run(format),
        Command::Scan { file, format, log_group, region, min_severity } => {
            scan::run(scan::ScanArgs { file, format, log_group, region, min_severity })
        }
        Command::Encode { file, log_group, log_stream, owner, timestamp, unescape, kinesis, message_type } => {
            encode::run(encode::EncodeArgs {
                file,
                log_group,
                log_stream,
                owner,
                timestamp,
                unescape,
                kinesis,
                message_type,
            })
        }
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("troubleshooter: {error}");
            error.exit_code()
        }
    }
}
