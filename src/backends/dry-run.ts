/**
 * A firewall that changes nothing: every verb succeeds and is logged. For trying a configuration and for
 * measuring Palisade's own cost without a kernel in the way (bench/).
 */
import type { ActiveBlock, Backend, BackendContext, Block, FirewallBlock } from './backend.js';
import { nowSeconds } from '../runtime/duration.js';

export function createDryRunBackend(ctx: BackendContext): Backend {
  return {
    name: 'dry-run',
    ensure: async () => ({ created: false, restored: 0 }),
    add: async (_block: Block, _ttl: number) => ({ result: 'added', restored: 0 }),
    refresh: async (_block: Block, _ttl: number) => ({ result: 'present', restored: 0 }),
    delete: async (_block: ActiveBlock | Block) => ({ result: 'deleted', restored: 0 }),
    list: async (): Promise<FirewallBlock[]> =>
      ctx.restorable().map(({ address, family, prefix, expiresAt }) => ({
        address,
        family,
        prefix,
        expiresIn: Math.max(0, expiresAt - nowSeconds()),
      })),
    flush: async () => {},
    inspect: async () => ({ findings: [], counters: [] }),
  };
}
