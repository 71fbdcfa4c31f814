//! The Lambda function: read configuration, compile the catalog and build clients once, then
//! serve invocations. Everything else lives in the library.

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{LambdaEvent, service_fn};
use lambda_troubleshooter::aws::dynamodb::SuppressionTable;
use lambda_troubleshooter::aws::logs::LogsReader;
use lambda_troubleshooter::aws::sns::SnsPublisher;
use lambda_troubleshooter::config::Config;
use lambda_troubleshooter::deliver::publish::{Publisher, StdoutPublisher};
use lambda_troubleshooter::handler::{Deadline, HandlerError, Measured, Troubleshooter};
use lambda_troubleshooter::ingest::Payload;

// One invocation at a time: Lambda never runs two in one process, so one thread is enough, and
// it keeps the memory of a second worker thread and its allocator arena out of a 128 MB function.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .with_writer(std::io::stderr)
        .init();
    // A bad configuration stops init with its message as written (not its Debug form), so the
    // function's log says which variable is wrong and what it accepts.
    let troubleshooter = match Config::from_env().and_then(Troubleshooter::new) {
        Ok(troubleshooter) => troubleshooter,
        Err(error) => {
            tracing::error!(error = %error, "init failed: the function cannot start until this is fixed");
            std::process::exit(1);
        }
    };
    // The SDK configuration, loaded once, for every adapter the configuration asks for.
    let needs_aws = troubleshooter.config().suppress_table.is_some()
        || troubleshooter.config().enrich_context
        || troubleshooter.config().topic_arn.is_some();
    let sdk = if needs_aws { Some(lambda_troubleshooter::aws::sdk_config(None, None).await) } else { None };
    // Flood control shared by every instance, when the stack gave a table.
    let troubleshooter = match (&sdk, troubleshooter.config().suppress_table.clone()) {
        (Some(sdk), Some(table)) => troubleshooter.with_store(Arc::new(SuppressionTable::from_config(sdk, &table))),
        _ => troubleshooter,
    };
    // A failed request's missing lines, from CloudWatch Logs (ENRICH_CONTEXT=on).
    let troubleshooter = match &sdk {
        Some(sdk) if troubleshooter.config().enrich_context => {
            troubleshooter.with_context_source(Arc::new(LogsReader::from_config(sdk, Duration::from_secs(1))))
        }
        _ => troubleshooter,
    };
    match (&sdk, troubleshooter.config().topic_arn.clone()) {
        (Some(sdk), Some(topic_arn)) => serve(&troubleshooter, &SnsPublisher::from_config(sdk, &topic_arn)).await,
        _ => serve(&troubleshooter, &StdoutPublisher).await,
    }
}

async fn serve(troubleshooter: &Troubleshooter, publisher: &dyn Publisher) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Payload>| async move {
        // A deadline already past means the runtime did not give a real one (local
        // emulators): then only the SNS client's own timeouts bound the invocation.
        let remaining = Some(time_left(event.context.deadline)).filter(|remaining| !remaining.is_zero());
        let Measured { result, metrics } = match event.payload {
            Payload::Json(payload) => troubleshooter.handle(payload, publisher, Deadline::from_clock(remaining)).await,
            Payload::Unreadable(reason) => troubleshooter.unreadable(reason),
        };
        // The invocation's metrics, whatever its outcome, as Embedded Metric Format lines on
        // stdout: CloudWatch Logs turns them into metrics.
        if let Err(error) = troubleshooter.write_metrics(&metrics, &mut std::io::stdout().lock()) {
            tracing::warn!(%error, "cannot write this invocation's metrics to stdout");
        }
        result.inspect_err(|e: &HandlerError| {
            tracing::error!(error = %e, "invocation failed; Lambda retries it, then keeps the event in the on-failure destination");
        })
    }))
    .await
}

/// The time left until the invocation's deadline (epoch milliseconds, from the Runtime API).
fn time_left(deadline_ms: u64) -> std::time::Duration {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    std::time::Duration::from_millis(deadline_ms).saturating_sub(now)
}
