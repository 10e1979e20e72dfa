# Fuzzing (issue 8). Included from the Makefile: `include fuzz/fuzz.mk`.
#
#   make fuzz                          every target for FUZZ_SECONDS (default 60) each
#   make fuzz FUZZ_TARGETS="jwt jwks"  only these
#   make fuzz FUZZ_SECONDS=600
#
# libFuzzer and cargo-fuzz's sanitizer flags need nightly features; on a stable
# toolchain RUSTC_BOOTSTRAP=1 unlocks them (see fuzz/README.md). Seeds live in
# fuzz/corpus/<target>/ and are read only; what the fuzzer finds goes to
# fuzz/work/<target>/ (git-ignored), crashes to fuzz/artifacts/<target>/.
# `make test` does not fuzz: tests/fuzz_replay.rs replays the seeds natively.

FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?= jwt jwt_structured jwks config screening normalize stream_redactor sse_usage bucket
# Instrumented builds get their own directory: sharing the native one would
# rebuild everything whenever `cargo test` and `make fuzz` alternate.
FUZZ_TARGET_DIR ?= $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR)/fuzz,fuzz/target)
# Extra libFuzzer flags, e.g. FUZZ_FLAGS="-max_len=8192".
FUZZ_FLAGS ?=

.PHONY: fuzz fuzz-tool

fuzz-tool:
	@command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz

# -a: debug assertions, so integer overflow panics as it does in `cargo test`.
fuzz: fuzz-tool
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/work/$$t; \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz --target-dir $(FUZZ_TARGET_DIR) -a $$t fuzz/work/$$t fuzz/corpus/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(FUZZ_FLAGS) 2>&1 \
	    | tee fuzz/work/$$t.log | grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|==[0-9]+== ERROR|SUMMARY)' || true; \
	  if grep -qE '^(==[0-9]+== ERROR|SUMMARY: libFuzzer)|panicked at|Fuzz target exited' fuzz/work/$$t.log; then \
	    echo "fuzz: $$t FAILED, see fuzz/work/$$t.log and fuzz/artifacts/$$t/" >&2; exit 1; fi; \
	done
