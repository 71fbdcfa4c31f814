//! What the commands that call AWS (`pull`, `mute`, `mutes`, `unmute`) share: one runtime for
//! their few calls, and the SDK configuration from the standard chain, with `--region` and
//! `--profile` on top.

use crate::error::CliError;

/// A single-threaded runtime: a command makes a few calls, one after another.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(CliError::Output)
}

/// The SDK configuration of the standard chain (environment, profile, SSO, instance role),
/// with the region and profile the user named, if any.
pub async fn sdk_config(region: Option<&str>, profile: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(aws_config::Region::new(region.to_owned()));
    }
    if let Some(profile) = profile {
        loader = loader.profile_name(profile);
    }
    loader.load().await
}
