# Fuzzing (issue 16): every fuzz target in turn for FUZZTIME, nice'd, with a table of
# fuzzing seconds and execs/s (mk/fuzz.sh). Not part of make test: go test there runs the
# seeds (f.Add and testdata/fuzz) of every target. FUZZ_RUN=Regexp picks targets.
FUZZTIME ?= 60s

.PHONY: fuzz
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZ_RUN='$(or $(FUZZ_RUN),.)' mk/fuzz.sh
