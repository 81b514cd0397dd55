/**
 * The nftables backend: a table of our own (`inet palisade` by default), so that `firewall-cmd --reload`,
 * Docker and other tools, which flush only their own tables, leave our blocks alone.
 *
 * Four sets: addr4/addr6 are plain hash sets for single addresses, and net4/net6 are interval sets for
 * networks. They must stay apart: nft reads a whole interval set on every change to check for overlaps
 * (330 ms per operation at 50,000 elements), while a hash set costs the same at any size. Every element
 * carries a kernel timeout, so a block whose delete never comes still expires.
 *
 * Every change is one `nft -f -` transaction that also re-declares our chains and their rules
 * (`flush chain` + `add rule` is idempotent inside one transaction). So each invocation repairs a chain
 * someone flushed or deleted, and learns that the table or a set is gone when nft answers ENOENT: then it
 * rebuilds the table with every unexpired block from the state file. The re-declaration makes the kernel
 * wait one RCU grace period when nft closes its socket (about 14 ms here); the cost does not grow with the
 * number of blocks (measurements in the branch's report).
 */
import { z } from 'zod';
import { isSingleHost, overlaps, parseAddress } from '../runtime/address.js';
import type { Config } from '../runtime/config.js';
import { firstLine, runTool, ToolError } from '../runtime/exec.js';
import type {
  ActiveBlock,
  AddOutcome,
  Backend,
  BackendContext,
  Block,
  DeleteOutcome,
  EnsureOutcome,
  FirewallBlock,
} from './backend.js';
import { BackendError } from './backend.js';

const setNames = ['addr4', 'addr6', 'net4', 'net6'] as const;
type SetName = (typeof setNames)[number];
type Hook = Config['nftables']['hooks'][number];
const allHooks: readonly Hook[] = ['input', 'forward'];

const setSpecs: Record<SetName, { type: 'ipv4_addr' | 'ipv6_addr'; flags: string; match: string }> = {
  addr4: { type: 'ipv4_addr', flags: 'timeout', match: 'ip saddr @addr4' },
  addr6: { type: 'ipv6_addr', flags: 'timeout', match: 'ip6 saddr @addr6' },
  net4: { type: 'ipv4_addr', flags: 'interval, timeout', match: 'ip saddr @net4' },
  net6: { type: 'ipv6_addr', flags: 'interval, timeout', match: 'ip6 saddr @net6' },
};

function setFor(block: Block): SetName {
  if (isSingleHost(block)) return block.family === 4 ? 'addr4' : 'addr6';
  return block.family === 4 ? 'net4' : 'net6';
}

/** A named counter per set, shared by that set's rules: it outlives the `flush chain` of every transaction. */
function counterFor(set: SetName): string {
  return `blocked_${set}`;
}

/**
 * Why a line is in the script. nft reports errors by line number, and the role of the failing line tells
 * what happened: an element line that fails with EEXIST is a block already present, a structure line that
 * fails means our table is gone or not as configured.
 */
type LineRole = 'structure' | 'element' | 'replay';

class NftScript {
  private readonly lines: Array<{ text: string; role: LineRole }> = [];

  add(role: LineRole, ...texts: string[]): this {
    for (const text of texts) this.lines.push({ text, role });
    return this;
  }

  roleOf(lineNumber: number): LineRole | undefined {
    return this.lines[lineNumber - 1]?.role;
  }

  text(): string {
    return `${this.lines.map((line) => line.text).join('\n')}\n`;
  }
}

interface NftFailure {
  role: LineRole | undefined;
  message: string;
}

type Verdict =
  | { kind: 'done' }
  | { kind: 'element-present' }
  | { kind: 'element-absent' }
  /** The table, a set or a chain is missing or differs from the configuration. */
  | { kind: 'structure-broken'; message: string }
  | { kind: 'refused'; message: string; exitCode: number; stderr: string };

/** "/dev/stdin:5:38-47: Error: Could not process rule: File exists" */
const locatedError = /^\/dev\/stdin:(\d+):[\d-]+: Error: (.+)$/;

function judge(script: NftScript, exitCode: number, stderr: string): Verdict {
  if (exitCode === 0) return { kind: 'done' };
  const failures: NftFailure[] = [];
  let unlocated: string | undefined;
  for (const line of stderr.split('\n')) {
    const match = locatedError.exec(line.trim());
    if (match) failures.push({ role: script.roleOf(Number(match[1])), message: match[2]! });
    else if (unlocated === undefined && /Error:/.test(line)) unlocated = line.trim();
  }
  const refused = (message: string): Verdict => ({ kind: 'refused', message, exitCode, stderr });
  if (unlocated !== undefined || failures.length === 0) return refused(unlocated ?? (firstLine(stderr) || `nft exited with ${exitCode}`));

  const structural = failures.find((failure) => failure.role !== 'element');
  if (structural) return { kind: 'structure-broken', message: structural.message };
  if (failures.every((failure) => failure.message.endsWith('File exists'))) return { kind: 'element-present' };
  if (failures.every((failure) => failure.message.endsWith('No such file or directory'))) return { kind: 'element-absent' };
  return refused(failures[0]!.message);
}

/**
 * Only a canonical address or network reaches an nft script: the Block is parsed again here, so a caller's
 * mistake can never become nft syntax.
 */
function checkedBlock(block: Block): Block {
  const parsed = parseAddress(block.address, { allowNetwork: true });
  if (!parsed.ok) throw new BackendError(`refusing to hand "${block.address}" to nft: ${parsed.reason}`, { tool: 'nft' });
  const canonical = parsed.block;
  if (canonical.address !== block.address || canonical.family !== block.family || canonical.prefix !== block.prefix) {
    throw new BackendError(
      `refusing to hand "${block.address}" (IPv${block.family}, /${block.prefix}) to nft: it is not the canonical ${canonical.address}`,
      { tool: 'nft' },
    );
  }
  return canonical;
}

function checkedTtl(ttlSeconds: number): number {
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new BackendError(`a block's timeout must be a whole number of seconds above 0, not ${ttlSeconds}`, { tool: 'nft' });
  }
  return ttlSeconds;
}

interface TimedBlock {
  block: Block;
  ttl: number;
}

export function createNftablesBackend(ctx: BackendContext): Backend {
  const { config, log } = ctx;
  const { table: tableName, priority, hooks } = config.nftables;
  const table = `inet ${tableName}`;

  const ruleLines = (chain: Hook, set: SetName): string[] => {
    const { match } = setSpecs[set];
    const counter = `counter name "${counterFor(set)}"`;
    if (config.action === 'drop') return [`add rule ${table} ${chain} ${match} ${counter} drop`];
    // A TCP client gets a reset and gives up at once; anything else an ICMP "administratively prohibited".
    return [
      `add rule ${table} ${chain} ${match} meta l4proto tcp ${counter} reject with tcp reset`,
      `add rule ${table} ${chain} ${match} ${counter} reject with icmpx type admin-prohibited`,
    ];
  };

  /**
   * Chains and rules, declared so that running them again changes nothing. There is deliberately no
   * `add table` or `add set` here: when those are gone nft must fail (ENOENT), because then the blocks are
   * gone too and must be replayed from the state file.
   */
  const chainLines = (): string[] => {
    const lines = setNames.map((set) => `add counter ${table} ${counterFor(set)}`);
    for (const hook of allHooks) {
      if (hooks.includes(hook)) {
        lines.push(
          `add chain ${table} ${hook} { type filter hook ${hook} priority ${priority}; policy accept; }`,
          `flush chain ${table} ${hook}`,
          ...setNames.flatMap((set) => ruleLines(hook, set)),
        );
      } else {
        // A hook dropped from the configuration: remove its chain, whether or not it is there.
        lines.push(`add chain ${table} ${hook}`, `flush chain ${table} ${hook}`, `delete chain ${table} ${hook}`);
      }
    }
    return lines;
  };

  const declarationLines = (): string[] => [
    `add table ${table}`,
    ...setNames.map((set) => `add set ${table} ${set} { type ${setSpecs[set].type}; flags ${setSpecs[set].flags}; }`),
  ];

  const elementText = ({ block, ttl }: TimedBlock) => `${block.address} timeout ${ttl}s`;

  /** The script that changes one element, behind the lines that keep our chains as configured. */
  const elementScript = (...elementLines: string[]) => new NftScript().add('structure', ...chainLines()).add('element', ...elementLines);

  const run = async (script: NftScript): Promise<Verdict> => {
    let result;
    try {
      result = await runTool(['nft', '-f', '-'], { timeoutSeconds: config.command_timeout, input: script.text() });
    } catch (error) {
      throw toolFailure(error);
    }
    return judge(script, result.exitCode, result.stderr);
  };

  const refusedError = (what: string, verdict: Verdict & { kind: 'refused' | 'structure-broken' }) =>
    new BackendError(
      `nft refused ${what}: ${verdict.message}${hintFor(verdict.message)}`,
      verdict.kind === 'refused' ? { tool: 'nft', exitCode: verdict.exitCode, stderr: verdict.stderr } : { tool: 'nft' },
    );

  /**
   * The unexpired blocks of the state file, ready to be replayed: canonical, one per address, and no two
   * networks overlapping (an interval set refuses that; the wider network already covers the narrower).
   * `first` are blocks of this invocation, which win over the state file's view of the same address.
   */
  const replayable = (first: TimedBlock[], without: Block | undefined): { replay: TimedBlock[]; skipped: number } => {
    const now = Math.floor(Date.now() / 1000);
    const candidates: TimedBlock[] = [];
    let skipped = 0;
    for (const entry of ctx.restorable() as ActiveBlock[]) {
      const ttl = entry.expiresAt - now;
      if (ttl <= 0) continue;
      try {
        candidates.push({ block: checkedBlock({ address: entry.address, family: entry.family, prefix: entry.prefix }), ttl });
      } catch {
        skipped += 1;
      }
    }
    const taken = new Set<string>([...first.map(({ block }) => block.address), ...(without ? [without.address] : [])]);
    const networks = first.map(({ block }) => block).filter((block) => !isSingleHost(block));
    const replay: TimedBlock[] = [];
    // Widest networks first, and the longest timer first for one address.
    candidates.sort((a, b) => a.block.prefix - b.block.prefix || b.ttl - a.ttl);
    for (const candidate of candidates) {
      const { block } = candidate;
      if (taken.has(block.address)) continue;
      if (!isSingleHost(block)) {
        if (networks.some((network) => overlaps(network, block))) {
          skipped += 1;
          continue;
        }
        networks.push(block);
      }
      taken.add(block.address);
      replay.push(candidate);
    }
    return { replay, skipped };
  };

  const replayLines = (entries: TimedBlock[]): string[] =>
    setNames.flatMap((set) => {
      const texts = entries.filter(({ block }) => setFor(block) === set).map(elementText);
      if (texts.length === 0) return [];
      return [`add element ${table} ${set} {`, `${texts.join(',\n')}`, '}'].join('\n').split('\n');
    });

  /**
   * Put the table back as configured, with every unexpired block of the state file plus `own`, and minus
   * `without`. First without touching what is there (so concurrent invocations cannot undo each other);
   * when that is refused because something of ours exists in another shape (a changed priority, a set of
   * another type), replace the whole table in one transaction. Returns how many blocks were replayed.
   */
  const rebuild = async (what: string, cause: string, own: TimedBlock[], without?: Block): Promise<number> => {
    const { replay, skipped } = replayable(own, without);
    const withContent = (script: NftScript) =>
      script.add('structure', ...chainLines()).add('replay', ...replayLines(replay)).add('element', ...replayLines(own));

    const repair = withContent(new NftScript().add('structure', ...declarationLines()));
    let verdict = await run(repair);
    let replaced = false;
    if (verdict.kind !== 'done') {
      const replacement = withContent(
        new NftScript().add('structure', `add table ${table}`, `delete table ${table}`, ...declarationLines()),
      );
      verdict = await run(replacement);
      replaced = true;
    }
    if (verdict.kind !== 'done') throw refusedError(`to rebuild table ${table} ${what}`, verdictAsRefusal(verdict));
    log.warn(
      { event: 'restored', backend: 'nftables', table, restored: replay.length, skipped, replaced, cause },
      replaced
        ? `nftables table ${table} did not match the configuration (${cause}); replaced it and put back ${replay.length} blocks`
        : `nftables table ${table} or one of its sets was missing (${cause}); rebuilt it and put back ${replay.length} blocks`,
    );
    return replay.length;
  };

  const addOrRenew = async (block: Block, ttlSeconds: number): Promise<AddOutcome> => {
    const own: TimedBlock = { block: checkedBlock(block), ttl: checkedTtl(ttlSeconds) };
    const set = setFor(own.block);
    const what = `to block ${own.block.address}`;

    let verdict = await run(elementScript(`create element ${table} ${set} { ${elementText(own)} }`));
    if (verdict.kind === 'done') return { result: 'added', restored: 0 };
    if (verdict.kind === 'element-present') {
      // Adding an element that exists leaves its old timer on older kernels; deleting and adding it again
      // in one transaction sets the new one everywhere, with no moment where the address is let through.
      // The first add covers an element that expired since the create failed.
      verdict = await run(
        elementScript(
          `add element ${table} ${set} { ${elementText(own)} }`,
          `delete element ${table} ${set} { ${own.block.address} }`,
          `add element ${table} ${set} { ${elementText(own)} }`,
        ),
      );
      if (verdict.kind === 'done') return { result: 'present', restored: 0 };
    }
    if (verdict.kind === 'structure-broken') {
      return { result: 'added', restored: await rebuild(what, verdict.message, [own]) };
    }
    throw refusedError(what, verdictAsRefusal(verdict));
  };

  return {
    name: 'nftables',

    async ensure(): Promise<EnsureOutcome> {
      const verdict = await run(new NftScript().add('structure', ...chainLines()));
      if (verdict.kind === 'done') return { created: false, restored: 0 };
      if (verdict.kind === 'structure-broken') {
        return { created: true, restored: await rebuild(`to set up table ${table}`, verdict.message, []) };
      }
      throw refusedError(`to set up table ${table}`, verdictAsRefusal(verdict));
    },

    add: addOrRenew,
    // Renewing is what add does to a present block; add also tells whether the block had gone missing.
    refresh: addOrRenew,

    async delete(target: ActiveBlock | Block): Promise<DeleteOutcome> {
      const block = checkedBlock({ address: target.address, family: target.family, prefix: target.prefix });
      const what = `to unblock ${block.address}`;
      const verdict = await run(elementScript(`delete element ${table} ${setFor(block)} { ${block.address} }`));
      if (verdict.kind === 'done') return { result: 'deleted', restored: 0 };
      if (verdict.kind === 'element-absent') return { result: 'absent', restored: 0 };
      if (verdict.kind === 'structure-broken') {
        return { result: 'absent', restored: await rebuild(what, verdict.message, [], block) };
      }
      throw refusedError(what, verdictAsRefusal(verdict));
    },

    async list(): Promise<FirewallBlock[]> {
      let result;
      try {
        result = await runTool(['nft', '-j', 'list', 'table', 'inet', tableName], { timeoutSeconds: config.command_timeout });
      } catch (error) {
        throw toolFailure(error);
      }
      if (result.exitCode !== 0) {
        // No table: nothing is blocked.
        if (/No such file or directory/.test(result.stderr)) return [];
        throw new BackendError(`nft refused to list table ${table}: ${firstLine(result.stderr)}`, {
          tool: 'nft',
          exitCode: result.exitCode,
          stderr: result.stderr,
        });
      }
      return blocksInListing(result.stdout);
    },

    async flush(): Promise<void> {
      // "add" first makes the delete succeed whether or not the table exists (nft 1.0.6 has no "destroy").
      const verdict = await run(new NftScript().add('structure', `add table ${table}`, `delete table ${table}`));
      if (verdict.kind !== 'done') throw refusedError(`to delete table ${table}`, verdictAsRefusal(verdict));
    },
  };
}

function verdictAsRefusal(verdict: Verdict): Verdict & { kind: 'refused' | 'structure-broken' } {
  if (verdict.kind === 'refused' || verdict.kind === 'structure-broken') return verdict;
  // An element answer where none was expected (EEXIST during a renewal, ENOENT on add).
  return { kind: 'refused', message: `unexpected answer (${verdict.kind})`, exitCode: 1, stderr: '' };
}

/** nft's message names the problem; for the ones an operator can fix, say how. */
function hintFor(message: string): string {
  if (message.includes('interval overlaps')) {
    return ' (a network overlapping it is already blocked: see `nft list set`, and delete that block first)';
  }
  if (message.includes('Operation not permitted')) return ' (nft needs root or CAP_NET_ADMIN)';
  return '';
}

function toolFailure(error: unknown): unknown {
  if (!(error instanceof ToolError)) return error;
  if (error.reason === 'missing') {
    return new BackendError(
      'nft is not installed or not on PATH: install the nftables package, or choose another firewall with `backend:` in palisade.yml',
      { tool: 'nft' },
    );
  }
  return new BackendError(error.message, { tool: 'nft' });
}

/** The parts of `nft -j list table` that list() reads; nft prints an element without a timer as bare text. */
const elementValueSchema = z.union([
  z.string(),
  z.object({ prefix: z.object({ addr: z.string(), len: z.number().int() }) }),
  z.object({ range: z.tuple([z.string(), z.string()]) }),
]);
const setListingSchema = z.object({
  name: z.string(),
  elem: z
    .array(z.union([elementValueSchema, z.object({ elem: z.object({ val: elementValueSchema, expires: z.number().optional() }) })]))
    .default([]),
});
const listingSchema = z.object({ nftables: z.array(z.record(z.string(), z.unknown())) });

function blocksInListing(json: string): FirewallBlock[] {
  const parsed = listingSchema.safeParse(JSON.parse(json));
  if (!parsed.success) throw new BackendError('nft -j printed a listing this version of Palisade does not understand', { tool: 'nft' });
  const blocks: FirewallBlock[] = [];
  for (const item of parsed.data.nftables) {
    const set = setListingSchema.safeParse(item.set);
    if (!set.success || !(setNames as readonly string[]).includes(set.data.name)) continue;
    for (const element of set.data.elem) {
      const { val, expires } = typeof element === 'object' && 'elem' in element ? element.elem : { val: element, expires: undefined };
      // A range that is no prefix cannot have come from Palisade; it has no Block form, so it is not listed.
      const text = typeof val === 'string' ? val : 'prefix' in val ? `${val.prefix.addr}/${val.prefix.len}` : undefined;
      const address = text === undefined ? undefined : parseAddress(text, { allowNetwork: true });
      if (address?.ok) blocks.push({ ...address.block, expiresIn: expires });
    }
  }
  return blocks;
}
