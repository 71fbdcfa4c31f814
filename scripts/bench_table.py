#!/usr/bin/env python3
"""The comparison `make bench` ends with: one table per batch, from one run.

For the worst-case and the typical batch of benches/pipeline.rs: gunzip alone and the whole
pipeline (criterion's mean from the run that just finished, target/criterion/<group>/.../new/
estimates.json), their throughput ratio, where the time beyond the inflate goes (the decode's
base64 and JSON reading, the analysis, the anchor pass with its rules' regexes within it), then the naive Python pipeline
(scripts/naive_pipeline.py, standard library only) on the same event file, timed right after,
and how many times faster the whole pipeline is; then the release `troubleshooter scan` on the
same event as a whole process (median of --cli-runs), against the whole pipeline plus process
start (the median of `troubleshooter --version`). Ratios are what to quote: absolute times
depend on the machine and on how busy it is, ratios measured in one run much less.

Usage: bench_table.py [--runs N] [--cli-runs N]
       (after `cargo bench --bench pipeline` and `cargo build --release --bin troubleshooter`)
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
GROUPS = [("worst-case-mixed", "worst case (1 MB envelope)"), ("typical-mixed", "typical (500 events)")]


def criterion_ms(criterion, group, bench):
    """Criterion's mean for one benchmark of the last run, in milliseconds."""
    estimates = criterion / group / bench / "new" / "estimates.json"
    return json.loads(estimates.read_text())["mean"]["point_estimate"] / 1e6


def naive_ms(event, runs, prefilter):
    """The naive Python pipeline's median on `event`, in milliseconds."""
    command = [sys.executable, str(ROOT / "scripts" / "naive_pipeline.py"), str(event), "--runs", str(runs)]
    if prefilter:
        command.append("--prefilter")
    result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)
    return result["median_ms"]


def process_ms(command, runs):
    """The median wall time of `command` as a whole process, in milliseconds, with the built-in
    catalog only (the benchmark's, whatever rules the shell's environment adds)."""
    env = {k: v for k, v in os.environ.items() if k not in ("EXTRA_RULES_FILE", "DISABLED_RULES")}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each Python pipeline (median)")
    parser.add_argument("--cli-runs", type=int, default=21, help="runs of `troubleshooter scan` (median)")
    args = parser.parse_args()
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    criterion = target / "criterion"
    cli = target / "release" / "troubleshooter"
    start = process_ms([str(cli), "--version"], args.cli_runs)
    for group, title in GROUPS:
        gunzip = criterion_ms(criterion, group, "gunzip-alone")
        whole = criterion_ms(criterion, group, "whole-pipeline")
        event = ROOT / "target" / f"bench-{group}-event.json"
        naive = naive_ms(event, args.runs, prefilter=False)
        careful = naive_ms(event, args.runs, prefilter=True)
        print(f"\n{title}: {event.name}, {event.stat().st_size / 1e6:.2f} MB event")
        print("| measure | time | ratio |")
        print("|---|---|---|")
        print(f"| gunzip alone | {gunzip:.2f} ms | |")
        print(f"| whole pipeline | {whole:.2f} ms | {gunzip / whole:.2f} of gunzip-alone throughput |")
        # Where the rest goes: a ratio of 0.50 leaves everything but the inflate as long as the
        # inflate itself.
        decode = criterion_ms(criterion, group, "decode")
        analyze = criterion_ms(criterion, group, "analyze")
        anchors = criterion_ms(criterion, group, "anchor-pass")
        print(f"| whole pipeline beyond gunzip | {whole - gunzip:.2f} ms | {(whole - gunzip) / gunzip:.2f} times gunzip alone (0.50 needs at most 1.00) |")
        print(f"| decode beyond gunzip (base64, JSON reading) | {decode - gunzip:.2f} ms | {(decode - gunzip) / gunzip:.2f} times gunzip alone |")
        print(f"| analysis of the decoded batch | {analyze:.2f} ms | {analyze / gunzip:.2f} times gunzip alone |")
        print(f"| of which the anchor pass with its rules' regexes, every message | {anchors:.2f} ms | {anchors / gunzip:.2f} times gunzip alone |")
        print(f"| naive Python pipeline (every regex, every message) | {naive:.0f} ms | whole pipeline {naive / whole:.0f}x faster |")
        print(f"| Python with an anchor prefilter | {careful:.0f} ms | whole pipeline {careful / whole:.0f}x faster |")
        scan = process_ms([str(cli), "scan", str(event)], args.cli_runs)
        print(f"| process start (`troubleshooter --version`) | {start:.2f} ms | |")
        print(f"| `troubleshooter scan` on the event | {scan:.2f} ms | {scan / (whole + start):.2f} of whole pipeline + process start |")


if __name__ == "__main__":
    sys.exit(main())
