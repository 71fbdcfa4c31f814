#!/usr/bin/env bash
# The whole product path on one machine (README: `make demo`): moto as SNS and SQS, the Lambda
# under `cargo lambda watch`, every event in events/ invoked, and what the subscribers received
# printed (email, AWS Chatbot, the finding JSON). Needs no AWS account and no Docker.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="$(scripts/setup-tools.sh)"
export PATH="$BIN:$PATH"
exec "$BIN/python" scripts/demo.py "$@"
