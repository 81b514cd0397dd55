/**
 * The nftables backend's pure half: the `nft -f -` scripts it writes, and how it reads nft's stderr when a
 * script is refused. No I/O here, so that every script and every verdict can be checked without root or a
 * kernel; nftables.ts runs them.
 */
import { isSingleHost, parseAddress } from '../runtime/address.js';
import { firstLine } from '../runtime/exec.js';
import type { Config } from '../runtime/config.js';
import type { Block, TimedBlock } from './backend.js';
import { BackendError } from './backend.js';

/** Exported for the health check (palisade status, doctor). */
export const setNames = ['addr4', 'addr6', 'net4', 'net6'] as const;
export type SetName = (typeof setNames)[number];
export type Hook = Config['nftables']['hooks'][number];
const allHooks: readonly Hook[] = ['input', 'forward'];

const setSpecs: Record<SetName, { type: 'ipv4_addr' | 'ipv6_addr'; flags: string; match: string }> = {
  addr4: { type: 'ipv4_addr', flags: 'timeout', match: 'ip saddr @addr4' },
  addr6: { type: 'ipv6_addr', flags: 'timeout', match: 'ip6 saddr @addr6' },
  net4: { type: 'ipv4_addr', flags: 'interval, timeout', match: 'ip saddr @net4' },
  net6: { type: 'ipv6_addr', flags: 'interval, timeout', match: 'ip6 saddr @net6' },
};

export function setFor(block: Block): SetName {
  if (isSingleHost(block)) return block.family === 4 ? 'addr4' : 'addr6';
  return block.family === 4 ? 'net4' : 'net6';
}

/** A named counter per set, shared by that set's rules: it outlives the `flush chain` of every transaction. */
export function counterFor(set: SetName): string {
  return `blocked_${set}`;
}

/**
 * Why a line is in the script. nft reports errors by line number, and the role of the failing line tells
 * what happened: an element line that fails with EEXIST is a block already present, a structure line that
 * fails means our table is gone or not as configured.
 */
export type LineRole = 'structure' | 'element' | 'replay';

export class NftScript {
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

/** What nft said when it refused a script: its own words, and how to fix the cause where we know it. */
export interface Failure {
  message: string;
  hint: string;
  exitCode: number;
  stderr: string;
}

export type NftOutcome =
  | { kind: 'done' }
  /**
   * element-present / element-absent: only element lines failed, with EEXIST / ENOENT.
   * structure-broken: the table, a set or a chain is missing or differs from the configuration.
   */
  | { kind: 'element-present' | 'element-absent' | 'structure-broken' | 'refused'; failure: Failure };

/** "/dev/stdin:5:38-47: Error: Could not process rule: File exists" */
const locatedError = /^\/dev\/stdin:(\d+):[\d-]+: Error: (.+)$/;

/** nft's answer to `script` (its exit status and stderr) as an outcome; `table` ("inet palisade") names it in hints. */
export function judge(script: NftScript, exitCode: number, stderr: string, table: string): NftOutcome {
  if (exitCode === 0) return { kind: 'done' };
  const located: Array<{ role: LineRole | undefined; message: string }> = [];
  let unlocated: string | undefined;
  for (const line of stderr.split('\n')) {
    const match = locatedError.exec(line.trim());
    if (match) located.push({ role: script.roleOf(Number(match[1])), message: match[2]! });
    else if (unlocated === undefined && /Error:/.test(line)) unlocated = line.trim();
  }
  if (unlocated !== undefined || located.length === 0) {
    // nft could not even talk to the kernel ("cache initialization failed: Operation not permitted").
    const message = unlocated ?? (firstLine(stderr) || `nft exited with ${exitCode}`);
    const hint = message.includes('Operation not permitted') ? ' (nft needs root or CAP_NET_ADMIN)' : '';
    return { kind: 'refused', failure: { message, hint, exitCode, stderr } };
  }
  const failureOf = (message: string): Failure => ({ message, hint: hintFor(message, table), exitCode, stderr });
  const structural = located.find((failure) => failure.role !== 'element');
  if (structural) return { kind: 'structure-broken', failure: failureOf(structural.message) };
  // An element line that names a table or set nft cannot find fails before the kernel sees it, without the
  // kernel's "Could not process rule" (a script of element lines alone has no structure line to fail first).
  const unknownSetOrTable = located.find(({ message }) => /^No such file or directory(;|$)/.test(message));
  if (unknownSetOrTable) return { kind: 'structure-broken', failure: failureOf(unknownSetOrTable.message) };
  const failure = failureOf(located[0]!.message);
  if (located.every(({ message }) => message.endsWith('File exists'))) return { kind: 'element-present', failure };
  // An interval set says so in its own words.
  if (located.every(({ message }) => message.endsWith('No such file or directory') || message === 'element does not exist')) return { kind: 'element-absent', failure };
  return { kind: 'refused', failure };
}

/** nft's message names the problem; for the ones an operator can fix, say how. */
export function hintFor(message: string, table: string): string {
  if (message.includes('interval overlaps')) {
    return ' (a network overlapping it is already blocked: delete that block first)';
  }
  if (message.includes('Operation not permitted')) {
    // Privilege problems fail before any line is sent; a line refused with EPERM meets an owned table.
    return ` (another program owns table ${table} (nft "flags owner"): give Palisade another table name with nftables.table)`;
  }
  return '';
}

/**
 * Only a canonical address or network reaches an nft script: the Block is parsed again here, so a caller's
 * mistake can never become nft syntax.
 */
export function checkedBlock(block: Block): Block {
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

export function checkedTtl(ttlSeconds: number): number {
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new BackendError(`a block's timeout must be a whole number of seconds above 0, not ${ttlSeconds}`, { tool: 'nft' });
  }
  return ttlSeconds;
}

/** FNV-1a, 32 bits, as hex: a name for a configuration, not a secret. */
export function fingerprintOf(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) hash = Math.imul(hash ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, '0');
}

/** What the scripts are written for: the table ("inet palisade"), its chains' hooks and priority, and the action. */
export interface TableSpec {
  table: string;
  priority: number;
  hooks: readonly Hook[];
  action: Config['action'];
}

export function tableSpec(config: Pick<Config, 'nftables' | 'action'>): TableSpec {
  const { table, priority, hooks } = config.nftables;
  return { table: `inet ${table}`, priority, hooks, action: config.action };
}

export function ruleLines({ table, action }: TableSpec, chain: Hook, set: SetName): string[] {
  const { match } = setSpecs[set];
  const counter = `counter name "${counterFor(set)}"`;
  if (action === 'drop') return [`add rule ${table} ${chain} ${match} ${counter} drop`];
  // A TCP client gets a reset and gives up at once; anything else an ICMP "administratively prohibited".
  return [
    `add rule ${table} ${chain} ${match} meta l4proto tcp ${counter} reject with tcp reset`,
    `add rule ${table} ${chain} ${match} ${counter} reject with icmpx type admin-prohibited`,
  ];
}

/**
 * Chains and rules, declared so that running them again changes nothing. There is deliberately no
 * `add table` or `add set` here: when those are gone nft must fail (ENOENT), because then the blocks are
 * gone too and must be replayed from the state file.
 */
export function chainLines(spec: TableSpec): string[] {
  const { table, hooks, priority } = spec;
  const lines = setNames.map((set) => `add counter ${table} ${counterFor(set)}`);
  for (const hook of allHooks) {
    if (hooks.includes(hook)) {
      lines.push(
        `add chain ${table} ${hook} { type filter hook ${hook} priority ${priority}; policy accept; }`,
        `flush chain ${table} ${hook}`,
        ...setNames.flatMap((set) => ruleLines(spec, hook, set)),
      );
    } else {
      // A hook dropped from the configuration: remove its chain, whether or not it is there.
      lines.push(`add chain ${table} ${hook}`, `flush chain ${table} ${hook}`, `delete chain ${table} ${hook}`);
    }
  }
  return lines;
}

export function declarationLines({ table }: TableSpec): string[] {
  return [`add table ${table}`, ...setNames.map((set) => `add set ${table} ${set} { type ${setSpecs[set].type}; flags ${setSpecs[set].flags}; }`)];
}

export function elementText({ block, ttl }: TimedBlock): string {
  return `${block.address} timeout ${ttl}s`;
}

/** One command per set, one element per line: a refused element is reported on its own line. */
export function replayLines({ table }: TableSpec, entries: TimedBlock[]): string[] {
  return setNames.flatMap((set) => {
    const texts = entries.filter(({ block }) => setFor(block) === set).map(elementText);
    if (texts.length === 0) return [];
    return [`add element ${table} ${set} {`, ...texts.map((text, i) => (i < texts.length - 1 ? `${text},` : text)), '}'];
  });
}

/** Like replayLines, for delete lines, which name an element without its timer. */
export function deleteLines({ table }: TableSpec, blocks: Block[]): string[] {
  return setNames.flatMap((set) => {
    const texts = blocks.filter((block) => setFor(block) === set).map((block) => block.address);
    if (texts.length === 0) return [];
    return [`delete element ${table} ${set} {`, ...texts.map((text, i) => (i < texts.length - 1 ? `${text},` : text)), '}'];
  });
}

/** A delete that succeeds whether or not the element is there (nft 1.0.6 has no "destroy element"). */
export function removalLines({ table }: TableSpec, block: Block): string[] {
  return [`add element ${table} ${setFor(block)} { ${block.address} }`, `delete element ${table} ${setFor(block)} { ${block.address} }`];
}

/**
 * Adding an element that exists leaves its old timer on older kernels; deleting and adding it again in one
 * transaction sets the new one everywhere, with no moment where the address is let through. The first add
 * covers an element that expired in between.
 */
export function renewLines({ table }: TableSpec, set: SetName, own: TimedBlock): string[] {
  return [
    `add element ${table} ${set} { ${elementText(own)} }`,
    `delete element ${table} ${set} { ${own.block.address} }`,
    `add element ${table} ${set} { ${elementText(own)} }`,
  ];
}

export function createLine({ table }: TableSpec, set: SetName, own: TimedBlock): string {
  return `create element ${table} ${set} { ${elementText(own)} }`;
}

/** The element delete of the verbs (the rebuild uses removalLines, which succeeds when the element is gone). */
export function deleteLine({ table }: TableSpec, block: Block): string {
  return `delete element ${table} ${setFor(block)} { ${block.address} }`;
}
