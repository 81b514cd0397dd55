/**
 * `palisade reconcile`: makes every firewall in use hold exactly the unexpired blocks of the state. Run at
 * boot and after firewall reloads by palisade-reconcile.service, and by hand after anything that wiped
 * the rules (`nft flush ruleset`, `iptables -F`, `firewall-cmd --reload` in iptables mode).
 *
 * First, outside the lock, the allow-list is built afresh, the Wazuh manager's name looked up again and its
 * last good resolution refreshed (allowlist.ts): a block of an address it now protects (a manager whose lookup
 * failed when the alert came) is lifted, never restored.
 *
 * Per backend, under the state lock: expired entries leave the state; ensure() rebuilds missing tables or
 * sets with every unexpired block (for nftables one transaction, whatever the number of blocks); then one
 * listing shows what is still wrong: expired blocks a firewall without timers still holds, unexpired ones
 * still missing (a set flushed by hand), and blocks no state entry accounts for. Where the backend takes
 * batches (nftables, ipset), all of that is put right in one more transaction. After a rebuild that made
 * every set anew from the state (a reload, a reboot), there is nothing to list: the sets hold the state.
 */
import type { BackendName, Block, FirewallBlock } from '../backends/backend.js';
import { openBackend, openStateStore } from '../commands/blocking.js';
import { allowedBy, buildAllowlists } from '../runtime/allowlist.js';
import { blockOf } from '../runtime/block.js';
import { nowSeconds } from '../runtime/duration.js';
import { type StateEntry } from '../runtime/state.js';
import type { CliContext } from './context.js';
import { backendsInUse, explainBackend } from './inspect.js';
import type { ReconcileOptions } from './reconcile-options.js';

export interface ReconcileReport {
  backend: BackendName;
  /** Unexpired blocks the firewall holds after this run. */
  active: number;
  /** ensure() had to recreate tables, chains, sets or jumps of ours. */
  recreated: boolean;
  /** Put back by ensure() because tables or sets were gone. */
  restored: number;
  /** Added one by one because they alone were missing. */
  readded: number;
  /** Expired entries removed from the state. */
  expired: number;
  /** Of those, how many the firewall still held (it keeps no timers, or missed one) and had removed. */
  expiredInFirewall: number;
  /** Blocks of addresses the allow-list now protects (the manager, allowlist:), removed from the state and the firewall. */
  lifted: string[];
  /** Firewall blocks no state entry accounts for, removed. */
  removedUnknown: string[];
  /** Lost blocks that could not be put back because something else now holds the address (a route of someone else's): forgotten. */
  leftAlone: string[];
  error?: string;
}

export async function run(ctx: CliContext, options: ReconcileOptions): Promise<number> {
  const env = await ctx.env();
  const state = openStateStore(env);
  const started = performance.now();
  const allowlists = await buildAllowlists(env.config, ctx.installDir, { log: env.log, refresh: true });
  const reports = await state.locked(env.config.lock_timeout, async () => {
    const now = nowSeconds();
    const entries = state.all(options.backend);
    const backends = backendsInUse(entries, explainBackend(env.config), options.backend);
    const reports: ReconcileReport[] = [];
    for (const backend of backends) {
      const report: ReconcileReport = { backend, active: 0, recreated: false, restored: 0, readded: 0, expired: 0, expiredInFirewall: 0, lifted: [], removedUnknown: [], leftAlone: [] };
      reports.push(report);
      try {
        await reconcileBackend(report, entries.filter((entry) => entry.backend === backend), now);
      } catch (error) {
        report.error = (error as Error).message;
      }
    }
    return reports;
  });
  const tookMs = Math.round(performance.now() - started);

  // Only what changed is logged: the timer runs this every 10 minutes, and the log goes to the manager.
  for (const report of reports) {
    const lost = report.recreated || report.restored + report.readded > 0;
    const record = { event: 'reconciled', ...report, took_ms: tookMs };
    if (report.error) env.log.error({ ...record, event: 'error', reason: report.error });
    else if (lost) env.log.warn(record, 'blocks were missing from the firewall and were put back');
    else if (report.lifted.length > 0) env.log.warn(record, 'blocks of allow-listed addresses were lifted');
    else if (report.expired + report.expiredInFirewall + report.removedUnknown.length + report.leftAlone.length > 0) env.log.info(record);
  }

  const failed = reports.filter((report) => report.error);
  if (ctx.out.json) {
    ctx.out.document({ ok: failed.length === 0, tookMs, backends: reports });
    return failed.length > 0 ? 1 : 0;
  }
  if (reports.length === 0) ctx.out.line('No backend in use and no block in the state: nothing to reconcile.');
  for (const report of reports) ctx.out.line(describe(ctx, report));
  ctx.out.line(ctx.out.paint('dim', `took ${tookMs} ms`));
  return failed.length > 0 ? 1 : 0;

  async function reconcileBackend(report: ReconcileReport, entries: StateEntry[], now: number) {
    const expired = entries.filter((entry) => entry.expiresAt <= now);
    const allowListed = entries.filter((entry) => entry.expiresAt > now && allowedBy(blockOf(entry), allowlists[entry.family]));
    const active = entries.filter((entry) => entry.expiresAt > now && !allowListed.includes(entry));
    // Out of the state first: ensure() must not put an expired or allow-listed block back.
    state.change({ remove: [...expired, ...allowListed] });
    report.expired = expired.length;
    report.lifted = allowListed.map((entry) => entry.address);
    const backend = await openBackend(env, report.backend, state, { known: () => active });
    const ensured = await backend.ensure();
    report.recreated = ensured.created;
    report.restored = ensured.restored;
    // Rebuilt from these very entries in one transaction, every set new: it holds exactly them, and listing
    // 10,000 blocks back would only prove what the transaction already did.
    const rebuilt = ensured.created && ensured.fresh === true && ensured.restored === active.length;
    const held = new Map<string, FirewallBlock>(rebuilt ? active.map((entry) => [entry.address, blockOf(entry)]) : (await backend.list()).map((block) => [block.address, block]));
    const known = new Set(entries.map((entry) => entry.address));
    if (backend.applyBatch) {
      // One transaction for whatever is wrong, however many: a set flushed by hand may have lost 10,000 blocks.
      const missing = active.filter((entry) => !held.has(entry.address));
      const expiredHeld = expired.filter((entry) => held.has(entry.address));
      const unknown = [...held.values()].filter((block) => !known.has(block.address));
      const timed = (block: Block, ttl: number) => ({ block: blockOf(block), ttl: Math.max(1, ttl) });
      const remove = [
        ...[...expiredHeld, ...allowListed.filter((entry) => held.has(entry.address))].map((entry) => timed(entry, 1)),
        ...unknown.map((block) => timed(block, block.expiresIn ?? 1)),
      ];
      if (missing.length + remove.length > 0) await backend.applyBatch({ add: missing.map((entry) => timed(entry, entry.expiresAt - now)), renew: [], remove });
      report.readded = missing.length;
      report.expiredInFirewall = expiredHeld.length;
      report.removedUnknown = unknown.map((block) => block.address);
      report.active = active.length;
      return;
    }
    for (const entry of expired) {
      if (!held.has(entry.address)) continue;
      await backend.delete({ ...blockOf(entry), expiresAt: entry.expiresAt, backendData: entry.backendData });
      report.expiredInFirewall += 1;
    }
    for (const entry of allowListed) {
      if (held.has(entry.address)) await backend.delete({ ...blockOf(entry), expiresAt: entry.expiresAt, backendData: entry.backendData });
    }
    for (const entry of active) {
      if (held.has(entry.address)) continue;
      const outcome = await backend.add(blockOf(entry), Math.max(1, entry.expiresAt - now));
      if (outcome.result !== 'skipped') {
        report.readded += 1;
        continue;
      }
      // Not ours to put back any more; its delete from execd will find nothing to do.
      state.remove(entry);
      report.leftAlone.push(entry.address);
    }
    for (const [address, block] of held) {
      if (known.has(address)) continue;
      await backend.delete(block);
      report.removedUnknown.push(address);
    }
    report.active = active.length - report.leftAlone.length;
  }
}

const firstFew = (addresses: readonly string[]) => `${addresses.slice(0, 5).join(', ')}${addresses.length > 5 ? ', ...' : ''}`;

function describe(ctx: CliContext, report: ReconcileReport): string {
  const { paint } = ctx.out;
  if (report.error) return `${report.backend}: ${paint('fail', `failed: ${report.error}`)}`;
  const changes = [
    report.recreated && report.restored === 0 && `recreated Palisade's ${report.backend} rules, which were missing`,
    report.restored > 0 && `restored ${report.restored} block(s) lost from the firewall (a reload, a flush or a reboot)`,
    report.readded > 0 && `put back ${report.readded} missing block(s)`,
    report.expired > 0 && `removed ${report.expired} expired entr${report.expired === 1 ? 'y' : 'ies'} from the state` +
      (report.expiredInFirewall > 0 ? ` (${report.expiredInFirewall} still in the firewall, now removed)` : ''),
    report.lifted.length > 0 && `lifted ${report.lifted.length} block(s) of addresses the allow-list now protects (${firstFew(report.lifted)})`,
    report.leftAlone.length > 0 && `forgot ${report.leftAlone.length} lost block(s) whose address something else now holds, left alone (${firstFew(report.leftAlone)})`,
    report.removedUnknown.length > 0 && `removed ${report.removedUnknown.length} block(s) the state does not know (${firstFew(report.removedUnknown)})`,
  ].filter((change): change is string => typeof change === 'string');
  const summary = `${report.active} active block(s)`;
  if (changes.length === 0) return `${report.backend}: ${paint('ok', 'in order')}, ${summary}; nothing changed`;
  return `${report.backend}: ${paint('warn', changes.join('; '))}; ${summary}`;
}
