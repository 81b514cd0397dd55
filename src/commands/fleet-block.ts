/**
 * palisade-block: a manual block sent to agents through Wazuh's API or dashboard (`"!palisade-block"` with
 * `"arguments": ["--ttl", "1d"]`), for an address the fleet should block now rather than after each agent's
 * own alert. Stateless: no check_keys, so execd keeps no timer and sends no delete; the block ends with its
 * --ttl (max_ttl at most, and by default) or with palisade-unblock.
 *
 * Its hold is the fleet's, neither the operator's nor an alert command's: an alert's timed delete of the same
 * address lifts only that alert's hold and leaves this one, and palisade-unblock (every hold) lifts it.
 * The allow-list applies exactly as for palisade-drop.
 */
import type { HolderId } from '../runtime/state.js';
import { allowlistReason, targetSource, type AddressTarget } from './address-target.js';
import { describeBlock, holdBlock, logBlock, openStateStore, resolveBackend } from './blocking.js';
import type { ArCommand } from './command.js';
import { ruleOf, unusedOptionRefusal } from './common.js';

export const fleetHold: HolderId = { by: 'fleet' };

export function fleetBlockCommand(): ArCommand<AddressTarget> {
  return {
    name: 'palisade-block',
    stateful: false,
    apiOnly: true,
    target: (ctx) => unusedOptionRefusal(ctx, ['sourceFields', 'ttl', 'reject', 'backend']) ?? targetSource(ctx),
    skipReason: allowlistReason,
    async add(ctx, target) {
      const backend = resolveBackend(ctx.config, ctx.options.backend);
      const ttl = Math.min(ctx.options.ttl ?? ctx.config.max_ttl, ctx.config.max_ttl);
      const rule = ruleOf(ctx);
      const request = { block: target.block, ttl, ...(rule ? { reason: rule } : {}), holder: fleetHold };
      const outcome = await holdBlock(ctx, openStateStore(ctx), backend, request, { reject: ctx.options.reject });
      logBlock(ctx, 'blocked', { block: target.block, backend, outcome, ttl, rule, field: target.field }, { holder: fleetHold.by });
      ctx.tell(describeBlock('blocked', target.block, backend, outcome, ttl));
    },
    async delete(ctx) {
      // execd never sends one (no check_keys, no timer): the block ends with its --ttl or palisade-unblock.
      ctx.log.info({ event: 'nothing-to-undo' }, 'palisade-block keeps no execd timer: its block ends with --ttl or palisade-unblock');
      ctx.tell('nothing to undo here: the block ends with its --ttl, or send palisade-unblock');
    },
  };
}
