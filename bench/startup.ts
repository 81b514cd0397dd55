/**
 * What one alert costs: a full add by dist/palisade as palisade-drop (config, message, allow-list,
 * check_keys, state file, log lines; the dry-run backend stands in for the firewall), against a bare binary
 * that only reads a line and exits, built by the same scripts/build/build.sh with the same Bun. The
 * difference is Palisade's own cost on top of the runtime's start-up. Goal: within 2x, peak RSS at most 40 MB.
 *
 *   make bench        (needs hyperfine and GNU time; writes bench/RESULTS.md)
 *
 * Both run in a clean environment, as execd runs them: env -i and a plain PATH.
 */
import { execFileSync } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const repo = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const work = join(repo, '.build/bench');
const palisade = join(repo, 'dist/palisade');
const bare = join(work, 'bare');
const spawnSyncVariant = join(work, 'palisade-spawnsync');
const runs = Number(process.env.BENCH_RUNS ?? 120);
const rounds = 12;
const rssRuns = 15;
const cleanEnv = ['env', '-i', 'PATH=/usr/bin:/bin'];

function run(argv: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  return execFileSync(argv[0]!, argv.slice(1), { cwd: options.cwd ?? repo, env: options.env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

function need(tool: string, hint: string) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`bench: ${tool} is missing: ${hint}`);
  }
}

/** An agent install dir holding `binary` as palisade-drop, as the packages lay it out, with `config`. */
function makeInstall(name: string, binary: string, config: string): { root: string; message: string } {
  const root = join(work, `${name}/var/ossec`);
  rmSync(join(work, name), { recursive: true, force: true });
  for (const dir of ['active-response/bin', 'etc', 'logs', 'var/palisade']) mkdirSync(join(root, dir), { recursive: true });
  // A copy, as a package writes it: see "page cache" in RESULTS.md for why not a link to dist/palisade.
  copyFileSync(binary, join(root, 'active-response/bin/palisade-drop'));
  chmodSync(join(root, 'active-response/bin/palisade-drop'), 0o750);
  writeFileSync(join(root, 'etc/palisade.yml'), config);
  const message = join(work, 'add.json');
  const alert = { timestamp: '2026-11-26T10:20:30.000+0000', rule: { id: '5763', level: 10, description: 'sshd: brute force' }, agent: { id: '001', name: 'web01' }, data: { srcip: '203.0.113.7', srcuser: 'root' } };
  const add = { version: 1, origin: { name: 'node01', module: 'wazuh-execd' }, command: 'add', parameters: { extra_args: [], alert, program: 'active-response/bin/palisade-drop' } };
  writeFileSync(message, `${JSON.stringify(add)}\n`);
  return { root, message };
}

interface Timing {
  median: number;
  mean: number;
  stddev: number;
  min: number;
}

/**
 * hyperfine runs all of one command's runs, then all of the next's, so a change in the machine's load
 * between the two blocks moves the ratio (1.13x to 1.25x for the same binaries). The runs are taken in
 * rounds instead, the two commands alternating, and the statistics come from all rounds' times together.
 */
function hyperfine(commands: Record<string, string>, cwd: string): Record<string, Timing> {
  const out = join(work, 'hyperfine.json');
  const names = Object.keys(commands);
  const times: Record<string, number[]> = Object.fromEntries(names.map((name) => [name, []]));
  for (let round = 0; round < rounds; round++) {
    const perRound = Math.ceil(runs / rounds);
    run([...cleanEnv, 'hyperfine', '--style', 'none', '--warmup', '2', '--runs', String(perRound), '--export-json', out, ...names.flatMap((name) => ['-n', name, commands[name]!])], { cwd });
    const { results } = JSON.parse(readFileSync(out, 'utf8')) as { results: Array<{ command: string; times: number[] }> };
    for (const result of results) times[result.command]!.push(...result.times.map((seconds) => seconds * 1000));
  }
  return Object.fromEntries(names.map((name) => [name, statistics(times[name]!)]));
}

function statistics(sample: number[]): Timing {
  const sorted = [...sample].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  const median = sorted.length % 2 === 1 ? sorted[Math.floor(middle)]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  const mean = sorted.reduce((sum, value) => sum + value, 0) / sorted.length;
  const stddev = Math.sqrt(sorted.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (sorted.length - 1));
  return { median, mean, stddev, min: sorted[0]! };
}

/** Peak RSS in MB (GNU time's %M, KiB), the largest of several runs. */
function peakRss(command: string, cwd: string): number {
  let peak = 0;
  for (let i = 0; i < rssRuns; i++) {
    // time reports on stderr; the command's own output goes nowhere.
    const report = execFileSync('sh', ['-c', `env -i PATH=/usr/bin:/bin /usr/bin/time -f %M sh -c '${command} >/dev/null 2>&1' 2>&1`], { cwd, encoding: 'utf8' });
    peak = Math.max(peak, Number(report.trim().split('\n').pop()) / 1024);
  }
  return peak;
}

function machine(): string[] {
  const cpu = cpus()[0]?.model ?? 'unknown';
  return [
    `- date: ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')}`,
    `- machine: ${run(['nproc']).trim()} CPUs (nproc), ${cpu}, kernel ${run(['uname', '-r']).trim()}, load average ${loadavg()[0]!.toFixed(2)} at the start`,
    `- runtime: Bun ${run([join(repo, 'node_modules/@oven/bun-linux-x64-baseline/bin/bun'), '--version']).trim()} (compiled, bytecode), hyperfine ${run(['hyperfine', '--version']).trim().split(' ')[1]}`,
    `- binaries: dist/palisade ${(statSync(palisade).size / 1e6).toFixed(1)} MB, bare ${(statSync(bare).size / 1e6).toFixed(1)} MB`,
  ];
}

function main() {
  need('hyperfine', 'apt-get install hyperfine');
  if (!existsSync('/usr/bin/time')) throw new Error('bench: /usr/bin/time is missing: apt-get install time');
  if (!existsSync(palisade)) throw new Error('bench: dist/palisade is missing: run make build');
  mkdirSync(work, { recursive: true });
  run([join(repo, 'scripts/build/build.sh'), 'bench/bare.ts', `${bare}.built`]);
  // A binary written in one piece sits in the page cache in large folios that a page fault maps whole, which
  // inflates RSS (measured on the earlier Node build: 58 MB as written, 39 MB as a copy of the same bytes). A
  // package's install writes the file afresh, so both binaries are measured as copies.
  copyFileSync(`${bare}.built`, bare);
  chmodSync(bare, 0o755);
  const { root, message } = makeInstall('install', palisade, 'backend: dry-run\n');
  // The nftables path with an nft of the bench's own that reads its script and succeeds, so that the tool run
  // is measured without the kernel: once with execa (the product), once with a build that runs tools through
  // spawnSync (bench/execa-shim.ts), for what loading execa costs an alert.
  const tools = join(work, 'tools');
  mkdirSync(tools, { recursive: true });
  writeFileSync(join(tools, 'nft'), '#!/bin/sh\ncat >/dev/null\n', { mode: 0o755 });
  run([join(repo, 'scripts/build/build.sh'), 'bin/palisade.ts', spawnSyncVariant], { env: { ...process.env, PALISADE_BENCH_EXECA_SHIM: join(repo, 'bench/execa-shim.ts') } });
  const viaExeca = makeInstall('nft-execa', palisade, 'backend: nftables\n').root;
  const viaSpawnSync = makeInstall('nft-spawnsync', spawnSyncVariant, 'backend: nftables\n').root;
  const withTools = `env PATH=${tools}:/usr/bin:/bin`;

  const commands = {
    bare: `${bare} < ${message}`,
    'palisade-drop add': `./active-response/bin/palisade-drop < ${message}`,
    'nftables add, execa': `cd ${viaExeca} && ${withTools} ./active-response/bin/palisade-drop < ${message}`,
    'nftables add, spawnSync': `cd ${viaSpawnSync} && ${withTools} ./active-response/bin/palisade-drop < ${message}`,
  };
  // Prove the add really ran: the dry-run backend's record is in the log.
  execFileSync('sh', ['-c', commands['palisade-drop add']], { cwd: root, env: { PATH: '/usr/bin:/bin' }, stdio: ['ignore', 'ignore', 'ignore'] });
  const log = readFileSync(join(root, 'logs/active-responses.log'), 'utf8');
  if (!log.includes('"event":"blocked"')) throw new Error(`bench: the add did not block on the dry-run backend; its log:\n${log}`);

  const timing = hyperfine(commands, root);
  const rss = { bare: peakRss(commands.bare, root), add: peakRss(commands['palisade-drop add'], root) };
  const ratio = timing['palisade-drop add']!.median / timing.bare!.median;
  const row = (name: string, t: Timing, mb: number) =>
    `| ${name} | ${t.median.toFixed(1)} | ${t.mean.toFixed(1)} ± ${t.stddev.toFixed(1)} | ${t.min.toFixed(1)} | ${mb.toFixed(1)} |`;
  const section = [
    `## Start-up: a full add against the bare runtime (bench/startup.ts)`,
    '',
    ...machine(),
    `- method: hyperfine, ${runs} runs of each in ${rounds} rounds that alternate the two (2 warm-ups per round), in \`env -i PATH=/usr/bin:/bin\`, warm page cache; peak RSS is the largest GNU time %M of ${rssRuns} runs`,
    `- the add: \`palisade-drop < add.json\` from the install dir, backend dry-run: config, message, allow-list, check_keys (stdin ends: a manual run, acting as on continue), state file, log lines`,
    '',
    '| command | median ms | mean ms | min ms | peak RSS MB |',
    '|---|---|---|---|---|',
    row('bare binary (reads a line, exits)', timing.bare!, rss.bare),
    row('palisade-drop add (dry-run)', timing['palisade-drop add']!, rss.add),
    row('palisade-drop add, nftables with a stand-in nft, tools run by execa (shipped)', timing['nftables add, execa']!, peakRss(commands['nftables add, execa'], root)),
    row('the same, tools run by spawnSync (bench-only build)', timing['nftables add, spawnSync']!, peakRss(commands['nftables add, spawnSync'], root)),
    '',
    `Loading execa costs an alert that runs a tool ${(timing['nftables add, execa']!.median - timing['nftables add, spawnSync']!.median).toFixed(1)} ms (median difference of the last two rows).`,
    '',
    `**Ratio (median): ${ratio.toFixed(2)}x** (goal ≤ 2x: ${ratio <= 2 ? 'met' : 'missed'}); peak RSS ${rss.add.toFixed(1)} MB (goal ≤ 40 MB: ${rss.add <= 40 ? 'met' : 'missed'}).`,
    '',
  ].join('\n');
  writeResults(section);
  process.stdout.write(`${section}\n`);
}

/** RESULTS.md keeps other sections (the snapshot measurement); this one is replaced on every run. */
function writeResults(section: string) {
  const file = join(repo, 'bench/RESULTS.md');
  const heading = '## Start-up: a full add against the bare runtime';
  const previous = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n\n';
  const start = previous.indexOf(heading);
  if (start < 0) {
    writeFileSync(file, `${previous.trimEnd()}\n\n${section}`);
    return;
  }
  const next = previous.indexOf('\n## ', start + heading.length);
  writeFileSync(file, `${previous.slice(0, start)}${section}${next < 0 ? '' : `\n${previous.slice(next + 1)}`}`);
}

main();
