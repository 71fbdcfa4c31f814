#!/usr/bin/env bash
# Every test, as CI runs it (README: `make test`). Installs the pinned tools first.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-tools.sh >/dev/null
export PATH="$PWD/.venv/bin:$PATH" SAM_CLI_TELEMETRY=0

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet

echo "== unit, corpus, events and integration tests (cargo lambda, moto)"
cargo test --no-fail-fast

echo "== events are up to date with their sources"
scripts/make-events.sh --check

echo "== template (cfn-lint, sam validate --lint, invariants, sam build)"; scripts/check-template.sh
