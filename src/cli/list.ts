/**
 * `palisade list`: the active blocks from the state, each checked against what its firewall holds, plus
 * any block the firewall holds that the state does not know (then `palisade reconcile` removes it).
 */
import type { BackendName } from '../backends/backend.js';
import { holderNames, openStateStore } from '../commands/blocking.js';
import { nowSeconds } from '../runtime/duration.js';
import type { Holder } from '../runtime/state.js';
import type { CliContext } from './context.js';
import { backendsInUse, compare, explainBackend, readFirewall } from './inspect.js';
import { localTime, shortDuration } from './output.js';
import type { ListOptions } from './list-options.js';

export interface ListedBlock {
  address: string;
  family: 4 | 6;
  prefix: number;
  backend: BackendName;
  /** Who holds it, each until when; undefined for a block only the firewall knows. */
  holders?: Holder[];
  since?: number;
  expiresAt?: number;
  expiresIn?: number;
  ruleId?: string;
  description?: string;
  /** true: the firewall holds it; false: it is missing there; null: the firewall could not be read. */
  inFirewall: boolean | null;
  inState: boolean;
  /** The firewall's own timer, where it keeps one. */
  firewallExpiresIn?: number;
}

export async function run(ctx: CliContext, options: ListOptions): Promise<number> {
  const env = await ctx.env();
  const state = openStateStore(env);
  const now = nowSeconds();
  const entries = state.active(options.backend, now).sort((a, b) => a.since - b.since || a.address.localeCompare(b.address));
  const backends = backendsInUse(entries, explainBackend(env.config), options.backend);
  const views = await Promise.all(backends.map((backend) => readFirewall(env, state, backend)));

  const rows: ListedBlock[] = entries.map((entry) => {
    const view = views.find((candidate) => candidate.backend === entry.backend);
    const held = view?.blocks?.find((block) => block.address === entry.address);
    return {
      address: entry.address,
      family: entry.family,
      prefix: entry.prefix,
      backend: entry.backend,
      holders: entry.holders,
      since: entry.since,
      expiresAt: entry.expiresAt,
      expiresIn: entry.expiresAt - now,
      ...(entry.reason?.ruleId !== undefined ? { ruleId: entry.reason.ruleId } : {}),
      ...(entry.reason?.description !== undefined ? { description: entry.reason.description } : {}),
      inFirewall: view?.blocks ? held !== undefined : null,
      inState: true,
      ...(held?.expiresIn !== undefined ? { firewallExpiresIn: held.expiresIn } : {}),
    };
  });
  for (const view of views) {
    for (const block of compare(entries, view).unknown) {
      rows.push({ ...block, backend: view.backend, inFirewall: true, inState: false, ...(block.expiresIn !== undefined ? { firewallExpiresIn: block.expiresIn } : {}) });
    }
  }
  const unreadable = views.filter((view) => view.error);

  if (ctx.out.json) {
    ctx.out.document({ blocks: rows, unreadable: unreadable.map(({ backend, error }) => ({ backend, error })) });
    return 0;
  }
  for (const view of unreadable) ctx.out.note(`could not read the ${view.backend} firewall, so blocks are not checked against it: ${view.error}`);
  if (rows.length === 0) {
    ctx.out.line('No active blocks.');
    return 0;
  }
  const { paint } = ctx.out;
  ctx.out.table(
    [{ header: 'ADDRESS' }, { header: 'BACKEND' }, { header: 'HELD BY' }, { header: 'SINCE' }, { header: 'EXPIRES IN', align: 'right' }, { header: 'RULE' }, { header: 'DESCRIPTION' }, { header: 'FIREWALL' }],
    rows.map((row) => [
      row.address,
      row.backend,
      row.holders ? holderNames(row.holders) : { tone: 'warn', text: '(not in state)' },
      row.since !== undefined ? localTime(row.since) : '-',
      row.expiresIn !== undefined ? shortDuration(row.expiresIn) : row.firewallExpiresIn !== undefined ? shortDuration(row.firewallExpiresIn) : '-',
      row.ruleId ?? '-',
      row.description ?? '-',
      row.inFirewall === null ? { tone: 'dim', text: 'unknown' } : row.inFirewall ? { tone: 'ok', text: 'held' } : { tone: 'fail', text: 'MISSING' },
    ]),
  );
  const missing = rows.filter((row) => row.inFirewall === false).length;
  const unknown = rows.filter((row) => !row.inState).length;
  ctx.out.line();
  ctx.out.line(`${entries.length} active block(s).`);
  if (missing > 0) ctx.out.line(paint('fail', `${missing} block(s) are missing from the firewall (a reload or a reboot?): run palisade reconcile to put them back.`));
  if (unknown > 0) ctx.out.line(paint('warn', `${unknown} block(s) in the firewall are not in the state: palisade reconcile removes them, palisade block keeps one.`));
  return 0;
}
