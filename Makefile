# zmp — see README.md. Every target works on a fresh machine with Go 1.26.
GO      ?= go
PKGS    ?= ./...
# Fuzz targets and packages whose seed corpora `make fuzz` explores briefly.
FUZZTIME ?= 10s

.PHONY: test vet race large fuzz-seeds fuzz bench selftest fmt consensus-long feedback-plots

## test: vet, every test with the race detector (fuzz seed corpora included), then the memory-bound tests at full size
test: vet race large

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet $(PKGS)

## race: go test -race (runs fuzz targets on their seed corpora)
race:
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

## large: tests that need full speed, run without the race detector: 512 MiB streams within 64 MiB of RSS per side
large:
	$(GO) test -count=1 -timeout 10m -run '^TestStreamLarge512MiB$$' -v ./core/

## consensus-long: the linearizability check of toolbox/consensus over more and longer seeds (LIN_SEEDS, LIN_DURATION)
LIN_SEEDS    ?= 30
LIN_DURATION ?= 10s
consensus-long:
	ZMP_LIN_SEEDS=$(LIN_SEEDS) ZMP_LIN_DURATION=$(LIN_DURATION) $(GO) test -race -count=1 -timeout 120m -run '^TestLinearizable(5|OverZmp|OverZmp5)?$$' -v ./toolbox/consensus/

## feedback-plots: redraw docs/feedback-*.svg with `zmptool feedback sim` (TestFeedbackDocsPlots checks them)
feedback-plots:
	ZMP_UPDATE_PLOTS=1 $(GO) test -count=1 -run '^TestFeedbackDocsPlots$$' ./cmd/zmptool/

## fuzz: run each fuzz target for FUZZTIME
fuzz:
	@for pkg in ./internal/zmtp ./core ./toolbox/proxy ./toolbox/cache ./toolbox/consensus ./toolbox/agent; do \
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

# --- comparative benchmark: bench/ is its own module (see docs/performance.md) ---
BENCH_BIN   ?= bench/bin
BENCH_OUT   ?= bench/results
BENCH_FLAGS ?=
# libzmq's workers run in a binary of their own (-tags libzmq, cgo), so
# that cgo does not add to the memory figures of the other systems.
BENCH_LIBZMQ = $$(if [ -x $(BENCH_BIN)/zmpbench-libzmq ]; then echo --libzmq-exe $(BENCH_BIN)/zmpbench-libzmq; fi)

.PHONY: bench-compare bench-smoke bench-build bench-libzmq-dev

## bench-compare: zmp next to raw TCP, zmq4, libzmq, net/rpc and NATS, 3 interleaved repetitions (~10 min); writes $(BENCH_OUT) and the results of docs/performance.md
bench-compare: bench-libzmq-dev bench-build
	$(BENCH_BIN)/zmpbench compare --out $(BENCH_OUT) --docs docs/performance.md $(BENCH_LIBZMQ) $(BENCH_FLAGS)

## bench-smoke: the same on tcp with tiny windows and one repetition (< 2 min)
bench-smoke: bench-build
	$(BENCH_BIN)/zmpbench compare --quick --transports tcp --out $(BENCH_OUT)/smoke $(BENCH_LIBZMQ) $(BENCH_FLAGS)

## bench-build: build zmpbench, zmptool (timed by the scale cases), and zmpbench-libzmq when libzmq's headers are installed
bench-build:
	cd bench && $(GO) build -o bin/zmpbench ./cmd/zmpbench
	$(GO) build -o $(BENCH_BIN)/zmptool ./cmd/zmptool
	@rm -f $(BENCH_BIN)/zmpbench-libzmq; \
	if pkg-config --exists libzmq 2>/dev/null; then \
	  echo "cd bench && $(GO) build -tags libzmq -o bin/zmpbench-libzmq ./cmd/zmpbench"; \
	  cd bench && $(GO) build -tags libzmq -o bin/zmpbench-libzmq ./cmd/zmpbench; \
	else \
	  echo "bench: libzmq not found by pkg-config (package libzmq3-dev): libzmq is skipped"; \
	fi

## bench-libzmq-dev: install libzmq3-dev with apt-get if it is missing and we are root
bench-libzmq-dev:
	@if pkg-config --exists libzmq 2>/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "bench: installing libzmq3-dev with apt-get for the libzmq comparison"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libzmq3-dev pkg-config >/dev/null; } \
	    || echo "bench: could not install libzmq3-dev: libzmq is skipped"; \
	else \
	  echo "bench: libzmq3-dev is missing and installing it needs root (apt-get install libzmq3-dev pkg-config): libzmq is skipped"; \
	fi
