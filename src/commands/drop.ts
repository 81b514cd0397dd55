/**
 * palisade-drop: block the alert's source address on a firewall until execd's delete (or the kernel's own
 * timer, max_ttl, if that delete never comes). Keys on the normalised address, as Wazuh's firewall-drop.
 * The backend-pinned names (palisade-nftables-drop, ...) are the same command on one firewall, and so are
 * palisade-host-deny and palisade-route-null on theirs (hosts.deny, blackhole routes): one path for every
 * way of blocking an address, with its state entry, its expiry and the operator's list, unblock and flush.
 */
import { commandBackends, isCommandBackend, type BackendName } from '../backends/backend.js';
import { allowlistReason, targetSource, type AddressTarget } from './address-target.js';
import {
  describeBlock,
  describeUnblock,
  logBlock,
  logUnblock,
  openStateStore,
  recordBlock,
  removeBlock,
  resolveBackend,
} from './blocking.js';
import type { ArCommand, CommandContext } from './command.js';
import type { CommandOptions } from '../runtime/options.js';
import { ruleOf, unusedOptionRefusal } from './common.js';

export type DropTarget = AddressTarget;

export function dropCommand(pinned?: BackendName): ArCommand<DropTarget> {
  const chooseBackend = (ctx: CommandContext): BackendName => resolveBackend(ctx.config, pinned ?? ctx.options.backend);
  const ttlOf = (ctx: CommandContext) => Math.min(ctx.options.ttl ?? ctx.config.max_ttl, ctx.config.max_ttl);

  /** add and refresh differ only in the backend verb and the word in the log. */
  const apply = async (ctx: CommandContext, target: DropTarget, verb: 'add' | 'refresh') => {
    const backendName = chooseBackend(ctx);
    const ttl = ttlOf(ctx);
    const rule = ruleOf(ctx.alert);
    const state = openStateStore(ctx);
    const outcome = await recordBlock(ctx, state, backendName, { block: target.block, ttl, ...(rule ? { reason: rule } : {}) }, verb, { reject: ctx.options.reject });
    const event = verb === 'add' ? 'blocked' : 'refreshed';
    logBlock(ctx, event, { block: target.block, backend: backendName, outcome, ttl, rule, field: target.field });
    ctx.tell(describeBlock(event, target.block, backendName, outcome, ttl));
  };

  // A pinned command's name is its backend: --backend would be a silent no-op there, and hosts.deny and
  // routes cannot reject either, so what a command cannot honour is refused by name.
  const ownMechanism = pinned !== undefined && isCommandBackend(pinned);
  const understood: ReadonlyArray<keyof CommandOptions> =
    pinned === undefined ? ['sourceFields', 'ttl', 'reject', 'backend'] : ownMechanism ? ['sourceFields', 'ttl'] : ['sourceFields', 'ttl', 'reject'];

  return {
    name: pinned === undefined ? 'palisade-drop' : isCommandBackend(pinned) ? commandBackends[pinned] : `palisade-${pinned}-drop`,
    stateful: true,
    target: (ctx) => unusedOptionRefusal(ctx, understood) ?? targetSource(ctx),
    skipReason: allowlistReason,
    add: (ctx, target) => apply(ctx, target, 'add'),
    refresh: (ctx, target) => apply(ctx, target, 'refresh'),
    async delete(ctx, target) {
      const state = openStateStore(ctx);
      const [removal] = await removeBlock(ctx, state, chooseBackend(ctx), target.block, { pinned: ownMechanism });
      logUnblock(ctx, target.block, removal!);
      ctx.tell(describeUnblock(target.block, removal!));
    },
  };
}
