//! JSON `platform.*` records (Lambda's JSON log format; telemetry schema reference).

use serde::Deserialize;

use super::{InitPhase, PlatformRecord, Report, Status};

/// Every JSON platform record has a `"type":"platform.…"`.
pub(super) const PLATFORM_TYPE: &str = "\"platform.";

#[derive(Deserialize)]
struct JsonPlatform {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    record: JsonRecord,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct JsonRecord {
    request_id: Option<String>,
    status: Option<String>,
    error_type: Option<String>,
    phase: Option<String>,
    metrics: Option<JsonMetrics>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct JsonMetrics {
    #[serde(rename = "durationMs")]
    duration_ms: Option<f64>,
    #[serde(rename = "memorySizeMB")]
    memory_size_mb: Option<u64>,
    #[serde(rename = "maxMemoryUsedMB")]
    max_memory_used_mb: Option<u64>,
    #[serde(rename = "initDurationMs")]
    init_duration_ms: Option<f64>,
    #[serde(rename = "restoreDurationMs")]
    restore_duration_ms: Option<f64>,
}

pub(super) fn parse_json(line: &str) -> Option<PlatformRecord> {
    let parsed: JsonPlatform = serde_json::from_str(line.trim_end()).ok()?;
    let record = parsed.record;
    let status = record.status.as_deref().and_then(Status::parse);
    let metrics = record.metrics.unwrap_or_default();
    Some(match parsed.kind.as_str() {
        "platform.start" => PlatformRecord::Start { request_id: record.request_id? },
        "platform.report" => PlatformRecord::Report(Report {
            request_id: record.request_id,
            duration_ms: metrics.duration_ms,
            memory_size_mb: metrics.memory_size_mb,
            max_memory_used_mb: metrics.max_memory_used_mb,
            init_duration_ms: metrics.init_duration_ms,
            restore_duration_ms: metrics.restore_duration_ms,
            status,
            error_type: record.error_type,
        }),
        "platform.runtimeDone" => {
            PlatformRecord::RuntimeDone { request_id: record.request_id, status, error_type: record.error_type }
        }
        "platform.initStart" => PlatformRecord::InitStart,
        "platform.initReport" | "platform.initRuntimeDone" => PlatformRecord::InitReport {
            phase: record.phase.as_deref().and_then(InitPhase::parse),
            status,
            error_type: record.error_type,
            init_duration_ms: metrics.duration_ms,
        },
        "platform.restoreReport" | "platform.restoreRuntimeDone" => PlatformRecord::RestoreReport {
            status,
            error_type: record.error_type,
            restore_duration_ms: metrics.duration_ms,
        },
        _ => return None,
    })
}
