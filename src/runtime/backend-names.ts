/**
 * Every backend's name, and which kind it is. A leaf that imports nothing, so that the config, the state file and
 * the commands can name backends without loading backends/.
 */

/** The firewalls: what `backend:` and `--backend` choose from, and where palisade-drop's delete looks. */
export const firewallBackendNames = ['nftables', 'ipset', 'iptables', 'http', 'dry-run'] as const;
/**
 * The mechanisms that are one command's own: chosen by that command's name, never by `backend:`, auto or
 * palisade-drop, so a palisade-drop delete never lifts a hosts.deny line nor the reverse.
 */
export const commandBackends = { 'hosts-deny': 'palisade-host-deny', 'null-route': 'palisade-route-null' } as const;
export const backendNames = [...firewallBackendNames, 'hosts-deny', 'null-route'] as const;
export type BackendName = (typeof backendNames)[number];

/** Firewalls behind an API on the network, whose answers may take seconds: never called holding the state lock. */
export function isRemoteBackend(name: BackendName): boolean {
  return name === 'http';
}

export function isCommandBackend(name: BackendName): name is keyof typeof commandBackends {
  return name in commandBackends;
}
