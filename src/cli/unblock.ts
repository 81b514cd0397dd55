/**
 * `palisade unblock ADDRESS`: lifts a block wherever Palisade made it, by hand or from an alert, through
 * palisade-drop's own delete (wazuh#1491: Wazuh has no way to lift one early). An address that is only
 * blocked as part of a wider network is not let through by this; the answer says which block to lift.
 */
import { describeUnblock, logUnblock, openStateStore, releaseBlock, resolveBackend } from '../commands/blocking.js';
import { overlaps } from '../runtime/address.js';
import type { CliContext } from './context.js';
import { localTime } from './output.js';
import { operator } from './common.js';
import type { UnblockOptions } from './unblock-options.js';

export async function run(ctx: CliContext, options: UnblockOptions): Promise<number> {
  const { checkOneSource, unblockFrom } = await import('./bulk.js');
  checkOneSource('unblock', options);
  if (options.from !== undefined) return unblockFrom(ctx, { ...options, from: options.from });
  const env = await ctx.env();
  const block = options.address!;
  const state = openStateStore(env);
  // The operator lets the address through: every hold goes, the operator's and every command's.
  const removals = await releaseBlock(env, state, resolveBackend(env.config, options.backend), block, 'everyone', { everywhere: true });
  const covering = state.active().filter((entry) => entry.prefix < block.prefix && overlaps(entry, block));
  const by = operator();
  // A no-op is not an unblock: Wazuh's rule for `unblocked` would report one that never happened.
  for (const removal of removals) if (removal.entry || removal.result === 'deleted') logUnblock(env, block, removal, by ? { operator: by } : {});

  if (ctx.out.json) {
    ctx.out.document({
      ok: covering.length === 0,
      address: block.address,
      removed: removals.map((removal) => ({ backend: removal.backend, result: removal.result, hadStateEntry: removal.entry !== undefined })),
      stillBlockedBy: covering.map((entry) => ({ address: entry.address, backend: entry.backend, expiresAt: entry.expiresAt })),
    });
  } else {
    for (const removal of removals) {
      ctx.out.line(removal.entry || removal.result === 'deleted' ? describeUnblock(block, removal) : `${block.address} was not blocked on ${removal.backend}; nothing changed`);
    }
    for (const entry of covering) {
      ctx.out.line(
        `${block.address} is still blocked as part of ${entry.address} on ${entry.backend} (until ${localTime(entry.expiresAt)}): ` +
          `run palisade unblock ${entry.address} to let it through`,
      );
    }
  }
  // Asked to let the address through: only success when nothing still stops it.
  return covering.length > 0 ? 1 : 0;
}
