/**
 * wazuh-execd's side of the AR protocol, as execd 4.14 runs a command (shared/research/wazuh-ar-protocol.md,
 * section 3): it rewrites the message (command add, origin.module wazuh-execd, parameters.program), spawns
 * the program with argv[0] `active-response/bin/<name>` and cwd the install dir, writes one line and keeps
 * stdin open, reads one line, answers continue or abort from its own timeout list keyed
 * basename-key1-key2, and later runs the delete with stdin closed after the line.
 *
 * `palisade simulate` runs alerts through it, and the test harness (test/harness/execd.ts) builds on it.
 * Unlike execd it never waits forever: a command that does not answer or exit within hangMs is killed and
 * reported, since that is exactly the fault (wazuh#29602) a person simulating wants to see.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { basename } from 'node:path';

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

export class ProtocolViolation extends Error {
  override name = 'ProtocolViolation';
}

interface TimeoutEntry {
  program: string;
  deleteLine: string;
  addedAt: number;
  timeout: number;
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

  /** An alert fires: timeout 0 is a command without <timeout> (no timeout list, always continue). */
  async add(name: string, alert: unknown, options: { extraArgs?: readonly string[]; timeout?: number; keepStdinOpen?: boolean } = {}): Promise<AddRun> {
    const message = this.buildMessage(name, alert, options.extraArgs ?? []);
    return this.addLine(name, JSON.stringify(message), options.timeout ?? 600, options);
  }

  /** Writes `line` as the message, exactly; the reply (if any) is built from it as execd does. */
  async addLine(name: string, line: string, timeout = 600, options: { keepStdinOpen?: boolean } = {}): Promise<AddRun> {
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
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (timeout !== 0) {
        const existing = this.timeouts.get(rkey);
        if (existing) {
          existing.addedAt = Date.now();
          existing.timeout = timeout;
          decision = 'abort';
        } else {
          this.timeouts.set(rkey, { program, deleteLine: JSON.stringify({ ...parsed, command: 'delete' }), addedAt: Date.now(), timeout });
        }
      }
      replyLine = JSON.stringify({ ...parsed, command: decision });
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
