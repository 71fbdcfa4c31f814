//! The command line's one error type: what went wrong, in a sentence, and the exit code that
//! says which kind of wrong it was (sysexits.h, so scripts can tell them apart).

use std::process::ExitCode;

use lambda_troubleshooter::config::ConfigError;
use lambda_troubleshooter::ingest::input::InputError;
use lambda_troubleshooter::rules::RuleError;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// An argument has a value outside what it accepts (exit 2, like clap's own usage errors).
    #[error("{0}")]
    Usage(String),
    /// The environment's configuration or a rule file is wrong (exit 78, EX_CONFIG).
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// A rule file is wrong (exit 78, EX_CONFIG).
    #[error("{0}")]
    Rules(#[from] RuleError),
    /// The input file or stdin cannot be read (exit 66, EX_NOINPUT).
    #[error("{0}")]
    NoInput(String),
    /// The input was read but is not what it claims to be (exit 65, EX_DATAERR).
    #[error("{0}")]
    BadInput(#[from] InputError),
    /// Writing the output failed (exit 74, EX_IOERR).
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    /// No credentials, or the credentials may not do it (exit 77, EX_NOPERM).
    #[error("{0}")]
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    NotAllowed(String),
    /// An AWS service could not be reached or refused the call (exit 69, EX_UNAVAILABLE).
    #[error("{0}")]
    #[cfg_attr(not(feature = "aws"), allow(dead_code))]
    Aws(String),
    /// A finding or event could not be serialised (exit 70, EX_SOFTWARE).
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Self::Usage(_) => 2,
            Self::Config(_) | Self::Rules(_) => 78,
            Self::NoInput(_) => 66,
            Self::BadInput(_) => 65,
            Self::Output(_) => 74,
            Self::Aws(_) => 69,
            Self::NotAllowed(_) => 77,
            Self::Json(_) => 70,
        })
    }
}
