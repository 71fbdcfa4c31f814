#!/usr/bin/env bash
# Install the project's pinned Python-packaged tools (cargo-lambda, moto server,
# boto3, cfn-lint, aws-sam-cli) into <repo>/.venv, and checkov into its own virtualenv,
# <repo>/.venv/checkov (its exact boto3 pin conflicts with SAM CLI's; see
# tools/checkov-requirements.txt), linked as .venv/bin/checkov.
#
# Idempotent: when .venv/.requirements.sha256 matches tools/requirements.txt,
# tools/checkov-requirements.txt (and the Python version), nothing is reinstalled. When
# the pins change, both virtualenvs are rebuilt from scratch so no stale package survives.
#
# Progress goes to stderr; the only thing printed on stdout is the venv's bin dir, so:
#   export PATH="$(scripts/setup-tools.sh):$PATH"
#
# Environment: PYTHON (default python3) picks the interpreter (3.9+; tested with 3.11).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REQS="$ROOT/tools/requirements.txt"
CHECKOV_REQS="$ROOT/tools/checkov-requirements.txt"
VENV="$ROOT/.venv"
BIN="$VENV/bin"
CHECKOV_VENV="$VENV/checkov"
STAMP="$VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"

log() { printf 'setup-tools: %s\n' "$*" >&2; }

command -v "$PYTHON" >/dev/null 2>&1 || { log "error: $PYTHON not found"; exit 1; }
"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' \
  || { log "error: $PYTHON is older than 3.9"; exit 1; }

# The stamp covers both sets of pins and the interpreter version the venvs were built with.
want="$( { cat "$REQS" "$CHECKOV_REQS"; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -d' ' -f1)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" && -x "$BIN/cargo-lambda" && -x "$BIN/python" \
  && -x "$BIN/checkov" ]]; then
  log "tools up to date in $VENV"
else
  log "installing pinned tools into $VENV: cargo-lambda (with zig), moto, cfn-lint, AWS SAM CLI, checkov; about 1.2 GB, 5 to 10 minutes on a 2-core machine (once: later runs reuse them)"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$BIN/python" -m pip install --disable-pip-version-check --no-input --quiet -r "$REQS" >&2
  log "installing pinned checkov into $CHECKOV_VENV"
  "$PYTHON" -m venv "$CHECKOV_VENV"
  "$CHECKOV_VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
    -r "$CHECKOV_REQS" >&2
  # On the tools' PATH without its packages: the script's shebang is checkov's own python.
  ln -s ../checkov/bin/checkov "$BIN/checkov"
  # Smoke-check the entry points the tests and Makefile use.
  "$BIN/cargo-lambda" lambda --version >&2
  "$BIN/moto_server" --help >/dev/null
  "$BIN/cfn-lint" --version >&2
  SAM_CLI_TELEMETRY=0 "$BIN/sam" --version >&2
  printf 'checkov %s\n' "$("$BIN/checkov" --version)" >&2
  printf '%s\n' "$want" >"$STAMP"
  log "done"
fi

printf '%s\n' "$BIN"
