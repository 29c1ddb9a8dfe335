# CommandCenter: entry points. `make dev` runs it locally, `make test` passes the whole suite (CI: .ci/run).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
MOTO ?= http://127.0.0.1:4566
PYTHON := $(VENV)/bin/python
# cargo-lambda, sam, cfn-lint and zig (for cross builds) come from the venv
export PATH := $(abspath $(VENV))/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
# The Lambda functions (one crate each under functions/; the template deploys every one)
FUNCTIONS := $(notdir $(wildcard functions/*))
AWS_DUMMY := AWS_DEFAULT_REGION=us-east-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test

.PHONY: help venv moto moto-stop provision dev fmt-check clippy test-rust lint-template smoke schemathesis test _test-inner \
        build build-lambda bench clean-dev

help:
	@echo "make dev            run the API locally on 127.0.0.1:\$${PORT:-8000} against moto"
	@echo "make test           fmt-check, clippy, test-rust, lint-template, smoke, schemathesis (what CI runs)"
	@echo "make bench          release binaries under a Lambda runtime emulator: cold start, CPU, RSS, AWS calls"
	@echo "make venv | moto | moto-stop | provision | lint-template | smoke | schemathesis | build | build-lambda | clean-dev"

venv: $(VENV)/.stamp

$(VENV)/.stamp: requirements-dev.txt
	@test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	@touch $@

moto: venv
	infra/local/moto.sh start

moto-stop:
	infra/local/moto.sh stop

provision: moto
	$(PYTHON) infra/local/provision.py provision --endpoint $(MOTO) --prefix cc-dev --env-out .dev/env

dev:
	VENV=$(VENV) MOTO_URL=$(MOTO) infra/local/dev.sh

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

test-rust: venv
	MOTO_URL=$(MOTO) CC_PROVISION="$(abspath $(PYTHON)) $(CURDIR)/infra/local/provision.py" \
	  infra/local/with-moto.sh cargo test --workspace

lint-template: venv
	$(VENV)/bin/cfn-lint template.yaml
	$(AWS_DUMMY) $(VENV)/bin/sam validate --lint

smoke: venv
	VENV=$(VENV) MOTO_URL=$(MOTO) infra/local/with-moto.sh infra/local/smoke.sh

# The OpenAPI document against the dev server: every operation, every check, fixed seed
schemathesis: venv
	VENV=$(VENV) MOTO_URL=$(MOTO) infra/local/with-moto.sh infra/local/schemathesis.sh

# moto is started once for the whole run (and stopped at the end if it was started here)
test: venv
	infra/local/with-moto.sh $(MAKE) --no-print-directory _test-inner

_test-inner: fmt-check clippy test-rust lint-template smoke schemathesis

# Every function, arm64, release, in one cargo invocation: the dependencies compile once and the
# binaries link in parallel. sam build (cargo-lambda, a beta feature) then finds each binary
# fresh and copies it into .aws-sam/ for sam deploy.
build: venv
	cargo lambda build --release --arm64 $(addprefix -p ,$(FUNCTIONS))
	$(AWS_DUMMY) $(VENV)/bin/sam build --beta-features

build-lambda: venv
	cargo lambda build --release --arm64 $(addprefix -p ,$(FUNCTIONS))

# Not part of `make test`: release binaries under the Lambda Runtime API emulator (bench/), AWS
# answered by moto behind a keep-alive proxy that replays recorded answers; writes
# bench/RESULTS.md and RESULTS.json. BENCH_ARGS, e.g. `--functions api-technologies,api-meta
# --spawns 10 --warm 500 --aws moto`.
bench: venv
	MOTO_URL=$(MOTO) infra/local/with-moto.sh $(PYTHON) bench/bench.py $(BENCH_ARGS)

clean-dev:
	rm -rf .dev
