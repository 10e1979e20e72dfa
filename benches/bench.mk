# Benchmarks (issue 7). Included by the top-level Makefile; uses its `wasm` and
# `.venv/bin/envoy` targets.
#
#   make bench                      full run: 3 rounds × 10 s per arm (about 25 min)
#   make bench BENCH_QUICK=1        smoke run: 1 round × 2 s per arm (about 4 min)
#   make bench BENCH_ARMS='jwt-es256|plain'   only the arms matching the regex
#   make bench BENCH_DURATION=5 BENCH_ROUNDS=5 BENCH_WARMUP=2 BENCH_CONNECTIONS=16 BENCH_TOKENS=2000
#   make bench BENCH_ARMS=hostcall      what one host call of each kind costs (opt-in arms)
#   make bench BENCH_BASELINE_WASM=old/tollgate.wasm   paired A/B: each Tollgate arm also
#                                   runs with the older build, side by side in every round
#
# Prints a markdown table and writes target/bench/results.md (+ results.json).
# Needs two cores (Envoy under test on one, wrk and the upstream on the other),
# wrk (installed here from the system packages when missing), taskset and openssl.

BENCH_CARGO_TARGET := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
BENCH_EMPTY_WASM := $(BENCH_CARGO_TARGET)/bench-empty-filter/wasm32-wasip1/release/empty_filter.wasm
BENCH_HOSTCALL_WASM := $(BENCH_CARGO_TARGET)/bench-hostcall-filter/wasm32-wasip1/release/hostcall_filter.wasm
BENCH_TOKEN_BIN := $(BENCH_CARGO_TARGET)/debug/tollgate-token
BENCH_WASM := $(or $(WASM),target/wasm32-wasip1/release/tollgate.wasm)
BENCH_SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BENCH_PYTHON := $(or $(PYTHON),python3)

.PHONY: bench bench-wrk bench-empty-filter bench-hostcall-filter bench-token-bin

bench: bench-wrk wasm .venv/bin/envoy bench-empty-filter bench-hostcall-filter bench-token-bin ratelimit-bin redis
	BENCH_QUICK='$(BENCH_QUICK)' BENCH_DURATION='$(BENCH_DURATION)' BENCH_WARMUP='$(BENCH_WARMUP)' \
	BENCH_ROUNDS='$(BENCH_ROUNDS)' BENCH_CONNECTIONS='$(BENCH_CONNECTIONS)' \
	BENCH_TOKENS='$(BENCH_TOKENS)' BENCH_ARMS='$(BENCH_ARMS)' BENCH_BASELINE_WASM='$(BENCH_BASELINE_WASM)' \
	$(BENCH_PYTHON) benches/harness/run.py --envoy .venv/bin/envoy --wasm $(BENCH_WASM) \
	  --empty-wasm $(BENCH_EMPTY_WASM) --hostcall-wasm $(BENCH_HOSTCALL_WASM) --token-bin $(BENCH_TOKEN_BIN) --out target/bench \
	  --ratelimit-bin $(BENCH_CARGO_TARGET)/debug/tollgate-ratelimit
	@# Time to first streamed text, plain Envoy against redaction on (issue 14);
	@# skipped when BENCH_ARMS picks a subset.
	@if [ -z '$(BENCH_ARMS)' ]; then $(MAKE) --no-print-directory bench-first-text \
	  RUNS=$(if $(BENCH_QUICK),3,10); fi

bench-wrk:
	@command -v wrk >/dev/null || $(BENCH_SUDO) apt-get install -y wrk \
	  || { $(BENCH_SUDO) apt-get update && $(BENCH_SUDO) apt-get install -y wrk; }
	@command -v taskset >/dev/null || echo "warning: taskset not found: the benchmark will run unpinned" >&2

# The "empty Wasm filter" arm: a standalone crate (its own [workspace]), built
# in its own target directory so it never contends for the main crate's lock.
# After `wasm`, which installs the wasm32-wasip1 target.
bench-empty-filter: wasm
	cargo build --quiet --locked --release --target wasm32-wasip1 \
	  --manifest-path benches/empty-filter/Cargo.toml \
	  --target-dir $(BENCH_CARGO_TARGET)/bench-empty-filter

# The opt-in host-call cost arms (`make bench BENCH_ARMS=hostcall`): N calls of
# one kind per request, against the empty filter. Standalone, like the empty filter.
bench-hostcall-filter: wasm
	cargo build --quiet --locked --release --target wasm32-wasip1 \
	  --manifest-path benches/hostcall-filter/Cargo.toml \
	  --target-dir $(BENCH_CARGO_TARGET)/bench-hostcall-filter

# Mints the tokens (dev profile, like the e2e tests: shares their build); the
# harness falls back to openssl when it is absent or prints no token.
bench-token-bin:
	cargo build --quiet -p tollgate-tools --bin tollgate-token
