//! What the commands that call AWS (`pull`, `check`, `mute`, `mutes`, `unmute`) share: one
//! runtime for their few calls, and the SDK configuration from the standard chain, with
//! `--region` and `--profile` on top, refused before any call when it names no region.

use crate::error::CliError;

/// What to do when the configuration chain names no region.
pub const NO_REGION: &str = "no AWS region: pass --region (e.g. --region us-east-1), export AWS_REGION, or set one in your profile (aws configure set region us-east-1)";

/// A single-threaded runtime: a command makes a few calls, one after another.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(CliError::Output)
}

/// The SDK configuration ([`lambda_troubleshooter::aws::sdk_config`]), or [`NO_REGION`] as a
/// usage error when neither `--region` nor the chain gives a region (the SDK's own message is
/// a dispatch failure that names neither).
pub async fn sdk_config(region: Option<&str>, profile: Option<&str>) -> Result<aws_config::SdkConfig, CliError> {
    let config = lambda_troubleshooter::aws::sdk_config(region, profile).await;
    if config.region().is_none() {
        return Err(CliError::Usage(NO_REGION.to_owned()));
    }
    Ok(config)
}
