# One entry point for people and CI. `make test` is the README's test command:
# it installs what the tests need (npm packages for the contracts and the
# Solana localnet, staticcheck) and runs every check CI runs.

GO          ?= go
FUZZTIME    ?= 10s
GOBIN       ?= $(shell $(GO) env GOPATH)/bin

.PHONY: all test deps lint vet staticcheck fmt-check unit node-unit fuzz contracts-check build run bench generate
.PHONY: staging-test

all: build

build:
	$(GO) build ./...

deps:
	./scripts/deps.sh

test: deps fmt-check vet staticcheck contracts-check node-unit unit fuzz

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GOBIN)/staticcheck ./...

contracts-check:
	@if [ -x contracts/check.sh ]; then contracts/check.sh; fi

unit:
	$(GO) test -race -count=1 -timeout 30m ./...

node-unit:
	cd localnet && npm test

# Short coverage-guided runs of every fuzz target (the seed corpora also run in `unit`).
fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/...

generate:
	$(GO) generate ./...

# ARGS go to cmd/h402demo: `make run ARGS='--payments=20 --exit'` is the smoke mode.
run:
	./scripts/run-dev.sh $(ARGS)

# docker-compose.yml for real: installs Docker (Debian's docker.io), Compose
# (from its Go module), builds the images without a registry, pays through
# both ingest replicas, kills a NATS server and a settler, tears down.
staging-test:
	./scripts/staging-test.sh
