/**
 * Reads `nft -j list table`, for the nftables backend's list() and for its inspect(): the blocks in our
 * sets, and whether the table holds the sets, chains and rules the configuration declares. A module of its
 * own so that only the CLI, which lists and inspects, loads it: the add path never reads a set.
 */
import * as z from 'zod/mini';
import { parseAddress } from '../runtime/address.js';
import type { Config } from '../runtime/config.js';
import { firstLine, runTool, ToolError } from '../runtime/exec.js';
import type { BackendContext, BackendFinding, FirewallBlock, Inspection } from './backend.js';
import { BackendError } from './backend.js';
import { probeTools, reconcileFix } from './health.js';
import { counterFor, setNames } from './nftables-script.js';

/** nft prints a set element without a timer as its bare value, and one with a timer wrapped in "elem". */
const elementValueSchema = z.union([
  z.string(),
  z.object({ prefix: z.object({ addr: z.string(), len: z.int() }) }),
  z.object({ range: z.tuple([z.string(), z.string()]) }),
]);
const setListingSchema = z.object({
  name: z.string(),
  elem: z.optional(
    z.array(z.union([elementValueSchema, z.object({ elem: z.object({ val: elementValueSchema, expires: z.optional(z.number()) }) })])),
  ),
});
const listingSchema = z.object({ nftables: z.array(z.record(z.string(), z.unknown())) });
/** What the health check reads of each item: every one must have this shape, or the listing is not understood. */
const structureSchema = z.object({
  chain: z.optional(z.object({ name: z.string(), hook: z.optional(z.string()), prio: z.optional(z.number()) })),
  rule: z.optional(z.object({ chain: z.string() })),
  set: z.optional(z.object({ name: z.string() })),
  counter: z.optional(z.object({ name: z.string(), packets: z.number(), bytes: z.number() })),
});

const notUnderstood = 'nft -j printed a listing this version of Palisade does not understand';

/** The items of the listing, undefined when it is not the shape nft prints. */
function readListing(json: string): Array<Record<string, unknown>> | undefined {
  const parsed = listingSchema.safeParse(JSON.parse(json));
  return parsed.success ? parsed.data.nftables : undefined;
}

/** The blocks held in the sets named `ours`, with the seconds each has left in the kernel. */
export function blocksInListing(json: string, ours: readonly string[]): FirewallBlock[] {
  const items = readListing(json);
  if (!items) throw new BackendError(notUnderstood, { tool: 'nft' });
  const blocks: FirewallBlock[] = [];
  for (const item of items) {
    const set = setListingSchema.safeParse(item.set);
    if (!set.success || !ours.includes(set.data.name)) continue;
    for (const element of set.data.elem ?? []) {
      const { val, expires } = typeof element === 'object' && 'elem' in element ? element.elem : { val: element, expires: undefined };
      // A range that is not a prefix cannot have come from Palisade and has no Block form: it is not listed.
      const text = typeof val === 'string' ? val : 'prefix' in val ? `${val.prefix.addr}/${val.prefix.len}` : undefined;
      const address = text === undefined ? undefined : parseAddress(text, { allowNetwork: true });
      if (address?.ok) blocks.push({ ...address.block, expiresIn: expires });
    }
  }
  return blocks;
}

/** Our table as `palisade status --json` shows it. */
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

/** What the table in a listing lacks against what the configuration declares; undefined when the listing is not understood. */
export function healthOfListing(json: string, config: Pick<Config, 'nftables'>): Pick<NftHealth, 'problems' | 'counters'> | undefined {
  const { hooks, priority } = config.nftables;
  const listed = readListing(json);
  if (!listed) return undefined;
  const items = [];
  for (const item of listed) {
    const parsed = structureSchema.safeParse(item);
    if (!parsed.success) return undefined;
    items.push(parsed.data);
  }
  const problems: string[] = [];
  const sets = new Set(items.flatMap((item) => (item.set ? [item.set.name] : [])));
  for (const set of setNames) {
    if (!sets.has(set)) problems.push(`set ${set} is missing: its blocks are not enforced (run palisade reconcile)`);
  }
  const rulesPerChain = new Map<string, number>();
  for (const item of items) if (item.rule) rulesPerChain.set(item.rule.chain, (rulesPerChain.get(item.rule.chain) ?? 0) + 1);
  for (const hook of hooks) {
    const chain = items.find((item) => item.chain?.name === hook)?.chain;
    if (!chain) problems.push(`chain ${hook} is missing: nothing is blocked on the ${hook} hook (run palisade reconcile)`);
    else if (chain.hook !== hook || chain.prio !== priority) {
      problems.push(`chain ${hook} hooks ${chain.hook ?? 'nothing'} at priority ${chain.prio ?? '-'}, not ${hook} at ${priority} as configured (run palisade reconcile)`);
    } else if ((rulesPerChain.get(hook) ?? 0) === 0) {
      problems.push(`chain ${hook} has no rules: nothing is blocked on the ${hook} hook (run palisade reconcile)`);
    }
  }
  const counterNames = new Set<string>(setNames.map(counterFor));
  const counters = items.flatMap((item) => (item.counter && counterNames.has(item.counter.name) ? [item.counter] : []));
  return { problems, counters };
}

/** Our nftables table as the kernel holds it, against what the configuration declares. */
export async function inspectTable(config: Config): Promise<NftHealth> {
  const tableName = config.nftables.table;
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
  const found = healthOfListing(result.stdout, config);
  if (!found) {
    health.error = notUnderstood;
    return health;
  }
  health.present = true;
  health.problems = found.problems;
  health.counters = found.counters;
  return health;
}

/** The backend's inspect(): nft answers, the table is whole (or what is wrong with it), and the hooks cover what they must. */
export async function inspectNftables(ctx: BackendContext): Promise<Inspection> {
  const tools = await probeTools(ctx, 'nftables', [['nft', 'list', 'tables']]);
  const health = await inspectTable(ctx.config);
  const { table } = health;
  const held = ctx.restorable().length;
  const findings: BackendFinding[] = [];
  let tone: 'ok' | 'warn' | 'fail' | 'plain';
  let text: string;
  if (health.error) {
    findings.push({ check: 'firewall', status: 'fail', message: health.error, problem: health.error, unlessIdle: true });
    [tone, text] = ['warn', health.error];
  } else if (!health.present) {
    if (held > 0) {
      findings.push({
        check: 'firewall',
        status: 'fail',
        message: `table ${table} is missing, so ${held} active block(s) are not enforced`,
        fix: reconcileFix,
        problem: `table ${table} is missing while the state holds nftables blocks: run palisade reconcile`,
      });
      [tone, text] = ['fail', 'MISSING (run palisade reconcile)'];
    } else {
      findings.push({ check: 'firewall', status: 'ok', message: `table ${table} does not exist yet: the first block creates it` });
      [tone, text] = ['plain', 'not created yet (the first block creates it)'];
    }
  } else {
    for (const problem of health.problems) findings.push({ check: 'firewall', status: 'fail', message: `${table}: ${problem}`, fix: reconcileFix, problem });
    [tone, text] = health.problems.length > 0 ? ['fail', health.problems.join('; ')] : ['ok', 'ok'];
  }
  const { hooks } = ctx.config.nftables;
  if (!hooks.includes('input')) {
    findings.push({ check: 'bypass', status: 'warn', message: 'nftables.hooks has no input: traffic to this host itself is never blocked', fix: 'add input to nftables.hooks in palisade.yml' });
  }
  const docker: BackendFinding | undefined = hooks.includes('forward')
    ? undefined
    : {
        check: 'bypass',
        status: 'fail',
        message: 'Docker is here and nftables.hooks has no forward: traffic to published container ports is forwarded, never seen on input, so blocked addresses still reach containers',
        fix: 'add forward to nftables.hooks in palisade.yml',
      };
  return {
    findings: [...tools, ...findings],
    alongside: { docker },
    counters: health.counters,
    summary: { label: 'nftables', subject: `table ${table}`, health: { tone, text }, section: health },
  };
}
