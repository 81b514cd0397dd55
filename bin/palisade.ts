/**
 * The one binary behind every Palisade command: each link's name (argv[0] as execd passes it,
 * active-response/bin/palisade-drop) picks the command; called `palisade`, it is the operator CLI.
 */
import { basename } from 'node:path';
import { commands } from '../src/commands/index.js';
import { runArCommand } from '../src/commands/dispatch.js';
import { ownEntry } from '../src/runtime/own.js';

/**
 * What the runtime would read from the environment in JavaScript, past the build's hardening
 * (scripts/build/hardening.md): a switch that turns certificate checks off, and proxies that would see
 * every API call (a plain-HTTP one with its credentials). Palisade uses neither; its tools get them neither.
 */
for (const name of ['NODE_TLS_REJECT_UNAUTHORIZED', 'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy']) delete process.env[name];

async function main(): Promise<number> {
  const name = basename(process.argv0);
  const command = ownEntry(commands, name);
  if (command) return runArCommand(command, process.argv0);
  const { runCli } = await import('../src/cli/main.js');
  return runCli(process.argv.slice(2), name);
}

// Exit as soon as the work is done: execd keeps our stdin open, and nothing else may keep us alive.
main().then(
  (status) => process.exit(status),
  (error: unknown) => {
    process.stderr.write(`palisade: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
