# mqttds build targets. Every target is bounded in time; see README.md.
GO        ?= go
PKGS      ?= ./...
BENCHTIME ?= 1s
FUZZTIME  ?= 20s
# Race-detected packages: the concurrent parts (broker, storage write path).
RACEPKGS  ?= $(shell $(GO) list ./server/... ./ds/... 2>/dev/null)

.PHONY: all build run cluster test test-race bench fuzz soak lint clean

all: build

build:
	$(GO) build -o bin/mqttds ./tools/mqttds

## run: start the broker on 127.0.0.1:1883 with its data in ./data.
run: build
	./bin/mqttds serve

## cluster: three replicated sites on 127.0.0.1 (MQTT on 1884-1886), data in ./cluster-data;
## Ctrl-C stops them (scripts/cluster.sh).
cluster:
	scripts/cluster.sh

## test: vet, build every command, run every test (fuzz seed corpora included) and the race detector
## on the concurrent packages. Bounded: each go test run has its own timeout.
test:
	$(GO) vet $(PKGS)
	$(GO) build $(PKGS)
	$(GO) test -count=1 -tags invariants -timeout 10m $(PKGS)
	@if [ -n "$(RACEPKGS)" ]; then $(GO) test -count=1 -race -short -timeout 8m $(RACEPKGS); fi

## bench: every benchmark once, figures printed (compare runs with benchstat).
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -timeout 30m $(PKGS)

## fuzz: each fuzz target for FUZZTIME.
fuzz:
	@for pkg in $$($(GO) list ./fuzz/...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

## soak: the long crash/restart tests (bounded by SOAKTIME where a test repeats, and by the
## timeout); -v so that their figures (acknowledged messages, kills, RSS) are printed.
SOAKTIME ?= 5m
soak:
	MQTTDS_SOAK=$(SOAKTIME) $(GO) test -count=1 -v -run 'Soak|Crash' -timeout 30m $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

clean:
	rm -rf bin data cluster-data

## compare: the same bench scenarios against Mosquitto and mqttds in one run, one table with the
## ratios (about 3 minutes; stopped after 10).
.PHONY: compare
compare:
	timeout 600 scripts/compare.sh
