/**
 * `palisade block ADDRESS`: a manual block through palisade-drop's own code path (state lock, state entry,
 * backend, log record), so it is restored after a reload, listed and unblocked like any other.
 *
 * Networks may overlap existing blocks, which an nftables interval set refuses ("interval overlaps"):
 * a block already covered by a wider one (lasting as long as --for asks) is left as it is, a network
 * inside a wider one that expires sooner than asked is refused with the way out, and a network over
 * narrower networks replaces them.
 */
import { describeBlock, describeUnblock, logBlock, logUnblock, openStateStore, holdBlock, releaseBlock, resolveBackend } from '../commands/blocking.js';
import { isSingleHost, overlaps } from '../runtime/address.js';
import { findAllowed } from '../runtime/allowlist.js';
import { formatDuration, nowSeconds } from '../runtime/duration.js';
import { operatorHold, type StateEntry } from '../runtime/state.js';
import type { BlockOptions } from './block-options.js';
import { blockOf } from '../runtime/block.js';
import { operator } from './common.js';
import { CliFailure, type CliContext } from './context.js';
import { localTime } from './output.js';

export async function run(ctx: CliContext, options: BlockOptions): Promise<number> {
  const { checkOneSource, blockFrom } = await import('./bulk.js');
  checkOneSource('block', options);
  if (options.from !== undefined) return blockFrom(ctx, { ...options, from: options.from });
  const env = await ctx.env();
  const { config } = env;
  const block = options.address!;
  const address = block.address;
  const by = operator();

  const allowed = await findAllowed(block, config, ctx.installDir, { log: env.log });
  if (allowed) {
    const reason = `${address} is allow-listed: ${allowed.why} (${allowed.range.address})`;
    env.log.info({ event: 'skipped-allowlisted', keys: [address], reason, operator: by });
    const fix = allowed.why.startsWith('config') ? '; remove it from allowlist: in palisade.yml if it must be blockable' : '; Palisade never blocks it';
    throw new CliFailure(`refused: ${reason}${fix}`);
  }

  const ttl = Math.min(options.ttl ?? config.max_ttl, config.max_ttl);
  const capped = options.ttl !== undefined && options.ttl > config.max_ttl;
  const backendName = resolveBackend(config, options.backend);
  const reason = { description: options.reason ?? 'blocked by hand (palisade block)' };
  const state = openStateStore(env);

  // The checks under the state lock; each change below takes the locks it needs (never an HTTP call under it).
  const plan = await state.locked(config.lock_timeout, async () => {
    const now = nowSeconds();
    const active = state.active(backendName, now).filter((entry) => entry.address !== address);
    const wider = active.filter((entry) => entry.prefix < block.prefix && overlaps(entry, block));
    // Without --for any covering block will do; with it, one that lasts as long (a minute's slack).
    const covering = wider.find((entry) => options.ttl === undefined || entry.expiresAt >= now + ttl - 60);
    if (covering) return { kind: 'covered' as const, by: covering };
    const conflicting = isSingleHost(block) ? undefined : wider[0];
    if (conflicting) {
      throw new CliFailure(
        `${address} is inside ${conflicting.address}, blocked on ${backendName} until ${localTime(conflicting.expiresAt)}, and a firewall set cannot hold both: ` +
          `extend that one (palisade block ${conflicting.address} --for ${formatDuration(ttl)}) or unblock it first`,
      );
    }
    // Narrower networks go first: the interval set refuses the wider one while they are there. Their
    // addresses stay blocked meanwhile only if they are also single-host blocks; the gap is milliseconds.
    const narrower = isSingleHost(block) ? [] : active.filter((entry) => entry.prefix > block.prefix && !isSingleHost(entry) && overlaps(entry, block));
    return { kind: 'block' as const, narrower };
  });
  const done = plan.kind === 'covered' ? plan : await blockReplacing(plan.narrower);

  async function blockReplacing(narrower: StateEntry[]) {
    const replaced = [];
    for (const entry of narrower) {
      const [removal] = await releaseBlock(env, state, backendName, blockOf(entry), 'everyone', { pinned: true });
      logUnblock(env, blockOf(entry), removal!, { replacedBy: address, operator: by });
      replaced.push({ entry, removal: removal! });
    }
    const outcome = await holdBlock(env, state, backendName, { block, ttl, reason, holder: operatorHold });
    return { kind: 'blocked' as const, outcome, replaced, expiresAt: nowSeconds() + ttl };
  }

  if (done.kind === 'covered') {
    const message = `${address} is already blocked as part of ${done.by.address} on ${backendName} until ${localTime(done.by.expiresAt)}; nothing changed`;
    if (ctx.out.json) ctx.out.document({ ok: true, address, backend: backendName, result: 'covered', coveredBy: done.by.address, expiresAt: done.by.expiresAt });
    else ctx.out.line(message);
    return 0;
  }

  logBlock(env, 'blocked', { block, backend: backendName, outcome: done.outcome, ttl, rule: reason }, by ? { operator: by } : {});
  // Left alone (a route someone else made): asked to block, so not a success.
  if (done.outcome.result === 'skipped') throw new CliFailure(describeBlock('blocked', block, backendName, done.outcome, ttl));
  if (ctx.out.json) {
    ctx.out.document({
      ok: true,
      address,
      backend: backendName,
      result: done.outcome.result,
      ttl,
      expiresAt: done.expiresAt,
      restored: done.outcome.restored,
      replaced: done.replaced.map(({ entry }) => entry.address),
    });
    return 0;
  }
  for (const { entry, removal } of done.replaced) ctx.out.line(`${describeUnblock(blockOf(entry), removal)}: ${address} replaces it`);
  ctx.out.line(`${describeBlock('blocked', block, backendName, done.outcome, ttl)} (until ${localTime(done.expiresAt)})`);
  if (capped) ctx.out.note(`note: --for was capped at max_ttl (${formatDuration(config.max_ttl)}); raise max_ttl in palisade.yml for longer blocks`);
  return 0;
}
