# odi's build. Every go command carries -tags nosqlite: anacrolix/torrent otherwise links
# its own SQLite, which clashes with mattn/go-sqlite3 (see docs/architecture.md).
GO          ?= go
TAGS        := nosqlite
BIN         := bin/odi
TOOLS       := $(CURDIR)/.tools
STATICCHECK := $(TOOLS)/staticcheck
STATICCHECK_VERSION := v0.8.2
VNU         := $(TOOLS)/vnu.jar
VNU_VERSION := 26.9.27
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS     := -X main.version=$(VERSION)

.PHONY: all build demo test unit e2e readme faults faults-short crowd lint fuzz bench-publish install uninstall clean

all: build

build:
	$(GO) build -tags $(TAGS) -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/odi

# install takes $(BIN) as built, rebuilding it only when a Go file is newer, so that
# `make build && sudo make install` does not need go on root's PATH.
$(BIN): $(wildcard go.mod go.sum $(shell git ls-files -co --exclude-standard '*.go' 2>/dev/null))
	$(GO) build -tags $(TAGS) -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/odi

## demo: a whole odi network on loopback, printing what to try (Ctrl-C stops it)
demo: build
	./$(BIN) demo

## test: lint, unit and integration tests, then the end-to-end script with real clients,
## the README walk-through, the short reliability suite and a small flash crowd
test: lint unit e2e readme faults-short crowd

# unit: TestHTMLValid checks the web pages with $(VNU); TestBrowser drives Chromium and
# leaves its screenshots in test-output/browser.
unit: $(VNU)
	ODI_VNU_JAR=$(VNU) ODI_TEST_OUTPUT=$(CURDIR)/test-output $(GO) test -tags $(TAGS) -race -count=1 ./...

e2e: build
	scripts/e2e.sh $(BIN)

## readme: every command of README.md's sh blocks, then every command odi demo prints,
## pasted as a user would on loopback, each checked (scripts/readme.sh says how)
readme: build
	scripts/readme.sh $(BIN)

## faults: the reliability suite (docs/reliability.md): floods, idle sockets, sybils,
## inflated demand, overflowing manifests, replays, kill -9s, rotting and lying relays, a
## full disk, each with pass/fail and figures. faults-short is its quick subset (~1 min).
faults: build
	scripts/faults.sh $(BIN)

faults-short: build
	FAULTS_SHORT=1 scripts/faults.sh $(BIN)

## crowd: a small mixed flash crowd (4 odi fetch, 2 aria2c, 2 qBittorrent, 2 curl on 32 MiB,
## 3 relays); fails when a client does not finish or the origin sends more than the bench's
## targets. Before the crowd fix (a07fdba) this failed: 7.00x egress, a client exited on 503s.
crowd: build
	CROWD=odi:4,aria2c:2,qbittorrent:2,curl:2 CLIENTS=10 SIZE_MIB=32 CLIENT_TIMEOUT=300 FILL_WAIT=300 \
	  scripts/bench/flashcrowd.sh $(BIN)

lint: $(STATICCHECK)
	@out=$$(gofmt -l $$(git ls-files -co --exclude-standard '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet -tags $(TAGS) ./...
	$(STATICCHECK) -tags $(TAGS) ./...
	scripts/check-deploy.sh

$(STATICCHECK):
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# The Nu Html Checker, from npm. --ignore-scripts: the package's install script would
# download a JDK; the system's java runs it (.ci/run installs default-jre-headless).
$(VNU):
	npm install --no-save --ignore-scripts --prefix $(TOOLS)/npm vnu-jar@$(VNU_VERSION)
	cp $(TOOLS)/npm/node_modules/vnu-jar/build/dist/vnu.jar $@

## fuzz: run each fuzz target for FUZZTIME (default 20s) and keep what it found: the inputs
## that widened coverage are copied from the build cache into the package's testdata/fuzz,
## where `go test` replays them as seed corpus on every run.
FUZZTIME ?= 20s
FUZZ_TARGETS := internal/names:FuzzSplitPath internal/names:FuzzCheckPaths internal/manifest:FuzzDecode \
	internal/manifest:FuzzDecodeSizes internal/jsonstrict:FuzzDecode internal/sign:FuzzParseRequest \
	tracker:FuzzParseAnnounceQuery tracker:FuzzParseUDP tracker:FuzzHandleUDP webseed:FuzzParseRef \
	catalog:FuzzHeartbeat internal/byterange:FuzzParseRanges
fuzz:
	@set -e; cache=$$($(GO) env GOCACHE)/fuzz/$$($(GO) list -m); \
	for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; name=$${t##*:}; \
	  $(GO) test -tags $(TAGS) -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) ./$$pkg; \
	  mkdir -p $$pkg/testdata/fuzz/$$name; \
	  cp -n $$cache/$$pkg/$$name/* $$pkg/testdata/fuzz/$$name/ 2>/dev/null || true; \
	done

bench-publish: build
	scripts/bench/publish.sh $(BIN)

## install: bin/odi, its man pages and bash, zsh and fish completions under PREFIX
## (default /usr/local; PREFIX=$HOME/.local needs no root), staged under DESTDIR for
## packaging. The pages and completions come from the binary (odi gen-docs), dated by
## SOURCE_DATE_EPOCH (default: the last commit's) so that a rebuild gives the same bytes.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null)
install: $(BIN)
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	  SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(abspath $(BIN)) gen-docs --man "$$tmp/man" --completions "$$tmp/completions" >/dev/null; \
	  install -Dm755 $(BIN) "$(DESTDIR)$(BINDIR)/odi"; \
	  for page in "$$tmp"/man/*.1; do install -Dm644 "$$page" "$(DESTDIR)$(MANDIR)/man1/$${page##*/}"; done; \
	  install -Dm644 "$$tmp/completions/odi.bash" "$(DESTDIR)$(BASHCOMPDIR)/odi"; \
	  install -Dm644 "$$tmp/completions/_odi" "$(DESTDIR)$(ZSHCOMPDIR)/_odi"; \
	  install -Dm644 "$$tmp/completions/odi.fish" "$(DESTDIR)$(FISHCOMPDIR)/odi.fish"; \
	  echo "installed $(DESTDIR)$(BINDIR)/odi, man pages in $(DESTDIR)$(MANDIR)/man1, completions for bash, zsh and fish"

uninstall:
	rm -f "$(DESTDIR)$(BINDIR)/odi" "$(DESTDIR)$(MANDIR)"/man1/odi.1 "$(DESTDIR)$(MANDIR)"/man1/odi-*.1 \
	  "$(DESTDIR)$(BASHCOMPDIR)/odi" "$(DESTDIR)$(ZSHCOMPDIR)/_odi" "$(DESTDIR)$(FISHCOMPDIR)/odi.fish"

clean:
	rm -rf bin .tools
