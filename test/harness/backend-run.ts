/**
 * Runs one backend verb through the backend runner (backend-runner.ts) as its own node process, as execd
 * would start it: inside a network namespace for the kernel backends, on the host for the HTTP ones (their
 * fixture listens on the host's loopback) and for hosts-deny (a file). Returns what the runner printed.
 */
import { execa } from 'execa';
import type { ActiveBlock, Block, BackendName } from '../../src/backends/backend.js';
import { backendRunnerArgv } from './bundle.js';

export interface BackendRunArgs {
  config?: unknown;
  block?: Block | ActiveBlock;
  ttl?: number;
  restorable?: ActiveBlock[];
  configFileMode?: number;
  stateDir?: string;
}

export interface BackendRunOptions {
  /** Run inside this network namespace (ip netns exec); the host's when absent. */
  netns?: string;
  /** Where the backend writes its log records (RUNNER_LOG); /dev/null when absent. */
  logFile?: string;
  /** More variables for the backend's process (set inside the namespace, after the runner is found). */
  env?: Record<string, string>;
}

export interface BackendRun {
  ok: boolean;
  outcome?: any;
  error?: { kind: string; message: string; details?: { tool?: string; exitCode?: number; stderr?: string } };
  /** The runner's own stdout and stderr, for tests that search them (for secrets, say). */
  stdout: string;
  stderr: string;
}

export async function runBackend(backend: BackendName, verb: string, args: BackendRunArgs = {}, options: BackendRunOptions = {}): Promise<BackendRun> {
  const runner = await backendRunnerArgv(backend, verb, args);
  const env = [`RUNNER_LOG=${options.logFile ?? '/dev/null'}`, ...Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`)];
  const argv = ['/usr/bin/env', ...env, ...runner];
  const full = options.netns === undefined ? argv : ['ip', 'netns', 'exec', options.netns, ...argv];
  const result = await execa(full[0]!, full.slice(1), { reject: false, timeout: 60_000 });
  const stdout = String(result.stdout);
  const stderr = String(result.stderr);
  const line = stdout.trim().split('\n').pop() ?? '';
  try {
    return { ...(JSON.parse(line) as Omit<BackendRun, 'stdout' | 'stderr'>), stdout, stderr };
  } catch {
    throw new Error(`the ${backend} runner printed no outcome for ${verb} (exit ${result.exitCode}): ${stdout} ${stderr}`);
  }
}

/** runBackend that must succeed: returns the outcome, or fails the test with the backend's own words. */
export async function mustRunBackend(backend: BackendName, verb: string, args: BackendRunArgs = {}, options: BackendRunOptions = {}): Promise<any> {
  const run = await runBackend(backend, verb, args, options);
  if (!run.ok) throw new Error(`${backend} ${verb} failed: ${JSON.stringify(run.error)}`);
  return run.outcome;
}
