/**
 * Bench only, never shipped: the part of execa's execaSync that src/runtime/exec.ts uses, on
 * node:child_process's spawnSync. bench/startup.ts builds a variant of the binary with it in execa's place
 * (PALISADE_BENCH_EXECA_SHIM), to put a number on what loading execa costs each alert that runs a tool.
 */
import { spawnSync } from 'node:child_process';

interface ShimOptions {
  timeout?: number;
  input?: string;
  env?: Record<string, string>;
}

export function execaSync(file: string, args: readonly string[], options: ShimOptions = {}) {
  const result = spawnSync(file, args, {
    input: options.input,
    stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...options.env },
    timeout: options.timeout,
    killSignal: 'SIGTERM',
    encoding: 'utf8',
  });
  const error = result.error as NodeJS.ErrnoException | undefined;
  const timedOut = error?.code === 'ETIMEDOUT' || (result.signal !== null && options.timeout !== undefined && error !== undefined);
  return {
    exitCode: error ? undefined : (result.status ?? undefined),
    stdout: result.stdout ?? '',
    stderr: result.stderr ?? '',
    timedOut,
    failed: error !== undefined || result.status !== 0,
    code: error?.code,
    shortMessage: error?.message,
    message: error?.message ?? '',
  };
}
