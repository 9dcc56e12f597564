# queuegap — the two commands a newcomer needs:
#   make demo    build and run the zero-setup demo (embedded target + a burst)
#   make check   everything CI runs: format, vet, race tests incl. end-to-end, short fuzz,
#                and the docker-compose testbed (skipped, saying so, without a Docker daemon)
GO      ?= go
BIN     := bin/queuegap
PKGS    := ./...
# The testbed's Debian packages (installed by `make testbed-deps` when missing);
# chromium opens the HTML report in the browser test (report/reporttest), prometheus
# takes the live metrics in the e2e test.
TESTBED_PACKAGES := nginx uwsgi uwsgi-plugin-python3 python3-django gunicorn iproute2 prometheus chromium
# A count, not a duration: go1.26's fuzz coordinator can fail a duration run
# with a bare "context deadline exceeded" as the time runs out (golang/go#75804,
# fixed in go1.27); a count has no deadline to race.
FUZZTIME ?= 5000x

.PHONY: all build demo check fmt-check vet test accuracy testbed-deps fuzz-short bench clean \
	compose-deps compose-check image

all: build

build:
	$(GO) build -o $(BIN) ./cmd/queuegap

demo: build
	./$(BIN) demo

check: fmt-check vet testbed-deps test accuracy fuzz-short compose-check
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
# the response parser, the access-log readers, the probes, the remote-write encoder,
# the HTML report's escaping and the what-if parsers.
FUZZ_PKGS := ./analyze/servertiming/ ./analyze/ ./loadgen/ ./testbed/stack/ ./profiles/accesslog/ ./profiles/ ./probe/ ./prom/ ./report/ ./whatif/
fuzz-short:
	@for pkg in $(FUZZ_PKGS); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
			out=$$($(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg 2>&1) || { echo "$$out"; exit 1; }; \
		done; \
	done

bench:
	bash bench/run.sh

# The compose testbed, for real: offline images (cached), up, scenario 1 from the host and
# from the loadgen container, the verdict, down with nothing left (testbed/compose/check.sh).
# Without a Docker daemon it skips, saying so; QG_REQUIRE_DOCKER=1 (.ci/run) makes that a failure.
compose-check: compose-deps
	bash testbed/compose/check.sh

# debootstrap builds the offline base image (deploy/docker/base.sh); only needed with Docker.
compose-deps:
	@if docker info >/dev/null 2>&1 && ! command -v debootstrap >/dev/null; then \
		if [ "$$(id -u)" != 0 ]; then echo "missing Debian package: debootstrap — run: sudo apt-get install -y debootstrap"; exit 1; fi; \
		echo "installing debootstrap"; \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null; }; \
	fi

# queuegap's image (compose's loadgen service, deploy/kubernetes): a static binary FROM scratch.
# IMAGE=registry.example/queuegap:v1 make image, then push it where your cluster pulls from.
IMAGE ?= queuegap:latest
image:
	mkdir -p bin/docker
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/docker/queuegap ./cmd/queuegap
	docker build -f deploy/docker/Dockerfile.queuegap -t $(IMAGE) .

clean:
	rm -rf bin
