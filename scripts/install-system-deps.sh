#!/usr/bin/env bash
# The Debian packages the demo and the tests use for real: firewall tools, namespaces, package builders,
# account tools. Installs only what is missing (needs root, as do the kernel tests themselves).
set -euo pipefail
packages=(
  nftables iptables ipset iproute2 procps util-linux   # kernel firewalls, namespaces, flock
  rpm fakeroot binutils dpkg                           # rpmbuild (it calls binutils), dpkg-deb
  passwd login libnss-wrapper                          # accounts for disable-account and package tests
  openssl netcat-openbsd hyperfine ca-certificates make time
  jq python3 strace                                    # bench/execd-burst.py and its bash+jq reference AR; strace for a test that counts syscalls
  libmsgpackc2 libyaml-0-2 libcurl4 libpcre2-8-0 libsqlite3-0 libssl3 zlib1g   # what ../shared's real wazuh-execd links
)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "install-system-deps: missing ${missing[*]}; run as root (the kernel tests need root too)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-system-deps: installed ${missing[*]}"
