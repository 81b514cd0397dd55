# Shared by the .deb maintainer scripts and the .rpm scriptlets: scripts/package.sh pastes this file where
# a script says #@MAINTAINER_FUNCTIONS@, and puts the command names (src/commands/index.ts) in
# PALISADE_COMMANDS. POSIX sh: the scripts run under dash on Debian and bash on EL.

PALISADE_OSSEC=/var/ossec
PALISADE_BIN=$PALISADE_OSSEC/active-response/bin
PALISADE_STATE=$PALISADE_OSSEC/var/palisade
PALISADE_CONFIG=$PALISADE_OSSEC/etc/palisade.yml

# Before anything is unpacked: every file is root:wazuh, and the group comes from wazuh-agent/-manager.
palisade_require_wazuh_group() {
  if ! getent group wazuh >/dev/null 2>&1; then
    echo "palisade: the 'wazuh' group does not exist on this host." >&2
    echo "palisade: install wazuh-agent (or wazuh-manager) first, then install palisade again." >&2
    exit 1
  fi
}

# After unpacking. The packages already carry root:wazuh and these modes, but a package manager that
# could not resolve the group at unpack time falls back to a number or to root: set them again.
palisade_set_permissions() {
  for name in palisade $PALISADE_COMMANDS; do
    chown root:wazuh "$PALISADE_BIN/$name"
    chmod 0750 "$PALISADE_BIN/$name"
  done
  chown root:wazuh "$PALISADE_CONFIG"
  chmod 0640 "$PALISADE_CONFIG"
  mkdir -p "$PALISADE_STATE"
  chown root:wazuh "$PALISADE_STATE"
  chmod 0750 "$PALISADE_STATE"
  # active-responses.log lives here; wazuh-agent creates it, a bare host may not have it yet.
  if [ ! -d "$PALISADE_OSSEC/logs" ]; then
    mkdir -p "$PALISADE_OSSEC/logs"
    chown root:wazuh "$PALISADE_OSSEC/logs"
    chmod 0770 "$PALISADE_OSSEC/logs"
  fi
}

# The reconcile units (packaging/systemd) only on a host running systemd, never inside a throwaway root
# (dpkg --root sets DPKG_ROOT; rpm --root chroots, where / is not PID 1's root).
palisade_systemd_usable() {
  [ -d /run/systemd/system ] && [ -z "${DPKG_ROOT:-}" ] && command -v systemctl >/dev/null 2>&1 &&
    [ "$(stat -Lc %d:%i / 2>/dev/null)" = "$(stat -Lc %d:%i /proc/1/root 2>/dev/null)" ]
}

# After install or upgrade: reconcile at boot and after firewall reloads, recheck every 10 minutes.
palisade_enable_units() {
  palisade_systemd_usable || return 0
  systemctl daemon-reload || true
  systemctl enable palisade-reconcile.service palisade-recheck.timer >/dev/null 2>&1 ||
    echo "palisade: could not enable palisade-reconcile.service and palisade-recheck.timer; run: systemctl enable --now palisade-recheck.timer" >&2
  systemctl start palisade-recheck.timer >/dev/null 2>&1 || true
}

# On removal, before the firewall is cleared: a unit must not put blocks back behind the package's back.
palisade_disable_units() {
  palisade_systemd_usable || return 0
  systemctl disable --now palisade-recheck.timer palisade-reconcile.service >/dev/null 2>&1 || true
}

# On removal only, never on upgrade: an upgrade must leave live blocks in place, and execd will still send
# their deletes. Removal takes everything of ours out of the kernel, so no block outlives the package.
palisade_remove_firewall() {
  # The operator CLI reads etc/palisade.yml, so it also finds tables and sets under configured names.
  if [ -x "$PALISADE_BIN/palisade" ]; then
    (cd "$PALISADE_OSSEC" && timeout 120 "$PALISADE_BIN/palisade" flush --yes </dev/null >/dev/null 2>&1) ||
      echo "palisade: 'palisade flush --yes' failed; removing the default-named tables, chains and sets directly" >&2
  fi
  # Whatever is left under the default names. Each step is idempotent and skipped when its tool is absent.
  if command -v nft >/dev/null 2>&1 && nft list table inet palisade >/dev/null 2>&1; then
    nft delete table inet palisade || echo "palisade: could not delete nft table 'inet palisade'" >&2
  fi
  for family in iptables ip6tables; do
    command -v "$family-save" >/dev/null 2>&1 || continue
    if ! rules=$("$family-save" -t filter 2>/dev/null); then
      echo "palisade: $family-save failed: remove any PALISADE chain and palisade set rules from $family by hand" >&2
      continue
    fi
    # Jumps to our chains and rules matching our sets become deletions; our chains are flushed and removed.
    undo=$(printf '%s\n' "$rules" | grep -E -e '^-A .*(-j PALISADE[^ ]*|--match-set palisade[^ ]*)( |$)' | sed 's/^-A /-D /')
    chains=$(printf '%s\n' "$rules" | sed -n 's/^:\(PALISADE[^ ]*\) .*/\1/p')
    [ -n "$undo$chains" ] || continue
    {
      echo '*filter'
      [ -z "$undo" ] || printf '%s\n' "$undo"
      for chain in $chains; do echo "-F $chain"; done
      for chain in $chains; do echo "-X $chain"; done
      echo 'COMMIT'
    } | "$family-restore" --noflush || echo "palisade: could not remove the PALISADE rules from $family" >&2
  done
  # palisade-route-null's blackhole routes carry protocol 199; palisade-host-deny's lines end in its marker.
  if command -v ip >/dev/null 2>&1; then
    ip -4 route flush table main proto 199 type blackhole 2>/dev/null || true
    ip -6 route flush table main proto 199 type blackhole 2>/dev/null || true
  fi
  if [ -f /etc/hosts.deny ] && grep -q '^ALL: .* # palisade$' /etc/hosts.deny; then
    sed -i '/^ALL: .* # palisade$/d' /etc/hosts.deny || echo "palisade: could not remove Palisade's lines from /etc/hosts.deny" >&2
  fi
  if command -v ipset >/dev/null 2>&1; then
    for set in $(ipset list -n 2>/dev/null | grep '^palisade'); do
      ipset destroy "$set" || echo "palisade: could not destroy ipset $set" >&2
    done
  fi
}

# After removal: the state describes blocks that no longer exist; a later install must not restore them.
palisade_remove_state() {
  rm -rf "$PALISADE_STATE"
}
