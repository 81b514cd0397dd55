/**
 * Issue 15, part 3: a 10,000-line threat list through `palisade block --from FILE`, and `palisade reconcile`
 * putting those 10,000 blocks back after a firewall reload, then `unblock --from` lifting them, on nftables and ipset, each a whole invocation
 * (spawn to exit, in a network namespace of the lab). Writes bench/RESULTS.md's bulk section.
 *
 *   make bench-bulk             (BENCH_BULK_SIZE=10000, BENCH_ROUNDS=3, BENCH_BACKENDS=nftables,ipset)
 */
import { execa } from 'execa';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../test/harness/bundle.js';
import { createInstall } from '../test/harness/install.js';
import { createLab, type Lab } from '../test/harness/netns.js';

const backends = (process.env.BENCH_BACKENDS ?? 'nftables,ipset').split(',');
const size = Number(process.env.BENCH_BULK_SIZE ?? 10_000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);

/** The n-th address of 198.18.0.0/15, the benchmarking range. */
const benchAddress = (n: number) => `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** What a firewall reload leaves of ours: nothing. */
const reloads: Record<string, string[][]> = {
  nftables: [['nft', 'flush', 'ruleset']],
  ipset: [['iptables', '-w', '-F'], ['ip6tables', '-w', '-F'], ...['palisade4', 'palisade6', 'palisade4net', 'palisade6net'].map((set) => ['ipset', 'destroy', set])],
};

interface Row {
  backend: string;
  blockMs: number[];
  /** The verb's own time (tookMs of --json): list parsed, state written, one transaction; no process start. */
  blockInnerMs: number[];
  reconcileMs: number[];
  reconcileInnerMs: number[];
  unblockMs: number[];
}

async function timed(lab: Lab, argv: string[]): Promise<{ ms: number; json: Record<string, unknown> }> {
  const started = performance.now();
  const run = await execa('ip', ['netns', 'exec', lab.protectedNs, ...argv, '--json'], { reject: false, timeout: 120_000 });
  const ms = performance.now() - started;
  if (run.exitCode !== 0) throw new Error(`${argv.slice(1).join(' ')} exited ${run.exitCode}: ${run.stderr}`);
  return { ms, json: JSON.parse(run.stdout) as Record<string, unknown> };
}

async function measure(backend: string): Promise<Row> {
  const lab = await createLab();
  const install = createInstall({ config: `backend: ${backend}\n` });
  const row: Row = { backend, blockMs: [], blockInnerMs: [], reconcileMs: [], reconcileInnerMs: [], unblockMs: [] };
  const palisade = install.commandPath('palisade');
  const list = join(install.root, 'threats.netset');
  writeFileSync(list, `# bench list\n${Array.from({ length: size }, (_, n) => benchAddress(n)).join('\n')}\n`);
  try {
    for (let round = 0; round < rounds; round++) {
      await execa('ip', ['netns', 'exec', lab.protectedNs, palisade, 'flush', '--yes'], { timeout: 120_000 });
      const block = await timed(lab, [palisade, 'block', '--from', list]);
      if (block.json.added !== size) throw new Error(`${backend}: expected ${size} added, got ${JSON.stringify(block.json).slice(0, 300)}`);
      row.blockMs.push(block.ms);
      row.blockInnerMs.push(block.json.tookMs as number);

      for (const argv of reloads[backend]!) await lab.run(lab.protectedNs, argv);
      const reconcile = await timed(lab, [palisade, 'reconcile']);
      const report = (reconcile.json.backends as Array<Record<string, unknown>>)[0]!;
      if (report.restored !== size || report.active !== size) throw new Error(`${backend}: reconcile restored ${String(report.restored)} of ${size}`);
      row.reconcileMs.push(reconcile.ms);
      row.reconcileInnerMs.push(reconcile.json.tookMs as number);
      const unblock = await timed(lab, [palisade, 'unblock', '--from', list]);
      if (unblock.json.removed !== size) throw new Error(`${backend}: unblock --from removed ${String(unblock.json.removed)} of ${size}`);
      row.unblockMs.push(unblock.ms);
      process.stdout.write(`${backend} round ${round + 1}: block --from ${block.ms.toFixed(0)} ms, reconcile ${reconcile.ms.toFixed(0)} ms, unblock --from ${unblock.ms.toFixed(0)} ms\n`);
    }
    return row;
  } finally {
    await execa('ip', ['netns', 'exec', lab.protectedNs, palisade, 'flush', '--yes'], { reject: false, timeout: 120_000 });
    await lab.destroy();
    install.remove();
  }
}

const load = loadavg()[0]!.toFixed(2);
const rows: Row[] = [];
for (const backend of backends) rows.push(await measure(backend));

const kernel = (await execa('uname', ['-r'])).stdout;
const ms = (values: number[]) => `${median(values).toFixed(0)} ms`;
const range = (values: number[]) => `${Math.min(...values).toFixed(0)}-${Math.max(...values).toFixed(0)}`;
const table = [
  `| backend | block --from (${size.toLocaleString('en')} lines), whole run | of which the verb | reconcile after a reload, whole run | of which the verb | unblock --from, whole run |`,
  '|---|---|---|---|---|---|',
  ...rows.map((row) => `| ${row.backend} | ${ms(row.blockMs)} (${range(row.blockMs)}) | ${ms(row.blockInnerMs)} | ${ms(row.reconcileMs)} (${range(row.reconcileMs)}) | ${ms(row.reconcileInnerMs)} | ${ms(row.unblockMs)} (${range(row.unblockMs)}) |`),
].join('\n');
const section = `<!-- bulk:start -->
## Threat lists: ${size.toLocaleString('en')} entries (bench/bulk.ts)

Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), kernel ${kernel},
load average ${load} at the start (the machine is shared with other sessions' test runs: figures are high and
noisy), by \`make bench-bulk\`: median of ${rounds} rounds (min-max in brackets), each a whole invocation of the
CLI in a lab namespace (\`ip netns exec\`, spawn to exit). \`block --from\` reads a ${size.toLocaleString('en')}-line file
into an empty firewall; then the firewall is reloaded (nftables: \`nft flush ruleset\`; ipset: \`iptables -F\`,
\`ip6tables -F\` and \`ipset destroy\` of our sets) and \`palisade reconcile\` puts all ${size.toLocaleString('en')} blocks back; last,
\`unblock --from\` the same file lifts them all.
"of which the verb" is the tookMs the verb reports itself (no process start, no config load).

${table}

For reference: fail2ban takes 121-134 s to restore 10,000 bans after a restart.
<!-- bulk:end -->`;
const resultsPath = join(repoRoot, 'bench', 'RESULTS.md');
let results = readFileSync(resultsPath, 'utf8');
results = results.includes('<!-- bulk:start -->')
  ? results.replace(/<!-- bulk:start -->[\s\S]*<!-- bulk:end -->/, section)
  : `${results.trimEnd()}\n\n${section}\n`;
writeFileSync(resultsPath, results);
process.stdout.write(`${table}\nwrote ${resultsPath}\n`);
