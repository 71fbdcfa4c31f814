#!/usr/bin/env bash
# The template's checks, offline (README: Deploy; run by scripts/test.sh):
#   1. cfn-lint template.yaml            the CloudFormation linter, every region's specs
#   2. sam validate --lint               the SAM transform, then cfn-lint on its output
#   3. tests/template/test_template.py   the invariants: the function's own log group is never
#                                        subscribed, no wildcard actions, scoped permissions,
#                                        alarms wired to the topic, failure destinations
#   4. checkov                           the static security scan (pinned: tools/checkov-
#                                        requirements.txt), of template.yaml and of the template
#                                        as every scenario of tests/template deploys it; any
#                                        failed check fails. Skips: the resources' Metadata.
#   5. sam build                         cargo lambda, release, cross-compiled; then the
#                                        bootstrap's ELF header must match the architecture
#
# `--lint-only` stops after step 4 (seconds instead of minutes, for work on the template).
# SAM_BUILD_ARCH=arm64|x86_64 picks the architecture of step 5 (default arm64, as deployed).
# arm64 needs the rustup target aarch64-unknown-linux-gnu; when it is missing, the script asks
# before adding it to your toolchain (at a terminal), or builds x86_64 and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$(scripts/setup-tools.sh):$PATH" SAM_CLI_TELEMETRY=0
# SAM's translator wants a region; nothing here calls AWS.
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"

step() { printf '\n== template: %s\n' "$*"; STEP_START=$SECONDS; }
done_in() { printf -- '-- %s s\n' "$((SECONDS - STEP_START))"; }

step "cfn-lint template.yaml"
cfn-lint template.yaml
done_in

step "sam validate --lint"
sam validate --lint --template-file template.yaml
done_in

step "invariants (tests/template/test_template.py)"
python -m unittest discover --start-directory tests/template --top-level-directory tests/template -v
done_in

# --skip-download: nothing is fetched from Prisma Cloud (the scan needs no network). checkov
# warns on template.yaml that it cannot apply Globals past the Fn::ForEach loops; LOG_LEVEL
# keeps that out of the output. It also leaves out resources whose Condition is false under the
# parameter defaults and never expands the loops, hence the second run
# (tests/template/checkov_variants.py): each scenario's template, loops expanded.
checkov_scan() {
  LOG_LEVEL=ERROR checkov --framework cloudformation --skip-download --quiet --compact "$@"
}

step "checkov template.yaml"
checkov_scan --file template.yaml
done_in

step "checkov, the template as every scenario deploys it"
variants="$(mktemp -d)"
trap 'rm -rf "$variants"' EXIT
python tests/template/checkov_variants.py "$variants"
checkov_scan --directory "$variants"
done_in

if [[ "${1:-}" == --lint-only ]]; then
  echo "--lint-only: sam build skipped"
  exit 0
fi

arch="${SAM_BUILD_ARCH:-arm64}"
# The Rust target is the user's toolchain's, not this project's: it is added only when a person
# at a terminal says yes; otherwise (CI, a pipe) the x86_64 variant is built and checked instead.
if [[ "$arch" == arm64 ]] && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  answer=n
  if [[ -t 0 ]]; then
    read -r -p "sam build for arm64 needs the Rust target aarch64-unknown-linux-gnu in your toolchain. Add it now with rustup? [y/N] " answer
  fi
  if [[ "$answer" != [yY]* ]] || ! rustup target add aarch64-unknown-linux-gnu; then
    echo "building the x86_64 variant instead; for the deployed arm64 one: rustup target add aarch64-unknown-linux-gnu" >&2
    arch=x86_64
  fi
fi
case "$arch" in
  arm64) want_machine=183 ;;  # EM_AARCH64
  x86_64) want_machine=62 ;;  # EM_X86_64
  *) echo "SAM_BUILD_ARCH must be arm64 or x86_64, not $arch" >&2; exit 2 ;;
esac

step "sam build (Architecture=$arch; cargo lambda build --release, cross-compiled)"
sam build --template-file template.yaml --parameter-overrides "Architecture=$arch"
python - "$want_machine" <<'EOF'
import struct, sys
path = ".aws-sam/build/Function/bootstrap"
with open(path, "rb") as f:
    header = f.read(20)
assert header[:4] == b"\x7fELF", f"{path} is not an ELF executable"
machine = struct.unpack_from("<H", header, 18)[0]
assert machine == int(sys.argv[1]), f"{path} is for ELF machine {machine}, not {sys.argv[1]}"
print(f"{path}: ELF, machine {machine}, ok")
EOF
done_in
