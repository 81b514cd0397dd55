/**
 * null-route, palisade-route-null's backend: a blackhole route to the address, so this host's replies to it
 * go nowhere (and, with reverse-path filtering, its packets are dropped on arrival).
 *
 * `ip route` / `ip -6 route`, so both families work; idempotent both ways; every failure is an error with ip's
 * own message. Our routes carry their own routing protocol number, visible
 * in `ip route` as `proto 199`, so a route to the same address that someone else made is never replaced
 * nor removed.
 *
 * Routes keep no timer: the state entry's expiry is the only one, and `palisade reconcile` (at boot, which
 * also puts back the routes a reboot took, and every 10 minutes) removes expired routes. The callers hold
 * the state lock (commands/blocking.ts), so the look-then-add of two alerts never interleaves.
 */
import { blockText, parseAddress } from '../runtime/address.js';
import { runTool, toolRefused, type ToolResult } from '../runtime/exec.js';
import { BackendError, type ActiveBlock, type AddOutcome, type Backend, type BackendContext, type Block, type FirewallBlock } from './backend.js';

/** rtm_protocol of our routes: unassigned by the kernel and iproute2 (rt_protos), so it marks them as ours. */
export const routeProtocol = '199';

interface RouteEntry {
  type?: string;
  dst?: string;
  protocol?: string;
  dev?: string;
  gateway?: string;
}

const families = [4, 6] as const;

function ipArgv(family: 4 | 6, ...args: string[]): [string, ...string[]] {
  return family === 6 ? ['ip', '-6', ...args] : ['ip', ...args];
}

const isOurs = (route: RouteEntry) => route.type === 'blackhole' && route.protocol === routeProtocol;

/** "blackhole proto 199", "unicast via 192.0.2.254 dev eth0 proto static": enough for the log to say whose. */
function describeRoute(route: RouteEntry): string {
  return [route.type ?? 'unicast', route.gateway && `via ${route.gateway}`, route.dev && `dev ${route.dev}`, route.protocol && `proto ${route.protocol}`].filter(Boolean).join(' ');
}

/** ip said no: its own words, as the BackendError every firewall's refusal is. */
function refused(argv: readonly string[], result: ToolResult): BackendError {
  const { message, details } = toolRefused(argv, result);
  return new BackendError(message, details);
}

export function createNullRouteBackend(ctx: BackendContext): Backend {
  /** Runs `ip -j ...` and reads its JSON; a refusal is ip's own words. */
  const routes = async (argv: [string, ...string[]]): Promise<RouteEntry[]> => {
    const result = await runTool(argv, { timeoutSeconds: ctx.config.command_timeout });
    if (result.exitCode !== 0) throw refused(argv, result);
    const text = result.stdout.trim();
    try {
      return text === '' ? [] : (JSON.parse(text) as RouteEntry[]);
    } catch {
      throw new BackendError(`${argv.join(' ')} printed something other than JSON: ${text.slice(0, 120)}`, { tool: 'ip' });
    }
  };

  /** Routes in the main table for exactly this destination (not the networks that merely contain it). */
  const exactRoutes = (block: Block) => routes(ipArgv(block.family, '-j', 'route', 'show', 'table', 'main', 'exact', blockText(block)));

  const blackhole = async (block: Block): Promise<AddOutcome> => {
    const address = blockText(block);
    const existing = await exactRoutes(block);
    if (existing.some(isOurs)) return { result: 'present', restored: 0 };
    const foreign = existing[0];
    if (foreign) {
      return { result: 'skipped', restored: 0, reason: `a route to ${address} that Palisade did not make is already there (${describeRoute(foreign)}): left alone` };
    }
    const argv = ipArgv(block.family, 'route', 'add', 'blackhole', address, 'proto', routeProtocol);
    const added = await runTool(argv, { timeoutSeconds: ctx.config.command_timeout });
    if (added.exitCode !== 0) throw refused(argv, added);
    return { result: 'added', restored: 0 };
  };

  const remove = async (block: Block) => {
    // The kernel matches type and protocol on delete: only our blackhole can go, never a route of someone else's.
    const argv = ipArgv(block.family, 'route', 'del', 'blackhole', blockText(block), 'proto', routeProtocol);
    const deleted = await runTool(argv, { timeoutSeconds: ctx.config.command_timeout });
    if (deleted.exitCode === 0) return 'deleted' as const;
    // A namespace without a single route has no main table yet: nothing of ours either.
    if (/No such process|FIB table does not exist/.test(deleted.stderr)) return 'absent' as const;
    throw refused(argv, deleted);
  };

  const list = async (): Promise<FirewallBlock[]> => {
    const listed = await Promise.all(
      families.map((family) => routes(ipArgv(family, '-j', 'route', 'show', 'table', 'main', 'proto', routeProtocol, 'type', 'blackhole'))),
    );
    return listed.flat().flatMap((route) => {
      const parsed = parseAddress(route.dst, { allowNetwork: true });
      return parsed.ok ? [parsed.block] : [];
    });
  };

  return {
    name: 'null-route',
    // Nothing to create; routes lost to a reboot are per-address, and palisade reconcile re-adds them one by one.
    ensure: async () => ({ created: false, restored: 0 }),
    add: (block: Block, _ttlSeconds: number) => blackhole(block),
    // execd already holds the key: put the route back if it was flushed meanwhile.
    refresh: (block: Block, _ttlSeconds: number) => blackhole(block),
    delete: async (block: ActiveBlock | Block) => ({ result: await remove(block), restored: 0 }),
    list,
    async flush() {
      for (const block of await list()) await remove(block);
    },
    async inspect() {
      const { probeTools } = await import('./health.js');
      const findings = await probeTools(ctx, 'null-route', [['ip', 'route', 'show', 'proto', routeProtocol], ['ip', '-6', 'route', 'show', 'proto', routeProtocol]]);
      return { findings, counters: [] };
    },
  };
}
