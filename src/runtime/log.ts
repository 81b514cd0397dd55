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
import { closeSync, constants, fstatSync, lstatSync, openSync, writeSync, type Stats } from 'node:fs';
import { basename } from 'node:path';
import pino from 'pino';
import { localTime } from './local-time.js';
import { minimumSecretLength, scrubSecrets, secretForms } from './secret-forms.js';

export interface Logger {
  /** One of Wazuh's own text messages, written as is (a trailing "\n" makes the blank line Wazuh makes). */
  plain(message: string): void;
  info(record: LogRecord, message?: string): void;
  warn(record: LogRecord, message?: string): void;
  error(record: LogRecord, message?: string): void;
  /** Never let this value reach a line again, in whatever record or message it would appear, in any of its forms (secret-forms.ts). */
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

/** What a non-regular file is, for the operator; undefined for a regular file. */
export function describeKind(stat: Stats): string | undefined {
  if (stat.isFile()) return undefined;
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isSocket()) return 'a socket';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  if (stat.isDirectory()) return 'a directory';
  if (stat.isSymbolicLink()) return 'a symbolic link';
  return 'not a file';
}

function fileKind(path: string): string | undefined {
  try {
    return describeKind(lstatSync(path));
  } catch {
    return undefined;
  }
}

/** `active-response/bin/<name>`, whatever path the binary was started by (an absolute path by hand). */
export function logName(argv0: string): string {
  return `active-response/bin/${basename(argv0)}`;
}

/** Local time as Wazuh's w_get_timestamp writes it: 2026/11/26 09:05:03. */
export function wazuhTimestamp(date: Date = new Date()): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const { year, month, day, hours, minutes, seconds } = localTime(date);
  return `${year}/${two(month)}/${two(day)} ${two(hours)}:${two(minutes)}:${two(seconds)}`;
}

export interface LoggerOptions {
  /** The log file; undefined writes nowhere but stderr's summary (tests of pure functions). */
  path: string | undefined;
  /** argv[0] as the process was started. */
  argv0: string;
}

export function createLogger(options: LoggerOptions): Logger {
  const name = logName(options.argv0);
  const secrets = new Set<string>();
  let forms: string[] = [];
  let fd: number | undefined;
  let openFailed = false;
  let writeFailed = false;

  const scrub = (text: string): string => scrubSecrets(text, forms);

  const giveUp = (why: string) => {
    openFailed = true;
    tellOperator(basename(options.argv0), `${why}: carrying on without the log`);
  };

  const writeLine = (message: string) => {
    if (options.path === undefined || openFailed) return;
    if (fd === undefined) {
      const path = options.path;
      try {
        // O_NOFOLLOW: logs/ is writable by the wazuh group, and a root process must not append to whatever a
        // symlink planted there points at (/etc/shadow, a cron file). O_NONBLOCK: nor wait forever in open()
        // for the reader of a FIFO planted there (it fails with ENXIO when there is none).
        fd = openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK, 0o660);
      } catch (error) {
        const kind = fileKind(path);
        giveUp(kind ? `${path} is not a regular file (${kind})` : `cannot write ${path}: ${(error as Error).message}`);
        return;
      }
      const kind = describeKind(fstatSync(fd));
      if (kind) {
        closeSync(fd);
        fd = undefined;
        giveUp(`${path} is not a regular file (${kind})`);
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
      if (secret.length < minimumSecretLength || secrets.has(secret)) return;
      secrets.add(secret);
      forms = [...new Set([...forms, ...secretForms(secret)])].sort((a, b) => b.length - a.length);
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
