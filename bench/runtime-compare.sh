#!/usr/bin/env bash
# The runtime decision's figures, side by side in one run: the Node 24 SEA that Palisade shipped before
# (commit e318ced, built by its own `make build`) against the Bun build, each with its bare binary. Prints a
# markdown table; bench/RESULTS.md keeps the one the decision was made on.
#
#   git worktree add --detach ../node-sea e318ced && (cd ../node-sea && make build && scripts/sea/build.sh bench/bare.ts .build/bare-sea)
#   bench/runtime-compare.sh ../node-sea/dist/palisade ../node-sea/.build/bare-sea
set -euo pipefail
cd "$(dirname "$0")/.."
node_sea=${1:?usage: bench/runtime-compare.sh NODE_SEA_PALISADE NODE_SEA_BARE}
node_bare=${2:?usage: bench/runtime-compare.sh NODE_SEA_PALISADE NODE_SEA_BARE}
work=.build/runtime-compare
rm -rf "$work"
mkdir -p "$work"
scripts/build/build.sh bench/bare.ts "$work/bun-bare" >/dev/null
message=$work/add.json
echo '{"version":1,"origin":{"name":"node01","module":"wazuh-execd"},"command":"add","parameters":{"extra_args":[],"alert":{"rule":{"id":"5763","level":10},"data":{"srcip":"203.0.113.7"}},"program":"active-response/bin/palisade-drop"}}' >"$message"
install() { # NAME BINARY: an install dir on the dry-run backend, the binary copied in as a package would
  local root=$work/$1/var/ossec
  mkdir -p "$root/active-response/bin" "$root/etc" "$root/logs" "$root/var/palisade"
  cp "$2" "$root/active-response/bin/palisade-drop"
  echo 'backend: dry-run' >"$root/etc/palisade.yml"
  echo "$root"
}
node_root=$(install node "$node_sea")
bun_root=$(install bun dist/palisade)
cp "$node_bare" "$work/node-bare"
env -i PATH=/usr/bin:/bin hyperfine --style none --warmup 3 --runs "${RUNS:-60}" --export-json "$work/times.json" \
  -n 'Node SEA: bare' "$work/node-bare < $message" \
  -n 'Node SEA: dry-run add' "cd $node_root && ./active-response/bin/palisade-drop < $PWD/$message" \
  -n 'Bun: bare' "$work/bun-bare < $message" \
  -n 'Bun: dry-run add' "cd $bun_root && ./active-response/bin/palisade-drop < $PWD/$message" >/dev/null
peak() { # COMMAND: the largest GNU time %M of 10 runs, in MB
  local most=0 kb
  for _ in $(seq 10); do
    kb=$(env -i PATH=/usr/bin:/bin /usr/bin/time -f %M sh -c "$1 >/dev/null 2>&1" 2>&1 | tail -n1)
    [ "$kb" -gt "$most" ] && most=$kb
  done
  awk -v kb="$most" 'BEGIN { printf "%.1f", kb / 1024 }'
}
rss_node=$(peak "cd $node_root && ./active-response/bin/palisade-drop < $PWD/$message")
rss_bun=$(peak "cd $bun_root && ./active-response/bin/palisade-drop < $PWD/$message")
echo "- $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, load average $(cut -d' ' -f1 /proc/loadavg); hyperfine ${RUNS:-60} runs each"
echo
echo '| binary | median ms | min ms |'
echo '|---|---|---|'
node -e '
const { results } = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
for (const r of results) console.log(`| ${r.command} | ${(r.median * 1000).toFixed(1)} | ${(r.min * 1000).toFixed(1)} |`);
' "$work/times.json"
echo
echo "Peak RSS of the dry-run add: Node SEA ${rss_node} MB, Bun ${rss_bun} MB."
