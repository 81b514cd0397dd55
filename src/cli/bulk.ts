/**
 * `palisade block --from FILE|-` and `palisade unblock --from FILE|-`: a threat list applied as one firewall
 * transaction per backend (commands/bulk.ts), with a summary an operator or a script can read. The list is
 * downloaded data: its lines are parsed by runtime/threat-list.ts alone, and only canonical addresses that
 * pass the allow-list ever reach the state or a firewall.
 */
import { holdBlocks, releaseBlocks, type BulkItem, type BulkNote } from '../commands/bulk.js';
import { openStateStore, resolveBackend } from '../commands/blocking.js';
import { backendNames } from '../backends/backend.js';
import { allowedBy, buildAllowlists } from '../runtime/allowlist.js';
import { formatDuration, nowSeconds } from '../runtime/duration.js';
import { operatorHold } from '../runtime/state.js';
import { collapseList, ListReadError, parseThreatList, readThreatList, type ParsedList } from '../runtime/threat-list.js';
import { UsageError } from './args.js';
import { CliFailure, type CliContext } from './context.js';
import { localTime, printable } from './output.js';
import type { BlockOptions } from './block-options.js';
import { operator } from './common.js';
import type { UnblockOptions } from './unblock-options.js';

/** ADDRESS or --from, exactly one: a usage error otherwise. */
export function checkOneSource(verb: string, options: { address?: unknown; from?: string | undefined }): void {
  if (options.address !== undefined && options.from !== undefined) throw new UsageError(`give ADDRESS or --from FILE, not both (see palisade ${verb} --help)`);
  if (options.address === undefined && options.from === undefined) throw new UsageError(`ADDRESS is missing (see palisade ${verb} --help): give one, or --from FILE for a list`);
}

function readList(source: string): ParsedList {
  try {
    return parseThreatList(readThreatList(source));
  } catch (error) {
    if (error instanceof ListReadError) throw new CliFailure(error.message);
    throw error;
  }
}

const sourceName = (source: string) => (source === '-' ? 'stdin' : printable(source));
const toNotes = (lines: ParsedList['refused']): BulkNote[] => lines.map(({ line, text, reason }) => ({ line, address: text, reason }));
const byLine = (notes: BulkNote[]) => [...notes].sort((a, b) => a.line - b.line);

/** At most this many refused or skipped lines are printed; --json has them all. */
const shownLines = 20;

function printLines(ctx: CliContext, label: string, notes: BulkNote[]): void {
  for (const { line, address, reason } of notes.slice(0, shownLines)) ctx.out.line(`  ${label} line ${line}: ${printable(address)}: ${reason}`);
  if (notes.length > shownLines) ctx.out.line(`  ... and ${notes.length - shownLines} more (--json lists them all)`);
}

export async function blockFrom(ctx: CliContext, options: BlockOptions & { from: string }): Promise<number> {
  const env = await ctx.env();
  const { config } = env;
  const list = readList(options.from);
  const allowlists = await buildAllowlists(config, ctx.installDir, { log: env.log });
  const refused = toNotes(list.refused);
  const allowed: BulkItem[] = [];
  // The allow-list first: no list can override it, whatever it holds (0.0.0.0/0, the manager, this host).
  for (const entry of list.entries) {
    const protectedBy = allowedBy(entry.block, allowlists[entry.block.family]);
    if (protectedBy) refused.push({ line: entry.line, address: entry.block.address, reason: `allow-listed: ${protectedBy.why} (${protectedBy.range.address})` });
    else allowed.push(entry);
  }
  const { entries: items, skipped } = collapseList(allowed);
  const ttl = Math.min(options.ttl ?? config.max_ttl, config.max_ttl);
  const backendName = resolveBackend(config, options.backend);
  const state = openStateStore(env);
  const by = operator();
  const started = performance.now();
  let outcome;
  try {
    outcome = await holdBlocks(env, state, backendName, items, {
      ttl,
      explicitTtl: options.ttl !== undefined,
      reason: { description: options.reason ?? `blocked from the list ${options.from === '-' ? '(stdin)' : options.from.slice(0, 200)} (palisade block --from)` },
      holder: operatorHold,
    });
  } catch (error) {
    const message = (error as Error).message;
    env.log.error({ event: 'error', reason: `block --from failed: ${message}`, backend: backendName, entries: items.length, ...(by ? { operator: by } : {}) });
    throw new CliFailure(`${sourceName(options.from)}: nothing was blocked, the state is as it was: ${message}`);
  }
  const tookMs = Math.round(performance.now() - started);
  const all = { ...outcome, refused: byLine([...refused, ...outcome.refused]), skipped: byLine([...toNotes(skipped), ...outcome.skipped]) };
  const counts = { added: all.added.length, present: all.present.length, skipped: all.skipped.length, refused: all.refused.length };
  // One record for the whole list: ten thousand lines a run would flood the manager.
  env.log.info({ event: 'bulk-blocked', backend: backendName, source: options.from === '-' ? 'stdin' : options.from, ...counts, replaced: all.replaced.length, ttl, restored: all.restored, mode: all.mode, took_ms: tookMs, ...(by ? { operator: by } : {}) });

  const expiresAt = nowSeconds() + ttl;
  if (ctx.out.json) {
    ctx.out.document({ ok: true, backend: backendName, source: options.from, ttl, expiresAt, ...counts, comments: list.comments, replaced: all.replaced, restored: all.restored, mode: all.mode, tookMs, refusedLines: all.refused, skippedLines: all.skipped });
    return 0;
  }
  ctx.out.line(
    `${sourceName(options.from)}: ${counts.added} added, ${counts.present} present, ${counts.skipped} skipped, ${counts.refused} refused on ${backendName} ` +
      `for ${formatDuration(ttl)} at most (until ${localTime(expiresAt)})${all.mode === 'transaction' ? ', in one transaction' : ''}`,
  );
  if (all.replaced.length > 0) ctx.out.line(`  replaced ${all.replaced.length} narrower blocked network(s): ${all.replaced.slice(0, 5).join(', ')}${all.replaced.length > 5 ? ', ...' : ''}`);
  printLines(ctx, 'refused', all.refused);
  printLines(ctx, 'skipped', all.skipped);
  return 0;
}

export async function unblockFrom(ctx: CliContext, options: UnblockOptions & { from: string }): Promise<number> {
  const env = await ctx.env();
  const list = readList(options.from);
  const state = openStateStore(env);
  const backends = options.backend ? [options.backend] : backendNames;
  const by = operator();
  let outcome;
  try {
    // Repeats once; an address inside a listed network is still lifted on its own, as it may be blocked on its own.
    const unique = [...new Map(list.entries.map((entry) => [entry.block.address, entry])).values()];
    // As `palisade unblock ADDRESS`: the operator lets each address through, whoever holds it.
    outcome = await releaseBlocks(env, state, backends, unique, 'everyone');
  } catch (error) {
    throw new CliFailure(`${sourceName(options.from)}: ${(error as Error).message}`);
  }
  const refused = toNotes(list.refused);
  const counts = { removed: outcome.removed.length, kept: outcome.kept.length, absent: outcome.absent.length, refused: refused.length };
  env.log.info({ event: 'bulk-unblocked', source: options.from === '-' ? 'stdin' : options.from, ...counts, mode: outcome.mode, ...(by ? { operator: by } : {}) });
  if (ctx.out.json) {
    ctx.out.document({ ok: true, source: options.from, ...counts, comments: list.comments, keptLines: outcome.kept, refusedLines: refused });
    return 0;
  }
  ctx.out.line(`${sourceName(options.from)}: ${counts.removed} unblocked, ${counts.kept} kept (held by others), ${counts.absent} not blocked, ${counts.refused} refused`);
  printLines(ctx, 'kept', outcome.kept);
  printLines(ctx, 'refused', refused);
  return 0;
}
