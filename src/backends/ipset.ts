/**
 * ipset: blocked addresses are elements of kernel hash sets, matched by one iptables rule per set and
 * chain, so a lookup costs the same at 50,000 addresses as at one, and the rule count never grows.
 *
 *   palisade4 / palisade6          hash:ip  single hosts
 *   palisade4net / palisade6net    hash:net networks (a hash:ip set cannot hold a prefix)
 *
 * Every set is created `timeout 0`: elements carry their own timeout (the ttl of the add), so the kernel
 * drops a block by itself if the delete never comes, and nothing without one expires.
 * Every ipset command carries -exist, so a refresh of a present address renews its timer instead of failing;
 * an `ipset test` before it tells "present" from "added" without ever listing a set on the add path, and
 * an add leaves a present address as it is.
 */
import type { ActiveBlock, Backend, BackendContext, BatchChange, Block, DropCounter, EnsureOutcome, FirewallBlock, Inspection, TimedBlock } from './backend.js';
import { BackendError } from './backend.js';
import { isSingleHost, parseAddress } from '../runtime/address.js';
import {
  command,
  families,
  ipsetMaxTimeout,
  logRecreated,
  openXtables,
  refused,
  restorableOf,
  runFirewallTool,
  targetOf,
  underHealLock,
  variantsInUse,
  type ChainRule,
  type Family,
  type Xtables,
} from './xtables.js';

interface SetSpec {
  name: string;
  family: Family;
  type: 'hash:ip' | 'hash:net';
}

/** The kernel timer for an element: the ttl, capped at what ipset accepts. */
function kernelTimeout(ttlSeconds: number): number {
  if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
    throw new BackendError(`a block's ttl must be a whole number of seconds, at least 1 (got ${ttlSeconds})`);
  }
  return Math.min(ttlSeconds, ipsetMaxTimeout);
}

export function createIpsetBackend(ctx: BackendContext): Backend {
  const { ipset: settings } = ctx.config;
  const setOf = (family: Family, type: SetSpec['type']): SetSpec => ({
    name: `${settings.name_prefix}${family}${type === 'hash:net' ? 'net' : ''}`,
    family,
    type,
  });
  const sets: SetSpec[] = families.flatMap((family) => [setOf(family, 'hash:ip'), setOf(family, 'hash:net')]);
  const setFor = (block: Block): SetSpec => setOf(block.family, isSingleHost(block) ? 'hash:ip' : 'hash:net');

  const matchRule = (set: SetSpec, target = targetOf(ctx.config.action)) => ['-m', 'set', '--match-set', set.name, 'src', ...target];
  const setRules = (family: Family): Array<ChainRule & { set: SetSpec }> =>
    settings.chains.flatMap((chain) => sets.filter((set) => set.family === family).map((set) => ({ chain, rule: matchRule(set), set })));

  /** The fix for the refusals that have one. */
  const hintFor = (stderr: string): string | undefined => {
    if (stderr.includes('is full')) return `raise ipset.maxelem (now ${settings.maxelem}), then run flush so that the sets are recreated with it`;
    if (stderr.includes('Timeout cannot be used')) return 'a set of that name was made without timeouts, not by Palisade: run flush, or ipset destroy it';
    return undefined;
  };

  const ipset = async (args: string[], what: string, input?: string) => {
    const result = await runFirewallTool(ctx, ['ipset', ...args], input);
    if (result.exitCode !== 0) throw refused(what, 'ipset', result, hintFor(result.stderr));
    return result;
  };

  /** `ipset test`: exit 0 "is in set", exit 1 "is NOT in set"; undefined when the set itself is missing. */
  const contains = async (set: SetSpec, address: string): Promise<boolean | undefined> => {
    const result = await runFirewallTool(ctx, ['ipset', 'test', set.name, address]);
    if (result.exitCode === 0) return true;
    if (result.exitCode === 1 && result.stderr.includes('is NOT in set')) return false;
    if (result.exitCode === 1 && result.stderr.includes('does not exist')) return undefined;
    throw refused(`cannot test ${address} in set ${set.name}`, 'ipset', result);
  };

  /**
   * ensure(), with the block's `ipset test` run beside its checks rather than after them. The answer
   * stands unless ensure had to recreate the sets (the restore may have put the block back): then ask again.
   * A delete passes its block as `exclude`, so that healing does not put back what it is removing.
   */
  const ensureAndTest = async (block: Block, exclude?: Block) => {
    const set = setFor(block);
    const [outcome, present] = await Promise.all([ensure(exclude), contains(set, block.address)]);
    const settled = outcome.created || present === undefined ? await contains(set, block.address) : present;
    if (settled === undefined) throw new BackendError(`set ${set.name} vanished while in use (another program destroyed it); try again`);
    return { set, present: settled, restored: outcome.restored };
  };

  const createLine = (set: SetSpec) =>
    `create ${set.name} ${set.type} family ${set.family === 4 ? 'inet' : 'inet6'} maxelem ${settings.maxelem} timeout 0`;

  let opened: Promise<Xtables> | undefined;
  const xtables = () => (opened ??= openXtables(ctx));

  /**
   * Under the heal lock: create what is missing, and when anything was, put back every restorable block
   * but `exclude` (one `ipset restore`), before inserting the rules that make the sets bite (one
   * iptables-restore a family).
   */
  const heal = async (xt: Xtables, exclude?: Block): Promise<EnsureOutcome> => {
    const existing = new Set((await ipset(['list', '-n'], 'cannot list the sets')).stdout.split('\n'));
    const missingSets = sets.filter((set) => !existing.has(set.name));
    const missingRules = await Promise.all(
      families.map(async (family) => {
        const missing: ReturnType<typeof setRules> = [];
        for (const rule of setRules(family)) {
          // A set that does not exist has no rule (a set in use cannot be destroyed), and -C would fail on it.
          if (missingSets.includes(rule.set) || !(await xt.has(family, rule.chain, rule.rule))) missing.push(rule);
        }
        return missing;
      }),
    );
    if (missingSets.length === 0 && missingRules.every((rules) => rules.length === 0)) return { created: false, restored: 0 };

    const entries = families.flatMap((family) => restorableOf(ctx, family)).filter((entry) => entry.address !== exclude?.address);
    // Sets that exist keep their options (a new maxelem applies from the next flush).
    const lines = [
      ...missingSets.map(createLine),
      ...entries.map((entry) => `add ${setFor(entry).name} ${entry.address} timeout ${Math.min(entry.remaining, ipsetMaxTimeout)}`),
    ];
    await ipset(['restore', '-exist'], 'cannot create the sets or restore their blocks', `${lines.join('\n')}\n`);
    for (const [index, family] of families.entries()) {
      const rules = missingRules[index] ?? [];
      await xt.restore(family, rules.map(({ chain, rule }) => `-I ${chain} 1 ${rule.join(' ')}`), 'cannot insert the set rules');
    }
    const missing = [
      ...missingSets.map((set) => `set ${set.name}`),
      ...missingRules.flat().map(({ chain, set }) => `rule ${chain} --match-set ${set.name}`),
    ];
    logRecreated(ctx, 'ipset', missing, entries.length);
    return { created: true, restored: entries.length, fresh: missingSets.length === sets.length };
  };

  /** The common case: every set rule is there, which one -C batch per family proves (a missing set fails it too). */
  const intact = async (xt: Xtables) =>
    (await Promise.all(families.map((family) => xt.firstFailing(family, setRules(family).map((rule) => command('-C', rule)))))).every(
      (index) => index === undefined,
    );

  const ensure = async (exclude?: Block): Promise<EnsureOutcome> => {
    const xt = await xtables();
    if (await intact(xt)) return { created: false, restored: 0 };
    // Look again under the lock: whoever held it before us may have healed it already.
    return underHealLock(ctx, async () => ((await intact(xt)) ? { created: false, restored: 0 } : heal(xt, exclude)));
  };

  /** A present address gets this timer when `renew` (refresh: Palisade's own block), and is otherwise left as it is. */
  const add = async (block: Block, ttlSeconds: number, renew: boolean) => {
    const timeout = kernelTimeout(ttlSeconds);
    const { set, present, restored } = await ensureAndTest(block);
    if (present && !renew) return { result: 'present' as const, restored };
    await ipset(['-exist', 'add', set.name, block.address, 'timeout', String(timeout)], `cannot add ${block.address} to set ${set.name}`);
    return { result: present ? ('present' as const) : ('added' as const), restored };
  };

  /** Only a canonical address reaches an ipset restore line: the Block is parsed again here. */
  const canonical = (block: Block): Block => {
    const parsed = parseAddress(block.address, { allowNetwork: true });
    if (!parsed.ok || parsed.block.address !== block.address || parsed.block.prefix !== block.prefix || parsed.block.family !== block.family) {
      throw new BackendError(`refusing to hand "${block.address}" to ipset: it is not a canonical address or network`, { tool: 'ipset' });
    }
    return parsed.block;
  };

  return {
    name: 'ipset',
    ensure: () => ensure(),
    add: (block: Block, ttlSeconds: number) => add(block, ttlSeconds, false),
    refresh: (block: Block, ttlSeconds: number) => add(block, ttlSeconds, true),
    async delete(block: ActiveBlock | Block) {
      const { set, present, restored } = await ensureAndTest(block, block);
      if (!present) return { result: 'absent', restored };
      await ipset(['-exist', 'del', set.name, block.address], `cannot delete ${block.address} from set ${set.name}`);
      return { result: 'deleted', restored };
    },
    /**
     * One `ipset restore -exist` after ensure(). ipset applies a restore line by line and stops at the first
     * refusal, so when it fails the lines it may have applied are undone by a second restore: what was
     * added goes, what was removed comes back with the time it had left. (A renewed timer stays renewed; the
     * state keeps the old expiry and reconcile removes the block then.)
     */
    async applyBatch(change: BatchChange): Promise<{ restored: number }> {
      const timed = (entries: TimedBlock[]) => entries.map(({ block, ttl }) => ({ block: canonical(block), timeout: kernelTimeout(ttl) }));
      const [add, renew, remove] = [timed(change.add), timed(change.renew), timed(change.remove)];
      if (add.length + renew.length + remove.length === 0) return { restored: 0 };
      const { restored } = await ensure();
      const addLine = ({ block, timeout }: { block: Block; timeout: number }) => `add ${setFor(block).name} ${block.address} timeout ${timeout}`;
      const delLine = ({ block }: { block: Block }) => `del ${setFor(block).name} ${block.address}`;
      const lines = [...remove.map(delLine), ...add.map(addLine), ...renew.map(addLine)];
      try {
        await ipset(['restore', '-exist'], `cannot apply ${lines.length} changes`, `${lines.join('\n')}\n`);
      } catch (error) {
        const undo = [...add.map(delLine), ...remove.map(addLine)];
        const undone = await runFirewallTool(ctx, ['ipset', 'restore', '-exist'], `${undo.join('\n')}\n`);
        const outcome = undone.exitCode === 0 ? 'nothing of it stays applied' : `undoing it failed too (${undone.stderr.trim().split('\n')[0]}): run palisade reconcile`;
        throw new BackendError(`${(error as Error).message}; ${outcome}`, { tool: 'ipset' });
      }
      return { restored };
    },
    async list(): Promise<FirewallBlock[]> {
      const listed = await Promise.all(sets.map((set) => listSet(set)));
      return listed.flat();
    },
    async inspect(): Promise<Inspection> {
      const { probeTools, readCounters, ruleOrder, xtablesAlongside } = await import('./health.js');
      const tools = await probeTools(ctx, 'ipset', [['ipset', 'list', '-n'], ['iptables', '-w', '5', '-S', 'INPUT']]);
      const order = await ruleOrder(ctx, settings.chains, (line) => line.includes(`--match-set ${settings.name_prefix}`));
      return { findings: [...tools, ...order], alongside: xtablesAlongside(ctx), ...(await readCounters(dropCounters)) };
    },
    async flush() {
      const ours = new RegExp(` --match-set (${sets.map((set) => set.name).join('|')}) src `);
      // Every chain, not only those configured now: chains may have changed since the rules were made.
      for (const xt of variantsInUse(ctx)) {
        for (const family of families) {
          const rules = (await xt.listRules(family)).filter((line) => ours.test(line));
          await xt.restore(family, rules.map((line) => `-D${line.slice(2)}`), 'cannot remove the set rules');
        }
      }
      for (const set of sets) await destroySet(set);
    },
  };

  /** One counter per set rule: "INPUT palisade4". */
  async function dropCounters(): Promise<DropCounter[]> {
    const xt = await xtables();
    const ours = new RegExp(`^-A (\\S+) -m set --match-set (${sets.map((set) => set.name).join('|')}) src `);
    const counted = await Promise.all(families.map((family) => xt.countedRules(family)));
    return counted.flat().flatMap(({ line, packets, bytes }) => {
      const match = ours.exec(line);
      return match ? [{ name: `${match[1]} ${match[2]}`, packets, bytes }] : [];
    });
  }

  async function listSet(set: SetSpec): Promise<FirewallBlock[]> {
    const result = await runFirewallTool(ctx, ['ipset', 'save', set.name]);
    if (result.exitCode === 1 && result.stderr.includes('does not exist')) return [];
    if (result.exitCode !== 0) throw refused(`cannot list set ${set.name}`, 'ipset', result);
    const blocks: FirewallBlock[] = [];
    for (const line of result.stdout.split('\n')) {
      const match = /^add \S+ (\S+)(?: timeout (\d+))?/.exec(line);
      const parsed = match ? parseAddress(match[1], { allowNetwork: true }) : undefined;
      if (!parsed?.ok) continue;
      blocks.push({ ...parsed.block, ...(match?.[2] === undefined ? {} : { expiresIn: Number(match[2]) }) });
    }
    return blocks;
  }

  /** The kernel drops a set's last reference a moment after its rule goes, so "in use" is retried briefly. */
  async function destroySet(set: SetSpec): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const result = await runFirewallTool(ctx, ['ipset', 'destroy', set.name]);
      if (result.exitCode === 0 || result.stderr.includes('does not exist')) return;
      if (!result.stderr.includes('in use by a kernel component') || attempt >= 20) {
        throw refused(`cannot destroy set ${set.name}`, 'ipset', result, 'a rule of the host may still refer to it: remove it, then run flush again');
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
