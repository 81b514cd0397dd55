/**
 * palisade-unblock: lifts the alert's address wherever Palisade holds it on this agent, on every backend and
 * for every holder (an alert command's, the operator's, palisade-block's fleet hold). execd's delete only
 * comes from its own timer, and Wazuh's API and dashboard can send only an add: this is that add, sent to one
 * agent, a list or all of them with `PUT /active-response` and `"command": "!palisade-unblock"`.
 *
 * Stateless: it never writes check_keys, so execd keeps no timer and sends no delete; a later timed delete of
 * the original alert finds no hold of its own and changes nothing.
 *
 * Whoever can make the manager send an AR can lift every block with it, an alert author included when the
 * command is bound to an <active-response>. An alert built by analysisd always carries `rule` and `manager`
 * (analysisd adds both to every alert, and an AR fires only from a rule), and the API sends
 * only the alert its caller wrote: a message that has either is a rule match, and is refused. A 5.x finding
 * from a rule carries it as wazuh.rule (its top level is the finding's own, where `rule` may be an ECS field).
 */
import { blockText, overlaps } from '../runtime/address.js';
import { targetSource, type AddressTarget } from './address-target.js';
import { describeUnblock, logUnblock, openStateStore, releaseBlock, resolveBackend } from './blocking.js';
import type { ArCommand, CommandContext, Targeting } from './command.js';
import { unusedOptionRefusal } from './common.js';

/** Keys analysisd writes into every alert it builds, and that a request through the API has no reason to carry. */
const ruleMatchKeys = ['rule', 'manager'] as const;

function ruleMatchRefusal(ctx: CommandContext): Targeting<never> | undefined {
  const { wazuh } = ctx.alert;
  const found =
    ctx.request.dialect === '5.x'
      ? typeof wazuh === 'object' && wazuh !== null && Object.hasOwn(wazuh, 'rule')
        ? ['wazuh.rule']
        : []
      : ruleMatchKeys.filter((key) => Object.hasOwn(ctx.alert, key));
  if (found.length === 0) return undefined;
  return {
    ok: false,
    // Wazuh has no words for this refusal: the input is well formed, its origin is what is refused.
    wazuhMessage: '',
    detail:
      `${ctx.name} refuses an alert from a rule match (it has ${found.join(' and ')}): an unblock must come from the API ` +
      `or the dashboard (PUT /active-response, "!${ctx.name}"), never from an <active-response> bound to a rule, or whoever writes the logs could lift any block`,
  };
}

export function unblockCommand(): ArCommand<AddressTarget> {
  return {
    name: 'palisade-unblock',
    stateful: false,
    apiOnly: true,
    target: (ctx) => unusedOptionRefusal(ctx, ['sourceFields']) ?? ruleMatchRefusal(ctx) ?? targetSource(ctx),
    // No allow-list check: letting an address through can never cut this host off.
    async add(ctx, target) {
      const { block } = target;
      const state = openStateStore(ctx);
      // Every hold on every backend goes: an unblock for the fleet means the address is let through here.
      const removals = await releaseBlock(ctx, state, resolveBackend(ctx.config), block, 'everyone', { everywhere: true });
      const lifted = removals.filter((removal) => removal.entry || removal.result === 'deleted');
      for (const removal of lifted) logUnblock(ctx, block, removal, { field: target.field });
      if (lifted.length === 0) {
        // Not "unblocked": Wazuh's rule for that would report an unblock that never happened.
        ctx.log.info({ event: 'not-blocked', address: blockText(block) }, `${blockText(block)} was not blocked by Palisade here; nothing changed`);
        ctx.tell(`${blockText(block)} was not blocked by Palisade here; nothing changed`);
      }
      for (const removal of lifted) ctx.tell(describeUnblock(block, removal));
      // A wider network block still stops the address: say so, it is not this command's to lift.
      for (const entry of state.active().filter((entry) => entry.prefix < block.prefix && overlaps(entry, block))) {
        ctx.log.warn({ event: 'still-covered', address: blockText(block), by: entry.address, backend: entry.backend }, `${blockText(block)} is still blocked as part of ${entry.address}`);
        ctx.tell(`${blockText(block)} is still blocked as part of ${entry.address} on ${entry.backend}: unblock ${entry.address} to let it through`);
      }
    },
    async delete(ctx) {
      // execd never sends one (no check_keys, no timer); a person piping a delete in gets told so.
      ctx.log.info({ event: 'nothing-to-undo' }, 'palisade-unblock keeps nothing to undo: a delete does nothing');
      ctx.tell('nothing to undo: palisade-unblock does nothing on delete');
    },
  };
}
