TOOL := $(GO) run ./cmd/tool
gen:
	$(TOOL) -o out && \
	  gzip -9 out
deps: ; @bash scripts/run.sh
