/**
 * palisade-route-null: a blackhole route to the alert's source address, so this host's replies to it go
 * nowhere (and, with reverse-path filtering, its packets are dropped on arrival), until execd's delete.
 *
 * Better than Wazuh's route-null (shared/research/wazuh-ar-protocol.md, 7.5): `ip route` / `ip -6 route`
 * instead of `route`, which fails on IPv6; idempotent both ways; every failure is an error with ip's own
 * message instead of an ignored exit status. Our routes carry their own routing protocol number,
 * visible in `ip route` as `proto 199`, so a route to the same address that someone else made is never
 * replaced nor removed.
 */
import { blockText } from '../runtime/address.js';
import { runTool } from '../runtime/exec.js';
import type { Block } from '../backends/backend.js';
import { allowlistReason, targetSource, type AddressTarget } from './address-target.js';
import type { ArCommand, CommandContext } from './command.js';
import { ruleOf, toolRefused, underStateLock, unusedOptionRefusal } from './common.js';

/** rtm_protocol of our routes: unassigned by the kernel and iproute2 (rt_protos), so it marks them as ours. */
export const routeProtocol = '199';

interface RouteEntry {
  type?: string;
  dst?: string;
  protocol?: string;
  dev?: string;
  gateway?: string;
}

function ipArgv(block: Block, ...args: string[]): [string, ...string[]] {
  return block.family === 6 ? ['ip', '-6', ...args] : ['ip', ...args];
}

async function ip(ctx: CommandContext, argv: [string, ...string[]]) {
  return runTool(argv, { timeoutSeconds: ctx.config.command_timeout });
}

/** Routes in the main table for exactly this destination (not the networks that merely contain it). */
async function exactRoutes(ctx: CommandContext, block: Block): Promise<RouteEntry[]> {
  const argv = ipArgv(block, '-j', 'route', 'show', 'table', 'main', 'exact', blockText(block));
  const result = await ip(ctx, argv);
  if (result.exitCode !== 0) throw toolRefused(argv, result);
  const text = result.stdout.trim();
  return text === '' ? [] : (JSON.parse(text) as RouteEntry[]);
}

const isOurs = (route: RouteEntry) => route.type === 'blackhole' && route.protocol === routeProtocol;

/** "blackhole proto 199", "unicast via 192.0.2.254 dev eth0 proto static": enough for the log to say whose. */
function describeRoute(route: RouteEntry): string {
  return [route.type ?? 'unicast', route.gateway && `via ${route.gateway}`, route.dev && `dev ${route.dev}`, route.protocol && `proto ${route.protocol}`].filter(Boolean).join(' ');
}

export function routeNullCommand(): ArCommand<AddressTarget> {
  const blackhole = async (ctx: CommandContext, target: AddressTarget) => {
    const address = blockText(target.block);
    const outcome = await underStateLock(ctx, async () => {
      const existing = await exactRoutes(ctx, target.block);
      if (existing.some(isOurs)) return { result: 'present' as const };
      const foreign = existing[0];
      if (foreign) return { result: 'foreign' as const, route: describeRoute(foreign) };
      const argv = ipArgv(target.block, 'route', 'add', 'blackhole', address, 'proto', routeProtocol);
      const added = await ip(ctx, argv);
      if (added.exitCode !== 0) throw toolRefused(argv, added);
      return { result: 'added' as const };
    });
    if (outcome.result === 'foreign') {
      const reason = `a route to ${address} that Palisade did not make is already there (${outcome.route}): left alone`;
      ctx.log.warn({ event: 'skipped', address, reason, route: outcome.route, rule: ruleOf(ctx.alert) });
      ctx.tell(`skipped: ${reason}`);
      return;
    }
    ctx.log.info({ event: 'route-added', address, result: outcome.result, field: target.field, rule: ruleOf(ctx.alert) });
    ctx.tell(`blackholed ${address}${outcome.result === 'present' ? ' (the route was already there)' : ''}`);
  };

  return {
    name: 'palisade-route-null',
    stateful: true,
    target: (ctx) => unusedOptionRefusal(ctx, ['sourceFields']) ?? targetSource(ctx),
    skipReason: allowlistReason,
    add: blackhole,
    // execd already holds the key; put the route back if it was flushed meanwhile.
    refresh: blackhole,
    async delete(ctx, target) {
      const address = blockText(target.block);
      const result = await underStateLock(ctx, async () => {
        // The kernel matches type and protocol on delete: only our blackhole can go, never a route of someone else's.
        const argv = ipArgv(target.block, 'route', 'del', 'blackhole', address, 'proto', routeProtocol);
        const deleted = await ip(ctx, argv);
        if (deleted.exitCode === 0) return 'deleted' as const;
        if (/No such process/.test(deleted.stderr)) return 'absent' as const;
        throw toolRefused(argv, deleted);
      });
      ctx.log.info({ event: 'route-removed', address, result });
      ctx.tell(`removed the blackhole route to ${address}${result === 'absent' ? ' (there was none)' : ''}`);
    },
  };
}
