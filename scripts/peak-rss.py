#!/usr/bin/env python3
"""Peak memory of the Lambda binary on the worst-case batch (README: `make rss`).

The target (docs/performance.md) is a peak RSS of at most 32 MiB, so that a 128 MB function has
room to spare. This runs the release build of the Lambda (`target/release/lambda-troubleshooter`)
as Lambda runs it: against a Runtime API (the few routes of
https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html that lambda_runtime uses,
served here on 127.0.0.1), with TOPIC_ARN and AWS_ENDPOINT_URL pointing at moto server, so
the real SNS client is built and the findings are really published. It invokes the
worst-case event (written by `make bench`) several times, then reads the process's VmHWM
(the kernel's high-water mark of its resident memory) from /proc.

Run through `make rss`, which builds the binary, writes the event and installs the tools.

`--at-cap` measures the decompression cap instead (`make rss-cap`): a 128 MB function's
default cap is a quarter of its memory (32 MiB inflated); one batch just under the cap must be
analysed within the function's memory, and one just above it must be refused with
`Troubleshooter.BatchTooLarge` before it is inflated past the cap.
"""

import http.server
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import base64
import gzip
import random

import boto3

from localhost import free_port, wait_port

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
LAMBDA = ROOT / "target" / "release" / "lambda-troubleshooter"
EVENT = ROOT / "target" / "worst-case-event.json"
REGION = "us-east-1"
INVOCATIONS = 5
TARGET_MB = 32


class RuntimeApi(http.server.BaseHTTPRequestHandler):
    """Hands out `INVOCATIONS` copies of the event, one per `next`, and records the answers."""

    event = b""
    pid = None
    rss_at_init_kb = None
    served = 0
    results = []
    done = threading.Event()
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_GET(self):
        if not self.path.endswith("/runtime/invocation/next"):
            self.send_error(404)
            return
        with RuntimeApi.lock:
            RuntimeApi.served += 1
            number = RuntimeApi.served
        if number == 1 and RuntimeApi.pid is not None:
            RuntimeApi.rss_at_init_kb = memory_kb(RuntimeApi.pid)["VmRSS"]
        if number > INVOCATIONS:
            RuntimeApi.done.wait()
            time.sleep(3600)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Lambda-Runtime-Aws-Request-Id", f"req-{number}")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60_000))
        self.send_header(
            "Lambda-Runtime-Invoked-Function-Arn",
            f"arn:aws:lambda:{REGION}:123456789012:function:lambda-troubleshooter",
        )
        self.send_header("Content-Length", str(len(RuntimeApi.event)))
        self.end_headers()
        self.wfile.write(RuntimeApi.event)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        outcome = "error" if self.path.endswith("/error") else "response"
        with RuntimeApi.lock:
            RuntimeApi.results.append((self.path.split("/")[-2], outcome, body))
            if len(RuntimeApi.results) >= INVOCATIONS:
                RuntimeApi.done.set()


def memory_kb(pid):
    """The memory lines of /proc/PID/status (VmRSS, VmHWM, ...) in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {name: int(value.split()[0]) for name, value in fields.items() if name.startswith("Vm")}


MEMORY_MB = 128
CAP_BYTES = MEMORY_MB * 1024 * 1024 // 4


def synthetic_event(inflated_bytes, seed=7):
    """An awslogs event whose document inflates to about `inflated_bytes`: START/app/REPORT
    lines with random ids and figures, so it compresses like real logs (about 7:1)."""
    rng = random.Random(seed)
    events, size, n = [], 0, 0
    while size < inflated_bytes:
        request = "%08x-%04x-4%03x-8%03x-%012x" % tuple(rng.getrandbits(b) for b in (32, 16, 12, 12, 48))
        for message in (
            f"START RequestId: {request} Version: $LATEST\n",
            f"[INFO]\t2024-03-04T17:22:38.{rng.randrange(1000):03d}Z\t{request}\tGET /orders/{rng.randrange(10**7)} "
            f"for customer-{rng.randrange(5000)} fetched {rng.randrange(40)} items in {rng.random() * 300:.1f} ms "
            f"(etag {rng.getrandbits(64):016x})\n",
            f"REPORT RequestId: {request}\tDuration: {rng.random() * 3000:.2f} ms\tBilled Duration: {rng.randrange(3000)} ms"
            f"\tMemory Size: 256 MB\tMax Memory Used: {80 + rng.randrange(60)} MB\t\n",
        ):
            n += 1
            event = {"id": f"{n:056d}", "timestamp": 1709572958033 + n, "message": message}
            events.append(event)
            size += len(json.dumps(event)) + 1
    document = json.dumps({
        "messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "/aws/lambda/orders-api",
        "logStream": "2024/03/04/[$LATEST]94fa", "subscriptionFilters": ["all"], "logEvents": events,
    }).encode()
    data = base64.b64encode(gzip.compress(document, 6)).decode()
    return json.dumps({"awslogs": {"data": data}}).encode(), len(document)


def at_cap():
    """Just under and just above the default cap of a 128 MB function."""
    failed = False
    for label, target, expected in (
        ("just under the cap", CAP_BYTES - 2 * 1024 * 1024, "response"),
        ("just above the cap", CAP_BYTES + 1024 * 1024, "error"),
    ):
        event, inflated = synthetic_event(target)
        RuntimeApi.served, RuntimeApi.results, RuntimeApi.done = 0, [], threading.Event()
        peak_kb, _, _ = run(event, invocations=1)
        (_, outcome, body), = RuntimeApi.results
        error_type = json.loads(body).get("errorType", "") if outcome == "error" else ""
        print(
            f"{label}: {inflated / 2**20:.1f} MiB inflated ({len(event) / 1e6:.1f} MB envelope), cap {CAP_BYTES / 2**20:.0f} MiB "
            f"at {MEMORY_MB} MB: {outcome}{' ' + error_type if error_type else ''}, peak RSS {peak_kb / 1024:.1f} MiB"
        )
        if outcome != expected or (expected == "error" and error_type != "Troubleshooter.BatchTooLarge"):
            failed = True
        if peak_kb > MEMORY_MB * 1024 * 0.8:
            print(f"  peak above 80% of {MEMORY_MB} MB")
            failed = True
    return 1 if failed else 0


def main():
    for needed in (LAMBDA, EVENT):
        if not needed.exists():
            sys.exit(f"peak-rss: {needed} is missing (run `make rss`)")
    peak_kb, now_kb, _ = run(EVENT.read_bytes(), INVOCATIONS)
    for request, outcome, body in sorted(RuntimeApi.results):
        if outcome != "response":
            sys.exit(f"peak-rss: invocation {request} failed: {body.decode(errors='replace')[:500]}")
    first = json.loads(sorted(RuntimeApi.results)[0][2])
    deliveries = sorted({f["delivery"] for f in first["findings"]})
    size_mb = len(RuntimeApi.event) / 1e6
    print(
        f"{INVOCATIONS} invocations of {EVENT.name} ({size_mb:.2f} MB envelope; the first gave "
        f"{len(first['findings'])} findings, {'/'.join(deliveries)}, to moto SNS): peak RSS {peak_kb / 1024:.1f} MiB (VmHWM), "
        f"{(RuntimeApi.rss_at_init_kb or 0) / 1024:.1f} MiB after init, {now_kb / 1024:.1f} MiB after; target <= {TARGET_MB} MiB"
    )
    return 0 if peak_kb <= TARGET_MB * 1024 else 1


def run(event, invocations):
    """Serves `event` `invocations` times to a fresh Lambda process; its peak and final RSS."""
    global INVOCATIONS
    INVOCATIONS = invocations
    RuntimeApi.event = event
    moto_port, api_port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{moto_port}"
    with tempfile.TemporaryDirectory() as tmp:
        moto_log_path = Path(tmp) / "moto.log"
        moto_log = open(moto_log_path, "w")
        moto = subprocess.Popen(
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
            stdout=moto_log,
            stderr=subprocess.STDOUT,
        )
        lambda_proc = None
        try:
            wait_port(moto_port, "moto server", moto, moto_log_path)
            credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
            sns = boto3.client("sns", region_name=REGION, endpoint_url=endpoint, **credentials)
            topic = sns.create_topic(Name="troubleshooter-findings")["TopicArn"]
            server = http.server.ThreadingHTTPServer(("127.0.0.1", api_port), RuntimeApi)
            threading.Thread(target=server.serve_forever, daemon=True).start()
            env = {
                "PATH": os.environ.get("PATH", ""),
                "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api_port}",
                "AWS_LAMBDA_FUNCTION_NAME": "lambda-troubleshooter",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(MEMORY_MB),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/lambda-troubleshooter",
                "AWS_LAMBDA_LOG_STREAM_NAME": "local",
                "AWS_REGION": REGION,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_ENDPOINT_URL": endpoint,
                "TOPIC_ARN": topic,
                "RUST_LOG": "warn",
            }
            lambda_log = open(Path(tmp) / "lambda.log", "w")
            lambda_proc = subprocess.Popen([str(LAMBDA)], env=env, stdout=lambda_log, stderr=subprocess.STDOUT)
            RuntimeApi.pid = lambda_proc.pid
            if not RuntimeApi.done.wait(timeout=120):
                sys.exit(f"peak-rss: the Lambda did not answer:\n{(Path(tmp) / 'lambda.log').read_text()}")
            memory = memory_kb(lambda_proc.pid)
            peak_kb, now_kb = memory["VmHWM"], memory["VmRSS"]
        finally:
            if lambda_proc is not None:
                lambda_proc.kill()
            moto.kill()
    return peak_kb, now_kb, RuntimeApi.results


if __name__ == "__main__":
    sys.exit(at_cap() if "--at-cap" in sys.argv[1:] else main())
