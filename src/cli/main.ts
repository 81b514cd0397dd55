/** `palisade`: the operator's command line. Each verb's code is loaded only when it runs. */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { commandNames } from '../commands/index.js';
import { ConfigError, PalisadeError } from '../runtime/errors.js';
import { withSbinOnPath } from '../runtime/exec.js';
import { findInstallDir } from '../runtime/install-dir.js';
import { ownEntry } from '../runtime/own.js';
import { version } from '../version.js';
import { alignRows, flagLabel, globalFlags, parseArgs, UsageError, validateOptions, verbHelp } from './args.js';
import { createCliContext } from './context.js';
import { createOutput, wantsColor } from './output.js';
import { findVerb, verbs } from './verbs.js';
import { allowJit } from '../runtime/jit.js';

export const exitStatus = { ok: 0, problem: 1, usage: 2 } as const;

function usage(): string {
  return [
    'Usage: palisade VERB [ARGUMENTS] [OPTIONS]',
    '',
    'Palisade answers Wazuh active responses. Called as palisade, it is the operator CLI:',
    '',
    ...alignRows(verbs.map((verb) => [verb.name, verb.summary])),
    '',
    'Options of every verb:',
    ...alignRows([...Object.entries(globalFlags).map(([name, flag]): [string, string] => [flagLabel(name, flag), flag.help]), ['--version', 'print the version']]),
    '',
    'palisade VERB --help shows the options of one verb. Examples:',
    '  palisade block 203.0.113.7 --for 12h --reason "scanner"',
    '  palisade unblock 203.0.113.7',
    '  palisade list --json',
    '  palisade simulate --ip 203.0.113.7 --timeout 5',
    '',
    `The AR commands are links to this binary in /var/ossec/active-response/bin: ${commandNames.join(', ')}.`,
    'Test one by hand:',
    `  echo '{"version":1,"command":"add","parameters":{"alert":{"data":{"srcip":"198.51.100.7"}}}}' | /var/ossec/active-response/bin/palisade-drop`,
    '',
    'Exit status:',
    '  0  success (doctor: nothing failed; warnings allowed)',
    '  1  a failure, or a problem found (a firewall or config error, doctor found a fault, status found blocks missing)',
    '  2  a usage error: an unknown verb or option, a bad value, a missing argument, flush without --yes off a terminal',
  ].join('\n');
}

/** `palisade --root DIR list` works as `palisade list --root DIR`: global flags may come before the verb. */
function verbFirst(args: readonly string[]): string[] {
  const leading: string[] = [];
  let i = 0;
  for (; i < args.length; i++) {
    const [name, inline] = args[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const flag = ownEntry(globalFlags, name);
    if (!flag || flag.key === 'help') break;
    leading.push(args[i]!);
    if (flag.placeholder && inline === undefined && i + 1 < args.length) leading.push(args[++i]!);
  }
  return i < args.length ? [args[i]!, ...args.slice(i + 1), ...leading] : [...leading];
}

export async function runCli(argv: readonly string[], invokedAs: string): Promise<number> {
  // A verb may loop over 10,000 blocks.
  allowJit();
  const [first, ...rest] = verbFirst(argv);
  if (first === '--version' || first === 'version') {
    process.stdout.write(`palisade ${version}\n`);
    return exitStatus.ok;
  }
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const about = first === 'help' && rest[0] ? findVerb(rest[0]) : undefined;
    process.stdout.write(`${about ? verbHelp(about) : usage()}\n`);
    return first === undefined ? exitStatus.usage : exitStatus.ok;
  }
  const verb = findVerb(first);
  if (!verb && first.startsWith('-')) {
    process.stderr.write(`palisade: ${globalFlags[first.split('=')[0]!] ? 'a verb is missing' : `unknown option "${first.slice(0, 64)}"`}; see palisade --help\n`);
    return exitStatus.usage;
  }
  if (!verb) {
    const known = invokedAs === 'palisade' ? '' : ` (invoked as "${invokedAs}", which is not a Palisade command name)`;
    process.stderr.write(`palisade: unknown verb "${first.slice(0, 64)}"${known}; the verbs are ${verbs.map((v) => v.name).join(', ')} (see palisade --help)\n`);
    return exitStatus.usage;
  }

  let parsed;
  let options: unknown;
  try {
    parsed = parseArgs(verb, rest);
    if (parsed.globals.help) {
      process.stdout.write(`${verbHelp(verb)}\n`);
      return exitStatus.ok;
    }
    options = validateOptions(verb, parsed.raw);
    if (parsed.globals.root !== undefined && !isDirectory(parsed.globals.root)) {
      throw new UsageError(`--root ${parsed.globals.root}: no such directory (give the Wazuh install dir, such as /var/ossec)`);
    }
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`palisade ${verb.name}: ${error.message}\n`);
    return exitStatus.usage;
  }

  const installDir = parsed.globals.root !== undefined ? resolve(parsed.globals.root) : findInstallDir();
  withSbinOnPath();
  const out = createOutput({ json: parsed.globals.json, color: wantsColor(parsed.globals.noColor) });
  const ctx = createCliContext(installDir, out);
  try {
    const module = await verb.load();
    return await module.run(ctx, options);
  } catch (error) {
    return reportFailure(verb.name, error, out.json);
  } finally {
    ctx.close();
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Errors of ours carry a message that says what to do; anything else is a bug and keeps its stack. */
function reportFailure(verbName: string, error: unknown, json: boolean): number {
  if (error instanceof UsageError) {
    process.stderr.write(`palisade ${verbName}: ${error.message}\n`);
    return exitStatus.usage;
  }
  const { name, message } = error instanceof Error ? error : new Error(String(error));
  const text =
    error instanceof ConfigError
      ? `configuration: ${message} (fix etc/palisade.yml; palisade doctor checks it)`
      : error instanceof PalisadeError
        ? message
        : `unexpected ${error instanceof Error ? (error.stack ?? message) : message}`;
  if (json) process.stdout.write(`${JSON.stringify({ ok: false, error: { kind: name, message } }, null, 2)}\n`);
  process.stderr.write(`palisade ${verbName}: ${text}\n`);
  return exitStatus.problem;
}
