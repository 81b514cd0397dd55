/**
 * The active-responses.log writer. Every line is what Wazuh's own AR binaries write, so the stock
 * `ar_log_json` decoder and rules 651-658 read ours too:
 *
 *   2026/11/26 10:20:30 active-response/bin/palisade-drop: {"level":"info","event":"blocked",...}
 *
 * Structured records come from pino; Wazuh's plain lines (Starting, the echoed input, Ended, Aborted)
 * go through the same sink. Lines are appended with one synchronous write on an O_APPEND descriptor,
 * so nothing is lost when the process exits and concurrent invocations never interleave inside a line.
 */
import { closeSync, constants, openSync, writeSync } from 'node:fs';
import { basename } from 'node:path';
import pino from 'pino';

export interface Logger {
  /** One of Wazuh's own text messages, written as is (a trailing "\n" makes the blank line Wazuh makes). */
  plain(message: string): void;
  info(record: LogRecord, message?: string): void;
  warn(record: LogRecord, message?: string): void;
  error(record: LogRecord, message?: string): void;
  /** Never let this value reach a line again, in whatever record or message it would appear. */
  addSecret(secret: string): void;
  close(): void;
}

/** `event` names what happened (blocked, unblocked, refreshed, skipped-allowlisted, error). Never `command`:
 *  Wazuh's stock rules read that key as add/delete. */
export type LogRecord = { event?: string } & Record<string, unknown>;

/** Keys whose values are secret wherever they sit in a record. */
const secretKeys = new Set(['token', 'secret', 'password', 'passwd', 'api_key', 'apikey', 'key_secret', 'authorization', 'cookie']);

/**
 * A copy of the record with every secret-named key censored, at any depth. (pino's own `redact` compiles
 * its paths on every start, a cost each alert would pay; records here are small.)
 */
function censored(value: unknown, depth = 0): unknown {
  if (depth > 8 || value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((item) => censored(item, depth + 1));
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) copy[key] = secretKeys.has(key.toLowerCase()) ? '[redacted]' : censored(item, depth + 1);
  return copy;
}

/** `active-response/bin/<name>`, whatever path the binary was started by (an absolute path by hand). */
export function logName(argv0: string): string {
  return `active-response/bin/${basename(argv0)}`;
}

/** Local time as Wazuh's w_get_timestamp writes it: 2026/11/26 09:05:03. */
export function wazuhTimestamp(date: Date = new Date()): string {
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${date.getFullYear()}/${two(date.getMonth() + 1)}/${two(date.getDate())} ` +
    `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`
  );
}

export interface LoggerOptions {
  /** The log file; undefined writes nowhere but stderr's summary (tests of pure functions). */
  path: string | undefined;
  /** argv[0] as the process was started. */
  argv0: string;
}

export function createLogger(options: LoggerOptions): Logger {
  const name = logName(options.argv0);
  const secrets: string[] = [];
  let fd: number | undefined;
  let openFailed = false;
  let writeFailed = false;

  const scrub = (text: string): string => {
    let clean = text;
    for (const secret of secrets) clean = clean.split(secret).join('[redacted]');
    return clean;
  };

  const writeLine = (message: string) => {
    if (options.path === undefined || openFailed) return;
    if (fd === undefined) {
      try {
        // O_NOFOLLOW: logs/ is writable by the wazuh group, and a root process must not append to whatever a
        // symlink planted there points at (/etc/shadow, a cron file).
        fd = openSync(options.path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o660);
      } catch (error) {
        openFailed = true;
        process.stderr.write(`${basename(options.argv0)}: cannot write ${options.path}: ${(error as Error).message}\n`);
        return;
      }
    }
    try {
      writeSync(fd, `${wazuhTimestamp()} ${name}: ${scrub(message)}\n`);
    } catch (error) {
      // A full or failing log file system (ENOSPC, EIO, a quota) must never stop a block or an unblock: the
      // response matters more than its record. Said once on stderr; later lines are still tried.
      if (writeFailed) return;
      writeFailed = true;
      tellOperator(basename(options.argv0), `cannot write ${options.path}, carrying on without the log: ${(error as Error).message}`);
    }
  };

  const records = pino(
    {
      base: undefined,
      timestamp: false,
      messageKey: 'message',
      formatters: { level: (label) => ({ level: label }), log: (record) => censored(record) as Record<string, unknown> },
    },
    // pino ends each record with "\n"; the sink adds its own.
    { write: (record: string) => writeLine(record.endsWith('\n') ? record.slice(0, -1) : record) },
  );

  return {
    plain: writeLine,
    info: (record, message) => records.info(record, message),
    warn: (record, message) => records.warn(record, message),
    error: (record, message) => records.error(record, message),
    addSecret: (secret) => {
      if (secret.length >= 4 && !secrets.includes(secret)) secrets.push(secret);
    },
    close: () => {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}

/**
 * The one-line account for a person at a terminal. execd sends stderr to /dev/null, so this costs
 * nothing there; run by hand, it is the answer to "did it work?".
 */
export function tellOperator(commandName: string, text: string): void {
  try {
    writeSync(2, `${commandName}: ${text}\n`);
  } catch {
    // stderr closed: nobody is listening.
  }
}
