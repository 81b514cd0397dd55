/**
 * `backend: auto`: the best firewall this host can run, decided without spawning anything (it runs on
 * every alert). nftables works wherever the nft tool is installed, even beside iptables-legacy rules:
 * both are netfilter hooks, and our table's priority puts it first.
 */
import { accessSync, constants } from 'node:fs';
import { NoFirewallError } from '../runtime/errors.js';
import type { BackendName } from './backend.js';

/** Both entries (commands/dispatch.ts, cli/main.ts) have put the sbin directories on PATH already (withSbinOnPath). */
export function onPath(tool: string, path = process.env.PATH ?? ''): boolean {
  for (const dir of path.split(':')) {
    if (!dir) continue;
    try {
      accessSync(`${dir}/${tool}`, constants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}


export function detectBackend(): BackendName {
  return explainDetection().backend;
}

/** What `backend: auto` picks on this host and why, for the operator (palisade status, doctor). */
export function explainDetection(): { backend: BackendName; reason: string } {
  if (onPath('nft')) return { backend: 'nftables', reason: 'nft is installed' };
  if (onPath('ipset') && onPath('iptables')) return { backend: 'ipset', reason: 'nft is not installed; ipset and iptables are' };
  if (onPath('iptables')) return { backend: 'iptables', reason: 'neither nft nor ipset is installed; iptables is' };
  throw new NoFirewallError('no firewall tool found (nft, ipset, iptables): install nftables, or set backend: in etc/palisade.yml');
}
