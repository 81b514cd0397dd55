/**
 * Many blocks at once, from a threat list (palisade block --from, unblock --from): the same state entries
 * and holds as holdBlock and releaseBlock, but one firewall transaction per backend (Backend.applyBatch)
 * instead of one tool run per address, and one write of the state (StateStore.change) instead of one per entry.
 *
 * The rules are those of `palisade block ADDRESS`: an address already held gets the operator's hold and is
 * "present"; one inside a wider blocked network that lasts long enough is "skipped", a network inside one
 * that expires sooner is refused; a network over narrower blocked networks replaces them; a block the
 * firewall holds that Palisade did not make is left alone ("skipped"). Nothing is half applied: the state
 * is written first, and put back as it was when the firewall refuses the transaction.
 */
import type { BackendName, Block, TimedBlock } from '../backends/backend.js';
import { isSingleHost, overlaps, widenTo } from '../runtime/address.js';
import { blockOf } from '../runtime/block.js';
import { nowSeconds } from '../runtime/duration.js';
import { isHeldBy, withHold, withoutHold, type HolderId, type StateEntry, type StateStore } from '../runtime/state.js';
import { openBackend, releaseBlock, holdBlock, StateWriteError, type BlockingEnv, type BlockReason } from './blocking.js';

export interface BulkItem {
  line: number;
  block: Block;
}

export interface BulkNote {
  line: number;
  address: string;
  reason: string;
}

export interface BulkBlockResult {
  added: BulkNote[];
  present: BulkNote[];
  skipped: BulkNote[];
  refused: BulkNote[];
  /** Narrower blocked networks a listed network replaced. */
  replaced: string[];
  restored: number;
  /** One transaction (applyBatch), or one call per block (a firewall without batches). */
  mode: 'transaction' | 'per-entry';
}

const note = (item: BulkItem, reason: string): BulkNote => ({ line: item.line, address: item.block.address, reason });

/** Active networks under each wider network the list could name, keyed by that network: no scan of every pair. */
function narrowerNetworks(active: readonly StateEntry[], listPrefixes: ReadonlySet<number>): Map<string, StateEntry[]> {
  const index = new Map<string, StateEntry[]>();
  for (const entry of active) {
    if (isSingleHost(entry)) continue;
    for (const prefix of listPrefixes) {
      if (prefix >= entry.prefix) continue;
      const key = widenTo(entry, prefix).address;
      index.set(key, [...(index.get(key) ?? []), entry]);
    }
  }
  return index;
}

export async function holdBlocks(
  env: BlockingEnv,
  state: StateStore,
  backendName: BackendName,
  items: readonly BulkItem[],
  request: { ttl: number; explicitTtl: boolean; reason: BlockReason; holder: HolderId },
): Promise<BulkBlockResult> {
  const result: BulkBlockResult = { added: [], present: [], skipped: [], refused: [], replaced: [], restored: 0, mode: 'transaction' };
  const { ttl, holder } = request;
  // What the state holds once the batch is written: a rebuild replays it without reading every file again.
  let known: StateEntry[] | undefined;
  const backend = await openBackend(env, backendName, state, { known: () => known });
  const plan = await state.locked(env.config.lock_timeout, async () => {
    const now = nowSeconds();
    const active = state.active(backendName, now);
    const byAddress = new Map(active.map((entry) => [entry.address, entry]));
    const activeNetworks = active.filter((entry) => !isSingleHost(entry));
    const activePrefixes = new Set(activeNetworks.map((entry) => entry.prefix));
    const listPrefixes = new Set(items.filter((item) => !isSingleHost(item.block)).map((item) => item.block.prefix));
    const narrowerIndex = narrowerNetworks(activeNetworks, listPrefixes);
    // Only a batch needs to know what the firewall holds beforehand; holdBlock finds out for itself, and an
    // HTTP firewall must never be called under the state lock.
    const held = new Set(backend.applyBatch ? (await backend.list()).map((block) => block.address) : []);

    const add: Array<{ item: BulkItem; entry: StateEntry }> = [];
    const renew: Array<{ item: BulkItem; entry: StateEntry; previous: StateEntry }> = [];
    const replaced = new Map<string, StateEntry>();
    for (const item of items) {
      const { block } = item;
      const existing = byAddress.get(block.address);
      if (existing) {
        renew.push({ item, entry: withHold(existing, holder, now + ttl, now), previous: existing });
        continue;
      }
      // A wider active network: found by widening the block to each prefix in use, not by a scan.
      const covering = [...activePrefixes]
        .filter((prefix) => prefix < block.prefix)
        .map((prefix) => byAddress.get(widenTo(block, prefix).address))
        .filter((entry): entry is StateEntry => entry !== undefined && overlaps(entry, block));
      const lasting = covering.find((entry) => !request.explicitTtl || entry.expiresAt >= now + ttl - 60);
      if (lasting) {
        result.skipped.push(note(item, `already blocked as part of ${lasting.address}`));
        continue;
      }
      if (covering[0] && !isSingleHost(block)) {
        result.refused.push(note(item, `inside ${covering[0].address}, which expires sooner, and a firewall set cannot hold both: extend that one or unblock it first`));
        continue;
      }
      if (held.has(block.address)) {
        result.skipped.push(note(item, `already blocked on ${backendName} by a rule Palisade did not make: left as it is`));
        continue;
      }
      if (!isSingleHost(block)) {
        for (const narrower of narrowerIndex.get(block.address) ?? []) replaced.set(narrower.address, narrower);
      }
      const entry: StateEntry = { address: block.address, family: block.family, prefix: block.prefix, backend: backendName, holders: [], since: now, expiresAt: now, ...(request.reason ? { reason: request.reason } : {}) };
      add.push({ item, entry: withHold(entry, holder, now + ttl, now) });
    }
    // A network the list itself replaces is no longer "present".
    const kept = renew.filter(({ entry }) => !replaced.has(entry.address));
    const removed = [...replaced.values()];
    const planned = { add, renew: kept, removed };
    if (!backend.applyBatch) return { ...planned, applied: false };

    // The state first: a block the state cannot record is never made.
    try {
      state.change({ put: [...add.map(({ entry }) => entry), ...kept.map(({ entry }) => entry)], remove: removed });
    } catch (error) {
      throw new StateWriteError(
        `cannot record the list's blocks in ${state.blocksDir} (${(error as Error).message}), and a block the state does not hold is never made. ` +
          'Free space on that file system (or make it writable) and run the command again',
      );
    }
    const written = new Map([...active, ...add.map(({ entry }) => entry), ...kept.map(({ entry }) => entry)].map((entry) => [entry.address, entry]));
    for (const entry of removed) written.delete(entry.address);
    known = [...written.values()];
    try {
      const outcome = await backend.applyBatch({ add: add.map(({ entry }) => timedBlock(entry, now)), renew: kept.map(({ entry }) => timedBlock(entry, now)), remove: removed.map((entry) => timedBlock(entry, now)) });
      result.restored = outcome.restored;
    } catch (error) {
      // The firewall holds what it held before: so must the state.
      known = undefined;
      state.change({ put: [...kept.map(({ previous }) => previous), ...removed], remove: add.map(({ entry }) => entry) });
      throw error;
    }
    known = undefined;
    return { ...planned, applied: true };
  });

  result.replaced = plan.removed.map((entry) => entry.address);
  if (plan.applied) {
    result.added = plan.add.map(({ item }) => note(item, 'added'));
    result.present = plan.renew.map(({ item }) => note(item, 'present'));
    return result;
  }
  // A firewall without batches (iptables, HTTP, dry-run): each block through the one-address code path.
  result.mode = 'per-entry';
  for (const entry of plan.removed) await releaseBlock(env, state, backendName, blockOf(entry), 'everyone', { pinned: true });
  for (const { item } of [...plan.add, ...plan.renew]) {
    const outcome = await holdBlock(env, state, backendName, { block: item.block, ttl, reason: request.reason, holder });
    if (outcome.result === 'skipped') result.skipped.push(note(item, outcome.reason ?? 'left alone'));
    else (outcome.result === 'added' ? result.added : result.present).push(note(item, outcome.result));
    result.restored += outcome.restored;
  }
  return result;
}

/** An entry as a batch carries it: its range, and the seconds it has left (at least one, for a firewall's timer). */
const timedBlock = (entry: StateEntry, now: number): TimedBlock => ({ block: blockOf(entry), ttl: Math.max(1, entry.expiresAt - now) });

export interface BulkReleaseResult {
  removed: BulkNote[];
  /** Still blocked: others hold them too (an alert's block), so only the hold of `who` went, if it had one. */
  kept: BulkNote[];
  /** Not blocked by Palisade on any backend. */
  absent: BulkNote[];
  mode: 'transaction' | 'per-entry';
}

/**
 * The reverse of holdBlocks: the hold of `who` ("everyone": every hold, as `palisade unblock --from` lifts)
 * on each listed address goes, on every backend that has one; a block nobody else holds leaves the firewall,
 * one transaction per backend.
 */
export async function releaseBlocks(
  env: BlockingEnv,
  state: StateStore,
  backends: readonly BackendName[],
  items: readonly BulkItem[],
  who: HolderId | 'everyone',
): Promise<BulkReleaseResult> {
  const result: BulkReleaseResult = { removed: [], kept: [], absent: [], mode: 'transaction' };
  const found = new Set<BulkItem>();
  for (const backendName of backends) {
    const perEntry = await state.locked(env.config.lock_timeout, async () => {
      const now = nowSeconds();
      const removals: Array<{ item: BulkItem; entry: StateEntry }> = [];
      const lightened: Array<{ item: BulkItem; entry: StateEntry; remaining: StateEntry }> = [];
      const held = state.getMany(backendName, items.map((item) => item.block.address));
      for (const item of items) {
        const entry = held.get(item.block.address);
        if (!entry || entry.expiresAt <= now) continue;
        found.add(item);
        if (who !== 'everyone' && !isHeldBy(entry, who)) {
          result.kept.push(note(item, `held on ${backendName} by ${entry.holders.map((holder) => holder.by).join(', ')}, not by the ${who.by}`));
          continue;
        }
        const remaining = withoutHold(entry, who, now);
        if (remaining) lightened.push({ item, entry, remaining });
        else removals.push({ item, entry });
      }
      state.change({ put: lightened.map(({ remaining }) => remaining) });
      for (const { item, remaining } of lightened) result.kept.push(note(item, `still held on ${backendName} by ${remaining.holders.map((holder) => holder.by).join(', ')}`));
      if (removals.length === 0) return [];
      // Opened only where something is to be removed: most backends hold none of the list.
      const backend = await openBackend(env, backendName, state);
      if (!backend.applyBatch) return removals;
      state.change({ remove: removals.map(({ entry }) => entry) });
      try {
        await backend.applyBatch({ add: [], renew: [], remove: removals.map(({ entry }) => timedBlock(entry, now)) });
      } catch (error) {
        state.change({ put: removals.map(({ entry }) => entry) });
        throw error;
      }
      for (const { item } of removals) result.removed.push(note(item, `unblocked on ${backendName}`));
      return [];
    });
    if (perEntry.length > 0) result.mode = 'per-entry';
    for (const { item } of perEntry) {
      await releaseBlock(env, state, backendName, item.block, who, { pinned: true });
      result.removed.push(note(item, `unblocked on ${backendName}`));
    }
  }
  for (const item of items) if (!found.has(item)) result.absent.push(note(item, 'not blocked by Palisade'));
  return result;
}
