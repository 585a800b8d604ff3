# Ringmaster. `make demo` shows a bad update stopped in the canary ring; `make test` runs every test.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
NPM ?= npm

.PHONY: setup build lint test test-unit prometheus k8s-tools chromium test-tools crds demo demo-live bench bench-quick soak clean

node_modules/.installed: package.json package-lock.json
	$(NPM) ci
	@touch $@

setup: node_modules/.installed

# dist/ is rebuilt only when a source is newer than the last build (dist/.stamp): sources of the four TypeScript
# trees and the dashboard, the tsconfigs and package.json. A clean clone has no stamp, so the first build runs.
BUILD_SOURCES := $(shell find controller agent agent-sim bench ui -type f \( -name '*.ts' -o -name '*.json' -o -name '*.html' -o -name '*.css' \) -not -name '*.test.ts' -not -path 'bench/results/*' 2>/dev/null) tsconfig.json tsconfig.build.json package.json

dist/.stamp: node_modules/.installed $(BUILD_SOURCES)
	$(NPM) run --silent build
	@touch $@

build: setup dist/.stamp

lint: setup
	npx eslint .
	npx tsc -p tsconfig.json --noEmit

# Installs the Debian prometheus package (server + promtool) when missing; used by integration tests.
prometheus:
	./scripts/install-prometheus.sh

# Installs the Debian chromium package when missing; the dashboard's browser test drives it with playwright-core.
chromium:
	./scripts/install-chromium.sh

# Debian's tmux and zsh when missing: the watch display runs in a real 80x24 tmux terminal, the zsh completion in zsh.
test-tools:
	./scripts/install-test-tools.sh

# The real helm and kubectl binaries (.tools/bin), for the chart and operator tests.
k8s-tools:
	./scripts/install-k8s-tools.sh >/dev/null

# The CRDs of charts/ringmaster/crds, generated from the JSON Schemas (controller/spec/schema.ts); a test fails when stale.
crds: build
	node dist/controller/operator/gen-crds.js

# Two jest workers: most integration tests wait on servers and child processes, so two share the 2 cores well.
test: build prometheus k8s-tools chromium test-tools lint
	npx jest --ci --forceExit --maxWorkers=2 --testPathIgnorePatterns=/test/soak/

test-unit: build
	npx jest --ci --testPathIgnorePatterns=integration --testPathIgnorePatterns=/test/soak/

# Benchmarks (docs/benchmarks.md): decision quality against Argo-, Flagger- and Kayenta-style judges, manifest serving
# with wrk (raw node:http and an nginx cache beside it), engine scale, simulator scale. Each prints its table and writes
# bench/results/<name>.json; the last step regenerates docs/benchmarks.md. Under 30 min; bench-quick under 5.
bench: build
	./bench/manifest/install.sh
	export BENCH_STARTED_AT="$$(date -u +%Y-%m-%dT%H:%M:%SZ)"; rc=0; \
	  nice -n 10 node dist/bench/decisions/compare.js || rc=1; \
	  node dist/bench/manifest/main.js || rc=1; \
	  node dist/bench/engine-bench.js || rc=1; \
	  node dist/bench/sim/main.js || rc=1; \
	  node dist/bench/report.js; \
	  exit $$rc

bench-quick:
	BENCH_QUICK=1 $(MAKE) --no-print-directory bench

# The long reliability run (docs/reliability.md), not part of make test: kill -9s of ringmaster serve, malformed
# inputs, wrk manifest polls with the kill switch. ~20 min; sizes and seed from SOAK_* (SOAK_KILLS=20 ... quick).
soak: build
	npx jest --ci test/soak
	./bench/soak/install-wrk.sh
	node dist/bench/soak/main.js
	node dist/bench/decisions/main.js
	nice -n 10 node dist/bench/judge/soak.js

# The README's first command: a bad content update to a million hosts, stopped in the canary ring (virtual time).
demo: build
	node bin/agent-sim.js --scenario examples/scenarios/bad-content-update.yaml --clock virtual --plot demo-bad-content-update.svg

# Real time: Prometheus + ringmaster serve + two agent-sim live fleets: a healthy update the script approves, then the
# bad update halted in the canary ring (about 4 min; DEMO_PART=2 only the second). Ctrl-C stops it.
demo-live: build prometheus
	./scripts/demo-live.sh

clean:
	rm -rf dist coverage node_modules/.installed
