# drlb: a DR load balancer (keepalived.conf, VRRP, health checks, IPVS/nftables) and its lab.
#
#   make demo    the how-to, live in a lab (root)
#   make test    everything: unit, fuzz smoke, privileged and lab tests (root runs them all)
#
# Both install what they need first (Debian packages as root, Go modules).

SHELL       := /bin/bash
export PATH := /usr/local/go/bin:$(PATH)
GO          ?= go
BIN         := $(CURDIR)/bin
VERSION     ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -s -w -X main.version=$(VERSION)
# Debian packages: nft for the nftables data plane, keepalived as the reference
# peer and genhash, iproute2 for `ip netns`, curl/wrk for traffic, qemu and
# busybox for the real-IPVS VM tests, chromium for the training view's
# browser test (scenarios/report), iperf3 for the data planes' packet rate,
# frr (zebra, bgpd) as the scaleout lab's router.
DEBS        := nftables keepalived iproute2 curl wrk tcpdump ca-certificates qemu-system-x86 chromium iperf3 frr
FUZZTIME    ?= 5s
# Go spends up to 60 s minimising each new interesting input by default,
# which looks like a stall (execs stop moving); bound it.
FUZZMINTIME ?= 3s
GINKGO      := $(GO) tool ginkgo
GINKGO_ARGS ?=

.PHONY: all deps build test unit race e2e e2e-ipvs bench lint fmt-check tidy-check docs fuzz demo lab-down clean help

all: build

help:
	@sed -n 's/^#   //p' Makefile

deps:
	@missing=; for p in $(DEBS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "make deps: need root to install Debian packages:$$missing" >&2; exit 1; fi; \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	$(GO) mod download

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/drlb ./cmd/drlb
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/drlab ./cmd/drlab

# Everything. As root the privileged tests (namespaces, raw sockets, nft, labs)
# run too; DRLB_REQUIRE_PRIVILEGED=1 turns their skips into failures (CI).
test: deps build fmt-check tidy-check
	$(GO) vet ./...
	DRLB_BIN_DIR=$(BIN) $(GO) test -count=1 -timeout 25m ./...
	$(MAKE) --no-print-directory race
	$(MAKE) --no-print-directory e2e-ipvs
	$(MAKE) --no-print-directory fuzz

# Unit tests only (no root needed; privileged tests skip with a message).
unit:
	$(GO) test -count=1 ./...

# The man pages in docs/man, generated from the cobra commands of drlb and
# drlab; TestManPages (cmd/drlb, cmd/drlab) fails while they are stale.
docs:
	DRLB_UPDATE_MAN=1 $(GO) test -count=1 -run '^TestManPages$$' ./cmd/drlb ./cmd/drlab

# go.mod and go.sum must be what `go mod tidy` makes of them: every module the
# code imports is a direct requirement, nothing unused is listed.
tidy-check:
	@if ! out=$$($(GO) mod tidy -diff 2>&1); then \
	  echo "$$out"; echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit the result" >&2; exit 1; fi

# The supervisor loop's unit tests under the race detector (no root needed;
# the package's lab suite, TestDaemonLab, runs without it in test).
race:
	$(GO) test -race -count=1 -skip '^TestDaemonLab$$' ./daemon/

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "not gofmt-formatted:"; echo "$$out"; exit 1; fi

# Every fuzz target for FUZZTIME each (a smoke run; raise FUZZTIME to hunt).
# A found crasher (a new file under testdata/fuzz) fails at once; a fuzzer
# that died without one (worker lost under load) prints its log and gets one
# more try.
fuzz:
	@set -e; log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for pkg in $$($(GO) list ./...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$f ($(FUZZTIME))"; \
	    if ! $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME) $$pkg >$$log 2>&1; then \
	      tail -30 $$log; \
	      if [ -n "$$(git status --porcelain -- $$dir/testdata/fuzz 2>/dev/null)" ]; then echo "fuzz: $$f found a failing input (see above)"; exit 1; fi; \
	      echo "fuzz: $$f stopped without a failing input; trying once more"; \
	      $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINTIME) $$pkg >$$log 2>&1 || { tail -30 $$log; exit 1; }; \
	    fi; \
	  done; \
	done

# The Ginkgo lab suites (scenarios, failover, interop…), one lab per process.
e2e: deps build
	DRLB_BIN_DIR=$(BIN) $(GINKGO) -r -p --procs=2 --timeout=20m $(GINKGO_ARGS) ./e2e ./topology

# Real IPVS: boots Debian's cloud kernel under qemu (cached under
# /var/cache/drlb/ipvsvm) and runs the IPVS data-plane tests inside it.
e2e-ipvs:
	$(GO) run ./e2e/ipvsvm ./e2e/ipvsvm/ipvstest ./daemon/dataplane/ipvs

# Every benchmark (the lab ones as root), then IPVS against nft in the qemu
# VM (BENCHVM=no leaves it out), then one table of all their numbers.
# BENCH and BENCHPKGS narrow it (make bench BENCH=DataplanePPS BENCHPKGS=./daemon/dataplane).
BENCH       ?= .
BENCHPKGS   ?= ./...
BENCHVM     ?= yes
bench: deps build
	set -o pipefail; DRLB_BIN_DIR=$(BIN) $(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count=1 $(BENCHPKGS) | tee $(BIN)/bench.txt
	@if [ "$(BENCHVM)" = yes ]; then set -o pipefail; \
	  $(GO) run ./e2e/ipvsvm -host-program nft -testflags "-test.run ^$$ -test.bench RateIPVSvsNFT -test.benchtime 1x" ./daemon/dataplane/ipvs | tee -a $(BIN)/bench.txt; fi
	@$(GO) run ./internal/benchtable < $(BIN)/bench.txt

lint: tidy-check
	$(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0 run ./...

# The how-to, live: lab up, balancers, traffic, failover. Leaves the lab down.
demo: deps build
	$(BIN)/drlab demo

lab-down:
	-$(BIN)/drlab down --all

clean:
	rm -rf $(BIN)
