/**
 * Blocking and unblocking an address on a firewall, with its state entry and its log record: the one code
 * path behind palisade-drop (an alert) and `palisade block` / `palisade unblock` (an administrator), so a
 * manual block is stored, restored, listed, logged and undone exactly as an automatic one.
 *
 * The callers hold the state lock around recordBlock/removeBlock, so the firewall and the state files
 * agree whenever the lock is free.
 */
import { backendNames, firewallBackendNames, type AddOutcome, type Backend, type BackendName, type Block, type DeleteOutcome } from '../backends/backend.js';
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

export function openBackend(env: BlockingEnv, name: BackendName, state: StateStore, options: { reject?: boolean; note?: string | undefined } = {}): Promise<Backend> {
  const config = options.reject ? { ...env.config, action: 'reject' as const } : env.config;
  // Read only when the backend finds its tables gone: the add path never lists the state.
  return loadBackend(name, {
    config,
    configFileMode: env.configFileMode,
    log: env.log,
    restorable: () => state.active(name),
    note: options.note,
    stateDir: state.dir,
  });
}

export interface BlockRequest {
  block: Block;
  ttl: number;
  reason?: BlockReason;
}

/**
 * The firewall first, then the state entry. A block that is already there keeps its `since` and its first
 * reason, and gets the new expiry. Call holding the state lock.
 */
export async function recordBlock(env: BlockingEnv, state: StateStore, backend: Backend, request: BlockRequest, verb: 'add' | 'refresh'): Promise<AddOutcome> {
  const { block, ttl } = request;
  const result = verb === 'add' ? await backend.add(block, ttl) : await backend.refresh(block, ttl);
  // Left alone: there is nothing of ours to remember, expire or restore.
  if (result.result === 'skipped') return result;
  const now = nowSeconds();
  const address = blockText(block);
  const previous = state.get({ backend: backend.name, address });
  const current = previous && previous.expiresAt > now ? previous : undefined;
  const reason = current?.reason ?? request.reason;
  const backendData = result.backendData ?? current?.backendData;
  state.put({
    address,
    family: block.family,
    prefix: block.prefix,
    backend: backend.name,
    command: env.name,
    since: current?.since ?? now,
    expiresAt: now + ttl,
    ...(reason ? { reason } : {}),
    ...(backendData ? { backendData } : {}),
  });
  return result;
}

export interface Removal extends DeleteOutcome {
  backend: BackendName;
  /** The state entry that was removed, when there was one. */
  entry: StateEntry | undefined;
}

/**
 * Undoes a block where it was made, even if the configured backend has changed since: the backends whose
 * state holds the address (only the first found unless `everywhere`), or `preferred` when none does (the
 * firewall may still hold a block whose state entry was lost). Call holding the state lock.
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
  const made = [preferred, ...candidates.filter((name) => name !== preferred)]
    .map((backend) => state.get({ backend, address }))
    .filter((entry): entry is StateEntry => entry !== undefined);
  const targets = made.length === 0 ? [undefined] : options.everywhere ? made : made.slice(0, 1);
  const removals: Removal[] = [];
  for (const entry of targets) {
    const backendName = entry?.backend ?? preferred;
    const backend = await openBackend(env, backendName, state);
    const outcome = await backend.delete(entry ? { ...block, expiresAt: entry.expiresAt, backendData: entry.backendData } : block);
    state.remove({ backend: backendName, address });
    removals.push({ ...outcome, backend: backendName, entry });
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
