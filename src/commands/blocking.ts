/**
 * Blocking and unblocking an address on a firewall, with its state entry and its log record: the one code
 * path behind palisade-drop (an alert) and `palisade block` / `palisade unblock` (an administrator), so a
 * manual block is stored, restored, listed, logged and undone exactly as an automatic one.
 *
 * holdBlock and releaseBlock take the locks themselves (changeOfAddress): the firewall and the state files
 * agree whenever the state lock is free, and an HTTP API is never called holding it.
 */
import { backendNames, firewallBackendNames, isRemoteBackend, type AddOutcome, type Backend, type BackendName, type Block, type DeleteOutcome } from '../backends/backend.js';
import { detectBackend } from '../backends/detect.js';
import { loadBackend } from '../backends/registry.js';
import { blockText } from '../runtime/address.js';
import type { Config } from '../runtime/config.js';
import { formatDuration, nowSeconds } from '../runtime/duration.js';
import type { Logger } from '../runtime/log.js';
import { isHeldBy, StateStore, stateDir, withHold, withoutHold, type Holder, type HolderId, type StateEntry } from '../runtime/state.js';
import { allowJit } from '../runtime/jit.js';

export interface BlockingEnv {
  /** Who acts: palisade-drop, palisade-nftables-drop, palisade (the CLI). An AR command holds its blocks under this name. */
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
  options: {
    reject?: boolean;
    note?: string | undefined;
    changing?: string;
    /** This backend's entries as the caller already read them under the state lock: 10,000 files are not read twice. */
    known?: () => StateEntry[] | undefined;
  } = {},
): Promise<Backend> {
  const config = options.reject ? { ...env.config, action: 'reject' as const } : env.config;
  // Read only when the backend finds its tables gone: the add path never lists the state.
  return loadBackend(name, {
    config,
    configFileMode: env.configFileMode,
    log: env.log,
    restorable: () => {
      // Asked only when the backend found its tables gone: every block is put back, a loop over thousands.
      allowJit();
      const now = nowSeconds();
      const known = options.known?.()?.filter((entry) => entry.expiresAt > now);
      return (known ?? state.active(name, now)).filter((entry) => entry.address !== options.changing);
    },
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
  /** Who asks: the operator, or an AR command with its execd key. */
  holder: HolderId;
}

/**
 * Holds a block for `request.holder`: the block is made if nobody held it, and kept at least until this
 * hold ends; an add never shortens the expiry others gave it, in the state or in the kernel's timer.
 *
 * The state entry first, then the firewall: a block the state cannot record is never made (the next
 * reconcile would take it for someone else's and remove it, and nothing would ever expire it), and when the
 * firewall refuses, the entry is put back as it was. A rule the firewall already held that Palisade did not
 * make (no state entry) is left exactly as it is, never taken over, and so never removed: the outcome is
 * "skipped". Takes the locks itself.
 */
export function holdBlock(env: BlockingEnv, state: StateStore, backendName: BackendName, request: BlockRequest, options: { reject?: boolean } = {}): Promise<AddOutcome> {
  const { block, ttl } = request;
  const address = blockText(block);
  const key = { backend: backendName, address };
  return changeOfAddress(env, state, backendName, address, async (inState) => {
    const now = nowSeconds();
    const { previous, entry } = await inState(() => {
      const previous = state.get(key);
      const current = previous && previous.expiresAt > now ? previous : undefined;
      const reason = current?.reason ?? request.reason;
      const base: StateEntry = current ?? {
        address,
        family: block.family,
        prefix: block.prefix,
        backend: backendName,
        holders: [],
        since: now,
        expiresAt: now,
        ...(previous?.backendData ? { backendData: previous.backendData } : {}),
      };
      const entry = withHold({ ...base, ...(reason ? { reason } : {}) }, request.holder, now + ttl, now);
      writeEntry(state, entry, 'so nothing was blocked: a block missing from the state would be removed by the next reconcile and never expire');
      return { previous, entry };
    });
    const putBack = () => inState(() => (previous ? state.put(previous) : state.remove(key)));
    let result: AddOutcome;
    try {
      const backend = await openBackend(env, backendName, state, { ...options, note: reasonNote(request.reason), changing: address });
      // Palisade's own block is renewed until its last holder's expiry; otherwise whatever is there stays untouched.
      result = previous ? await backend.refresh(block, entry.expiresAt - now) : await backend.add(block, ttl);
    } catch (error) {
      await putBack();
      throw error;
    }
    // Left alone: there is nothing of ours to remember, expire or restore.
    if (result.result === 'skipped') {
      await putBack();
      return result;
    }
    if (!previous && result.result === 'present') {
      await putBack();
      const reason = `${address} is already blocked on ${backendName} by a rule Palisade did not make: it stays as it is, and Palisade neither takes it over nor removes it`;
      return { result: 'skipped', reason, restored: result.restored };
    }
    // What the firewall named its rule (an HTTP rule id) is known only now: one more write, for those alone.
    const { backendData } = result;
    if (backendData && JSON.stringify(backendData) !== JSON.stringify(entry.backendData)) {
      await inState(() => writeEntry(state, { ...entry, backendData }, 'so the block is made but may not be found by its delete'));
    }
    return result;
  });
}

/** state.put, with a failure (a full disk, a read-only file system) said in words that name the way out. */
function writeEntry(state: StateStore, entry: StateEntry, consequence: string): void {
  try {
    state.put(entry);
  } catch (error) {
    throw new StateWriteError(
      `cannot record the block of ${entry.address} in ${state.blocksDir} (${(error as Error).message}), ${consequence}. ` +
        'Free space on that file system (or make it writable) and run the command again',
    );
  }
}

export class StateWriteError extends Error {
  override name = 'StateWriteError';
}

export interface Removal {
  backend: BackendName;
  /**
   * deleted / absent: the block is gone, and the firewall did / did not hold it. released: the hold was
   * lifted, and the block stays for its other holders.
   */
  result: DeleteOutcome['result'] | 'released';
  restored: number;
  /** The state entry as it was, when there was one. */
  entry: StateEntry | undefined;
  /** Who still holds the block after a release. */
  stillHeldBy: Holder[];
}

/**
 * Lifts the hold of `who` (every hold: "everyone") on an address, wherever it is held, even if the
 * configured backend has changed since; the block itself goes only when nobody holds it any more. A block
 * that `who` does not hold is left alone, and so is any rule without a state entry: Palisade did not make it.
 * Takes the locks itself.
 *
 * Which backends are looked in: `preferred` alone for a command pinned to one (palisade-host-deny's delete
 * must never lift palisade-drop's block of the same address); every backend when `everywhere` (the
 * operator's unblock); otherwise the firewalls palisade-drop may have used under an earlier `backend:`.
 */
export async function releaseBlock(
  env: BlockingEnv,
  state: StateStore,
  preferred: BackendName,
  block: Block,
  who: HolderId | 'everyone',
  options: { everywhere?: boolean; pinned?: boolean } = {},
): Promise<Removal[]> {
  const address = blockText(block);
  const candidates: readonly BackendName[] = options.pinned ? [] : options.everywhere ? backendNames : firewallBackendNames;
  const heldHere = (backend: BackendName) => {
    const entry = state.get({ backend, address });
    return entry !== undefined && (who === 'everyone' || isHeldBy(entry, who));
  };
  // Read without the lock (each entry is replaced atomically), and read again under it below.
  const targets = [preferred, ...candidates.filter((name) => name !== preferred)].filter(heldHere);
  if (targets.length === 0) return [{ backend: preferred, result: 'absent', restored: 0, entry: undefined, stillHeldBy: [] }];
  const removals: Removal[] = [];
  for (const backendName of targets) {
    const key = { backend: backendName, address };
    removals.push(
      await changeOfAddress(env, state, backendName, address, async (inState): Promise<Removal> => {
        const { entry, remaining } = await inState(() => {
          const entry = state.get(key);
          const remaining = entry && withoutHold(entry, who, nowSeconds());
          if (remaining) writeEntry(state, remaining, 'so the hold stays');
          return { entry, remaining };
        });
        if (!entry) return { backend: backendName, result: 'absent', restored: 0, entry, stillHeldBy: [] };
        if (remaining) return { backend: backendName, result: 'released', restored: 0, entry, stillHeldBy: remaining.holders };
        const backend = await openBackend(env, backendName, state, { changing: address });
        const outcome = await backend.delete({ ...block, expiresAt: entry.expiresAt, backendData: entry.backendData });
        await inState(() => state.remove(key));
        return { ...outcome, backend: backendName, entry, stillHeldBy: [] };
      }),
    );
  }
  return removals;
}

/** The log record of a block, the same whoever made it (Wazuh rule 100601 reads `event`; one left alone is 100608's `skipped`). */
export function logBlock(
  env: BlockingEnv,
  event: 'blocked' | 'refreshed',
  /** expiry: which timer set ttl (drop.ts expiryOf), for the alert's blocks. */
  details: { block: Block; backend: BackendName; outcome: AddOutcome; ttl: number; expiry?: string; rule: BlockReason; field?: string },
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
    ...(details.expiry ? { expiry: details.expiry } : {}),
    restored: details.outcome.restored,
    rule: details.rule,
    ...extra,
  });
}

/** "operator, palisade-drop": who holds a block, for people. */
export function holderNames(holders: readonly Holder[]): string {
  return holders.map((holder) => holder.by).join(', ');
}

export function logUnblock(env: BlockingEnv, block: Block, removal: Removal, extra: Record<string, unknown> = {}): void {
  if (removal.result === 'released') {
    // Not "unblocked": Wazuh's rule for that would report an address let through that is still blocked.
    env.log.info({ event: 'released', address: blockText(block), backend: removal.backend, heldBy: removal.stillHeldBy.map(({ by, key }) => ({ by, key })), ...extra });
    return;
  }
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
  if (removal.result === 'released') return `${blockText(block)} stays blocked on ${removal.backend}: still held by ${holderNames(removal.stillHeldBy)}`;
  return `unblocked ${blockText(block)} on ${removal.backend}${removal.result === 'absent' ? ' (it was not blocked)' : ''}`;
}
