/**
 * Read-only looks at the firewalls and the state, shared by status, list, doctor and reconcile: which
 * backends are in use, what each firewall holds, and whether our nftables table is whole.
 */
import * as z from 'zod/mini';
import type { BackendName, DropCounter, FirewallBlock } from '../backends/backend.js';
import { explainDetection } from '../backends/detect.js';
import { counterFor, setNames } from '../backends/nftables-script.js';
import { openBackend, type BlockingEnv } from '../commands/blocking.js';
import type { Config } from '../runtime/config.js';
import { firstLine, runTool, ToolError } from '../runtime/exec.js';
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
  /** The kernel's counters of our rules, where the backend reads them (ipset, iptables). */
  counters?: DropCounter[];
  error?: string;
}

/** backend.list(), with a failure kept as a message: one unreadable firewall must not hide the others. */
export async function readFirewall(env: BlockingEnv, state: StateStore, backend: BackendName): Promise<FirewallView> {
  try {
    const opened = await openBackend(env, backend, state);
    const blocks = await opened.list();
    return { backend, blocks, ...(opened.dropCounters ? { counters: await opened.dropCounters() } : {}) };
  } catch (error) {
    return { backend, blocks: undefined, error: (error as Error).message };
  }
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

const listingSchema = z.object({
  nftables: z.array(
    z.object({
      chain: z.optional(z.object({ name: z.string(), hook: z.optional(z.string()), prio: z.optional(z.number()) })),
      rule: z.optional(z.object({ chain: z.string() })),
      set: z.optional(z.object({ name: z.string() })),
      counter: z.optional(z.object({ name: z.string(), packets: z.number(), bytes: z.number() })),
    }),
  ),
});

export interface NftHealth {
  /** "inet palisade" */
  table: string;
  /** False when the table does not exist, or nft could not be asked (then `error` says why). */
  present: boolean;
  /** What is not as the configuration says, each with its consequence. */
  problems: string[];
  /** blocked_addr4 ... : packets and bytes dropped (or rejected) by our rules since the table was made. */
  counters: Array<{ name: string; packets: number; bytes: number }>;
  error?: string;
}

/** Our nftables table as the kernel holds it, against what the configuration declares. */
export async function inspectNftables(config: Config): Promise<NftHealth> {
  const { table: tableName, hooks, priority } = config.nftables;
  const table = `inet ${tableName}`;
  const health: NftHealth = { table, present: false, problems: [], counters: [] };
  let result;
  try {
    result = await runTool(['nft', '-j', 'list', 'table', 'inet', tableName], { timeoutSeconds: config.command_timeout });
  } catch (error) {
    health.error = error instanceof ToolError && error.reason === 'missing' ? 'nft is not installed (install the nftables package)' : (error as Error).message;
    return health;
  }
  if (result.exitCode !== 0) {
    if (/No such file or directory/.test(result.stderr)) return health;
    const message = firstLine(result.stderr);
    health.error = `nft could not list table ${table}: ${message}${/Operation not permitted/.test(message) ? ' (run as root)' : ''}`;
    return health;
  }
  const parsed = listingSchema.safeParse(JSON.parse(result.stdout));
  if (!parsed.success) {
    health.error = `nft -j printed a listing this version of Palisade does not understand`;
    return health;
  }
  health.present = true;
  const items = parsed.data.nftables;
  const sets = new Set(items.flatMap((item) => (item.set ? [item.set.name] : [])));
  for (const set of setNames) {
    if (!sets.has(set)) health.problems.push(`set ${set} is missing: its blocks are not enforced (run palisade reconcile)`);
  }
  const rulesPerChain = new Map<string, number>();
  for (const item of items) if (item.rule) rulesPerChain.set(item.rule.chain, (rulesPerChain.get(item.rule.chain) ?? 0) + 1);
  for (const hook of hooks) {
    const chain = items.find((item) => item.chain?.name === hook)?.chain;
    if (!chain) health.problems.push(`chain ${hook} is missing: nothing is blocked on the ${hook} hook (run palisade reconcile)`);
    else if (chain.hook !== hook || chain.prio !== priority) {
      health.problems.push(`chain ${hook} hooks ${chain.hook ?? 'nothing'} at priority ${chain.prio ?? '-'}, not ${hook} at ${priority} as configured (run palisade reconcile)`);
    } else if ((rulesPerChain.get(hook) ?? 0) === 0) {
      health.problems.push(`chain ${hook} has no rules: nothing is blocked on the ${hook} hook (run palisade reconcile)`);
    }
  }
  const counterNames = new Set<string>(setNames.map(counterFor));
  health.counters = items.flatMap((item) => (item.counter && counterNames.has(item.counter.name) ? [item.counter] : []));
  return health;
}
