/**
 * Runs the operator CLI as an administrator would: the install's `palisade` link (what /usr/sbin/palisade
 * leads to), optionally inside the lab's protected namespace, with stdin not a terminal.
 */
import { execa } from 'execa';
import { afterAll, beforeAll } from 'vitest';
import { createInstall, type Install } from '../harness/install.js';
import { createLab, type Lab } from '../harness/netns.js';

export interface CliRun {
  exitCode: number;
  stdout: string;
  stderr: string;
}

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
