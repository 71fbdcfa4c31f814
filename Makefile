# The README's commands. `make scan` runs the main job on a sample event; `make test` runs
# every test (CI runs it through .ci/run). The other targets are described in docs/.
SHELL := /bin/bash
VENV_BIN := $(CURDIR)/.venv/bin
export PATH := $(VENV_BIN):$(PATH)
export SAM_CLI_TELEMETRY := 0

EVENT ?= events/mixed-batch.json

.PHONY: install storm scan test tools events bench callgrind rss watch invoke demo rules-doc detection-report rss-cap soak

## Run the main job locally: analyse a sample CloudWatch Logs event and print the findings.
## Builds the scanner alone, without the AWS SDK (`--no-default-features --features cli`), and
## shows the build's progress.
scan:
	cargo run --no-default-features --features cli --bin troubleshooter -- scan $(EVENT)

## A storm: 10,000 error lines of five kinds from one function, and the five findings they give
## (docs/operations.md, One message per problem).
storm:
	mkdir -p target
	python3 scripts/storm.py > target/storm.json
	cargo run --no-default-features --features cli --bin troubleshooter -- scan target/storm.json

## Install the command line (`troubleshooter`: scan, pull, check, mute, encode, rules) into ~/.cargo/bin.
install:
	cargo install --locked --path . --bin troubleshooter

## Every test: formatting, lints, unit and integration tests (cargo lambda, moto), template checks.
test:
	scripts/test.sh

## The whole product path on one machine: moto as SNS and SQS, the Lambda under cargo lambda watch,
## every event in events/, and what the email, Chatbot and SQS subscribers received.
demo:
	scripts/demo.sh

## Install the pinned tools (cargo-lambda, moto, cfn-lint, SAM CLI) into .venv.
tools:
	scripts/setup-tools.sh

## Regenerate events/*.json from the readable sources in events/src/.
events:
	scripts/make-events.sh

## Regenerate RULES.md from the built-in catalog (a test fails while it is out of date).
rules-doc:
	env -u EXTRA_RULES_FILE -u DISABLED_RULES cargo run --quiet --bin troubleshooter -- rules --format markdown > RULES.md

## Throughput benchmark (criterion), then one table per batch (worst case, typical) from the same
## run: gunzip alone, the whole pipeline, their ratio, and the naive Python pipeline on the same
## event with the ratio to it, and `troubleshooter scan` on the same event against the whole pipeline
## plus process start (scripts/bench_table.py; takes about a minute more).
bench:
	cargo bench --bench pipeline
	cargo build --release --bin troubleshooter
	python3 scripts/bench_table.py

## Instructions for one decode and three analyses of the worst-case batch (needs valgrind and
## the event `make bench` writes); compare the summary line between two commits.
callgrind:
	cargo build --release --example profile_batch
	valgrind --tool=callgrind --callgrind-out-file=target/callgrind.out target/release/examples/profile_batch

## Peak memory of the release Lambda on the worst-case batch, against moto SNS (target: <= 32 MiB;
## docs/performance.md).
## The benchmark writes the event; `--list` runs no measurement.
rss:
	cargo bench --bench pipeline -- --list > /dev/null
	cargo build --release --bin lambda-troubleshooter
	"$$(scripts/setup-tools.sh)/python" scripts/peak-rss.py

## The decompression cap at the template's default memory (128 MB): a batch just under it is
## analysed within memory, one just above it is refused with Troubleshooter.BatchTooLarge.
rss-cap:
	cargo build --release --bin lambda-troubleshooter
	"$$(scripts/setup-tools.sh)/python" scripts/peak-rss.py --at-cap

## A warm instance over time: 10,000 invocations of the release Lambda through a local Runtime API,
## with storms, repeats and bad batches, against moto SNS; prints its resident memory
## (docs/operations.md).
## `make test` runs the same test on the debug build.
soak:
	cargo build --release --bin lambda-troubleshooter
	SOAK_LAMBDA=$(CURDIR)/target/release/lambda-troubleshooter cargo test --test it soak -- --nocapture

## Run the Lambda locally (in another terminal: make invoke).
watch: tools
	cargo lambda watch --invoke-port 9000

invoke:
	cargo lambda invoke lambda-troubleshooter --invoke-port 9000 --data-file $(EVENT)

## Detection measured: recall per category and false positives over the whole rule corpus
## (tests/rules/, real lines with their sources in tests/rules/real/); also target/detection-report.md.
detection-report:
	cargo test --quiet --test it recall_per_category -- --nocapture
