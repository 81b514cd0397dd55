/**
 * Blocking and unblocking an address on a firewall, with its state entry and its log record: the one code
 * path behind palisade-drop (an alert) and `palisade block` / `palisade unblock` (an administrator), so a
 * manual block is stored, restored, listed, logged and undone exactly as an automatic one.
 *
 * recordBlock and removeBlock take the locks themselves (changeOfAddress): the firewall and the state files
 * agree whenever the state lock is free, and an HTTP API is never called holding it.
 */
import { backendNames, firewallBackendNames, isRemoteBackend, type AddOutcome, type Backend, type BackendName, type Block, type DeleteOutcome } from '../backends/backend.js';
import { detectBackend } from '../backends/detect.js';
import { loadBackend } from '../backends/registry.js';
import { blockText } from '../runtime/address.js';
import type { Config } from '../runtime/config.js';
import { formatDuration, nowSeconds } from '../runtime/duration.js';
import type { Logger } from '../runtime/log.js';
import { StateStore, stateDir, type StateEntry } from '../runtime/state.js';

export interface BlockingEnv {
  /** Who acts, as the state entry's command: palisade-drop, palisade-nftables-drop, palisade (the CLI). */
  name: string;
  installDir: string;
  config: Config;
  /** Permission bits of the config file, for backends that read secrets from it. */
  configFileMode?: number | undefined;
  log: Logger;
}

export type BlockReason = StateEntry['reason'];

/** "rule 5712: sshd: brute force trying to get access to the system." — the note a firewall keeps, if any. */
export function reasonNote(reason: BlockReason): string | undefined {
  if (!reason?.ruleId && !reason?.description) return undefined;
  return [reason.ruleId ? `rule ${reason.ruleId}` : undefined, reason.description].filter(Boolean).join(': ');
}

/** `backend:` of the config, with auto resolved to what this host has; a pinned name or an option wins. */
export function resolveBackend(config: Config, chosen?: BackendName): BackendName {
  return chosen ?? (config.backend === 'auto' ? detectBackend() : config.backend);
}

export function openStateStore(env: BlockingEnv): StateStore {
  return new StateStore(stateDir(env.installDir), (file, detail) =>
    env.log.warn({ event: 'state-corrupt', file, detail }, 'a state entry was unreadable and was set aside'),
  );
}

/**
 * `changing`: the address this invocation adds or removes. Its state entry is written before the firewall
 * change, so it is left out of what a rebuild restores: the backend's own verb applies it, and counts it.
 */
export function openBackend(
  env: BlockingEnv,
  name: BackendName,
  state: StateStore,
  options: { reject?: boolean; note?: string | undefined; changing?: string } = {},
): Promise<Backend> {
  const config = options.reject ? { ...env.config, action: 'reject' as const } : env.config;
  // Read only when the backend finds its tables gone: the add path never lists the state.
  return loadBackend(name, {
    config,
    configFileMode: env.configFileMode,
    log: env.log,
    restorable: () => state.active(name).filter((entry) => entry.address !== options.changing),
    note: options.note,
    stateDir: state.dir,
  });
}

/** Runs `step` under the state lock, or at once when the whole change already holds it. */
type InState = <T>(step: () => T | Promise<T>) => Promise<T>;

/**
 * Runs one change of `address` on a backend with the locks it needs. A local firewall answers in
 * milliseconds: the whole change holds the state lock, firewall call included. A remote API may take seconds:
 * the state lock is held only around each state step, so that a slow API never delays another address's
 * block, and the address's own lock across the whole change, so that two changes of one address never
 * interleave (no rule lost or made twice).
 */
function changeOfAddress<T>(env: BlockingEnv, state: StateStore, backendName: BackendName, address: string, change: (inState: InState) => Promise<T>): Promise<T> {
  const timeout = env.config.lock_timeout;
  if (!isRemoteBackend(backendName)) return state.locked(timeout, () => change(async (step) => step()));
  return state.lockedAddress(address, timeout, () => change((step) => state.locked(timeout, async () => step())));
}

export interface BlockRequest {
  block: Block;
  ttl: number;
  reason?: BlockReason;
}

/**
 * The state entry first, then the firewall: a block the state cannot record is never made (the next
 * reconcile would take it for someone else's and remove it, and nothing would ever expire it), and when the
 * firewall refuses, the entry is put back as it was. A block that is already there keeps its `since` and
 * its first reason, and gets the new expiry. Takes the locks itself.
 */
export function recordBlock(
  env: BlockingEnv,
  state: StateStore,
  backendName: BackendName,
  request: BlockRequest,
  verb: 'add' | 'refresh',
  options: { reject?: boolean } = {},
): Promise<AddOutcome> {
  const { block, ttl } = request;
  const address = blockText(block);
  const key = { backend: backendName, address };
  return changeOfAddress(env, state, backendName, address, async (inState) => {
    const now = nowSeconds();
    const { previous, entry } = await inState(() => {
      const previous = state.get(key);
      const current = previous && previous.expiresAt > now ? previous : undefined;
      const reason = current?.reason ?? request.reason;
      const entry: StateEntry = {
        address,
        family: block.family,
        prefix: block.prefix,
        backend: backendName,
        command: env.name,
        since: current?.since ?? now,
        expiresAt: now + ttl,
        ...(reason ? { reason } : {}),
        ...(current?.backendData ? { backendData: current.backendData } : {}),
      };
      writeEntry(state, entry);
      return { previous, entry };
    });
    const putBack = () => inState(() => (previous ? state.put(previous) : state.remove(key)));
    let result: AddOutcome;
    try {
      const backend = await openBackend(env, backendName, state, { ...options, note: reasonNote(request.reason), changing: address });
      result = verb === 'add' ? await backend.add(block, ttl) : await backend.refresh(block, ttl);
    } catch (error) {
      await putBack();
      throw error;
    }
    // Left alone: there is nothing of ours to remember, expire or restore.
    if (result.result === 'skipped') {
      await putBack();
      return result;
    }
    // What the firewall named its rule (an HTTP rule id) is known only now: one more write, for those alone.
    const { backendData } = result;
    if (backendData && JSON.stringify(backendData) !== JSON.stringify(entry.backendData)) {
      await inState(() => writeEntry(state, { ...entry, backendData }));
    }
    return result;
  });
}

/** state.put, with a failure (a full disk, a read-only file system) said in words that name the way out. */
function writeEntry(state: StateStore, entry: StateEntry): void {
  try {
    state.put(entry);
  } catch (error) {
    throw new StateWriteError(
      `cannot record the block of ${entry.address} in ${state.blocksDir} (${(error as Error).message}), so it was not made: ` +
        'a block missing from the state would be removed by the next reconcile and never expire. Free space on that file system; the next alert blocks it',
    );
  }
}

export class StateWriteError extends Error {
  override name = 'StateWriteError';
}

export interface Removal extends DeleteOutcome {
  backend: BackendName;
  /** The state entry that was removed, when there was one. */
  entry: StateEntry | undefined;
}

/**
 * Undoes a block where it was made, even if the configured backend has changed since: the backends whose
 * state holds the address (only the first found unless `everywhere`), or `preferred` when none does (the
 * firewall may still hold a block whose state entry was lost). Takes the locks itself.
 *
 * Which backends are looked in: `preferred` alone for a command pinned to one (palisade-host-deny's delete
 * must never lift palisade-drop's block of the same address); every backend when `everywhere` (the
 * operator's unblock); otherwise the firewalls palisade-drop may have used under an earlier `backend:`.
 */
export async function removeBlock(
  env: BlockingEnv,
  state: StateStore,
  preferred: BackendName,
  block: Block,
  options: { everywhere?: boolean; pinned?: boolean } = {},
): Promise<Removal[]> {
  const address = blockText(block);
  const candidates: readonly BackendName[] = options.pinned ? [] : options.everywhere ? backendNames : firewallBackendNames;
  // Read without the lock (each entry is replaced atomically), and read again under it below.
  const made = [preferred, ...candidates.filter((name) => name !== preferred)].filter((backend) => state.get({ backend, address }) !== undefined);
  const targets = made.length === 0 ? [preferred] : options.everywhere ? made : made.slice(0, 1);
  const removals: Removal[] = [];
  for (const backendName of targets) {
    removals.push(
      await changeOfAddress(env, state, backendName, address, async (inState) => {
        const entry = await inState(() => state.get({ backend: backendName, address }));
        const backend = await openBackend(env, backendName, state, { changing: address });
        const outcome = await backend.delete(entry ? { ...block, expiresAt: entry.expiresAt, backendData: entry.backendData } : block);
        await inState(() => state.remove({ backend: backendName, address }));
        return { ...outcome, backend: backendName, entry };
      }),
    );
  }
  return removals;
}

/** The log record of a block, the same whoever made it (Wazuh rule 100601 reads `event`; one left alone is 100608's `skipped`). */
export function logBlock(
  env: BlockingEnv,
  event: 'blocked' | 'refreshed',
  details: { block: Block; backend: BackendName; outcome: AddOutcome; ttl: number; rule: BlockReason; field?: string },
  extra: Record<string, unknown> = {},
): void {
  if (details.outcome.result === 'skipped') {
    env.log.warn({ event: 'skipped', address: blockText(details.block), backend: details.backend, reason: details.outcome.reason, rule: details.rule, ...extra });
    return;
  }
  env.log.info({
    event,
    address: blockText(details.block),
    backend: details.backend,
    result: details.outcome.result,
    ...(details.field ? { field: details.field } : {}),
    ttl: details.ttl,
    restored: details.outcome.restored,
    rule: details.rule,
    ...extra,
  });
}

export function logUnblock(env: BlockingEnv, block: Block, removal: Removal, extra: Record<string, unknown> = {}): void {
  env.log.info({ event: 'unblocked', address: blockText(block), backend: removal.backend, result: removal.result, restored: removal.restored, ...extra });
}

/** "blocked 203.0.113.7 on nftables for 1h at most (it was already blocked)": the operator's one line. */
export function describeBlock(event: 'blocked' | 'refreshed', block: Block, backend: BackendName, outcome: AddOutcome, ttl: number): string {
  if (outcome.result === 'skipped') return `skipped: ${outcome.reason ?? `${blockText(block)} was left alone on ${backend}`}`;
  const already = outcome.result === 'present' ? ' (it was already blocked)' : '';
  const restored = outcome.restored > 0 ? `; restored ${outcome.restored} block(s) lost from the firewall` : '';
  return `${event} ${blockText(block)} on ${backend} for ${formatDuration(ttl)} at most${already}${restored}`;
}

export function describeUnblock(block: Block, removal: Removal): string {
  return `unblocked ${blockText(block)} on ${removal.backend}${removal.result === 'absent' ? ' (it was not blocked)' : ''}`;
}
