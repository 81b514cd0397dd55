/**
 * Running Palisade against a throwaway install as an administrator or execd would, and the fixtures the
 * tests of verbs and commands share:
 *
 *   palisade(install, args)      the operator CLI (the install's `palisade` link), optionally in a namespace
 *   palisadeJson(install, args)  the same with --json, parsed
 *   nftablesLab()                a lab and one install on nftables for a whole file
 *   labWithInstalls()            a lab for a whole file, and a fresh install with its execd per test
 *
 * The install's own log records are read by install.logRecords() (test/harness/install.ts), a backend
 * runner's by readLogRecords(path).
 */
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { Execd } from './execd.js';
import { createInstall, type Install } from './install.js';
import { createLab, type Lab } from './netns.js';

export interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Runs the operator CLI as an administrator would: the install's `palisade` link, stdin not a terminal. */
export async function palisade(install: Install, args: readonly string[], options: { netns?: string; input?: string; env?: Record<string, string> } = {}): Promise<CliRun> {
  const argv = [...(options.netns ? ['ip', 'netns', 'exec', options.netns] : []), install.commandPath('palisade'), ...args];
  const result = await execa(argv[0]!, argv.slice(1), {
    reject: false,
    timeout: 60_000,
    input: options.input ?? '',
    env: { NO_COLOR: '', ...options.env },
  });
  return { exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr) };
}

/** palisade ARGS --json, parsed; fails the test with the CLI's own words when it printed no JSON. */
export async function palisadeJson<T = Record<string, unknown>>(install: Install, args: readonly string[], options: { netns?: string } = {}): Promise<T & { exitCode: number }> {
  const run = await palisade(install, [...args, '--json'], options);
  try {
    return { ...(JSON.parse(run.stdout) as T), exitCode: run.exitCode };
  } catch {
    throw new Error(`palisade ${args.join(' ')} --json printed no JSON (exit ${run.exitCode}): ${run.stdout} ${run.stderr}`);
  }
}

/** Fails with the CLI's own words when it did not succeed. */
export function expectSuccess(run: CliRun): CliRun {
  if (run.exitCode !== 0) throw new Error(`palisade exited ${run.exitCode}: ${run.stderr || run.stdout}`);
  return run;
}

/**
 * A namespace lab and an install on nftables with the lab's spare address allow-listed, made before the
 * file's tests and removed after them. The fields are filled in by beforeAll.
 */
export function nftablesLab(): { lab: Lab; install: Install } {
  const fixture = {} as { lab: Lab; install: Install };
  beforeAll(async () => {
    fixture.lab = await createLab();
    fixture.install = createInstall({ config: `backend: nftables\nallowlist: [${fixture.lab.attacker4[2]}/32]\n` });
  });
  afterAll(async () => {
    await fixture.lab?.destroy();
    fixture.install?.remove();
  });
  return fixture;
}

/** Removes our nftables table from the lab's protected namespace, whether or not it is there. */
export async function removeNftablesTable(lab: Lab): Promise<void> {
  await lab.run(lab.protectedNs, ['nft', 'add', 'table', 'inet', 'palisade']);
  await lab.run(lab.protectedNs, ['nft', 'delete', 'table', 'inet', 'palisade']);
}

export interface LabWithInstalls {
  /** The file's lab, filled in by beforeAll. */
  lab: Lab;
  /** This test's install and its execd inside the lab, made by setUp() (or assigned by the test itself). */
  install: Install;
  execd: Execd;
  /** A fresh install on `config` (default: the file's) and an execd running its commands inside the lab. */
  setUp(config?: string): void;
  /** The operator CLI of this test's install, inside the lab. */
  cli(...args: string[]): Promise<CliRun>;
}

/**
 * A lab for the whole file, and per test an install of its own: after each test our nftables table leaves
 * the lab, then `afterEach` runs (routes, servers), then the install is removed.
 */
export function labWithInstalls(options: { config?: string; afterEach?: (lab: Lab) => Promise<void> } = {}): LabWithInstalls {
  const fixture = {
    setUp(config = options.config ?? 'backend: nftables\n') {
      fixture.install = createInstall({ config });
      fixture.execd = new Execd(fixture.install, { netns: fixture.lab.protectedNs });
    },
    cli: (...args: string[]) => palisade(fixture.install, args, { netns: fixture.lab.protectedNs }),
  } as LabWithInstalls;
  beforeAll(async () => {
    fixture.lab = await createLab();
  });
  afterAll(async () => {
    await fixture.lab?.destroy();
  });
  afterEach(async () => {
    await removeNftablesTable(fixture.lab);
    await options.afterEach?.(fixture.lab);
    fixture.install?.remove();
  });
  return fixture;
}

/** An install on `config` and its execd (on the host), fresh for every test of the enclosing describe or file. */
export function installPerTest(config: string): { install: Install; execd: Execd } {
  const fixture = {} as { install: Install; execd: Execd };
  beforeEach(() => {
    fixture.install = createInstall({ config });
    fixture.execd = new Execd(fixture.install);
  });
  afterEach(() => fixture.install.remove());
  return fixture;
}

/** A lab, an install on `config` and its execd inside the lab, made once for the enclosing describe or file. */
export function labAndInstall(config = 'backend: nftables\n'): { lab: Lab; install: Install; execd: Execd } {
  const fixture = {} as { lab: Lab; install: Install; execd: Execd };
  beforeAll(async () => {
    fixture.lab = await createLab();
    fixture.install = createInstall({ config });
    fixture.execd = new Execd(fixture.install, { netns: fixture.lab.protectedNs });
  });
  afterAll(async () => {
    await fixture.lab?.destroy();
    fixture.install?.remove();
  });
  return fixture;
}
