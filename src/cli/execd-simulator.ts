/**
 * wazuh-execd's side of the AR protocol, as execd 4.14 runs a command: it rewrites the message (command add,
 * origin.module wazuh-execd, parameters.program), spawns the program with argv[0] `active-response/bin/<name>`
 * and cwd the install dir, writes one line and keeps stdin open, reads one line, answers continue or abort from
 * its own timeout list keyed basename-key1-key2, and later runs the delete with stdin closed after the line.
 *
 * And as 5.x execd does (v5.0.0-beta4): the finding document with "command":"enable" appended as its last
 * member, even when it already has a "command"; the reply and the disable replace the first member cJSON finds
 * by that name (case-insensitively) instead; only type stateful with a numeric stateful_timeout is timed, and
 * every stateless repeat gets continue.
 *
 * `palisade simulate` runs alerts through it, and the test harness (test/harness/execd.ts) builds on it.
 * Unlike execd it never waits forever: a command that does not answer or exit within hangMs is killed and
 * reported, since that is exactly the fault (wazuh#29602) a person simulating wants to see.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { basename } from 'node:path';
import { ProtocolViolation } from '../runtime/errors.js';
import { topLevelMembers } from '../runtime/json-members.js';

export interface AddRun {
  /** The message execd wrote on the command's stdin. */
  line: string;
  /** The line the command wrote for check_keys, if any. */
  keysLine: string | undefined;
  keys: string[] | undefined;
  /** execd's timeout-list key: basename, then "-key" per key. */
  rkey: string;
  decision: 'continue' | 'abort' | undefined;
  /** execd's answer to check_keys, as written. */
  replyLine: string | undefined;
  exitCode: number | null;
  /** Whatever the command wrote to stdout after check_keys: must be empty. */
  extraStdout: string;
  stderr: string;
}

export interface DeleteRun {
  line: string;
  exitCode: number | null;
  stderr: string;
}

export { ProtocolViolation };

interface TimeoutEntry {
  program: string;
  deleteLine: string;
  addedAt: number;
  timeout: number;
}

/** What 5.x's manager puts in wazuh.active_response (execd itself reads executable, type and stateful_timeout). */
export interface ActiveResponse5 {
  type?: 'stateful' | 'stateless' | string;
  /** Seconds; the dashboard's default is 180. A non-number counts as 0 in execd. */
  statefulTimeout?: unknown;
  extraArguments?: string | null;
}

/**
 * cJSON_ReplaceItemInObject(root, "command", value) on the text, or cJSON_AddStringToObject when there is none:
 * the first member whose name is "command" in any case becomes "command":value where it stands.
 */
export function replaceCommand(line: string, value: string): string {
  const member = topLevelMembers(line).find((m) => m.key.toLowerCase() === 'command');
  const replacement = `"command":${JSON.stringify(value)}`;
  if (member) return `${line.slice(0, member.keyStart)}${replacement}${line.slice(member.valueEnd)}`;
  return appendCommand(line, value);
}

/** cJSON_AddStringToObject(root, "command", value): a new last member, whatever the document already has. */
export function appendCommand(line: string, value: string): string {
  const body = line.trimEnd().slice(0, -1).trimEnd();
  return `${body}${body.endsWith('{') ? '' : ','}"command":${JSON.stringify(value)}}`;
}

/** Whether a line is a 5.x document (a top-level wazuh object), as execd tells the two apart. */
function isWazuh5(line: string): boolean {
  try {
    const parsed = JSON.parse(line) as Record<string, unknown> | null;
    return parsed !== null && typeof parsed.wazuh === 'object' && parsed.wazuh !== null;
  } catch {
    return false;
  }
}

/** 5.x execd's timeout for a document: (int)stateful_timeout when type is stateful and it is a number, else 0. */
export function execd5Timeout(line: string): number {
  const ar = (JSON.parse(line) as { wazuh?: { active_response?: { type?: unknown; stateful_timeout?: unknown } } }).wazuh?.active_response;
  return ar?.type === 'stateful' && typeof ar.stateful_timeout === 'number' ? Math.trunc(ar.stateful_timeout) : 0;
}

export interface SimulatorOptions {
  /** origin.name as the manager sends it: its cluster node name. */
  nodeName?: string | undefined;
  /** How long a command may take before it is called hung and killed. */
  hangMs?: number | undefined;
  /** Added to execd's environment. */
  env?: Record<string, string> | undefined;
  /** argv run before the program (a test runs it in a network namespace with `ip netns exec NS`). */
  prefix?: readonly string[] | undefined;
}

/** The agent service's environment: no NODE_OPTIONS, no CA bundle, a plain PATH. */
const execdPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export class ExecdSimulator {
  /** execd's in-memory timeout list. */
  readonly timeouts = new Map<string, TimeoutEntry>();

  constructor(
    /** The install dir, execd's cwd. */
    readonly installDir: string,
    readonly simulatorOptions: SimulatorOptions = {},
  ) {}

  /** The message as execd rewrites it before writing it to the program. */
  buildMessage(name: string, alert: unknown, extraArgs: readonly string[] = [], command = 'add'): Record<string, unknown> {
    return {
      version: 1,
      origin: { name: this.simulatorOptions.nodeName ?? 'node01', module: 'wazuh-execd' },
      command,
      parameters: { extra_args: extraArgs, alert, program: `active-response/bin/${name}` },
    };
  }

  /**
   * The document 5.x's manager sends for a finding (its framework merges the AR record into it), before execd
   * appends its command: the finding's own members first, wazuh.active_response naming this command.
   */
  buildDocument5(name: string, finding: Record<string, unknown>, ar: ActiveResponse5 = {}): Record<string, unknown> {
    const type = ar.type ?? 'stateful';
    const activeResponse = {
      name,
      type,
      stateful_timeout: 'statefulTimeout' in ar ? ar.statefulTimeout : type === 'stateful' ? 180 : null,
      executable: name,
      extra_arguments: ar.extraArguments ?? null,
      location: 'local',
      agent_id: null,
    };
    const wazuh = (finding.wazuh ?? {}) as Record<string, unknown>;
    return { ...finding, wazuh: { ...wazuh, active_response: activeResponse } };
  }

  /** A 5.x finding fires: execd appends "command":"enable" to the document and runs it. */
  async enable(name: string, finding: Record<string, unknown>, ar: ActiveResponse5 & { keepStdinOpen?: boolean } = {}): Promise<AddRun> {
    return this.addLine(name, appendCommand(JSON.stringify(this.buildDocument5(name, finding, ar)), 'enable'), undefined, ar);
  }

  /** A 5.x disable for a finding, as execd sends it after stateful_timeout or at shutdown. */
  async disable(name: string, finding: Record<string, unknown>, ar: ActiveResponse5 = {}): Promise<DeleteRun> {
    const enableLine = appendCommand(JSON.stringify(this.buildDocument5(name, finding, ar)), 'enable');
    return this.deleteLine(name, replaceCommand(enableLine, 'disable'));
  }

  /** An alert fires: timeout 0 is a command without <timeout> (no timeout list, always continue). */
  async add(name: string, alert: unknown, options: { extraArgs?: readonly string[]; timeout?: number; keepStdinOpen?: boolean } = {}): Promise<AddRun> {
    const message = this.buildMessage(name, alert, options.extraArgs ?? []);
    return this.addLine(name, JSON.stringify(message), options.timeout ?? 600, options);
  }

  /**
   * Writes `line` as the message, exactly; the reply (if any) is built from it as execd does. The timeout is
   * 4.x's <timeout> (600 unless given), or for a 5.x document what execd reads from it.
   */
  async addLine(name: string, line: string, timeout?: number, options: { keepStdinOpen?: boolean } = {}): Promise<AddRun> {
    const wazuh5 = isWazuh5(line);
    const seconds = timeout ?? (wazuh5 ? execd5Timeout(line) : 600);
    const program = `active-response/bin/${name}`;
    const child = this.spawnProgram(program, true);
    const output = collectOutput(child);
    child.stdin!.write(`${line}\n`);

    const keysLine = await output.firstLine(this.hangMs, `${name} wrote no check_keys line and did not exit`);
    let keys: string[] | undefined;
    let rkey = basename(program);
    let decision: AddRun['decision'];
    let replyLine: string | undefined;
    if (keysLine !== undefined) {
      keys = parseKeys(keysLine);
      for (const key of keys ?? []) rkey += `-${key}`;
      rkey = rkey.slice(0, 4095);
      if (output.exited()) throw new ProtocolViolation(`${name} exited right after check_keys, without waiting for execd's reply`);
      decision = 'continue';
      if (seconds !== 0) {
        const existing = this.timeouts.get(rkey);
        if (existing) {
          existing.addedAt = Date.now();
          existing.timeout = seconds;
          decision = 'abort';
        } else {
          this.timeouts.set(rkey, { program, deleteLine: replaceCommand(line, wazuh5 ? 'disable' : 'delete'), addedAt: Date.now(), timeout: seconds });
        }
      }
      replyLine = replaceCommand(line, decision);
      child.stdin!.write(`${replyLine}\n`);
    }
    // execd closes stdin after its reply; keepStdinOpen proves the command exits without that.
    if (!options.keepStdinOpen) child.stdin!.end();
    const exitCode = await output.exit(this.hangMs, `${name} did not exit after execd's reply`).finally(() => child.stdin!.destroy());
    const extraStdout = output.stdoutAfterFirstLine();
    if (extraStdout.length > 0) throw new ProtocolViolation(`${name} wrote to stdout after check_keys: ${JSON.stringify(extraStdout.slice(0, 200))}`);
    return { line, keysLine, keys, rkey, decision, replyLine, exitCode, extraStdout, stderr: output.stderr() };
  }

  /** The timeout expired: run the stored delete for rkey, stdin closed after the line, stdout to /dev/null. */
  async expire(rkey: string): Promise<DeleteRun> {
    const entry = this.timeouts.get(rkey);
    if (!entry) throw new Error(`execd has no timeout entry ${rkey} (has: ${[...this.timeouts.keys()].join(', ')})`);
    this.timeouts.delete(rkey);
    return this.deleteLine(basename(entry.program), entry.deleteLine);
  }

  /** A delete for an alert, as execd would send it after a timeout. */
  async delete(name: string, alert: unknown, extraArgs: readonly string[] = []): Promise<DeleteRun> {
    return this.deleteLine(name, JSON.stringify(this.buildMessage(name, alert, extraArgs, 'delete')));
  }

  async deleteLine(name: string, line: string): Promise<DeleteRun> {
    const child = this.spawnProgram(`active-response/bin/${name}`, false);
    const output = collectOutput(child);
    child.stdin!.end(`${line}\n`);
    const exitCode = await output.exit(this.hangMs, `${name} did not exit on delete`);
    return { line, exitCode, stderr: output.stderr() };
  }

  protected get hangMs(): number {
    return this.simulatorOptions.hangMs ?? 60_000;
  }

  /** execd's spawn: relative argv[0], cwd the install dir, stderr kept here (execd sends it to /dev/null). */
  protected spawnProgram(program: string, bindStdout: boolean): ChildProcess {
    const prefix = this.simulatorOptions.prefix ?? [];
    const [command, ...args] = [...prefix, program];
    return spawn(command!, args, {
      cwd: this.installDir,
      argv0: prefix.length > 0 ? undefined : program,
      stdio: ['pipe', bindStdout ? 'pipe' : 'ignore', 'pipe'],
      env: { PATH: execdPath, ...this.simulatorOptions.env },
    });
  }
}

function parseKeys(line: string): string[] | undefined {
  try {
    const message = JSON.parse(line) as { version?: unknown; origin?: unknown; command?: unknown; parameters?: { keys?: unknown } };
    if (typeof message.version !== 'number' || typeof message.origin !== 'object' || message.command !== 'check_keys') return undefined;
    const keys = message.parameters?.keys;
    return Array.isArray(keys) ? keys.filter((key): key is string => typeof key === 'string') : undefined;
  } catch {
    return undefined;
  }
}

/** A child's output as it arrives, with waits that kill the child and fail when it takes longer than allowed. */
export function collectOutput(child: ChildProcess) {
  let stdout = '';
  let stderr = '';
  let firstLineEnd = -1;
  let exitCode: number | null | undefined;
  const lineWaiters: Array<() => void> = [];
  const exitWaiters: Array<() => void> = [];
  child.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (firstLineEnd < 0 && stdout.includes('\n')) firstLineEnd = stdout.indexOf('\n');
    lineWaiters.splice(0).forEach((wake) => wake());
  });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = (code: number | null) => {
    exitCode ??= code;
    lineWaiters.splice(0).forEach((wake) => wake());
    exitWaiters.splice(0).forEach((wake) => wake());
  };
  child.on('exit', (code, signal) => exited(code ?? (signal ? 128 : null)));
  // The program could not be started: execd's child would exit 127 after its failed execvp.
  child.on('error', (error) => {
    stderr += `${error.message}\n`;
    exited(127);
  });
  const bounded = <T>(ms: number, what: string, done: () => T | undefined, waiters: Array<() => void>) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new ProtocolViolation(`${what} within ${ms} ms (stderr: ${stderr.slice(0, 300)})`));
      }, ms);
      const check = () => {
        const value = done();
        if (value !== undefined) {
          clearTimeout(timer);
          resolve(value);
        } else waiters.push(check);
      };
      check();
    });
  return {
    /** Resolves to the first stdout line, or undefined when the program exits without one. */
    firstLine: (ms: number, what: string) =>
      bounded<{ line: string | undefined }>(
        ms,
        what,
        () => {
          if (firstLineEnd >= 0) return { line: stdout.slice(0, firstLineEnd) };
          if (exitCode !== undefined) return { line: undefined };
          return undefined;
        },
        lineWaiters,
      ).then((r) => r.line),
    exit: (ms: number, what: string) => bounded<{ code: number | null }>(ms, what, () => (exitCode !== undefined ? { code: exitCode } : undefined), exitWaiters).then((r) => r.code),
    exited: () => exitCode !== undefined,
    stdout: () => stdout,
    stdoutAfterFirstLine: () => (firstLineEnd >= 0 ? stdout.slice(firstLineEnd + 1) : stdout),
    stderr: () => stderr,
  };
}
