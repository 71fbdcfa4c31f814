#!/usr/bin/env python3
"""The naive log-forwarder pipeline `make bench` compares the Lambda with.

What most forwarders written in Python do with a CloudWatch Logs subscription event, standard
library only: json, base64, gzip, json again, then every rule's regex on every message (the
catalog's rules/*.toml; a rule without a regex is its anchors as one alternation). Regexes are
compiled once, before the timing, as a forwarder does at import. A few of the catalog's
regexes use Rust-only syntax that Python's `re` does not accept; they are left out and
counted, which only makes Python's pipeline cheaper.

`--prefilter` is the careful variant, for scale: a rule's regex runs only on messages that
contain one of its anchors (`in`, on the message lowered once for case-insensitive rules).

Usage: naive_pipeline.py EVENT_FILE [--runs N] [--prefilter]; prints one JSON line with the
median time in milliseconds, the events, matches and the regexes used.
"""

import argparse
import base64
import gzip
import json
import pathlib
import re
import statistics
import sys
import time
import tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent


def load_regexes():
    """Every rule's anchors and regex compiled with Python's `re`, and how many could not be."""
    compiled, skipped = [], 0
    for path in sorted((ROOT / "rules").glob("*.toml")):
        for rule in tomllib.loads(path.read_text()).get("rule", []):
            match = rule.get("match")
            if not match:
                continue
            flags = re.IGNORECASE if match.get("case_insensitive") else 0
            pattern = match.get("regex") or "|".join(re.escape(a) for a in match["anchors"])
            try:
                anchors = [a.lower() if flags else a for a in match["anchors"]]
                compiled.append((rule["id"], bool(flags), anchors, re.compile(pattern, flags)))
            except re.error:
                skipped += 1
    return compiled, skipped


def pipeline(payload, regexes, prefilter):
    """One invocation: decode the event, run every regex over every message."""
    event = json.loads(payload)
    document = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
    hits = []
    for log_event in document["logEvents"]:
        message = log_event["message"]
        lowered = message.lower() if prefilter else message
        for rule_id, insensitive, anchors, regex in regexes:
            if prefilter and not any(a in (lowered if insensitive else message) for a in anchors):
                continue
            found = regex.search(message)
            if found:
                hits.append((rule_id, log_event["id"], found.groupdict()))
    return len(document["logEvents"]), hits


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("event", type=pathlib.Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--prefilter", action="store_true")
    args = parser.parse_args()
    payload = args.event.read_bytes()
    regexes, skipped = load_regexes()
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        events, hits = pipeline(payload, regexes, args.prefilter)
        times.append(time.perf_counter() - start)
    print(
        json.dumps(
            {
                "median_ms": statistics.median(times) * 1e3,
                "min_ms": min(times) * 1e3,
                "runs": args.runs,
                "events": events,
                "matches": len(hits),
                "regexes": len(regexes),
                "regexes_not_python": skipped,
            }
        )
    )


if __name__ == "__main__":
    sys.exit(main())
