/**
 * Backend name → module. Each backend is imported only when chosen, so an invocation loads one firewall's
 * code and no other's (start-up is paid on every alert).
 */
import type { Backend, BackendContext, BackendName } from './backend.js';

type BackendLoader = (ctx: BackendContext) => Promise<Backend>;

/** A backend name without its loader is a type error here. */
const loaders: Record<BackendName, BackendLoader> = {
  ipset: async (ctx) => (await import('./ipset.js')).createIpsetBackend(ctx),
  iptables: async (ctx) => (await import('./iptables.js')).createIptablesBackend(ctx),
  'dry-run': async (ctx) => (await import('./dry-run.js')).createDryRunBackend(ctx),
  nftables: async (ctx) => (await import('./nftables.js')).createNftablesBackend(ctx),
  http: async (ctx) => (await import('./http/index.js')).createHttpBackend(ctx),
  'hosts-deny': async (ctx) => (await import('./hosts-deny.js')).createHostsDenyBackend(ctx),
  'null-route': async (ctx) => (await import('./null-route.js')).createNullRouteBackend(ctx),
};

export function loadBackend(name: BackendName, ctx: BackendContext): Promise<Backend> {
  return loaders[name](ctx);
}
