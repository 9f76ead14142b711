# Local single-node Kubernetes cluster, container images without a registry, and the
# end-to-end tests against them (issue 5). See internal/e2e/README.md.
E2E_DIR := internal/e2e
CLUSTER := $(E2E_DIR)/cluster/cluster.sh
IMAGES_DIR := _out/images
AGENT_IMAGE := ghcr.io/kubectl-chaos/kubectl-chaos:$(VERSION)
ECHO_IMAGE := e2e.local/echo:1
PAUSE_IMAGE := e2e.local/pause:1
MKIMAGE := $(GO) run ./$(E2E_DIR)/tools/mkimage

TEST_TARGETS += test-e2e

.PHONY: cluster-build cluster-up cluster-down cluster-status cluster-check image images images-load \
	test-e2e test-reliability demo bench-e2e

# Kubernetes server binaries + etcd + kubectl, built once into ~/.cache (4-8 min cold).
cluster-build:
	$(E2E_DIR)/harness/build.sh

cluster-up:
	$(CLUSTER) up

cluster-down:
	$(CLUSTER) down

cluster-status:
	@$(CLUSTER) status && echo "cluster up: export KUBECONFIG=$(CURDIR)/_out/cluster/kubeconfig" || { echo "cluster down"; exit 1; }

# The agent image: the same static binary, nothing else, tagged with the CLI's default
# image reference so the default --image works.
image: build
	@mkdir -p $(IMAGES_DIR)
	$(MKIMAGE) -o $(IMAGES_DIR)/agent.tar -tag $(AGENT_IMAGE) \
		-file $(BIN):/kubectl-chaos -dir /tmp:1777 -entrypoint /kubectl-chaos
	@echo "image $(AGENT_IMAGE): $(IMAGES_DIR)/agent.tar ($$(du -k $(IMAGES_DIR)/agent.tar | cut -f1) KiB)"

images: image
	$(GO) build -trimpath -ldflags "-s -w" -o $(IMAGES_DIR)/pause ./$(E2E_DIR)/tools/pause
	$(GO) build -trimpath -ldflags "-s -w" -o $(IMAGES_DIR)/echo ./$(E2E_DIR)/tools/echo
	$(MKIMAGE) -o $(IMAGES_DIR)/pause.tar -tag $(PAUSE_IMAGE) -file $(IMAGES_DIR)/pause:/pause -entrypoint /pause
	$(MKIMAGE) -o $(IMAGES_DIR)/echo.tar -tag $(ECHO_IMAGE) -file $(IMAGES_DIR)/echo:/echo -dir /tmp:1777 -entrypoint /echo

# Import the images into the running cluster's containerd.
images-load: images
	$(CLUSTER) load $(IMAGES_DIR)/agent.tar $(IMAGES_DIR)/pause.tar $(IMAGES_DIR)/echo.tar

# cluster up (if needed) + images + go test -tags e2e + cluster down, timing each phase.
test-e2e: build
	VERSION=$(VERSION) AGENT_IMAGE=$(AGENT_IMAGE) ECHO_IMAGE=$(ECHO_IMAGE) \
		$(E2E_DIR)/run.sh test

# The full kill matrix (issue 16): every fault family × every cut × inject/hold/recover
# on the same cluster setup as test-e2e; make test runs a seeded subset of it
# (TestKillMatrix). E2E_SEED=N replays the instants, E2E_KILLMATRIX=REGEXP picks cases.
test-reliability: build
	VERSION=$(VERSION) AGENT_IMAGE=$(AGENT_IMAGE) ECHO_IMAGE=$(ECHO_IMAGE) \
		E2E_RELIABILITY=full E2E_RUN="$${E2E_RUN:-^TestKillMatrix$$}" E2E_TIMEOUT="$${E2E_TIMEOUT:-150m}" \
		$(E2E_DIR)/run.sh test

demo: build
	VERSION=$(VERSION) AGENT_IMAGE=$(AGENT_IMAGE) ECHO_IMAGE=$(ECHO_IMAGE) \
		$(E2E_DIR)/run.sh demo

bench-e2e: build
	VERSION=$(VERSION) AGENT_IMAGE=$(AGENT_IMAGE) ECHO_IMAGE=$(ECHO_IMAGE) \
		$(E2E_DIR)/run.sh bench

# The harness alone, without kubectl-chaos: up, a plain pod and a privileged hostPID
# pod, down, host compared with the snapshot before.
cluster-check: images
	$(E2E_DIR)/cluster/check.sh
