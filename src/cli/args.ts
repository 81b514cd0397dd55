/**
 * Command-line parsing for the `palisade` verbs. Each verb declares its flags and positionals once (the
 * parser and `--help` both read that declaration) and a zod/mini schema that turns the strings into typed
 * options. Anything unknown, missing or malformed is a UsageError naming the argument and the fix: exit 2.
 */
import * as z from 'zod/mini';
import { describeIssues, issueMessage } from '../runtime/config.js';

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface FlagSpec {
  /** The key in the verb's options. */
  key: string;
  /** Set for a flag that takes a value: how --help shows it (DURATION, FILE). */
  placeholder?: string;
  help: string;
  /** A one-letter alias: -y for --yes. */
  short?: string;
}

export interface PositionalSpec {
  key: string;
  placeholder: string;
  help: string;
  optional?: boolean;
}

export interface VerbSpec {
  name: string;
  summary: string;
  /** More lines for `palisade VERB --help`. */
  details?: readonly string[];
  flags: Readonly<Record<string, FlagSpec>>;
  positionals: readonly PositionalSpec[];
  schema: z.ZodMiniType;
}

/** Flags every verb takes; main.ts reads them before the verb's own. */
export const globalFlags: Readonly<Record<string, FlagSpec>> = {
  '--json': { key: 'json', help: 'print one JSON document for scripts instead of tables' },
  '--root': { key: 'root', placeholder: 'DIR', help: 'the Wazuh install dir (default: where this binary lives, else $WAZUH_HOME, else /var/ossec)' },
  '--no-color': { key: 'noColor', help: 'no colour even on a terminal (NO_COLOR=1 does the same)' },
  '--help': { key: 'help', short: '-h', help: 'show this help' },
};

export interface GlobalOptions {
  json: boolean;
  root: string | undefined;
  noColor: boolean;
  help: boolean;
}

export interface ParsedArgs {
  globals: GlobalOptions;
  /** The verb's raw values, before its schema: strings, true for a flag without a value. */
  raw: Record<string, unknown>;
}

function findFlag(flags: Readonly<Record<string, FlagSpec>>, name: string): [string, FlagSpec] | undefined {
  if (flags[name]) return [name, flags[name]];
  return Object.entries(flags).find(([, spec]) => spec.short === name);
}

/** Splits argv into global and verb values, refusing what the verb does not know. */
export function parseArgs(spec: VerbSpec, argv: readonly string[]): ParsedArgs {
  const globals: Record<string, unknown> = {};
  const raw: Record<string, unknown> = {};
  const positionals: string[] = [];
  const usage = `see palisade ${spec.name} --help`;
  let onlyPositionals = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (onlyPositionals || !arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    if (arg === '--') {
      onlyPositionals = true;
      continue;
    }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const own = findFlag(spec.flags, name);
    const global = own ? undefined : findFlag(globalFlags, name);
    const found = own ?? global;
    if (!found) {
      const known = Object.keys(spec.flags).join(', ') || 'none of its own';
      throw new UsageError(`unknown option "${name.slice(0, 64)}" for palisade ${spec.name} (its options: ${known}; ${usage})`);
    }
    const [flagName, flag] = found;
    const target = own ? raw : globals;
    let value: unknown = true;
    if (flag.placeholder) {
      value = inline ?? argv[++i];
      if (value === undefined || (inline === undefined && String(value).startsWith('--'))) {
        throw new UsageError(`${flagName} needs a value (${flagName} ${flag.placeholder}; ${usage})`);
      }
    } else if (inline !== undefined) {
      throw new UsageError(`${flagName} takes no value (${usage})`);
    }
    if (flag.key in target) throw new UsageError(`${flagName} is given twice (${usage})`);
    target[flag.key] = value;
  }
  const expected = spec.positionals;
  if (positionals.length > expected.length) {
    const extra = positionals[expected.length]!;
    throw new UsageError(`unexpected argument "${extra.slice(0, 64)}" for palisade ${spec.name} (${usage})`);
  }
  expected.forEach((positional, i) => {
    const value = positionals[i];
    if (value !== undefined) raw[positional.key] = value;
    else if (!positional.optional && !globals.help) throw new UsageError(`${positional.placeholder} is missing (${usage})`);
  });
  return {
    globals: {
      json: globals.json === true,
      root: typeof globals.root === 'string' ? globals.root : undefined,
      noColor: globals.noColor === true,
      help: globals.help === true,
    },
    raw,
  };
}

/** The verb's typed options, or a UsageError that names the flag in the user's words. */
export function validateOptions<T>(spec: VerbSpec, raw: Record<string, unknown>): T {
  const result = spec.schema.safeParse(raw);
  if (result.success) return result.data as T;
  const issue = result.error.issues[0];
  const key = issue?.path[0];
  const flag =
    Object.entries(spec.flags).find(([, f]) => f.key === key)?.[0] ?? spec.positionals.find((p) => p.key === key)?.placeholder;
  const message = issue ? issueMessage(issue) : describeIssues(result.error);
  throw new UsageError(`${flag ?? 'arguments'}: ${message} (see palisade ${spec.name} --help)`);
}

/** `palisade VERB --help`, from the same declaration the parser uses. */
export function verbHelp(spec: VerbSpec): string {
  const positionals = spec.positionals.map((p) => (p.optional ? `[${p.placeholder}]` : p.placeholder)).join(' ');
  const lines = [`Usage: palisade ${spec.name}${positionals ? ` ${positionals}` : ''}${Object.keys(spec.flags).length > 0 ? ' [options]' : ''}`, '', `${spec.summary.charAt(0).toUpperCase()}${spec.summary.slice(1)}.`];
  if (spec.details) lines.push('', ...spec.details);
  const rows: Array<[string, string]> = [
    ...spec.positionals.map((p): [string, string] => [p.placeholder, p.help]),
    ...Object.entries(spec.flags).map(([name, flag]): [string, string] => [flagLabel(name, flag), flag.help]),
  ];
  if (rows.length > 0) lines.push('', 'Arguments and options:', ...alignRows(rows));
  lines.push('', 'Every verb also takes:', ...alignRows(Object.entries(globalFlags).map(([name, flag]) => [flagLabel(name, flag), flag.help])));
  return lines.join('\n');
}

export function flagLabel(name: string, flag: FlagSpec): string {
  return `${flag.short ? `${flag.short}, ` : ''}${name}${flag.placeholder ? ` ${flag.placeholder}` : ''}`;
}

export function alignRows(rows: ReadonlyArray<readonly [string, string]>, indent = '  '): string[] {
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `${indent}${left.padEnd(width)}  ${right}`);
}

/** A whole number of seconds from the command line: "5", or a duration such as 30s, 2m. */
export const secondsArgument = z.pipe(
  z.string(),
  z.transform((value: string, ctx) => {
    const match = /^(\d{1,6})(s|m)?$/.exec(value.trim());
    if (!match) {
      ctx.issues.push({ code: 'custom', message: `"${value}" is not a number of seconds (use 5, 30s or 2m)`, input: value });
      return z.NEVER;
    }
    return Number(match[1]) * (match[2] === 'm' ? 60 : 1);
  }),
);
