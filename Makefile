# queuegap — the two commands a newcomer needs:
#   make demo    build and run the zero-setup demo (embedded target + a burst)
#   make check   everything CI runs: format, vet, race tests incl. end-to-end, short fuzz
GO      ?= go
BIN     := bin/queuegap
PKGS    := ./...
# The testbed's Debian packages (installed by `make testbed-deps` when missing).
TESTBED_PACKAGES := nginx uwsgi uwsgi-plugin-python3 python3-django gunicorn
# A count, not a duration: go1.26's fuzz coordinator can fail a duration run
# with a bare "context deadline exceeded" as the time runs out (golang/go#75804,
# fixed in go1.27); a count has no deadline to race.
FUZZTIME ?= 5000x

.PHONY: all build demo check fmt-check vet test accuracy testbed-deps fuzz-short bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/queuegap

demo: build
	./$(BIN) demo

check: fmt-check vet testbed-deps test accuracy fuzz-short
	@echo "make check: all green"

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

# QG_REQUIRE_TESTBED=1 turns a missing testbed package into a failure
# instead of a skip, so CI cannot go green without the end-to-end tests.
test:
	QG_REQUIRE_TESTBED=1 $(GO) test -race -count=1 -timeout 15m $(PKGS)

# Attribution accuracy across a simulated network, alone and without -race:
# the issue's bounds (median ≤ 1 ms, p99 ≤ 3 ms) on a machine not also busy
# with every other package's tests.
accuracy:
	$(GO) test -count=1 -run '^TestAccuracy' ./analyze/

testbed-deps:
	@missing=""; for p in $(TESTBED_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing — run: sudo apt-get install -y$$missing"; exit 1; fi; \
		echo "installing testbed packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends$$missing >/dev/null; \
	fi

# A short run of every fuzz target: the server timing header parsers, the
# results-file decoder, HDR logs, --fail-if, stages, -H headers, /proc stat,
# the response parser and the access-log readers.
FUZZ_PKGS := ./analyze/servertiming/ ./analyze/ ./loadgen/ ./testbed/stack/ ./profiles/accesslog/ ./profiles/ ./whatif/
fuzz-short:
	@for pkg in $(FUZZ_PKGS); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
			out=$$($(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg 2>&1) || { echo "$$out"; exit 1; }; \
		done; \
	done

bench:
	bash bench/run.sh

clean:
	rm -rf bin
