# stockd — two commands for a new user: `make run` and `make test`.
SWIFT   ?= swift
DATA    ?= var/data
SOCKET  ?= var/stockd.sock
MODE    ?= 0660
ARGS    ?=

# Debian packages the build and tests need, and a file each one provides.
APT_PACKAGES := liblmdb-dev libedit-dev pkg-config systemd socat bc python3
NEEDS := /usr/include/lmdb.h /usr/include/editline/readline.h /usr/bin/pkg-config /usr/bin/systemd-analyze /usr/bin/socat /usr/bin/bc /usr/bin/python3
# The network tests and the relay benchmark also need PostgreSQL 15 (bookworm's): Tools/pgharness.py runs
# a throwaway server from its binaries, and psql. Only those targets install it: `make run` does not.
NETWORK_APT_PACKAGES := postgresql postgresql-client
NETWORK_NEEDS := /usr/lib/postgresql/15/bin/initdb /usr/lib/postgresql/15/bin/pg_ctl /usr/lib/postgresql/15/bin/psql

# $(call install-missing,PACKAGES,FILES): apt-get install PACKAGES when one of FILES is missing (as root;
# otherwise print the command and fail).
define install-missing
	@missing=""; for f in $(2); do [ -e $$f ] || missing="$$missing $$f"; done; \
	if [ -n "$$missing" ]; then \
	  echo "missing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then \
	    (apt-get install -y $(1) || (apt-get update && apt-get install -y $(1))) ; \
	  else \
	    echo "run as root:  apt-get update && apt-get install -y $(1)"; exit 1; \
	  fi; \
	fi
endef

.PHONY: deps network-deps build release run test bench fuzz fuzz-build chaos clean install install-files systemd-test \
  relay network-test relay-bench install-relay

## deps: install the Debian packages when a file they provide is missing (as root; otherwise print the command).
deps:
	$(call install-missing,$(APT_PACKAGES),$(NEEDS))
	@# The metrics tests read stockd's Prometheus text with prometheus_client's own parser (PyPI). Debian
	@# marks its Python externally managed (PEP 668); no Debian package here provides this module, so
	@# pip may add it beside them.
	@/usr/bin/python3 -c 'import prometheus_client' 2>/dev/null || \
	  /usr/bin/python3 -m pip install --quiet --root-user-action=ignore --break-system-packages prometheus_client

## network-deps: PostgreSQL 15 and psql, for the network tests and the relay benchmark.
network-deps: deps
	$(call install-missing,$(NETWORK_APT_PACKAGES),$(NETWORK_NEEDS))

build: deps
	$(SWIFT) build

release: deps
	$(SWIFT) build -c release --product stockd
	$(SWIFT) build -c release --product stockctl

## run: build in release and start stockd in the foreground on ./var (Ctrl-C stops it cleanly).
run: release
	@mkdir -p $(dir $(SOCKET)) $(DATA)
	exec $$($(SWIFT) build -c release --show-bin-path)/stockd --data $(DATA) --socket $(SOCKET) --socket-mode $(MODE) $(ARGS)

## test: build everything (debug) and run every test: unit, end to end, crash, systemd unit checks,
## the Python client example against a real stockd, 5 chaos rounds, 20 s of each fuzz harness, then the
## relay's unit tests and the network tests (three sites, relays and PostgreSQL under faults).
test: deps network-deps fuzz-build
	$(SWIFT) build --build-tests
	STOCKD_BIN=$$($(SWIFT) build --show-bin-path) $(SWIFT) test --skip-build
	STOCKD_BIN=$$($(SWIFT) build --show-bin-path) /usr/bin/python3 -m unittest Tools/test_order_service.py
	/usr/bin/python3 Tools/chaos.py --bin $$($(SWIFT) build --show-bin-path) --rounds 5
	Tools/fuzz/run.sh 20 $(FUZZ_DIR) $(FUZZERS)
	$(SWIFT) build --package-path Relay --build-tests
	$(SWIFT) test --package-path Relay --skip-build
	$(MAKE) network-test

## relay: build stockrelay (debug), the network relay: a package of its own in Relay/ (docs/network.md).
relay: deps
	$(SWIFT) build --package-path Relay

## network-test: three stockd sites, their relays and a throwaway PostgreSQL; relays killed with -9,
## PostgreSQL and a stockd restarted while writes flow, then every site's log and stock compared with
## PostgreSQL (Tools/test_network.py); and a relay cut off as a slow watcher that must resume. About
## 2 minutes after the builds. Prints the events per site, the faults, gaps and duplicates.
network-test: network-deps relay
	$(SWIFT) build --product stockd
	$(SWIFT) build --product stockctl
	STOCKD_BIN=$$($(SWIFT) build --show-bin-path) \
	  STOCKRELAY_BIN=$$($(SWIFT) build --package-path Relay --show-bin-path)/stockrelay \
	  /usr/bin/python3 -m unittest -v Tools/test_network.py

## relay-bench: stockrelay's throughput on a 500,000-event backlog (median of 3 runs) and its lag while
## the site takes 10,000 writes/s for 20 s (Tools/relay_bench.py), stockd and stockrelay in release;
## RELAY_BENCH_ARGS adds options (--backlog N, --runs N, --rate N, --seconds N, --relay-args '...').
relay-bench: network-deps
	$(SWIFT) build -c release --product stockd
	$(SWIFT) build -c release --product stockctl
	$(SWIFT) build -c release --package-path Relay
	/usr/bin/python3 Tools/relay_bench.py --bin $$($(SWIFT) build -c release --show-bin-path) \
	  --relay $$($(SWIFT) build -c release --package-path Relay --show-bin-path)/stockrelay $(RELAY_BENCH_ARGS)

## bench: stockd and Redis side by side, in the same run, on fresh temp folders (see docs/performance.md);
## builds stockd, stockctl and stockbench in release, installs redis-server when missing; about 6 minutes
## after the build (measured: 6 min 6 s with the defaults on the 2-core VM).
bench: deps
	$(SWIFT) build -c release --product stockd
	$(SWIFT) build -c release --product stockctl
	$(SWIFT) build -c release --product stockbench
	Tools/bench.sh

## promise-bench: one write that fills or moves thousands of waiting reservations, and plain SELLs beside it
## (Tools/promise_bench.py, docs/performance.md "Promises"): 3 runs of 6 scenarios, each on a fresh release
## stockd; about 3 minutes after the build.
.PHONY: promise-bench
promise-bench: deps
	$(SWIFT) build -c release --product stockd
	/usr/bin/python3 Tools/promise_bench.py --bin $$($(SWIFT) build -c release --show-bin-path) $(PROMISE_BENCH_ARGS)

## chaos: CHAOS_ROUNDS kill -9 rounds of a release stockd under mixed load (Tools/chaos.py): prints the
## acknowledged, lost and duplicated writes and the replay check of each round; fails on any loss,
## duplicate or difference. About 3 s a round on the 2-core VM.
CHAOS_ROUNDS ?= 100
chaos: deps
	$(SWIFT) build -c release --product stockd
	$(SWIFT) build -c release --product stockctl
	/usr/bin/python3 Tools/chaos.py --bin $$($(SWIFT) build -c release --show-bin-path) --rounds $(CHAOS_ROUNDS)

## fuzz: build the libFuzzer harnesses (swiftc -sanitize=fuzzer,address) and run each for FUZZ_SECONDS
## seconds: the request parser, the stored event and projection codecs, stockctl import's readers.
## A crash fails the target; its reproducer is in .build/fuzz/crashes/ (see Tools/fuzz/README.md).
FUZZ_SECONDS ?= 60
FUZZ_DIR     := .build/fuzz
FUZZ_FLAGS   := -sanitize=fuzzer,address -O -wmo -parse-as-library -I $(FUZZ_DIR) -I Sources/CLMDB
FUZZERS      := parser codec import

fuzz: deps fuzz-build
	Tools/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_DIR) $(FUZZERS)

fuzz-build: $(FUZZERS:%=$(FUZZ_DIR)/%)

# Each library target is compiled once, instrumented, as its own module (so `import LedgerCore` works).
$(FUZZ_DIR)/%.o:
	@mkdir -p $(FUZZ_DIR)
	$(SWIFT)c $(FUZZ_FLAGS) -module-name $* -emit-module -emit-module-path $(FUZZ_DIR)/$*.swiftmodule \
	  -c $(filter %.swift,$^) -o $@
$(FUZZ_DIR)/LedgerCore.o: $(wildcard Sources/LedgerCore/*.swift)
$(FUZZ_DIR)/LedgerProtocol.o: $(wildcard Sources/LedgerProtocol/*.swift) $(FUZZ_DIR)/LedgerCore.o
# Of the store, the codecs only: what they decode is all the harness feeds (the rest needs LMDB and swift-system).
$(FUZZ_DIR)/LedgerStore.o: Sources/LedgerStore/Bytes.swift Sources/LedgerStore/EventCodec.swift \
  Sources/LedgerStore/ProjectionCodec.swift $(FUZZ_DIR)/LedgerCore.o

$(FUZZ_DIR)/parser: Tools/fuzz/ParserFuzz.swift Tools/fuzz/JSONCheck.swift $(FUZZ_DIR)/LedgerCore.o $(FUZZ_DIR)/LedgerProtocol.o
$(FUZZ_DIR)/codec: Tools/fuzz/CodecFuzz.swift $(FUZZ_DIR)/LedgerCore.o $(FUZZ_DIR)/LedgerStore.o
# The import readers are the LedgerExchange library, on CSV.swift from SwiftPM's checkout (resolved first).
$(FUZZ_DIR)/CSV.o: Package.swift
	$(SWIFT) package resolve
	@mkdir -p $(FUZZ_DIR)
	$(SWIFT)c $(FUZZ_FLAGS) -module-name CSV -emit-module -emit-module-path $(FUZZ_DIR)/CSV.swiftmodule \
	  -c .build/checkouts/CSV.swift/Sources/CSV/*.swift -o $@
$(FUZZ_DIR)/LedgerExchange.o: $(wildcard Sources/LedgerExchange/*.swift) $(FUZZ_DIR)/LedgerCore.o $(FUZZ_DIR)/LedgerProtocol.o \
  $(FUZZ_DIR)/CSV.o
$(FUZZ_DIR)/import: Tools/fuzz/ImportFuzz.swift $(FUZZ_DIR)/LedgerCore.o $(FUZZ_DIR)/LedgerProtocol.o $(FUZZ_DIR)/CSV.o \
  $(FUZZ_DIR)/LedgerExchange.o
$(FUZZERS:%=$(FUZZ_DIR)/%):
	$(SWIFT)c $(FUZZ_FLAGS) -module-name $(notdir $@)fuzz $^ -o $@

## install: build stockd and stockctl (BUILD=release, or debug) and install them with the systemd units,
## the sysusers file, shell completions and docs/operating.md under $(DESTDIR)$(PREFIX), the layout of
## docs/operating.md (Install). A Debian package uses `make install PREFIX=/usr DESTDIR=debian/stockd`.
PREFIX      ?= /usr/local
BUILD       ?= release
BINDIR      ?= $(PREFIX)/bin
# systemd and systemd-sysusers read both /usr/local/lib/... and /usr/lib/...; on Debian (merged /usr
# since bookworm) /usr/lib/systemd/system is the same folder as /lib/systemd/system, where the package
# tools (dh_installsystemd) look.
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DOCDIR      ?= $(PREFIX)/share/doc/stockd

# INSTALL_SWIFT_FLAGS=--static-swift-stdlib links the Swift runtime in (docs/operating.md, Install).
INSTALL_SWIFT_FLAGS ?=

install: deps
	$(SWIFT) build -c $(BUILD) $(INSTALL_SWIFT_FLAGS) --product stockd
	$(SWIFT) build -c $(BUILD) $(INSTALL_SWIFT_FLAGS) --product stockctl
	$(MAKE) install-files BIN_FROM="$$($(SWIFT) build -c $(BUILD) --show-bin-path)"

## install-files: install already built binaries from BIN_FROM (no build: the tests use this).
install-files:
	@test -x "$(BIN_FROM)/stockd" -a -x "$(BIN_FROM)/stockctl" || { echo "BIN_FROM=$(BIN_FROM) has no stockd and stockctl"; exit 1; }
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" BINDIR="$(BINDIR)" UNITDIR="$(UNITDIR)" SYSUSERSDIR="$(SYSUSERSDIR)" \
	  DOCDIR="$(DOCDIR)" RELAY_FROM="$(RELAY_FROM)" Tools/install.sh "$(BIN_FROM)"

## install-relay: build stockrelay (BUILD=release, or debug) and install it and its unit with the rest
## (as `install` does, plus RELAY_FROM): only on a host that relays its site to PostgreSQL (docs/network.md).
install-relay: deps
	$(SWIFT) build -c $(BUILD) $(INSTALL_SWIFT_FLAGS) --product stockd
	$(SWIFT) build -c $(BUILD) $(INSTALL_SWIFT_FLAGS) --product stockctl
	$(SWIFT) build -c $(BUILD) --package-path Relay
	$(MAKE) install-files BIN_FROM="$$($(SWIFT) build -c $(BUILD) --show-bin-path)" \
	  RELAY_FROM="$$($(SWIFT) build -c $(BUILD) --package-path Relay --show-bin-path)"

## systemd-test: boot a minimal Debian bookworm tree (debootstrap, cached in .build/systemd-test) under
## systemd-nspawn with stockd installed by `make install`, and check the units with systemd as PID 1
## (Tests/systemd/boot-test.sh). Needs root. BUILD=debug reuses the build `make test` made.
systemd-test: deps
	$(SWIFT) build -c $(BUILD) --product stockd
	$(SWIFT) build -c $(BUILD) --product stockctl
	Tests/systemd/boot-test.sh "$$($(SWIFT) build -c $(BUILD) --show-bin-path)"

clean:
	rm -rf .build Relay/.build var
