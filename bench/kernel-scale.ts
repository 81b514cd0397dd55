/**
 * How the whole add and delete invocations (spawn to exit, kernel change included, through the execd
 * stand-in) grow with the number of addresses already blocked, per kernel backend. Also times the
 * self-heal that re-applies every block after a firewall reload. Writes bench/RESULTS.md's kernel section.
 *
 *   make bench-kernel            (sizes 0, 10000, 50000; BENCH_SIZES=0,1000 to change)
 *
 * The blocks already there are in the state as a threat list leaves them (BENCH_STATE=bulk, the default: one
 * sorted bulk file the add searches), or as alerts leave them (BENCH_STATE=files: one file each).
 */
import { execa } from 'execa';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../test/harness/bundle.js';
import { Execd } from '../test/harness/execd.js';
import { createInstall } from '../test/harness/install.js';
import { createLab } from '../test/harness/netns.js';
import { writeSortedFile } from '../src/runtime/sorted-file.js';

const backends = (process.env.BENCH_BACKENDS ?? 'nftables,ipset,iptables').split(',');
const sizes = (process.env.BENCH_SIZES ?? '0,10000,50000').split(',').map(Number);
const rounds = Number(process.env.BENCH_ROUNDS ?? 10);
const layout = process.env.BENCH_STATE ?? 'bulk';

/** The n-th address of 198.18.0.0/15, the benchmarking range. */
const benchAddress = (n: number) => `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

interface Row {
  backend: string;
  size: number;
  restoreMs: number;
  addMs: number;
  deleteMs: number;
}

async function measure(backend: string, size: number): Promise<Row> {
  const lab = await createLab();
  const install = createInstall({ config: `backend: ${backend}\n` });
  try {
    // N blocks as a reload would leave them: in the state, not in the kernel. The first add restores them all.
    mkdirSync(install.blocksDir, { recursive: true });
    const now = Math.floor(Date.now() / 1000);
    const entries = Array.from({ length: size }, (_, n) => {
      const address = benchAddress(n);
      const holders = [{ by: 'operator', since: now, expiresAt: now + 86_400 }];
      return { address, family: 4, prefix: 32, backend, holders, since: now, expiresAt: now + 86_400 };
    });
    if (layout === 'bulk') writeSortedFile(join(install.blocksDir, `${backend}.bulk`), new Map(entries.map((entry) => [entry.address, JSON.stringify(entry)])), { mode: 0o640 });
    else for (const entry of entries) writeFileSync(join(install.blocksDir, `${backend}-${entry.address}.json`), JSON.stringify(entry));
    const execd = new Execd(install, { netns: lab.protectedNs, hangMs: 600_000 });
    const alert = (address: string) => ({ rule: { id: '5712' }, data: { srcip: address } });
    let started = performance.now();
    await execd.add('palisade-drop', alert('203.0.113.250'), { timeout: 0 });
    const restoreMs = performance.now() - started;
    const restored = install.logRecords().at(-1)?.restored;
    if (restored !== size) throw new Error(`${backend}: expected ${size} restored, the log says ${String(restored)}`);

    const adds: number[] = [];
    const deletes: number[] = [];
    for (let i = 0; i < rounds; i++) {
      const address = `203.0.113.${i + 1}`;
      started = performance.now();
      const run = await execd.add('palisade-drop', alert(address));
      adds.push(performance.now() - started);
      if (run.exitCode !== 0) throw new Error(`${backend}: add exited ${run.exitCode}: ${run.stderr}`);
      started = performance.now();
      await execd.expire(run.rkey);
      deletes.push(performance.now() - started);
    }
    return { backend, size, restoreMs, addMs: median(adds), deleteMs: median(deletes) };
  } finally {
    await lab.destroy();
    install.remove();
  }
}

const rows: Row[] = [];
for (const backend of backends) {
  for (const size of sizes) {
    const row = await measure(backend, size);
    rows.push(row);
    process.stdout.write(`${backend} at ${size}: add ${row.addMs.toFixed(1)} ms, delete ${row.deleteMs.toFixed(1)} ms, restore ${row.restoreMs.toFixed(0)} ms\n`);
  }
}

const kernel = (await execa('uname', ['-r'])).stdout;
const table = [
  '| backend | blocked already | add (median) | delete (median) | add vs. empty | restore of all blocks (one invocation) |',
  '|---|---|---|---|---|---|',
  ...rows.map((row) => {
    const base = rows.find((r) => r.backend === row.backend && r.size === sizes[0])!;
    return `| ${row.backend} | ${row.size.toLocaleString('en')} | ${row.addMs.toFixed(1)} ms | ${row.deleteMs.toFixed(1)} ms | ${(row.addMs / base.addMs).toFixed(2)}x | ${row.restoreMs.toFixed(0)} ms |`;
  }),
].join('\n');
const section = `<!-- kernel-scale:start -->
## Kernel backends at scale

Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}), kernel ${kernel},
by \`make bench-kernel\`: each figure is a whole invocation through the execd stand-in (spawn to exit, kernel
change included), median of ${rounds}, in a network namespace holding that many blocks, recorded in the state
${layout === 'bulk' ? 'as one bulk file (what `palisade block --from` writes: the add and delete search it)' : 'as one file each (what alerts write)'}. The restore column is the
one invocation that finds the firewall wiped and re-applies every block from the state. These machines are
shared and noisy: read the ratios within one run.

${table}
<!-- kernel-scale:end -->`;
const resultsPath = join(repoRoot, 'bench', 'RESULTS.md');
let results = '# Benchmarks\n';
try {
  results = readFileSync(resultsPath, 'utf8');
} catch {
  // first run
}
results = results.includes('<!-- kernel-scale:start -->')
  ? results.replace(/<!-- kernel-scale:start -->[\s\S]*<!-- kernel-scale:end -->/, section)
  : `${results.trimEnd()}\n\n${section}\n`;
writeFileSync(resultsPath, results);
process.stdout.write(`wrote ${resultsPath}\n`);
