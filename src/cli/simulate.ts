/**
 * `palisade simulate`: one alert through an AR command exactly as wazuh-execd would run it (the shipped
 * simulator in execd-simulator.ts): the message, check_keys, execd's verdict, the command's own account
 * and log lines, the wait of <timeout>, the delete, and whether the block is gone afterwards. It really
 * acts: run it with an address you may block for a few seconds.
 */
import { accessSync, constants, closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { StateStore, stateDir } from '../runtime/state.js';
import { UsageError } from './args.js';
import { CliFailure, type CliContext } from './context.js';
import { ExecdSimulator, ProtocolViolation, type AddRun, type DeleteRun } from './execd-simulator.js';
import type { SimulateOptions } from './simulate-options.js';

/** A command that hangs is killed after this; execd itself would wait for ever. */
const hangMs = 60_000;

function readAlert(options: SimulateOptions): unknown {
  if ((options.alert === undefined) === (options.ip === undefined)) {
    throw new UsageError('give either --ip ADDRESS or --alert FILE');
  }
  if (options.ip !== undefined) {
    return {
      timestamp: new Date().toISOString(),
      rule: { level: 10, id: '100000', description: 'palisade simulate: a test alert' },
      agent: { id: '000', name: hostname() },
      data: { srcip: options.ip },
    };
  }
  let text: string;
  try {
    text = readFileSync(options.alert === '-' ? 0 : options.alert!, 'utf8');
  } catch (error) {
    throw new UsageError(`--alert ${options.alert}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    // alerts.json holds one alert a line: take the first.
    try {
      parsed = JSON.parse(text.split('\n').find((line) => line.trim()) ?? '');
    } catch {
      throw new UsageError(`--alert ${options.alert} is not JSON: ${(error as Error).message}`);
    }
  }
  // A whole AR message (as in active-responses.log) carries the alert inside.
  const inner = (parsed as { parameters?: { alert?: unknown } } | null)?.parameters?.alert;
  return inner ?? parsed;
}

/** The log lines written since `offset`. */
function logSince(path: string, offset: number): string[] {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return [];
  }
  try {
    const size = statSync(path).size;
    const buffer = Buffer.alloc(Math.max(0, size - offset));
    readSync(fd, buffer, 0, buffer.length, offset);
    return buffer.toString('utf8').split('\n').slice(0, -1);
  } finally {
    closeSync(fd);
  }
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

export async function run(ctx: CliContext, options: SimulateOptions): Promise<number> {
  const alert = readAlert(options);
  const name = options.command;
  const link = join(ctx.installDir, 'active-response/bin', name);
  try {
    accessSync(link, constants.X_OK);
  } catch (error) {
    throw new CliFailure(`${link} is missing or not executable (${(error as NodeJS.ErrnoException).code}): execd could not run it either; palisade doctor says how to fix the install`);
  }
  const extraArgs = (options.extraArgs ?? '').split(' ').filter(Boolean);
  const logFile = join(ctx.installDir, 'logs/active-responses.log');
  const simulator = new ExecdSimulator(ctx.installDir, { hangMs });
  const { out } = ctx;
  const { paint } = out;
  const say = (text: string) => out.json || out.line(text);
  const show = (label: string, text: string) => say(`${paint('bold', label)} ${paint('dim', text)}`);
  const indent = (lines: readonly string[]) => lines.forEach((line) => say(`    ${line}`));

  let add: (AddRun & { log: string[] }) | undefined;
  let del: (DeleteRun & { log: string[] }) | undefined;
  let violation: string | undefined;
  let stillBlocked: string[] = [];
  try {
    let offset = sizeOf(logFile);
    say(`Running ${name} as wazuh-execd would (cwd ${ctx.installDir}, argv[0] active-response/bin/${name})`);
    const addRun = await simulator.add(name, alert, { extraArgs, timeout: options.timeout });
    add = { ...addRun, log: logSince(logFile, offset) };
    show(`1. execd → ${name} (stdin):`, add.line);
    if (add.keysLine === undefined) {
      say(`2. ${name} wrote no check_keys line: execd keeps no timeout entry and will send no delete.`);
    } else {
      show(`2. ${name} → execd (check_keys):`, add.keysLine);
      const why =
        options.timeout === 0
          ? 'a command without <timeout>: execd keeps no timeout list for it and always answers continue'
          : add.decision === 'abort'
            ? `${add.rkey} is already in execd's timeout list: abort (the block is renewed)`
            : `${add.rkey} is not in execd's timeout list: continue`;
      say(`   execd: ${why}`);
      show(`3. execd → ${name}:`, add.replyLine ?? '');
    }
    say(`   ${name} exited ${add.exitCode}${add.exitCode === 0 ? '' : paint('fail', ' (execd ignores the status; the log says what failed)')}`);
    indent(add.stderr.trim() ? add.stderr.trim().split('\n').map((line) => `stderr: ${line}`) : []);
    say('   active-responses.log:');
    indent(add.log);

    if (add.keysLine !== undefined && options.timeout > 0 && add.decision === 'continue') {
      say(`4. waiting ${options.timeout} s (the <timeout> of the <active-response> block) ...`);
      await new Promise((resolve) => setTimeout(resolve, options.timeout * 1000));
      offset = sizeOf(logFile);
      const deleteRun = await simulator.expire(add.rkey);
      del = { ...deleteRun, log: logSince(logFile, offset) };
      show(`5. execd → ${name} (delete; stdin closed after it):`, del.line);
      say(`   ${name} exited ${del.exitCode}`);
      indent(del.stderr.trim() ? del.stderr.trim().split('\n').map((line) => `stderr: ${line}`) : []);
      say('   active-responses.log:');
      indent(del.log);
      if (name.endsWith('-drop')) {
        const keys = new Set(add.keys ?? []);
        stillBlocked = new StateStore(stateDir(ctx.installDir)).active().filter((entry) => keys.has(entry.address)).map((entry) => `${entry.address} on ${entry.backend}`);
        say(stillBlocked.length === 0 ? paint('ok', `Done: the block of ${[...keys].join(', ')} is gone.`) : paint('fail', `Still blocked after the delete: ${stillBlocked.join(', ')}`));
      }
    }
  } catch (error) {
    if (!(error instanceof ProtocolViolation)) throw error;
    violation = error.message;
    say(paint('fail', `protocol violation: ${violation}; execd would hang or misbehave here`));
  }

  const ok = violation === undefined && add?.exitCode === 0 && (del === undefined || del.exitCode === 0) && stillBlocked.length === 0;
  if (out.json) out.document({ ok, command: name, alert, add, delete: del, stillBlocked, violation });
  else if (!ok && violation === undefined) say(paint('fail', 'Something failed: the stderr and log lines above say what; palisade doctor checks the install.'));
  return ok ? 0 : 1;
}
