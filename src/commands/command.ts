/**
 * What an AR command is: the key execd dedupes it by, what add does, what delete does. Everything else
 * (stdin, the handshake, logging, config, exit statuses) is the dispatcher's, in dispatch.ts.
 */
import type { Config } from '../runtime/config.js';
import type { Logger } from '../runtime/log.js';
import type { ArRequest, DialectFields } from '../runtime/message.js';
import type { CommandOptions } from '../runtime/options.js';

export interface CommandContext {
  /** The command's own name, basename of argv[0]: palisade-drop. */
  name: string;
  installDir: string;
  config: Config;
  /** Permission bits of the config file (undefined: defaults, no file). Secrets in it need it private. */
  configFileMode?: number | undefined;
  options: CommandOptions;
  /** What execd asked, in either dialect. */
  request: ArRequest;
  /** request.alert: parameters.alert, or {} when the message has none (4.x); the whole finding (5.x). */
  alert: Record<string, unknown>;
  /** Where this dialect's stock ARs look for things, and their words when a thing is not there. */
  fields: DialectFields;
  log: Logger;
  /** The one-line account on stderr for a person running the command by hand. */
  tell(text: string): void;
}

export type Targeting<T> =
  | { ok: true; target: T; keys: string[] }
  /** wazuhMessage is Wazuh's own words for the refusal; detail says exactly what was wrong. */
  | { ok: false; wazuhMessage: string; detail: string };

export interface ArCommand<T = unknown> {
  readonly name: string;
  /** Stateful commands send check_keys on add and are undone by execd's delete; the others never write to stdout. */
  readonly stateful: boolean;
  /** Sent through Wazuh's API as a `!` command, never bound to a rule: it needs no ossec.conf or ar.conf entry. */
  readonly apiOnly?: boolean;
  /** Read and validate what to act on. Runs before the handshake: a refusal changes nothing. */
  target(ctx: CommandContext): Targeting<T>;
  /** A reason to leave this target alone (allow-listed, protected); nothing is written to stdout then. */
  skipReason?(ctx: CommandContext, target: T): Promise<string | undefined>;
  /** The log event of such a skip: skipped-allowlisted for addresses, skipped-protected for accounts. */
  readonly skipEvent?: string;
  add(ctx: CommandContext, target: T): Promise<void>;
  /** execd answered abort: it already holds this key and has just extended its timer. */
  refresh?(ctx: CommandContext, target: T): Promise<void>;
  delete(ctx: CommandContext, target: T): Promise<void>;
}
