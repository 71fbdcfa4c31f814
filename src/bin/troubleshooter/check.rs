//! `troubleshooter check`: after a deploy, one test finding through the deployed function and
//! its topic. It invokes the function with a small CloudWatch Logs batch, one failed request
//! whose error type is new each time, and reads the function's answer: `published` means every
//! subscriber gets a message.

use std::io::Write as _;

use lambda_troubleshooter::aws::lambda::{FunctionInvoker, InvokeError, Invoked};
use lambda_troubleshooter::ingest::input::{self, EventKind};
use lambda_troubleshooter::ingest::{DATA_MESSAGE, LogBatch, LogEvent};
use serde_json::Value;

use crate::error::CliError;

/// The log group the test batch claims to come from.
pub const CHECK_LOG_GROUP: &str = "/aws/lambda/troubleshooter-deploy-check";
/// The error type of the test failure: the subscribers' message is titled with it.
pub const CHECK_ERROR_TYPE: &str = "TroubleshooterDeployCheck";

/// What `check` needs.
pub struct CheckArgs {
    /// The deployed function (the stack's FunctionName output).
    pub function: String,
    /// The function's region.
    pub region: Option<String>,
    /// The AWS profile.
    pub profile: Option<String>,
}

/// Runs the check.
///
/// # Errors
///
/// [`CliError`] saying what did not work and what to do.
pub fn run(args: CheckArgs) -> Result<(), CliError> {
    let marker = marker(chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default().unsigned_abs());
    let event = input::encode_event(test_batch(&marker), DATA_MESSAGE, EventKind::AwsLogs)?;
    let payload = serde_json::to_vec(&event)?;
    let invoked = crate::aws::runtime()?.block_on(async {
        let config = crate::aws::sdk_config(args.region.as_deref(), args.profile.as_deref()).await?;
        FunctionInvoker::from_config(&config).invoke(&args.function, payload).await.map_err(invoke_error)
    })?;
    let said = report(&args.function, &marker, invoked)?;
    writeln!(std::io::stdout(), "{said}")?;
    Ok(())
}

/// What the function's answer to the test batch means: the sentence to print when the test
/// finding was published, else the error that says what held it back.
fn report(function: &str, marker: &str, invoked: Invoked) -> Result<String, CliError> {
    let answer = match invoked {
        Invoked::Answered(answer) => answer,
        Invoked::Failed { kind, payload } => {
            return Err(CliError::Aws(format!(
                "{function} ran and failed ({kind}): {payload}. Its log group, /aws/lambda/{function}, says why: most often a publish it may not make (its role and TOPIC_ARN, the topic's KMS key)"
            )));
        }
    };
    match delivery_of(&answer, marker).as_deref() {
        Some("published") => Ok(format!(
            "{function}: the test finding was published. Every subscriber of its topic receives a message titled \"{CHECK_ERROR_TYPE}: …\" ({marker}) within a minute."
        )),
        Some(other) => Err(CliError::Aws(format!(
            "{function}: the test finding was analysed but not published ({other}): a mute of {CHECK_LOG_GROUP} or flood control held it back; the answer was {answer}"
        ))),
        None => Err(CliError::Aws(format!(
            "{function}: the function analysed the test batch but reported no finding for it: MIN_SEVERITY above high, or DISABLED_RULES holds unhandled-error; the answer was {answer}"
        ))),
    }
}

/// Letters no masking turns into a placeholder (not hex, not a number), so that each check's
/// error is a new error type with a fingerprint of its own.
fn marker(mut seed: u64) -> String {
    (0..10)
        .map(|_| {
            let letter = b'g' + u8::try_from(seed % 20).unwrap_or_default();
            seed /= 20;
            char::from(letter)
        })
        .collect()
}

/// One failed request, as a Python function's log shows it.
fn test_batch(marker: &str) -> LogBatch {
    let now = chrono::Utc::now().timestamp_millis();
    let request = "a7c7d7b0-0c1e-4f3a-9b2d-000000000001";
    let lines = [
        format!("START RequestId: {request} Version: $LATEST"),
        format!("[ERROR] {CHECK_ERROR_TYPE}: a test failure sent by troubleshooter check ({marker})"),
        format!("END RequestId: {request}"),
        format!(
            "REPORT RequestId: {request}\tDuration: 12.00 ms\tBilled Duration: 12 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tStatus: error\tError Type: Runtime.Unknown"
        ),
    ];
    LogBatch {
        // No account: the function reports it as unknown rather than as a made-up one.
        owner: String::new(),
        log_group: CHECK_LOG_GROUP.into(),
        log_stream: format!("deploy-check/{marker}"),
        message_type: DATA_MESSAGE.into(),
        policy_level: None,
        subscription_filters: vec!["troubleshooter-check".into()],
        log_events: lines
            .into_iter()
            .enumerate()
            .map(|(i, message)| LogEvent {
                id: format!("{marker}{i}").into(),
                timestamp: now + i as i64,
                message: message.into(),
            })
            .collect(),
    }
}

/// The delivery of the test finding in the function's answer.
fn delivery_of(answer: &Value, marker: &str) -> Option<String> {
    answer["findings"]
        .as_array()?
        .iter()
        .find(|f| {
            f["title"].as_str().is_some_and(|t| t.contains(marker))
                || f["summary"].as_str().is_some_and(|s| s.contains(marker))
        })
        .and_then(|f| f["delivery"].as_str())
        .map(str::to_owned)
}

fn invoke_error(error: InvokeError) -> CliError {
    match error {
        InvokeError::NoCredentials { .. } | InvokeError::AccessDenied { .. } => CliError::NotAllowed(error.to_string()),
        InvokeError::NoFunction { .. } | InvokeError::Failed { .. } => CliError::Aws(error.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(delivery: &str) -> Invoked {
        Invoked::Answered(serde_json::json!({"findings": [
            {"rule_id": "unhandled-error", "title": "TroubleshooterDeployCheck: a test failure sent by troubleshooter check (qwrtzk)", "delivery": delivery}
        ]}))
    }

    #[test]
    fn each_answer_says_what_happened_to_the_test_finding() {
        let said = report("fn", "qwrtzk", answer("published")).unwrap();
        assert!(said.starts_with("fn: the test finding was published."), "{said}");
        for (invoked, expected) in [
            (answer("muted"), "not published (muted): a mute of /aws/lambda/troubleshooter-deploy-check"),
            (answer("suppressed"), "not published (suppressed)"),
            (
                Invoked::Answered(serde_json::json!({"findings": []})),
                "reported no finding for it: MIN_SEVERITY above high",
            ),
            (
                Invoked::Failed {
                    kind: "Unhandled".into(),
                    payload: r#"{"errorType":"Troubleshooter.PublishFailed"}"#.into(),
                },
                "fn ran and failed (Unhandled): {\"errorType\":\"Troubleshooter.PublishFailed\"}",
            ),
        ] {
            let error = report("fn", "qwrtzk", invoked).unwrap_err();
            assert!(matches!(error, CliError::Aws(_)), "{error:?}");
            assert!(error.to_string().contains(expected), "{error}");
        }
        // Another finding of the batch is not the test finding.
        let other = Invoked::Answered(
            serde_json::json!({"findings": [{"title": "Lambda timed out", "delivery": "published"}]}),
        );
        assert!(report("fn", "qwrtzk", other).is_err());
    }

    #[test]
    fn markers_are_letters_no_masking_replaces() {
        let a = marker(1_733_500_000_123_456_789);
        assert_eq!(a.len(), 10);
        assert!(a.chars().all(|c| ('g'..='z').contains(&c)), "{a}");
        assert_ne!(a, marker(1_733_500_000_123_456_790));
    }
}
