/**
 * A stand-in for wazuh-execd that runs an AR command exactly as execd 4.14 does (see
 * shared/research/wazuh-ar-protocol.md, section 3): it rewrites the message (command add, origin.module
 * wazuh-execd, parameters.program), spawns the program with argv[0] `active-response/bin/<name>` and
 * cwd the install dir, writes one line and keeps stdin open, reads one line, answers continue or abort
 * from its own timeout list keyed basename-key1-key2, and later runs the delete with stdin closed after
 * the line. Unlike execd it never waits forever: a command that hangs fails the test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { basename } from 'node:path';
import type { Install } from './install.js';

export interface AddRun {
  /** The line the command wrote for check_keys, if any. */
  keysLine: string | undefined;
  keys: string[] | undefined;
  /** execd's timeout-list key: basename, then "-key" per key. */
  rkey: string;
  decision: 'continue' | 'abort' | undefined;
  exitCode: number | null;
  /** Whatever the command wrote to stdout after check_keys: must be empty. */
  extraStdout: string;
  stderr: string;
}

export interface DeleteRun {
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

export interface ExecdOptions {
  /** Run commands inside this network namespace (through `ip netns exec`). */
  netns?: string | undefined;
  /** origin.name as the manager sends it: its cluster node name. */
  nodeName?: string;
  /** How long a command may take before the harness calls it hung. */
  hangMs?: number;
  env?: Record<string, string>;
}

export class Execd {
  /** execd's in-memory timeout list. */
  readonly timeouts = new Map<string, TimeoutEntry>();

  constructor(
    readonly install: Install,
    readonly options: ExecdOptions = {},
  ) {}

  /** The message as execd rewrites it before writing it to the program. */
  buildMessage(name: string, alert: unknown, extraArgs: readonly string[] = [], command = 'add'): Record<string, unknown> {
    return {
      version: 1,
      origin: { name: this.options.nodeName ?? 'node01', module: 'wazuh-execd' },
      command,
      parameters: { extra_args: extraArgs, alert, program: `active-response/bin/${name}` },
    };
  }

  /** An alert fires: timeout 0 is a stateless command (no timeout list, always continue). */
  async add(name: string, alert: unknown, options: { extraArgs?: readonly string[]; timeout?: number; keepStdinOpen?: boolean } = {}): Promise<AddRun> {
    const message = this.buildMessage(name, alert, options.extraArgs ?? []);
    return this.addLine(name, JSON.stringify(message), options.timeout ?? 600, options);
  }

  /** Writes `line` as the message, exactly; the reply (if any) is built from it as execd does. */
  async addLine(name: string, line: string, timeout = 600, options: { keepStdinOpen?: boolean } = {}): Promise<AddRun> {
    const program = `active-response/bin/${name}`;
    const child = this.spawn(program, true);
    const output = collect(child);
    child.stdin!.write(`${line}\n`);

    const keysLine = await output.firstLine(this.hangMs, `${name} wrote no check_keys line and did not exit`);
    let keys: string[] | undefined;
    let rkey = basename(program);
    let decision: AddRun['decision'];
    if (keysLine !== undefined) {
      keys = parseKeys(keysLine);
      for (const key of keys ?? []) rkey += `-${key}`;
      rkey = rkey.slice(0, 4095);
      if (output.exited()) throw new ProtocolViolation(`${name} exited right after check_keys, without waiting for execd's reply`);
      decision = 'continue';
      if (timeout !== 0) {
        const existing = this.timeouts.get(rkey);
        if (existing) {
          existing.addedAt = Date.now();
          existing.timeout = timeout;
          decision = 'abort';
        } else {
          const parsed = JSON.parse(line) as Record<string, unknown>;
          this.timeouts.set(rkey, { program, deleteLine: JSON.stringify({ ...parsed, command: 'delete' }), addedAt: Date.now(), timeout });
        }
      }
      const parsed = JSON.parse(line) as Record<string, unknown>;
      child.stdin!.write(`${JSON.stringify({ ...parsed, command: decision })}\n`);
    }
    // execd closes stdin after its reply; keepStdinOpen proves the command exits without that.
    if (!options.keepStdinOpen) child.stdin!.end();
    const exitCode = await output.exit(this.hangMs, `${name} did not exit after execd's reply`).finally(() => child.stdin!.destroy());
    const extraStdout = output.stdoutAfterFirstLine();
    if (extraStdout.length > 0) throw new ProtocolViolation(`${name} wrote to stdout after check_keys: ${JSON.stringify(extraStdout.slice(0, 200))}`);
    return { keysLine, keys, rkey, decision, exitCode, extraStdout, stderr: output.stderr() };
  }

  /**
   * Sends a line and keeps stdin open for good, as execd does for a command that never answers: the
   * command must still exit by itself. Returns its stdout and exit status.
   */
  async sendAndWait(name: string, line: string): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
    const child = this.spawn(`active-response/bin/${name}`, true);
    const output = collect(child);
    child.stdin!.write(line);
    try {
      const exitCode = await output.exit(this.hangMs, `${name} did not exit by itself with stdin left open`);
      return { exitCode, stdout: output.stdout(), stderr: output.stderr() };
    } finally {
      child.stdin!.destroy();
    }
  }

  /**
   * What a person does in a terminal: `echo '<line>' | active-response/bin/<name>`. stdin ends right after
   * the input, so no reply to check_keys ever comes.
   */
  async pipeIn(name: string, input: string): Promise<{ exitCode: number | null; stdout: string; stderr: string }> {
    const child = this.spawn(`active-response/bin/${name}`, true);
    const output = collect(child);
    child.stdin!.end(input);
    const exitCode = await output.exit(this.hangMs, `${name} did not exit after its stdin ended`);
    return { exitCode, stdout: output.stdout(), stderr: output.stderr() };
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
    const child = this.spawn(`active-response/bin/${name}`, false);
    const output = collect(child);
    child.stdin!.end(`${line}\n`);
    const exitCode = await output.exit(this.hangMs, `${name} did not exit on delete`);
    return { exitCode, stderr: output.stderr() };
  }

  private get hangMs(): number {
    return this.options.hangMs ?? 20_000;
  }

  private spawn(program: string, bindStdout: boolean): ChildProcess {
    const [command, ...args] = this.options.netns ? ['ip', 'netns', 'exec', this.options.netns, program] : [program];
    // execd's environment is the agent service's: no NODE_OPTIONS, no CA bundle, a plain PATH.
    return spawn(command!, args, {
      cwd: this.install.root,
      argv0: this.options.netns ? undefined : program,
      stdio: ['pipe', bindStdout ? 'pipe' : 'ignore', 'pipe'],
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...this.options.env },
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

function collect(child: ChildProcess) {
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
  child.on('exit', (code, signal) => {
    exitCode = code ?? (signal ? 128 : null);
    lineWaiters.splice(0).forEach((wake) => wake());
    exitWaiters.splice(0).forEach((wake) => wake());
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
      bounded<{ line: string | undefined }>(ms, what, () => {
        if (firstLineEnd >= 0) return { line: stdout.slice(0, firstLineEnd) };
        if (exitCode !== undefined) return { line: undefined };
        return undefined;
      }, lineWaiters).then((r) => r.line),
    exit: (ms: number, what: string) => bounded<{ code: number | null }>(ms, what, () => (exitCode !== undefined ? { code: exitCode } : undefined), exitWaiters).then((r) => r.code),
    exited: () => exitCode !== undefined,
    stdout: () => stdout,
    stdoutAfterFirstLine: () => (firstLineEnd >= 0 ? stdout.slice(firstLineEnd + 1) : stdout),
    stderr: () => stderr,
  };
}
