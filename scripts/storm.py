#!/usr/bin/env python3
"""A log storm from one function, as CloudWatch Logs delivers it: an awslogs Lambda event of
10,000 error lines of five kinds (2,000 each, interleaved), a storm that must come out as one
message per problem:

- a database refusing connections on a pool of 200 addresses (`connect ECONNREFUSED
  10.0.x.y:5432`);
- `ThrottlingException: Rate exceeded`;
- `Task timed out after 3.00 seconds`, one per invocation;
- AccessDenied on `dynamodb:PutItem` for seven tables;
- DNS failures (`getaddrinfo ENOTFOUND`) for 50 partner hosts.

Lines are printed the way the Node.js runtime prints them (timestamp, request id, level,
message); each kind's line sits in its own invocation. `--part N` gives the N-th batch of the
same storm (later timestamps, other event ids and request ids), as one busy function's storm
reaches many instances in many batches.

`--unhandled` gives instead a storm of errors no rule names, 2,000 of each of five kinds, with
ids and values that differ from line to line: a Node.js TypeError (Invoke Error), a Python
KeyError with its traceback, a Java exception's error document, a .NET unhandled exception,
and a Node.js validation error logged at ERROR with its stack. Each kind is one fingerprint.
Standard library only.

    python3 scripts/storm.py > target/storm.json
    python3 scripts/storm.py --unhandled > target/storm-unhandled.json
    cargo run --bin troubleshooter -- scan target/storm.json
"""

import argparse
import base64
import datetime
import gzip
import json
import sys
import uuid

FUNCTION = "orders-api"
ACCOUNT = "123456789012"
KINDS = 5


def message(kind, n, request_id, at):
    stamp = datetime.datetime.fromtimestamp(at / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if kind == 0:
        address = f"10.0.{(n % 200) // 100}.{n % 100 + 10}"
        return f"{stamp}\t{request_id}\tERROR\tError: connect ECONNREFUSED {address}:5432\n"
    if kind == 1:
        return f"{stamp}\t{request_id}\tERROR\tThrottlingException: Rate exceeded\n"
    if kind == 2:
        return f"{stamp} {request_id} Task timed out after 3.00 seconds\n"
    if kind == 3:
        table = f"orders-{n % 7}"
        return (
            f"{stamp}\t{request_id}\tERROR\tAccessDeniedException: User: arn:aws:sts::{ACCOUNT}:assumed-role/"
            f"{FUNCTION}-role/{FUNCTION} is not authorized to perform: dynamodb:PutItem on resource: "
            f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{table} because no identity-based policy allows "
            "the dynamodb:PutItem action\n"
        )
    host = f"api-{n % 50}.partner.example.com"
    return f"{stamp}\t{request_id}\tERROR\tError: getaddrinfo ENOTFOUND {host}\n"


def unhandled(kind, n, request_id, at):
    stamp = datetime.datetime.fromtimestamp(at / 1000, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if kind == 0:
        error = {
            "errorType": "TypeError",
            "errorMessage": f"Cannot read properties of undefined (reading 'item{n % 97}')",
            "stack": [
                f"TypeError: Cannot read properties of undefined (reading 'item{n % 97}')",
                f"    at priceOrder (/var/task/pricing.js:{40 + n % 3}:17)",
                "    at Runtime.handler (/var/task/index.js:12:9)",
            ],
        }
        return f"{stamp}\t{request_id}\tERROR\tInvoke Error \t{json.dumps(error)}\n"
    if kind == 1:
        return (
            f"[ERROR] KeyError: 'sku-{n}'\nTraceback (most recent call last):\n"
            f'  File "/var/task/app.py", line 31, in handler\n    return price(event["sku-{n}"])\n'
        )
    if kind == 2:
        error = {
            "errorMessage": f"Order {100000 + n} not found for customer {n % 13}",
            "errorType": "com.acme.orders.OrderNotFoundException",
            "stackTrace": ["com.acme.orders.OrderRepository.find(OrderRepository.java:88)", "com.acme.orders.Handler.handleRequest(Handler.java:42)"],
        }
        return json.dumps(error) + "\n"
    if kind == 3:
        return (
            f"Unhandled exception. System.InvalidOperationException: No shipping rate for zone {n % 40}\n"
            "   at Orders.Shipping.Rate(String zone) in /src/Orders/Shipping.cs:line 57\n"
        )
    return (
        f"{stamp}\t{request_id}\tERROR\tValidationError: field \"email\" is invalid for user {n}\n"
        f"    at validate (/var/task/validate.js:{10 + n % 5}:11)\n"
    )


def storm(lines, part, kinds=None):
    start = 1_709_572_958_000 + part * 60_000
    events = []
    for i in range(lines):
        at = start + i * 5
        request_id = str(uuid.UUID(int=(part << 64) | i, version=4))
        text = (kinds or message)(i % KINDS, i // KINDS, request_id, at)
        events.append({"id": f"{part:04d}{i:08d}{at}", "timestamp": at, "message": text})
    return {
        "messageType": "DATA_MESSAGE",
        "owner": ACCOUNT,
        "logGroup": f"/aws/lambda/{FUNCTION}",
        "logStream": f"2024/03/04/[$LATEST]{part:032x}",
        "subscriptionFilters": ["lambda-troubleshooter"],
        "logEvents": events,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=10_000, help="error lines in the batch (default 10,000)")
    parser.add_argument("--part", type=int, default=0, help="which batch of the storm (default 0)")
    parser.add_argument("--unhandled", action="store_true", help="errors no rule names (five fingerprints)")
    args = parser.parse_args()
    document = json.dumps(storm(args.lines, args.part, unhandled if args.unhandled else None)).encode()
    data = base64.b64encode(gzip.compress(document)).decode()
    json.dump({"awslogs": {"data": data}}, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
