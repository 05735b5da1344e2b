# zmp — see README.md. Every target works on a fresh machine with Go 1.26.
GO      ?= go
PKGS    ?= ./...
# Fuzz targets and packages whose seed corpora `make fuzz` explores briefly.
FUZZTIME ?= 10s

.PHONY: test vet race fuzz-seeds fuzz bench selftest fmt

## test: vet, then every test with the race detector (fuzz seed corpora included)
test: vet race

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

## race: go test -race (runs fuzz targets on their seed corpora)
race:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## fuzz: run each fuzz target for FUZZTIME
fuzz:
	@for pkg in ./internal/zmtp ./core; do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run='^$$' -fuzz="^$$f$$" -fuzztime=$(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

## bench: call latency, calls/s with concurrency, publish throughput, next to raw TCP
bench:
	$(GO) test -run='^$$' -bench=. -benchmem -count=1 ./core/

## selftest: the multi-process self test
selftest:
	$(GO) run ./cmd/zmptool selftest

fmt:
	gofmt -w $$(git ls-files '*.go')
