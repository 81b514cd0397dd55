/**
 * The only way Palisade runs another program: an argv array (never a shell), a timeout always, and the
 * tool's own stderr kept for the error line. execa is imported on first use, so commands that never
 * spawn anything do not pay for loading it.
 *
 * The tool runs synchronously (execaSync): a Palisade process has nothing else to do while its firewall
 * tool works, and execa's asynchronous machinery (streams, promises, exit hooks) is a measurable share of
 * each alert's nft run (bench/RESULTS.md). The timeout still kills the tool.
 */
import { ToolRefusedError } from './errors.js';

export interface ToolResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  /** Hard bound; the tool is killed when it runs longer. */
  timeoutSeconds: number;
  /** Written to the tool's stdin, which is then closed. */
  input?: string;
  env?: Record<string, string>;
}

/** The tool could not be started, or did not finish in time: nothing it was asked to do can be trusted. */
export class ToolError extends Error {
  override name = 'ToolError';
  constructor(
    message: string,
    readonly tool: string,
    readonly reason: 'missing' | 'timeout' | 'failed-to-start',
  ) {
    super(message);
  }
}

/** Runs argv and returns its exit status and output; a non-zero exit is the caller's to judge. */
export async function runTool(argv: readonly [string, ...string[]], options: RunOptions): Promise<ToolResult> {
  const { execaSync } = await import('execa');
  const [tool, ...args] = argv;
  const result = execaSync(tool, args, {
    timeout: options.timeoutSeconds * 1000,
    reject: false,
    stripFinalNewline: false,
    input: options.input,
    stdin: options.input === undefined ? 'ignore' : 'pipe',
    // LC_ALL=C keeps tool messages stable for the code that reads them.
    env: { LC_ALL: 'C', ...options.env },
    extendEnv: true,
  });
  if (result.timedOut) {
    throw new ToolError(`${tool} did not finish within ${options.timeoutSeconds} s (config command_timeout)`, tool, 'timeout');
  }
  const code = (result as { code?: string }).code;
  if (result.failed && result.exitCode === undefined) {
    if (code === 'ENOENT') {
      throw new ToolError(`${tool} is not installed or not on PATH; install it or choose another backend`, tool, 'missing');
    }
    throw new ToolError(`${tool} could not be started: ${result.shortMessage ?? result.message}`, tool, 'failed-to-start');
  }
  return { exitCode: result.exitCode ?? 1, stdout: String(result.stdout ?? ''), stderr: String(result.stderr ?? '') };
}

/** The first meaningful line of a tool's stderr, for a one-line log record. */
export function firstLine(text: string): string {
  return text.split('\n').map((line) => line.trim()).find((line) => line.length > 0) ?? '';
}

/** A tool said no: the error carries its own words, for the log line and the operator. */
export function toolRefused(argv: readonly string[], result: ToolResult): ToolRefusedError {
  const reason = firstLine(result.stderr) || `exit status ${result.exitCode}`;
  return new ToolRefusedError(`${argv.join(' ')} failed: ${reason}`, { tool: argv[0] ?? '', exitCode: result.exitCode, stderr: result.stderr.slice(0, 500) });
}

/** Firewall tools live in sbin, which a hand-run shell or a minimal service PATH may lack. */
export function withSbinOnPath(): void {
  const path = (process.env.PATH ?? '').split(':').filter(Boolean);
  for (const dir of ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/bin', '/bin']) if (!path.includes(dir)) path.push(dir);
  process.env.PATH = path.join(':');
}
