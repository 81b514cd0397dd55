/**
 * `backend: auto`: the best firewall this host can run, decided without spawning anything (it runs on
 * every alert). nftables works wherever the nft tool is installed, even beside iptables-legacy rules:
 * both are netfilter hooks, and our table's priority puts it first.
 */
import { accessSync, constants } from 'node:fs';
import type { BackendName } from './backend.js';

export function onPath(tool: string, path = process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'): boolean {
  // execd's PATH may lack the sbin directories where firewall tools live.
  const dirs = new Set([...path.split(':'), '/usr/sbin', '/sbin']);
  for (const dir of dirs) {
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

export class NoFirewallError extends Error {
  override name = 'NoFirewallError';
}

export function detectBackend(): BackendName {
  if (onPath('nft')) return 'nftables';
  if (onPath('ipset') && onPath('iptables')) return 'ipset';
  if (onPath('iptables')) return 'iptables';
  throw new NoFirewallError('no firewall tool found (nft, ipset, iptables): install nftables, or set backend: in etc/palisade.yml');
}
