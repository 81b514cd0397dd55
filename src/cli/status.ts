/**
 * `palisade status`: what Palisade is doing on this host at a glance: the backend and why, the iptables
 * variant, what each backend in use says of its health and its drop counters, active blocks per backend
 * and family (in the state and in the firewall), and the state's age. Exit status 1 when it finds a problem.
 */
import { existsSync } from 'node:fs';
import { onPath } from '../backends/detect.js';
import { configPath, ConfigError, defaultConfig, type Config } from '../runtime/config.js';
import { describeSettings, type FleetReport } from '../runtime/fleet-config.js';
import { createLogger } from '../runtime/log.js';
import { nowSeconds } from '../runtime/duration.js';
import { stateDir, StateStore } from '../runtime/state.js';
import { version } from '../version.js';
import type { CliContext } from './context.js';
import { backendsInUse, compare, explainBackend, readFirewall } from './inspect.js';
import { describeVariant, type VariantReport } from './iptables-variant.js';
import { shortDuration, type Cell } from './output.js';

export async function run(ctx: CliContext): Promise<number> {
  const problems: string[] = [];
  const path = configPath(ctx.installDir);
  let config: Config;
  let configState: {
    path: string;
    ok: boolean;
    present: boolean;
    error?: string;
    /** The fleet layer's report when fleet_config is on, else { enabled: false }. */
    fleet?: ({ enabled: true } & FleetReport) | { enabled: false };
    /** Every top-level value and the layer that set it ("default" | "local" | "fleet"). */
    settings?: Record<string, unknown>;
  };
  const present = existsSync(path);
  try {
    const layered = await ctx.layeredConfig();
    config = layered.config;
    configState = { path, ok: true, present, fleet: layered.fleet ? { enabled: true, ...layered.fleet } : { enabled: false }, settings: describeSettings(layered) };
    const { fleet } = layered;
    if (fleet?.error !== undefined) problems.push(`the fleet config ${fleet.path} is ignored, as ${fleet.error}`);
    else if (fleet && fleet.refused.length > 0) problems.push(`the fleet config ${fleet.path} has keys Palisade refuses: ${fleet.refused.map(({ key }) => key).join(', ')} (palisade doctor says why)`);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    config = defaultConfig();
    configState = { path, ok: false, present, error: error.message };
    problems.push(`the configuration is invalid, so every AR command refuses to run: ${error.message}`);
  }
  // Status writes no log: it changes nothing, and what it finds is on the screen.
  const env = { name: 'palisade', installDir: ctx.installDir, config, log: createLogger({ path: undefined, argv0: 'palisade' }) };
  const state = new StateStore(stateDir(ctx.installDir));
  const now = nowSeconds();
  const entries = state.all();
  const active = entries.filter((entry) => entry.expiresAt > now);
  const choice = explainBackend(config);
  if (!choice.backend) problems.push(choice.reason);

  const backends = backendsInUse(entries, choice);
  const views = await Promise.all(backends.map((backend) => readFirewall(env, state, backend, { inspect: true })));
  const blocks = backends.flatMap((backend) =>
    ([4, 6] as const).map((family) => {
      const view = views.find((candidate) => candidate.backend === backend);
      return {
        backend,
        family,
        active: active.filter((entry) => entry.backend === backend && entry.family === family).length,
        inFirewall: view?.blocks ? view.blocks.filter((block) => block.family === family).length : null,
      };
    }),
  );
  for (const view of views) {
    if (view.error) problems.push(`cannot read the ${view.backend} firewall: ${view.error}`);
    const { missing } = compare(active, view);
    if (missing.length > 0) problems.push(`${missing.length} active block(s) are missing from ${view.backend}: run palisade reconcile`);
  }

  for (const { backend, inspection } of views) {
    const idle = choice.backend !== backend && !active.some((entry) => entry.backend === backend);
    for (const { problem, unlessIdle } of inspection?.findings ?? []) if (problem !== undefined && !(unlessIdle && idle)) problems.push(problem);
  }
  // A backend with a row of its own (its table's health) leads the counters too.
  const summarised = [...views.filter((view) => view.inspection?.summary), ...views.filter((view) => !view.inspection?.summary)];
  const summaries = summarised.flatMap((view) => (view.inspection?.summary ? [view.inspection.summary] : []));
  const iptables: VariantReport | undefined = onPath('iptables') ? await describeVariant(config) : undefined;

  const stamp = state.lastChange();
  const corrupt = state.setAside().length;
  const stateReport = {
    dir: state.blocksDir,
    entries: entries.length,
    active: active.length,
    expired: entries.length - active.length,
    corrupt,
    lastChange: stamp,
    ageSeconds: stamp === undefined ? undefined : Math.max(0, now - stamp),
  };
  if (corrupt > 0) problems.push(`${corrupt} state entr${corrupt === 1 ? 'y was' : 'ies were'} unreadable and set aside as *.corrupt in ${state.blocksDir}: look at them, then delete them`);

  // One table for every backend's counters: nftables' named counters, the set and chain rules of the others.
  const counters = summarised.flatMap((view) => (view.inspection?.counters ?? []).map((counter) => ({ backend: view.backend, ...counter })));

  if (ctx.out.json) {
    ctx.out.document({
      ok: problems.length === 0,
      version,
      installDir: ctx.installDir,
      config: configState,
      backend: choice,
      iptables,
      ...Object.fromEntries(summaries.map((summary) => [summary.label, summary.section])),
      blocks,
      counters,
      state: stateReport,
      problems,
    });
    return problems.length > 0 ? 1 : 0;
  }

  const { out } = ctx;
  const { paint } = out;
  const row = (label: string, value: string) => out.line(`${paint('bold', label.padEnd(11))} ${value}`);
  row('Palisade', `${version}, install dir ${ctx.installDir}`);
  row('Config', !configState.ok ? `${path} ${paint('fail', `INVALID: ${configState.error}`)}` : present ? `${path} ${paint('ok', 'valid')}` : `${path} not present: the defaults apply`);
  const fleet = configState.fleet;
  if (fleet?.enabled) {
    const sets = fleet.applied.length > 0 ? `sets ${fleet.applied.join(', ')}` : fleet.present ? 'sets nothing' : 'not present';
    row('Fleet', fleet.error !== undefined ? `${fleet.path} ${paint('warn', `IGNORED: ${fleet.error}`)}` : `${fleet.path} ${sets}${fleet.refused.length > 0 ? paint('warn', `; refused ${fleet.refused.map(({ key }) => key).join(', ')}`) : ''}`);
  }
  row('Backend', choice.backend ? `${choice.backend} (${choice.reason})` : paint('fail', choice.reason));
  if (iptables) row('iptables', iptables.conflict ? paint('warn', `${iptables.variant} (${iptables.reason})`) : `${iptables.variant} (${iptables.reason})`);
  for (const { label, subject, health } of summaries) row(label, `${subject}: ${paint(health.tone, health.text)}`);
  const ageText = stateReport.ageSeconds === undefined ? 'no block recorded yet' : `last changed ${shortDuration(stateReport.ageSeconds)} ago`;
  row('State', `${stateReport.dir}: ${stateReport.active} active, ${stateReport.expired} expired (palisade reconcile removes them); ${ageText}`);
  out.line();
  out.table(
    [{ header: 'BACKEND' }, { header: 'FAMILY' }, { header: 'ACTIVE', align: 'right' }, { header: 'IN FIREWALL', align: 'right' }],
    blocks.map((entry) => {
      const held: Cell = entry.inFirewall === null ? { tone: 'dim', text: 'unknown' } : { tone: entry.inFirewall < entry.active ? 'fail' : 'plain', text: String(entry.inFirewall) };
      return [entry.backend, `IPv${entry.family}`, String(entry.active), held];
    }),
  );
  if (counters.length > 0) {
    out.line();
    out.table(
      [{ header: 'BACKEND' }, { header: 'DROP COUNTER' }, { header: 'PACKETS', align: 'right' }, { header: 'BYTES', align: 'right' }],
      counters.map((counter) => [counter.backend, counter.name, String(counter.packets), String(counter.bytes)]),
    );
  }
  if (problems.length > 0) {
    out.line();
    for (const problem of problems) out.line(paint('fail', `problem: ${problem}`));
  }
  return problems.length > 0 ? 1 : 0;
}

