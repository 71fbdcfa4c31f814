#!/usr/bin/env bash
# Install the project's pinned Python-packaged tools (cargo-lambda, moto server,
# boto3, cfn-lint, aws-sam-cli) into <repo>/.venv.
#
# Idempotent: when .venv/.requirements.sha256 matches tools/requirements.txt (and the
# Python version), nothing is reinstalled. When the pins change, the virtualenv is
# rebuilt from scratch so no stale package survives.
#
# Progress goes to stderr; the only thing printed on stdout is the venv's bin dir, so:
#   export PATH="$(scripts/setup-tools.sh):$PATH"
#
# Environment: PYTHON (default python3) picks the interpreter (3.9+; tested with 3.11).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQS="$ROOT/tools/requirements.txt"
VENV="$ROOT/.venv"
BIN="$VENV/bin"
STAMP="$VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"

log() { printf 'setup-tools: %s\n' "$*" >&2; }

command -v "$PYTHON" >/dev/null 2>&1 || { log "error: $PYTHON not found"; exit 1; }
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' \
  || { log "error: $PYTHON is older than 3.9"; exit 1; }

# The stamp covers the pins and the interpreter version the venv was built with.
want="$( { cat "$REQS"; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -x "$BIN/cargo-lambda" && -x "$BIN/python" ]]; then
  log "tools up to date in $VENV"
else
  log "installing pinned tools into $VENV (about a minute)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$BIN/python" -m pip install --disable-pip-version-check --no-input --quiet -r "$REQS" >&2
  # Smoke-check the entry points the tests and Makefile use.
  "$BIN/cargo-lambda" lambda --version >&2
  "$BIN/moto_server" --help >/dev/null
  "$BIN/cfn-lint" --version >&2
  SAM_CLI_TELEMETRY=0 "$BIN/sam" --version >&2
  printf '%s\n' "$want" >"$STAMP"
  log "done"
fi

printf '%s\n' "$BIN"
