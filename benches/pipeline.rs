//! Throughput of the hot path on a worst-case and a typical batch, beside gunzip alone (the floor).
//!
//! The worst case is what a 1 MB awslogs envelope can carry: ~16.7k events, ~5.4 MB of JSON, a
//! realistic mix of platform lines, application logs and a few failures; the typical batch is
//! 500 events of the same mix (a busy function's few seconds); the no-match baseline is the
//! worst case without failures. Setup happens outside the timing. Each batch's event is written
//! to `target/bench-<group>-event.json` (the worst case also to `target/worst-case-event.json`)
//! so that `scripts/bench_table.py` runs the naive Python pipeline on the same bytes.
//! The targets: the whole pipeline at ≥ 50% of gunzip-alone throughput (docs/performance.md), a
//! worst-case envelope in ≤ 15 ms, init (config + catalog) ≤ 15 ms.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::io::Write;

use base64::Engine as _;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flate2::{Compression, write::GzEncoder};
use lambda_troubleshooter::config::Config;
use lambda_troubleshooter::handler::{Deadline, Troubleshooter};
use lambda_troubleshooter::ingest::{self, DEFAULT_MAX_DECOMPRESSED_BYTES};
use lambda_troubleshooter::rules::{ANCHOR_WINDOW, Catalog, ScanScratch};
use serde_json::json;

#[path = "../tests/it/support/choices.rs"]
mod choices;
use choices::Choices as Noise;

const ROUTES: &[&str] = &[
    "/orders",
    "/orders/{id}",
    "/carts/{id}/items",
    "/payments/authorize",
    "/inventory/reserve",
    "/users/{id}/profile",
];
const CUSTOMERS: &[&str] =
    &["acme-corp", "globex", "initech", "umbrella", "hooli", "stark-industries", "wayne-enterprises"];

/// One invocation's worth of lines in the three shapes functions print: the Python runtime's
/// text format, Powertools-style JSON lines, and the platform's START/END/REPORT. `failing`
/// adds an AccessDenied on GetSecretValue or an out-of-memory kill.
fn invocation(n: usize, failing: bool, noise: &mut Noise) -> Vec<String> {
    let id = format!("{}-{}-4{}-8{}-{}", noise.hex(8), noise.hex(4), noise.hex(3), noise.hex(3), noise.hex(12));
    let trace = format!("1-{}-{}", noise.hex(8), noise.hex(24));
    let mut lines = vec![format!("START RequestId: {id} Version: $LATEST\n")];
    for step in 0..(3 + noise.below(5)) {
        let route = noise.pick(ROUTES);
        let customer = noise.pick(CUSTOMERS);
        let latency = noise.below(900) as f64 / 3.0;
        if step % 2 == 0 {
            lines.push(format!(
                "[INFO]\t2024-03-04T17:22:{:02}.{:03}Z\t{id}\tGET {route} for {customer}: order {} fetched {} items from inventory-{} in {latency:.1} ms (cache {}; etag \"{}\")\n",
                noise.below(60), noise.below(1000), noise.below(10_000_000), noise.below(40), noise.below(16),
                if noise.below(2) == 0 { "hit" } else { "miss" }, noise.hex(8)
            ));
        } else {
            lines.push(format!(
                "{{\"level\":\"INFO\",\"location\":\"handler:{}\",\"message\":\"order {} priced\",\"timestamp\":\"2024-03-04 17:22:{:02},{:03}+0000\",\"service\":\"orders-api\",\"cold_start\":false,\"function_request_id\":\"{id}\",\"xray_trace_id\":\"{trace}\",\"customer\":\"{customer}\",\"route\":\"{route}\",\"total_cents\":{},\"items\":{}}}\n",
                noise.below(400), noise.below(10_000_000), noise.below(60), noise.below(1000), noise.below(500_000), noise.below(40)
            ));
        }
    }
    let oom = failing && (n / 50) % 2 == 1;
    if failing && !oom {
        lines.push(format!("[ERROR]\t2024-03-04T17:22:38.210Z\t{id}\tClientError: An error occurred (AccessDeniedException) when calling the GetSecretValue operation: User: arn:aws:sts::123456789012:assumed-role/orders-api-role/orders-api is not authorized to perform: secretsmanager:GetSecretValue on resource: orders/db because no identity-based policy allows the secretsmanager:GetSecretValue action\n"));
    }
    lines.push(format!("END RequestId: {id}\n"));
    let duration = noise.below(300_000) as f64 / 100.0;
    let status = if oom { "\tStatus: error\tError Type: Runtime.OutOfMemory" } else { "" };
    lines.push(format!(
        "REPORT RequestId: {id}\tDuration: {duration:.2} ms\tBilled Duration: {} ms\tMemory Size: 256 MB\tMax Memory Used: {} MB{status}\t\nXRAY TraceId: {trace}\tSegmentId: {}\tSampled: true\t\n",
        duration.ceil() as u64,
        if oom { 256 } else { 80 + noise.below(60) },
        noise.hex(16)
    ));
    lines
}

/// A CloudWatch Logs document of `target_events` events; every 50th invocation fails when
/// `failing` is set. Event ids are 56 digits that share a prefix within the batch, as real ones do.
fn document(target_events: usize, failing: bool) -> String {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let mut events = Vec::with_capacity(target_events);
    let mut n = 0;
    let mut timestamp = 1_709_572_958_000i64;
    while events.len() < target_events {
        for line in invocation(n, failing && n % 50 == 0, &mut noise) {
            if events.len() == target_events {
                break;
            }
            timestamp += noise.below(40) as i64;
            let id =
                format!("3797629727973847645945{:018}{:08}{:08}", timestamp, events.len(), noise.below(100_000_000));
            events.push(json!({"id": id, "timestamp": timestamp, "message": line}));
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
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    for (name, events, failing) in
        [("worst-case-mixed", 16_700, true), ("typical-mixed", 500, true), ("no-match-baseline", 16_700, false)]
    {
        let doc = document(events, failing);
        let compressed = gzip(doc.as_bytes());
        let event = json!({"awslogs": {"data": base64::engine::general_purpose::STANDARD.encode(&compressed)}});
        let path = target.join(format!("bench-{name}-event.json"));
        std::fs::write(&path, event.to_string()).unwrap();
        if name == "worst-case-mixed" {
            std::fs::write(target.join("worst-case-event.json"), event.to_string()).unwrap();
        }
        eprintln!(
            "{name}: {events} events, {:.2} MB JSON, {:.2} MB gzip, {:.2} MB envelope (written to {})",
            doc.len() as f64 / 1e6,
            compressed.len() as f64 / 1e6,
            event.to_string().len() as f64 / 1e6,
            path.display()
        );
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
            b.iter(|| {
                runtime
                    .block_on(troubleshooter.handle(black_box(event.clone()), &publisher, Deadline::none()))
                    .result
                    .unwrap()
            })
        });
        // Where the whole pipeline's time goes beyond the inflate: the analysis of the decoded
        // batch (scan, correlation, findings), and within it the anchor pass with its rules'
        // regexes: the anchors found a window of messages at a time, as the scan does, then each
        // message's candidate rules confirmed. It runs over
        // every message; the scan leaves START and END lines to the platform parser, so this
        // bounds it from above.
        let batch = ingest::decode_document(&compressed, DEFAULT_MAX_DECOMPRESSED_BYTES).unwrap();
        group.bench_function("analyze", |b| b.iter(|| troubleshooter.analysis().analyze_batch(black_box(&batch))));
        let catalog = Catalog::load(&[], &[]).unwrap();
        let mut scratch = ScanScratch::default();
        let mut hits = Vec::new();
        let messages: Vec<&str> = batch.log_events.iter().map(|event| event.message.as_str()).collect();
        group.bench_function("anchor-pass", |b| {
            b.iter(|| {
                for window in messages.chunks(ANCHOR_WINDOW) {
                    let anchors = catalog.find_anchors(black_box(window));
                    for (index, message) in window.iter().enumerate() {
                        hits.clear();
                        catalog.scan_found(message, anchors.of(index), &mut scratch, &mut hits);
                    }
                }
            })
        });
        group.finish();
    }
    c.bench_function("init-config-and-catalog", |b| {
        b.iter(|| Troubleshooter::new(Config::from_lookup(|_| None).unwrap()).unwrap())
    });
}

/// Drops findings: the benchmark measures analysis, not delivery.
struct NullPublisher;

impl lambda_troubleshooter::deliver::publish::Publisher for NullPublisher {
    fn publish<'a>(
        &'a self,
        findings: &'a [lambda_troubleshooter::model::finding::Finding],
        _: Option<std::time::Instant>,
    ) -> lambda_troubleshooter::BoxFuture<'a, Result<(), lambda_troubleshooter::deliver::publish::PublishError>> {
        black_box(findings);
        Box::pin(async { Ok(()) })
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
