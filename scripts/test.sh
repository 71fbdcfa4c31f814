#!/usr/bin/env bash
# Every test, as CI runs it (README: `make test`). Installs the pinned tools first.
set -euo pipefail
cd "$(dirname "$0")/.."
cat <<'ABOUT'
make test: formatting and lints, the unit, corpus and integration tests (moto server and
cargo lambda on 127.0.0.1), the event sources, and the template checks with an arm64 sam build.
The first run installs the pinned tools into .venv/ (about 1.2 GB, 5 to 10 minutes) and builds
the project with the AWS SDK (debug and release): about 25 minutes on an idle 2-core machine,
and about 8 GB in target/. Later runs rebuild only what changed. Nothing is installed outside
this folder; the arm64 Rust target is added to your toolchain only if you say yes.
ABOUT
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
