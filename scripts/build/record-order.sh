#!/usr/bin/env bash
# Runs a freshly compiled (not yet hardened) palisade through the paths an alert takes, with Bun's
# BUN_BYTECODE_ORDER_OUT, and writes one order file per path into OUTDIR. build.sh then compiles again with
# --bytecode-order, which lays out the functions those runs used together at the front of the bytecode:
# an alert then pages in and deserialises only what it runs.
#
#   scripts/build/record-order.sh BINARY OUTDIR
#
# Each path runs as execd runs it (a clean environment, the message on stdin, execd's reply after our
# check_keys) in a throwaway install dir, on the nftables backend with a stand-in nft that accepts any
# script: no kernel, no root privileges needed beyond the build's own. The runs are deterministic, so the
# order files, and with them the build, are reproducible. The shipped binary ignores the variable
# (harden-bun-binary.mjs): only this build-time copy writes order files.
set -euo pipefail
binary=$(realpath "$1")
out=$(realpath -m "$2")
root=$out/install/var/ossec
tools=$out/tools
rm -rf "$out"
mkdir -p "$root/active-response/bin" "$root/etc" "$root/logs" "$root/var/palisade" "$tools"
cp "$binary" "$root/active-response/bin/palisade-drop"
printf 'backend: nftables\n' >"$root/etc/palisade.yml"
printf '#!/bin/sh\ncat >/dev/null\n' >"$tools/nft"
chmod 0755 "$tools/nft"

message() { # VERB ADDRESS
  printf '{"version":1,"origin":{"name":"node01","module":"wazuh-execd"},"command":"%s","parameters":{"extra_args":[],"alert":{"timestamp":"2026-11-26T10:20:30.000+0000","rule":{"level":10,"description":"sshd: brute force trying to get access to the system.","id":"5712"},"agent":{"id":"001","name":"web01"},"data":{"srcip":"%s","srcuser":"root"}},"program":"active-response/bin/palisade-drop"}}' "$1" "$2"
}

# One invocation as execd makes it: the message, and for an add, execd's "continue" once check_keys is read.
run() { # ORDER-FILE VERB ADDRESS
  local order=$1 verb=$2 address=$3
  coproc AR { exec env -i PATH="$tools:/usr/bin:/bin" ${order:+BUN_BYTECODE_ORDER_OUT="$order"} "$root/active-response/bin/palisade-drop" 2>/dev/null; }
  local to=${AR[1]} from=${AR[0]} pid=$AR_PID
  message "$verb" "$address" >&"$to"
  printf '\n' >&"$to"
  if [ "$verb" = add ]; then
    local keys
    if ! read -r -t 30 keys <&"$from"; then
      echo "record-order: palisade-drop sent no check_keys on an add" >&2
      exit 1
    fi
    message continue "$address" >&"$to"
    printf '\n' >&"$to"
  fi
  exec {to}>&-
  wait "$pid" || { echo "record-order: palisade-drop $verb failed (exit $?); see $root/logs/active-responses.log" >&2; exit 1; }
}

# The first add of an install reads the YAML config and writes its cache: warm that up unrecorded.
run '' add 198.51.100.1
# Most common first: an alert's add, then execd's timed delete.
run "$out/add.order" add 203.0.113.7
run "$out/delete.order" delete 203.0.113.7
for order in add delete; do
  [ -s "$out/$order.order" ] || { echo "record-order: the $order run wrote no order file" >&2; exit 1; }
done
