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
