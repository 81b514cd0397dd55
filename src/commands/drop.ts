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
  holdBlock,
  releaseBlock,
  resolveBackend,
} from './blocking.js';
import type { ArCommand, CommandContext } from './command.js';
import type { CommandOptions } from '../runtime/options.js';
import { blockText } from '../runtime/address.js';
import type { HolderId } from '../runtime/state.js';
import { ruleOf, unusedOptionRefusal } from './common.js';

export type DropTarget = AddressTarget;

/** The hold of this command for this alert's key, which execd's delete for the same key lifts. */
const holdOf = (ctx: CommandContext, target: DropTarget): HolderId => ({ by: ctx.name, key: blockText(target.block) });

/**
 * Added to 5.x's stateful_timeout for the kernel's own timer. execd looks at its timeout list once a second and
 * runs one AR at a time, so its disable can wait behind a queue of other ARs (each bounded by command_timeout);
 * a minute covers such a queue many times over, and still lifts a block whose disable never comes (execd killed,
 * the agent reinstalled) minutes after execd meant to, not max_ttl (a week by default) later.
 */
export const statefulTimeoutMargin = 60;

/** Which timer applies, in the log's words: --ttl given, 5.x's stateful_timeout + margin, or max_ttl. */
export type Expiry = '--ttl' | 'stateful_timeout+margin' | 'max_ttl';

export function expiryOf(ctx: CommandContext): { ttl: number; expiry: Expiry } {
  const maxTtl = ctx.config.max_ttl;
  if (ctx.options.ttl !== undefined) return { ttl: Math.min(ctx.options.ttl, maxTtl), expiry: '--ttl' };
  const timeout = ctx.request.statefulTimeout;
  if (timeout !== undefined && timeout + statefulTimeoutMargin < maxTtl) return { ttl: timeout + statefulTimeoutMargin, expiry: 'stateful_timeout+margin' };
  // 4.x never says when its delete comes, and a 5.x stateless response gets none: the safety net is all there is.
  return { ttl: maxTtl, expiry: 'max_ttl' };
}

export function dropCommand(pinned?: BackendName): ArCommand<DropTarget> {
  const chooseBackend = (ctx: CommandContext): BackendName => resolveBackend(ctx.config, pinned ?? ctx.options.backend);

  /** add and refresh differ only in the word in the log: either way this command's hold is made or extended. */
  const apply = async (ctx: CommandContext, target: DropTarget, verb: 'add' | 'refresh') => {
    const backendName = chooseBackend(ctx);
    const { ttl, expiry } = expiryOf(ctx);
    const rule = ruleOf(ctx);
    const state = openStateStore(ctx);
    const request = { block: target.block, ttl, ...(rule ? { reason: rule } : {}), holder: holdOf(ctx, target) };
    const outcome = await holdBlock(ctx, state, backendName, request, { reject: ctx.options.reject });
    const event = verb === 'add' ? 'blocked' : 'refreshed';
    logBlock(ctx, event, { block: target.block, backend: backendName, outcome, ttl, expiry, rule, field: target.field });
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
      // Only this command's own hold: the operator's block, or another command's, outlives execd's delete.
      const [removal] = await releaseBlock(ctx, state, chooseBackend(ctx), target.block, holdOf(ctx, target), { pinned: ownMechanism });
      logUnblock(ctx, target.block, removal!);
      ctx.tell(describeUnblock(target.block, removal!));
    },
  };
}
