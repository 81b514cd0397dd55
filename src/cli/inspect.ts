/**
 * Read-only looks at the firewalls and the state, shared by status, list, doctor and reconcile: which
 * backends are in use, what each firewall holds, and what each backend says of its own health.
 */
import type { Backend, BackendName, FirewallBlock, Inspection } from '../backends/backend.js';
import { explainDetection } from '../backends/detect.js';
import { openBackend, type BlockingEnv } from '../commands/blocking.js';
import type { Config } from '../runtime/config.js';
import type { StateEntry, StateStore } from '../runtime/state.js';

export interface BackendChoice {
  /** Undefined when auto finds no firewall tool. */
  backend: BackendName | undefined;
  reason: string;
}

/** The backend new blocks go to, and why: the config's word, or what auto found on this host. */
export function explainBackend(config: Config): BackendChoice {
  if (config.backend !== 'auto') return { backend: config.backend, reason: 'backend: in palisade.yml' };
  try {
    const { backend, reason } = explainDetection();
    return { backend, reason: `auto: ${reason}` };
  } catch (error) {
    return { backend: undefined, reason: (error as Error).message };
  }
}

/**
 * The backends holding state entries, and the configured one (a firewall may hold blocks the state lost);
 * `only` when the operator names one, in use or not (lines or routes of ours the state has lost).
 */
export function backendsInUse(entries: readonly StateEntry[], choice: BackendChoice, only?: BackendName): BackendName[] {
  if (only !== undefined) return [only];
  const names = new Set<BackendName>(entries.map((entry) => entry.backend));
  if (choice.backend) names.add(choice.backend);
  return [...names].sort();
}

export interface FirewallView {
  backend: BackendName;
  /** What the firewall itself holds; undefined when it could not be read (then `error` says why). */
  blocks: FirewallBlock[] | undefined;
  /** What the backend says of its health and its counters, when asked (status, doctor). */
  inspection?: Inspection;
  error?: string;
}

/**
 * backend.list(), with a failure kept as a message: one unreadable firewall must not hide the others. With
 * `inspect`, also backend.inspect(): counters that cannot be read make the firewall unreadable, as a list
 * that fails does, and a firewall that cannot be listed shows no counters.
 */
export async function readFirewall(env: BlockingEnv, state: StateStore, backend: BackendName, options: { inspect?: boolean } = {}): Promise<FirewallView> {
  let opened: Backend;
  let view: FirewallView;
  try {
    opened = await openBackend(env, backend, state);
  } catch (error) {
    return { backend, blocks: undefined, error: (error as Error).message };
  }
  try {
    view = { backend, blocks: await opened.list() };
  } catch (error) {
    view = { backend, blocks: undefined, error: (error as Error).message };
  }
  if (!options.inspect) return view;
  const inspection = await opened.inspect();
  if (view.error !== undefined) return { ...view, inspection: { ...inspection, counters: [] } };
  if (inspection.countersError !== undefined) return { backend, blocks: undefined, error: inspection.countersError, inspection };
  return { ...view, inspection };
}

/** Active state entries the firewall does not hold, and firewall blocks the state does not know. */
export function compare(entries: readonly StateEntry[], view: FirewallView): { missing: StateEntry[]; unknown: FirewallBlock[] } {
  if (!view.blocks) return { missing: [], unknown: [] };
  const held = new Set(view.blocks.map((block) => block.address));
  const known = new Set(entries.map((entry) => entry.address));
  return {
    missing: entries.filter((entry) => entry.backend === view.backend && !held.has(entry.address)),
    unknown: view.blocks.filter((block) => !known.has(block.address)),
  };
}
