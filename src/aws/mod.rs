//! Adapters to AWS services, behind the ports of [`crate::deliver`]: [`sns`] publishes findings;
//! [`dynamodb`] keeps the suppression state and mutes every instance shares; [`logs`] reads
//! CloudWatch Logs (`troubleshooter pull`); [`lambda`] invokes a deployed function
//! (`troubleshooter check`).

//!
//! The SDK configuration is loaded once per process ([`sdk_config`]); each adapter builds its
//! client from it with its own timeouts (`from_config`), so credentials and the endpoint are
//! resolved once.

pub mod dynamodb;
pub mod lambda;
pub mod logs;
pub mod sns;

/// What a failed SDK call comes to, for a person: the service answered that the resource is
/// not there or that the caller may not, the call was never sent for lack of credentials, or
/// something else (its first cause).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallFailure {
    /// `ResourceNotFoundException`.
    NotFound,
    /// `AccessDeniedException` or `AccessDenied`, with the service's message.
    Denied(String),
    /// No credentials anywhere in the chain.
    NoCredentials(String),
    /// Anything else.
    Other(String),
}

impl CallFailure {
    /// Reads an SDK error of any service's operation (every SDK crate re-exports the same
    /// smithy `SdkError` and `ProvideErrorMetadata`; the Lambda crate's names are used).
    pub fn of<E, R>(error: &aws_sdk_lambda::error::SdkError<E, R>) -> Self
    where
        E: aws_sdk_lambda::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata as _, SdkError};
        match error.code().unwrap_or_default() {
            "ResourceNotFoundException" => return Self::NotFound,
            "AccessDeniedException" | "AccessDenied" => {
                return Self::Denied(error.message().unwrap_or_default().to_owned());
            }
            _ => {}
        }
        let full = DisplayErrorContext(error).to_string();
        if matches!(error, SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_))
            && full.to_ascii_lowercase().contains("credentials")
        {
            return Self::NoCredentials(first_cause(&full));
        }
        Self::Other(full)
    }
}

/// The longest part of an SDK error's chain a person is shown.
const MAX_CAUSE_CHARS: usize = 200;

/// The readable part of an SDK error's chain, without the debug dump of its source the SDK
/// appends in parentheses (`dispatch failure: other: the credential provider was not enabled:
/// no providers in chain provided credentials (DispatchFailure(…`): the sentences before it,
/// at most 200 characters.
pub fn first_cause(chain: &str) -> String {
    let readable = chain.split(" (").next().unwrap_or(chain).trim();
    match readable.char_indices().nth(MAX_CAUSE_CHARS) {
        Some((at, _)) => format!("{}…", &readable[..at]),
        None => readable.to_owned(),
    }
}

/// The SDK configuration of the standard chain (environment, profile, SSO, instance role, and
/// `AWS_ENDPOINT_URL` for a local endpoint), with the region and profile given, if any. Makes
/// no network call; load it once and build every client from it.
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
