/**
 * Backend name → module. Each backend is imported only when chosen, so an invocation loads one firewall's
 * code and no other's (start-up is paid on every alert).
 */
import type { Backend, BackendContext, BackendName } from './backend.js';

export async function loadBackend(name: BackendName, ctx: BackendContext): Promise<Backend> {
  switch (name) {
    case 'ipset':
      return (await import('./ipset.js')).createIpsetBackend(ctx);
    case 'iptables':
      return (await import('./iptables.js')).createIptablesBackend(ctx);
    case 'dry-run':
      return (await import('./dry-run.js')).createDryRunBackend(ctx);
    case 'nftables':
      return (await import('./nftables.js')).createNftablesBackend(ctx);
    case 'http':
      return (await import('./http/index.js')).createHttpBackend(ctx);
    case 'hosts-deny':
      return (await import('./hosts-deny.js')).createHostsDenyBackend(ctx);
    case 'null-route':
      return (await import('./null-route.js')).createNullRouteBackend(ctx);
    default:
      throw new Error(`backend "${name}" is not available in this build`);
  }
}
