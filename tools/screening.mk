# Screening model (issue 12): `make train` retrains the shipped artefact from
# ../shared/data/train (plus our generated items) with a fixed seed;
# `make train-check` proves the committed artefact is what training writes;
# `make eval-screening` prints validation and paraphrase-set numbers and
# draws target/screening-threshold.svg.
.PHONY: train train-check eval-screening

SCREENING_MODEL := src/screening/model.bin

train:
	cargo run --release -q -p tollgate-tools --bin tollgate-train-screening -- \
	  --data ../shared/data/train --out $(SCREENING_MODEL)

train-check:
	@out=$$(mktemp); \
	cargo run --release -q -p tollgate-tools --bin tollgate-train-screening -- \
	  --data ../shared/data/train --out $$out >/dev/null; \
	if cmp -s $$out $(SCREENING_MODEL); then echo "train-check: $(SCREENING_MODEL) is reproduced byte for byte"; rm -f $$out; \
	else echo "error: retraining does not reproduce $(SCREENING_MODEL)" >&2; rm -f $$out; exit 1; fi

eval-screening:
	cargo run --release -q -p tollgate-tools --bin tollgate-eval-screening -- ../shared/data/prompt_injection
