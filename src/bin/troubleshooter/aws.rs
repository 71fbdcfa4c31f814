//! What the commands that call AWS (`pull`, `mute`, `mutes`, `unmute`) share: one runtime for
//! their few calls, and the SDK configuration from the standard chain, with `--region` and
//! `--profile` on top.

use crate::error::CliError;

/// A single-threaded runtime: a command makes a few calls, one after another.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(CliError::Output)
}

pub use lambda_troubleshooter::aws::sdk_config;
