# Redaction evaluation (issue 14): recall and precision per entity.
#
#   make eval-redaction        our own realistic set (tests/fixtures/redaction/realistic.jsonl,
#                              text, JSON and SSE carriers) and the dev PII data
#                              (../shared/data/pii: VALIDATION, measured, never tuned on)
#   make eval-redaction V=1    also list every miss and false detection

PII_DATA ?= ../shared/data/pii

.PHONY: eval-redaction
eval-redaction:
	cargo run --quiet --release -p tollgate-tools --bin tollgate-eval-redaction -- $(PII_DATA) $(if $(V),-v)

# Time to first text (issue 14): a chat answer streamed at a model's pace
# (CHARS characters every DELAY_MS) through plain Envoy and through Tollgate
# with redaction on. Reports medians; nothing is asserted.
#
#   make bench-first-text RUNS=10 CHARS=4 DELAY_MS=20
.PHONY: bench-first-text
bench-first-text: wasm token-bin $(ENVOY)
	RUNS='$(or $(RUNS),10)' CHARS='$(or $(CHARS),4)' DELAY_MS='$(or $(DELAY_MS),20)' \
	  $(VENV)/bin/python benches/harness/first_text.py
