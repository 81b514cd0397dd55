/**
 * The nftables backend: a table of our own (`inet palisade` by default), so that `firewall-cmd --reload`,
 * Docker and other tools, which flush only their own tables, leave our blocks alone.
 *
 * Four sets: addr4/addr6 are plain hash sets for single addresses, and net4/net6 are interval sets for
 * networks. They must stay apart: nft reads a whole interval set on every change to check for overlaps, so
 * its cost grows with its size, while a hash set costs the same at any size. Every element
 * carries a kernel timeout, so a block whose delete never comes still expires.
 *
 * Every change is one `nft -f -` transaction. When this configuration's chains were declared less than a
 * minute ago (a stamp in the state dir says so), it holds the element lines alone; otherwise it also
 * re-declares our chains and their rules (`flush chain` + `add rule` is idempotent inside one transaction),
 * which repairs a chain someone flushed or deleted and applies a changed configuration. That declaration
 * makes the kernel wait one RCU grace period, many times the cost of the element lines, which is
 * why a storm of alerts pays it once a minute and not on every alert. Either way nft answers ENOENT when the
 * table or a set is gone, and the table is rebuilt with every unexpired block from the state file. None of
 * this grows with the number of blocks (bench/RESULTS.md).
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { isSingleHost, overlaps } from '../runtime/address.js';
import { blockOf } from '../runtime/block.js';
import { firstLine, runTool, ToolError } from '../runtime/exec.js';
import type { ActiveBlock, AddOutcome, Backend, BatchChange, TimedBlock, BackendContext, Block, DeleteOutcome, EnsureOutcome, FirewallBlock } from './backend.js';
import { BackendError } from './backend.js';
import { nowSeconds } from '../runtime/duration.js';
import { writeFileAtomic } from '../runtime/atomic-file.js';
import {
  chainLines as chainLinesOf,
  checkedBlock,
  checkedTtl,
  createLine as createLineOf,
  declarationLines as declarationLinesOf,
  deleteLine,
  deleteLines as deleteLinesOf,
  fingerprintOf,
  judge,
  NftScript,
  removalLines as removalLinesOf,
  renewLines as renewLinesOf,
  replayLines as replayLinesOf,
  setFor,
  setNames,
  tableSpec,
  type Failure,
  type SetName,
  type NftOutcome,
} from './nftables-script.js';

/** How long a declaration of the chains is trusted before an alert declares them again (see declaredRecently). */
const redeclareAfterSeconds = 60;

export function createNftablesBackend(ctx: BackendContext): Backend {
  const { config, log } = ctx;
  const { table: tableName } = config.nftables;
  const table = `inet ${tableName}`;

  const spec = tableSpec(config);
  const chainLines = () => chainLinesOf(spec);
  const declarationLines = () => declarationLinesOf(spec);
  const replayLines = (entries: TimedBlock[]) => replayLinesOf(spec, entries);
  const deleteLines = (blocks: Block[]) => deleteLinesOf(spec, blocks);
  const removalLines = (block: Block) => removalLinesOf(spec, block);
  const renewLines = (set: SetName, own: TimedBlock) => renewLinesOf(spec, set, own);
  const createLine = (set: SetName, own: TimedBlock) => createLineOf(spec, set, own);

  /** The script that changes one element, behind the lines that keep our chains as configured. */
  const elementScript = (...elementLines: string[]) => new NftScript().add('structure', ...chainLines()).add('element', ...elementLines);

  /** Whether our table exists, sets or not: `nft list tables` names them only, however many blocks they hold. */
  const tableExists = async (): Promise<boolean> => {
    // Unsure is "exists": the caller then lists what the table holds instead of trusting the replay.
    try {
      const result = await runTool(['nft', 'list', 'tables', 'inet'], { timeoutSeconds: config.command_timeout });
      return result.exitCode !== 0 || result.stdout.split('\n').some((line) => line.trim() === `table ${table}`);
    } catch {
      return true;
    }
  };

  const run = async (script: NftScript): Promise<NftOutcome> => {
    let result;
    try {
      result = await runTool(['nft', '-f', '-'], { timeoutSeconds: config.command_timeout, input: script.text() });
    } catch (error) {
      throw toolFailure(error);
    }
    return judge(script, result.exitCode, result.stderr, table);
  };

  /**
   * Whether this configuration's chains were declared less than a minute ago: the stamp holds the
   * fingerprint of what was declared and was written then. (Checking the chains themselves is no cheaper:
   * nft cannot list a chain without reading every element of our sets.) A reload
   * that takes the table or a set away is still seen at once, as nft fails the element line; a chain
   * flushed or edited by hand is declared again by the first alert a minute on, or by `palisade reconcile`
   * (boot, firewall reloads, every 10 minutes).
   */
  const stamp = ctx.stateDir === undefined ? undefined : join(ctx.stateDir, `nftables-${tableName}.declared`);
  const fingerprint = fingerprintOf(chainLines().join('\n'));
  const declaredRecently = (): boolean => {
    if (stamp === undefined) return false;
    try {
      const age = Date.now() - statSync(stamp).mtimeMs;
      return age >= 0 && age < redeclareAfterSeconds * 1000 && readFileSync(stamp, 'utf8') === fingerprint;
    } catch {
      return false;
    }
  };
  const markDeclared = () => {
    if (stamp === undefined) return;
    try {
      writeFileAtomic(stamp, fingerprint, { mode: 0o640 });
    } catch {
      // A read-only state dir: every alert declares the chains, as without a stamp.
    }
  };
  const elementsOnly = (...elementLines: string[]) => new NftScript().add('element', ...elementLines);

  const refusedError = (what: string, { message, hint, exitCode, stderr }: Failure) =>
    new BackendError(`nft refused ${what}: ${message}${hint}`, { tool: 'nft', exitCode, stderr });

  /**
   * The unexpired blocks of the state file, ready to be replayed: canonical, one per address, and no two
   * networks overlapping (an interval set refuses that; the wider network already covers the narrower).
   * `first` are blocks of this invocation, which win over the state file's view of the same address.
   */
  const replayable = (first: TimedBlock[], without: Block | undefined): { replay: TimedBlock[]; skipped: number } => {
    const now = nowSeconds();
    const candidates: TimedBlock[] = [];
    let skipped = 0;
    for (const entry of ctx.restorable()) {
      const ttl = Math.floor(entry.expiresAt - now);
      if (!(ttl > 0)) continue;
      try {
        candidates.push({ block: checkedBlock(blockOf(entry)), ttl });
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

  /**
   * Put the table back as configured, with every unexpired block of the state file, and with this
   * invocation's own change. First without touching what is there (so concurrent invocations cannot undo
   * each other); when that is refused because something of ours exists in another shape (a changed
   * priority, a set of another type), replace the whole table in one transaction. Returns how many blocks
   * were replayed.
   */
  const rebuild = async (what: string, cause: string, change?: { add: TimedBlock } | { remove: Block }): Promise<number> => {
    const own = change && 'add' in change ? [change.add] : [];
    const removed = change && 'remove' in change ? change.remove : undefined;
    const { replay, skipped } = replayable(own, removed);
    const changeLines = removed ? removalLines(removed) : replayLines(own);
    const withContent = (script: NftScript) =>
      script.add('structure', ...chainLines()).add('replay', ...replayLines(replay)).add('element', ...changeLines);

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
    if (verdict.kind !== 'done') throw refusedError(`to rebuild table ${table} ${what}`, verdict.failure);
    markDeclared();
    if (replay.length === 0 && !replaced) {
      // A first run, or a reload while nothing was blocked: nothing was lost, so nothing to warn about.
      log.info({ event: 'firewall-created', backend: 'nftables', table, cause }, `created nftables table ${table}`);
      return 0;
    }
    log.warn(
      { event: 'firewall-restored', backend: 'nftables', table, restored: replay.length, skipped, replaced, cause },
      replaced
        ? `nftables table ${table} did not match the configuration (${cause}); replaced it and put back ${replay.length} blocks`
        : `nftables table ${table} or one of its sets was missing (${cause}); rebuilt it and put back ${replay.length} blocks`,
    );
    return replay.length;
  };

  /** The full script: the chains declared in the transaction of the element lines; a rebuild when a set or the table is gone. */
  const declareAndAdd = async (own: TimedBlock, renew: boolean): Promise<AddOutcome> => {
    const set = setFor(own.block);
    const what = `to block ${own.block.address}`;
    let verdict = await run(elementScript(createLine(set, own)));
    let result: AddOutcome['result'] = 'added';
    if (verdict.kind === 'element-present') {
      result = 'present';
      // The failed transaction declared nothing either: the next change declares the chains.
      if (!renew) return { result, restored: 0 };
      verdict = await run(elementScript(...renewLines(set, own)));
    }
    if (verdict.kind === 'done') {
      markDeclared();
      return { result, restored: 0 };
    }
    if (verdict.kind === 'structure-broken') {
      return { result: 'added', restored: await rebuild(what, verdict.failure.message, { add: own }) };
    }
    throw refusedError(what, verdict.failure);
  };

  /**
   * Add; a block that is there is renewed to this timer when `renew` (refresh: Palisade's own block), and
   * otherwise left exactly as it is (an add never changes what it did not make).
   */
  const add = async (block: Block, ttlSeconds: number, renew: boolean): Promise<AddOutcome> => {
    const own: TimedBlock = { block: checkedBlock(block), ttl: checkedTtl(ttlSeconds) };
    const set = setFor(own.block);
    if (declaredRecently()) {
      const created = await run(elementsOnly(createLine(set, own)));
      if (created.kind === 'done') return { result: 'added', restored: 0 };
      if (created.kind === 'element-present') {
        if (!renew) return { result: 'present', restored: 0 };
        const renewed = await run(elementsOnly(...renewLines(set, own)));
        if (renewed.kind === 'done') return { result: 'present', restored: 0 };
      }
      // A set or the table is gone, or nft refused: the full script says which, and repairs what it can.
    }
    return declareAndAdd(own, renew);
  };

  return {
    name: 'nftables',

    /** Reports created when the table or a set had to be made again; chains and rules are re-declared always. */
    async ensure(): Promise<EnsureOutcome> {
      const verdict = await run(new NftScript().add('structure', ...chainLines()));
      if (verdict.kind === 'done') {
        markDeclared();
        return { created: false, restored: 0 };
      }
      if (verdict.kind === 'structure-broken') {
        // Gone whole (a reload, a reboot, nft flush ruleset), the table comes back holding what was replayed alone.
        const fresh = !(await tableExists());
        return { created: true, restored: await rebuild(`to set up table ${table}`, verdict.failure.message), fresh };
      }
      throw refusedError(`to set up table ${table}`, verdict.failure);
    },

    add: (block, ttlSeconds) => add(block, ttlSeconds, false),
    // Also tells whether the block had gone missing, and puts it back.
    refresh: (block, ttlSeconds) => add(block, ttlSeconds, true),

    async delete(target: ActiveBlock | Block): Promise<DeleteOutcome> {
      const block = checkedBlock(blockOf(target));
      const what = `to unblock ${block.address}`;
      const removal = deleteLine(spec, block);
      if (declaredRecently()) {
        const removed = await run(elementsOnly(removal));
        if (removed.kind === 'done') return { result: 'deleted', restored: 0 };
        if (removed.kind === 'element-absent') return { result: 'absent', restored: 0 };
      }
      const verdict = await run(elementScript(removal));
      if (verdict.kind === 'done' || verdict.kind === 'element-absent') {
        markDeclared();
        return { result: verdict.kind === 'done' ? 'deleted' : 'absent', restored: 0 };
      }
      if (verdict.kind === 'structure-broken') {
        return { result: 'absent', restored: await rebuild(what, verdict.failure.message, { remove: block }) };
      }
      throw refusedError(what, verdict.failure);
    },

    /**
     * One nft transaction for the new elements and the renewals (add, delete, add: the timer is set on every
     * kernel, with no moment where the address is let through). Removals go in a transaction before it: nft
     * checks a new network against the interval set as it is, and refuses one over a narrower network that
     * the same transaction deletes. When the second is refused, the removed elements are put back. A rebuild,
     * when the table or a set is gone, replays the state, which the caller has already written.
     */
    async applyBatch(change: BatchChange): Promise<{ restored: number }> {
      const checked = (entries: TimedBlock[]) => entries.map(({ block, ttl }) => ({ block: checkedBlock(block), ttl: checkedTtl(ttl) }));
      const [add, renew, remove] = [checked(change.add), checked(change.renew), checked(change.remove)];
      const count = add.length + renew.length + remove.length;
      const what = `to apply ${count} changes`;
      const apply = async (lines: string[]): Promise<number> => {
        if (lines.length === 0) return 0;
        const verdict = await run(elementScript(...lines));
        if (verdict.kind === 'done') {
          markDeclared();
          return 0;
        }
        if (verdict.kind === 'structure-broken') return rebuild(what, verdict.failure.message);
        if (remove.length > 0 && lines !== removal) await run(elementScript(...replayLines(remove)));
        throw refusedError(what, verdict.failure);
      };
      // "add" first makes each delete succeed whether or not the element is still there.
      const removal = [...replayLines(remove), ...deleteLines(remove.map(({ block }) => block))];
      const renewed = renew.map(({ block }) => block);
      const restoredFirst = await apply(removal);
      // A rebuild replayed the state, which already holds the whole batch.
      if (restoredFirst) return { restored: restoredFirst };
      const restored = await apply([...replayLines(add), ...replayLines(renew), ...deleteLines(renewed), ...replayLines(renew)]);
      return { restored };
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
      // Only the CLI lists; the parser and its schema stay out of the add path.
      const { blocksInListing } = await import('./nftables-listing.js');
      return blocksInListing(result.stdout, setNames);
    },

    // Only status and doctor inspect; the listing's parser stays out of the add path.
    inspect: async () => (await import('./nftables-listing.js')).inspectNftables(ctx),

    async flush(): Promise<void> {
      // "add" first makes the delete succeed whether or not the table exists (nft 1.0.6 has no "destroy").
      const verdict = await run(new NftScript().add('structure', `add table ${table}`, `delete table ${table}`));
      if (verdict.kind !== 'done') throw refusedError(`to delete table ${table}`, verdict.failure);
    },
  };
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
