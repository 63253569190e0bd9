# mailflow developer commands. `make test` is what CI runs.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 60s
BENCHTIME ?= 1s

.PHONY: test tasks-without-node unit lint fmt bench fuzz synth lambdas race fuzz-ci soak screenshots cdk-cli diff deploy

## test: what CI runs: lint; every test once, under the race detector (the
## fault matrix and a short soak included); the task handlers' tests again with
## no node on PATH; each fuzz target briefly; the
## Lambda zips; the CDK synthesis. Node tools, mailpit and the emulators are
## installed on first use.
test: lint race tasks-without-node fuzz-ci synth

## cfn-lint is on CI's machine: its test must fail, not skip, without it.
test: export MAILFLOW_REQUIRE_CFNLINT = 1

## TESTFLAGS: many tests wait rather than compute (scaled clocks, emulators,
## child processes, long polls), so more of them run at once than there are
## cores: 4 packages at a time, 8 parallel tests in each. On two cores this
## halves the race run; the fault matrix alone goes from 40 s to 15 s.
TESTFLAGS ?= -p 4 -parallel 8

## unit: every test without the race detector, the quick local loop
unit:
	$(GO) test -count=1 $(TESTFLAGS) $(PKGS)

## tasks-without-node: the task handlers' tests pass with no node on PATH
## (they run on in-memory adapters; the emulator-backed runs are in test/)
tasks-without-node:
	@bin=$$(mktemp -d); trap 'rm -rf "$$bin"' EXIT; \
	  for t in go gcc cc git; do p=$$(command -v $$t) && ln -s "$$p" "$$bin/$$t"; done; \
	  ln -sf "$$($(GO) env GOROOT)/bin/go" "$$bin/go"; \
	  if PATH="$$bin" command -v node >/dev/null; then echo "node still on PATH"; exit 1; fi; \
	  PATH="$$bin" $$bin/go test -count=1 ./tasks/...

## race: every test under the race detector, the CDK tests aside
## The CDK tests (infra/...) run without it: they synthesize stacks on one
## goroutine through jsii, and race-instrumenting the CDK's Go bindings costs
## about 45 s of a cold build for no concurrency to check. The built Lambda
## zips under the runtime interface emulator (test/lambda) and the clients
## of other languages (test/compat) run after the rest: they test processes
## the detector does not see, and under qemu they would starve the
## time-scaled fault matrix running beside them.
UNRACED = /infra\(/\|$$\)\|/test/lambda$$\|/test/compat$$
race:
	$(GO) test -race -count=1 $(TESTFLAGS) $$($(GO) list $(PKGS) | grep -v '$(UNRACED)')
	$(GO) test -count=1 $(TESTFLAGS) $$($(GO) list $(PKGS) | grep '$(UNRACED)')

## soak: 100,000 mails through the local runtime with random faults,
## duplicates and throttling (a 2,000-mail version runs with every test)
SOAK_MAILS ?= 100000
soak:
	MAILFLOW_SOAK_MAILS=$(SOAK_MAILS) MAILFLOW_SOAK_REPORT=$${MAILFLOW_SOAK_REPORT:-soak-report.txt} \
	  $(GO) test -count=1 -timeout 4h -run '^TestSoak$$' -v ./test/reliability

## screenshots: the console's pictures in docs/ (console-*.png), taken by
## its browser tests in headless Chromium
screenshots:
	MAILFLOW_UPDATE_SCREENSHOTS=1 $(GO) test -count=1 -run '^TestConsole(InBrowser|DeadLetters)$$' ./local/console/

## lint: gofmt check, go vet, staticcheck
lint:
	@out=$$(gofmt -l .); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) tool staticcheck $(PKGS)

fmt:
	gofmt -w .

## bench: every Go benchmark, with allocations; then the performance figures
## of perf/ (burst, throughput, Lambda sizes and cold starts, cost), each run
## once, written to perf/results/ (BENCH_FULL=1: the large N; see BENCHMARKS.md)
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) $$($(GO) list $(PKGS) | grep -v '/perf$$')
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m -v ./perf/

## fuzz: run each fuzz target for FUZZTIME. The targets are read from the
## sources (func FuzzX in a _test.go file) rather than listed with
## `go test -list`, which would build every package's test binary once more
## just to name them.
fuzz:
	@grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' . | sed 's|/[^/]*:func | |' | sort | \
	  while read -r dir f; do \
	    echo "== $$dir $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$dir </dev/null || exit 1; \
	  done

## fuzz-ci: each fuzz target for 50,000 inputs (CI); `make fuzz FUZZTIME=10m`
## for long runs. A count, not a duration: when a duration runs out while a
## worker is busy, go test can report "context deadline exceeded" as a
## failure although nothing was found.
fuzz-ci:
	$(MAKE) fuzz FUZZTIME=50000x

## synth: the CDK cloud assembly in cdk.out/, offline (no AWS credentials,
## no network), for SYNTH_CONFIG with the task zips in build/lambda/
SYNTH_CONFIG ?= infra/mailflow.example.json
synth: lambdas
	rm -rf cdk.out
	CDK_OUTDIR=cdk.out CDK_CONTEXT_JSON='{"config":"$(SYNTH_CONFIG)","lambdaDir":"build/lambda"}' $(GO) run ./infra/app
	@echo "cdk.out/: $$(ls cdk.out/*.template.json)"

## lambdas: the six task functions as Lambda zips in build/lambda/<task>.zip
## (provided.al2023, arm64, static, -tags lambda.norpc; the binary is bootstrap)
LAMBDAS ?= acquire-lock fetch-attachments send release-lock record-event reserve-sends
lambdas:
	@mkdir -p build/lambda
	@for t in $(LAMBDAS); do \
	  GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
	    -o build/lambda/$$t/bootstrap ./tasks/$$t/lambda || exit 1; \
	  $(GO) run ./tools/lambdazip build/lambda/$$t.zip build/lambda/$$t/bootstrap || exit 1; \
	done
	@ls -l build/lambda/*.zip

## cdk-cli: the CDK CLI, pinned in infra/cdk/package-lock.json, installed with
## npm ci outside the source tree (its node_modules holds Go templates that
## `go vet ./...` would read), in the tools cache
CDK_HOME ?= $(or $(MAILFLOW_TOOLS_CACHE),$(HOME)/.cache/mailflow)/cdk-cli
CDK := $(CDK_HOME)/node_modules/.bin/cdk
cdk-cli: $(CDK)
	@echo "CDK CLI: $(CDK) ($$($(CDK) --version))"
$(CDK): infra/cdk/package.json infra/cdk/package-lock.json
	mkdir -p $(CDK_HOME)
	cp infra/cdk/package.json infra/cdk/package-lock.json $(CDK_HOME)/
	npm ci --prefix $(CDK_HOME) --no-audit --no-fund
	@touch $@

## diff, deploy: the pinned CLI against the account of your credentials, for
## CONFIG (cdk.json's build step rebuilds the zips first)
CONFIG ?=
diff deploy: $(CDK)
	@test -n "$(CONFIG)" || { echo "usage: make $@ CONFIG=mailflow.json (infra/mailflow.example.json shows every field)"; exit 2; }
	$(CDK) $@ -c config=$(CONFIG)
