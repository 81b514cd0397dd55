/**
 * A test instrument: runs one backend verb in the current network namespace and prints its outcome as
 * JSON. Tests bundle it (see bundleBackendRunner) and start it under `ip netns exec`, so a backend module
 * is exercised against a real kernel table without the whole AR protocol around it.
 *
 *   node backend-runner.mjs <backend> <verb> '<json args>'
 *   args: { config?: ConfigInput, block?: Block, ttl?: number, restorable?: ActiveBlock[], configFileMode?: number, stateDir?: string }
 */
import type { ActiveBlock, Block } from '../../src/backends/backend.js';
import { backendNames } from '../../src/backends/backend.js';
import { loadBackend } from '../../src/backends/registry.js';
import { parseConfig } from '../../src/runtime/config.js';
import { createLogger } from '../../src/runtime/log.js';

interface RunnerArgs {
  config?: unknown;
  block?: Block;
  ttl?: number;
  restorable?: ActiveBlock[];
  /** Stands for the mode of the config file the config came from (secrets written in it need 0600). */
  configFileMode?: number;
  /** The backend's own files between runs (the nftables declaration stamp); none when absent. */
  stateDir?: string;
}

const [name, verb, json = '{}'] = process.argv.slice(2);
const args = JSON.parse(json) as RunnerArgs;
if (!backendNames.includes(name as never)) throw new Error(`unknown backend ${name}`);
const config = await parseConfig(args.config ?? {}, 'runner');
const log = createLogger({ path: process.env.RUNNER_LOG, argv0: `palisade-${name}-runner` });
const backend = await loadBackend(name as (typeof backendNames)[number], {
  config,
  log,
  restorable: () => args.restorable ?? [],
  configFileMode: args.configFileMode,
  stateDir: args.stateDir,
});
try {
  let outcome: unknown;
  switch (verb) {
    case 'ensure': outcome = await backend.ensure(); break;
    case 'add': outcome = await backend.add(args.block!, args.ttl ?? 600); break;
    case 'refresh': outcome = await backend.refresh(args.block!, args.ttl ?? 600); break;
    case 'delete': outcome = await backend.delete(args.block!); break;
    case 'list': outcome = await backend.list(); break;
    case 'flush': outcome = await backend.flush(); break;
    default: throw new Error(`unknown verb ${verb}`);
  }
  process.stdout.write(`${JSON.stringify({ ok: true, outcome: outcome ?? null })}\n`);
} catch (error) {
  const { name: kind, message } = error as Error;
  process.stdout.write(`${JSON.stringify({ ok: false, error: { kind, message, details: (error as { details?: unknown }).details } })}\n`);
  process.exitCode = 1;
}
