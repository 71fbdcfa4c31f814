//! The Lambda adapter: invokes a deployed troubleshooter once, synchronously, for
//! `troubleshooter check` (a test batch through the function and its topic), and says what
//! came back: the function's answer, the error it failed with, or why it could not be invoked.

use aws_sdk_lambda::error::SdkError;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

use super::CallFailure;

/// What an invocation gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Invoked {
    /// The function answered: its response document.
    Answered(serde_json::Value),
    /// The function ran and failed: Lambda's `FunctionError` and the error document.
    Failed {
        /// `Unhandled` or `Handled`.
        kind: String,
        /// The error document the function returned (errorType, errorMessage).
        payload: String,
    },
}

/// Why the function could not be invoked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// There is no such function in this region and account.
    #[error(
        "function {function} does not exist in {region} (check --function, the stack's FunctionName output and --region)"
    )]
    NoFunction {
        /// The function asked for.
        function: String,
        /// The region asked.
        region: String,
    },
    /// The caller may not invoke it.
    #[error(
        "not allowed to invoke {function}: {message}. Allow lambda:InvokeFunction on it (docs/deployer-policy.json grants it)"
    )]
    AccessDenied {
        /// The function.
        function: String,
        /// What Lambda said.
        message: String,
    },
    /// No AWS credentials were found.
    #[error(
        "no AWS credentials: set AWS_PROFILE (or --profile) to a configured profile, run `aws sso login` or `aws configure`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY ({message})"
    )]
    NoCredentials {
        /// The first cause the SDK gave.
        message: String,
    },
    /// Anything else: the endpoint could not be reached, the answer was not JSON.
    #[error("invoking {function} failed: {message}")]
    Failed {
        /// The function.
        function: String,
        /// What went wrong.
        message: String,
    },
}

/// Invokes functions with the shared SDK configuration.
#[derive(Debug, Clone)]
pub struct FunctionInvoker {
    client: aws_sdk_lambda::Client,
    region: String,
}

impl FunctionInvoker {
    /// A client from the process's SDK configuration (its region, credentials and endpoint:
    /// `AWS_ENDPOINT_URL_LAMBDA` or `AWS_ENDPOINT_URL` for a local one).
    pub fn from_config(config: &aws_config::SdkConfig) -> Self {
        let region = config.region().map(ToString::to_string).unwrap_or_default();
        Self { client: aws_sdk_lambda::Client::new(config), region }
    }

    /// Invokes `function` with `payload` and waits for its answer.
    ///
    /// # Errors
    ///
    /// [`InvokeError`], naming what to do.
    pub async fn invoke(&self, function: &str, payload: Vec<u8>) -> Result<Invoked, InvokeError> {
        let sent = self
            .client
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::RequestResponse)
            .payload(Blob::new(payload))
            .send()
            .await;
        let output = sent.map_err(|error| self.error(function, error))?;
        let body = output.payload().map(|blob| String::from_utf8_lossy(blob.as_ref()).into_owned()).unwrap_or_default();
        if let Some(kind) = output.function_error() {
            return Ok(Invoked::Failed { kind: kind.to_owned(), payload: body });
        }
        serde_json::from_str(&body).map(Invoked::Answered).map_err(|e| InvokeError::Failed {
            function: function.to_owned(),
            message: format!("its answer is not JSON ({e}): {}", super::first_cause(&body)),
        })
    }

    fn error<E, R>(&self, function: &str, error: SdkError<E, R>) -> InvokeError
    where
        E: aws_sdk_lambda::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let function = function.to_owned();
        match CallFailure::of(&error) {
            CallFailure::NotFound => InvokeError::NoFunction { function, region: self.region.clone() },
            CallFailure::Denied(message) => InvokeError::AccessDenied { function, message },
            CallFailure::NoCredentials(message) => InvokeError::NoCredentials { message },
            CallFailure::Other(full) => InvokeError::Failed { function, message: super::first_cause(&full) },
        }
    }
}
