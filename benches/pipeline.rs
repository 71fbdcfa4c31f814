//! Throughput of the hot path on a worst-case batch, beside gunzip alone (the floor).
//!
//! The batch is what a 1 MB awslogs envelope can carry: ~16.7k events, ~5.4 MB of JSON, a
//! realistic mix of platform lines, application logs and a few failures. Setup happens outside
//! the timing. DESIGN.md's targets: the whole pipeline at ≥ 50% of gunzip-alone throughput, a
//! worst-case envelope in ≤ 15 ms, init (config + catalog) ≤ 15 ms.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::io::Write;

use base64::Engine as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::{Compression, write::GzEncoder};
use lambda_troubleshooter::config::Config;
use lambda_troubleshooter::handler::Troubleshooter;
use lambda_troubleshooter::ingest::{self, DEFAULT_MAX_DECOMPRESSED_BYTES};
use serde_json::json;

/// One invocation's worth of lines; `n` makes request ids unique and varies the content.
fn invocation(n: usize, failing: bool) -> Vec<String> {
    let id = format!("{n:08x}-1b1b-4c2c-8d3d-4e4e4e4e4e4e");
    let mut lines = vec![format!("START RequestId: {id} Version: $LATEST\n")];
    for step in 0..6 {
        lines.push(format!(
            "[INFO]\t2024-03-04T17:22:38.210Z\t{id}\tprocessing order {n} step {step}: fetched 42 items from inventory, timeout 30 s, retry limit 3\n"
        ));
    }
    if failing && n.is_multiple_of(3) {
        lines.push(String::from("[ERROR] ClientError: An error occurred (AccessDeniedException) when calling the GetSecretValue operation: User: arn:aws:sts::123456789012:assumed-role/orders-api-role/orders-api is not authorized to perform: secretsmanager:GetSecretValue on resource: orders/db because no identity-based policy allows the secretsmanager:GetSecretValue action\n"));
    }
    lines.push(format!("END RequestId: {id}\n"));
    let status = if failing && n % 3 == 1 { "\tStatus: error\tError Type: Runtime.OutOfMemory" } else { "" };
    lines.push(format!(
        "REPORT RequestId: {id}\tDuration: 140.02 ms\tBilled Duration: 141 ms\tMemory Size: 256 MB\tMax Memory Used: {} MB{status}\t\n",
        if status.is_empty() { 88 } else { 256 }
    ));
    lines
}

/// A CloudWatch Logs document of about `target_events` events.
fn document(target_events: usize, failing: bool) -> String {
    let mut events = Vec::with_capacity(target_events);
    let mut n = 0;
    while events.len() < target_events {
        for line in invocation(n, failing && n % 50 == 0) {
            let i = events.len();
            events.push(
                json!({"id": format!("{:056}", i), "timestamp": 1_709_572_958_000i64 + i as i64, "message": line}),
            );
        }
        n += 1;
    }
    json!({"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/orders-api",
           "logStream": "2024/03/04/[$LATEST]94fa867e5374431291a7fc14e2f56ae7", "subscriptionFilters": ["f"],
           "logEvents": events})
    .to_string()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let troubleshooter = Troubleshooter::new(Config::default()).unwrap();
    let publisher = NullPublisher;
    for (name, failing) in [("worst-case-mixed", true), ("no-match-baseline", false)] {
        let doc = document(16_700, failing);
        let compressed = gzip(doc.as_bytes());
        let event = json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(&compressed)}});
        if failing {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/worst-case-event.json");
            std::fs::write(&path, event.to_string()).unwrap();
            eprintln!(
                "{name}: {} events, {:.2} MB JSON, {:.2} MB gzip, {:.2} MB envelope (written to {})",
                16_700,
                doc.len() as f64 / 1e6,
                compressed.len() as f64 / 1e6,
                event.to_string().len() as f64 / 1e6,
                path.display()
            );
        }
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Bytes(doc.len() as u64));
        group.sample_size(30);
        group.bench_function("gunzip-alone", |b| {
            b.iter(|| ingest::gunzip_bounded(black_box(&compressed), DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap())
        });
        group.bench_function("decode", |b| {
            b.iter(|| ingest::decode_value(black_box(event.clone()), DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap())
        });
        group.bench_function("whole-pipeline", |b| {
            b.iter(|| runtime.block_on(troubleshooter.handle(black_box(event.clone()), &publisher)).unwrap())
        });
        group.finish();
    }
    c.bench_function("init-config-and-catalog", |b| {
        b.iter(|| Troubleshooter::new(Config::from_lookup(|_| None).unwrap()).unwrap())
    });
}

/// Drops findings: the benchmark measures analysis, not delivery.
struct NullPublisher;

impl lambda_troubleshooter::publish::Publisher for NullPublisher {
    async fn publish(
        &self,
        findings: &[lambda_troubleshooter::finding::Finding],
    ) -> Result<(), lambda_troubleshooter::publish::PublishError> {
        black_box(findings);
        Ok(())
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
