//! `troubleshooter`: scan log files and saved events, and make test events, from a terminal.
//!
//! One file per command (`rules`, `scan`, `encode`, `check`, and `mute` for `mute`, `mutes` and
//! `unmute`; `pull`, `check` and the `mute` commands only with the `aws` feature, which brings the AWS
//! SDK), and `summary` for the table `scan` ends with; every failure is a [`CliError`] with a
//! sentence on stderr and an exit code that says what kind of failure it was.

#[cfg(feature = "aws")]
mod aws;
#[cfg(feature = "aws")]
mod check;
mod encode;
mod error;
#[cfg(feature = "aws")]
mod mute;
#[cfg(feature = "aws")]
mod pull;
mod rules;
mod scan;
mod source;
mod summary;

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
        /// AWS's documentation and many bug reports write CloudWatch messages).
        #[arg(long)]
        unescape: bool,
        /// Make a Kinesis event (a CloudWatch Logs destination stream) instead of an awslogs one.
        #[arg(long)]
        kinesis: bool,
        /// The document's messageType.
        #[arg(long, default_value = "DATA_MESSAGE", value_parser = ["DATA_MESSAGE", "CONTROL_MESSAGE"])]
        message_type: String,
    },
    /// Read a function's logs from CloudWatch Logs and report what went wrong, as `scan` does
    /// (AWS credentials and region from the standard configuration chain).
    #[cfg(feature = "aws")]
    Pull(pull::PullArgs),
    /// After a deploy: send one test finding through the deployed function and its topic, and
    /// say whether it was published (every subscriber then receives it).
    #[cfg(feature = "aws")]
    Check {
        /// The deployed function (the stack's FunctionName output).
        #[arg(long)]
        function: String,
        /// The function's region (default: the AWS configuration chain).
        #[arg(long)]
        region: Option<String>,
        /// The AWS profile (default: the AWS configuration chain).
        #[arg(long)]
        profile: Option<String>,
    },
    /// Mute a function's findings (one rule, or all) for a while: the deployed function drops
    /// them until the mute expires. Needs the stack's suppression table.
    #[cfg(feature = "aws")]
    Mute {
        /// The function name, as in its log group /aws/lambda/NAME.
        #[arg(long)]
        function: String,
        /// Only this rule (see `troubleshooter rules`); without it, every rule of the function.
        #[arg(long)]
        rule: Option<String>,
        /// How long, e.g. 30m, 24h, 7days (at most 90days).
        #[arg(long = "for", value_name = "DURATION")]
        duration: String,
        /// Why, for whoever lists the mutes.
        #[arg(long)]
        reason: Option<String>,
        #[command(flatten)]
        table: TableOptions,
    },
    /// List the mutes in force.
    #[cfg(feature = "aws")]
    Mutes {
        /// One mute JSON per line.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        table: TableOptions,
    },
    /// Remove a mute.
    #[cfg(feature = "aws")]
    Unmute {
        /// The function name.
        #[arg(long)]
        function: String,
        /// The rule the mute was for; without it, the mute of every rule.
        #[arg(long)]
        rule: Option<String>,
        #[command(flatten)]
        table: TableOptions,
    },
}

/// Where the suppression table is.
#[cfg(feature = "aws")]
#[derive(clap::Args)]
struct TableOptions {
    /// The suppression table (default: SUPPRESS_TABLE; the stack's output SuppressionTableName).
    #[arg(long)]
    table: Option<String>,
    /// The table's region (default: the AWS configuration chain).
    #[arg(long)]
    region: Option<String>,
    /// The AWS profile (default: the AWS configuration chain).
    #[arg(long)]
    profile: Option<String>,
}

#[cfg(feature = "aws")]
impl From<TableOptions> for mute::TableArgs {
    fn from(options: TableOptions) -> Self {
        Self { table: options.table, region: options.region, profile: options.profile }
    }
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
        #[cfg(feature = "aws")]
        Command::Pull(args) => pull::run(args),
        #[cfg(feature = "aws")]
        Command::Check { function, region, profile } => check::run(check::CheckArgs { function, region, profile }),
        #[cfg(feature = "aws")]
        Command::Mute { function, rule, duration, reason, table } => {
            mute::mute(mute::MuteArgs { function, rule, duration, reason }, table.into())
        }
        #[cfg(feature = "aws")]
        Command::Mutes { json, table } => mute::list(json, table.into()),
        #[cfg(feature = "aws")]
        Command::Unmute { function, rule, table } => mute::unmute(function, rule, table.into()),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader went away (`scan … | head -1`): what it wanted was written.
        Err(CliError::Output(error)) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("troubleshooter: {error}");
            error.exit_code()
        }
    }
}
