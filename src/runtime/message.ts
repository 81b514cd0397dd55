/**
 * The messages execd writes on our stdin, as zod schemas, in both dialects, and where in the alert things are.
 *
 * 4.x: {"version":1,"origin":{...},"command":"add"|"delete","parameters":{"extra_args":[],"alert":{...},"program":"..."}}
 * 5.x: the whole finding (WCS/ECS) with wazuh.active_response{type, stateful_timeout, extra_arguments, ...}, and
 *      execd's "command":"enable"|"disable" appended as its last member.
 * The dialect is told from the document itself: a top-level `wazuh` object is 5.x (4.x never has one at the top,
 * and a finding's own fields, which a 5.x document carries at its top, can never make it read as 4.x).
 * Both come out as one ArRequest, so every command gets the same target from either.
 * Wazuh's own library requires `origin` to be an object; a person testing by hand rarely writes one, and it
 * carries nothing we use, so it is optional (issue 9).
 */
import * as z from 'zod/mini';
import { topLevelValues } from './json-members.js';
import { lazy } from './lazy.js';

const jsonObject = () => z.record(z.string(), z.unknown());

export const arMessageSchema = lazy(() =>
  z.looseObject({
    version: z.number(),
    origin: z.optional(z.union([jsonObject(), z.null()])),
    command: z.string(),
    parameters: z.looseObject({
      extra_args: z.optional(z.array(z.unknown())),
      alert: z.optional(z.union([jsonObject(), z.null()])),
      program: z.optional(z.string()),
    }),
  }),
);

/** What of a 5.x document Palisade reads besides the alert fields; everything else is the finding's. */
export const wazuh5MessageSchema = lazy(() =>
  z.looseObject({
    wazuh: z.looseObject({
      active_response: z.optional(
        z.looseObject({
          type: z.optional(z.unknown()),
          stateful_timeout: z.optional(z.unknown()),
          extra_arguments: z.optional(z.nullable(z.string())),
        }),
      ),
    }),
  }),
);

export type ArMessage = z.infer<ReturnType<typeof arMessageSchema>>;
export type Wazuh5Message = z.infer<ReturnType<typeof wazuh5MessageSchema>>;
export type Verb = 'add' | 'delete';
export type Dialect = '4.x' | '5.x';

/** The verbs of each dialect. 4.x also takes enable/disable, as Palisade always has. A Map: "toString" is no verb. */
const verbs: Record<Dialect, ReadonlyMap<string, Verb>> = {
  '4.x': new Map([['add', 'add'], ['delete', 'delete'], ['enable', 'add'], ['disable', 'delete']]),
  '5.x': new Map([['enable', 'add'], ['disable', 'delete']]),
};

/** One invocation's request, whichever dialect it came in. */
export interface ArRequest {
  dialect: Dialect;
  verb: Verb;
  /** Where the alert fields are: parameters.alert (4.x, {} when none), the whole finding document (5.x). */
  alert: Record<string, unknown>;
  /** The options as execd delivers them: parameters.extra_args, a list (4.x); wazuh.active_response.extra_arguments, one string or null (5.x). */
  extraArgs: readonly unknown[] | string | null | undefined;
  /**
   * 5.x only: the seconds after which execd sends the disable, when it will (type stateful and a numeric
   * stateful_timeout that execd's (int) cast leaves above 0). undefined: no disable is coming, or 4.x, which never says.
   */
  statefulTimeout: number | undefined;
}

/** Wazuh's own words, so that administrators' searches and Wazuh's docs apply to our log too. */
export const wazuhMessages = {
  invalidInput: 'Invalid input format',
  invalidCommand: "Invalid value of 'command'",
  cannotRead: 'Cannot read input from stdin',
  invalidSource: "Cannot read 'srcip' from data or invalid IP format",
  invalidUser: "Cannot read 'dstuser' from data or invalid username format",
  lockFailed: 'Unable to take lock. End.',
  aborted: 'Aborted',
  starting: 'Starting',
  ended: 'Ended',
} as const;

/**
 * Where each dialect's stock ARs find what they act on, and their words when it is not there: 4.14.7's
 * get_srcip_from_json and get_username_from_json; v5.0.0-beta4's block-ip-unix and disable-account read
 * source.ip and user.name, and its docs' FIM example reads file.path. The rest is what a
 * notification shows.
 */
export const dialectFields = {
  '4.x': {
    sourceFields: ['data.win.eventdata.ipAddress', 'data.win.eventdata.destinationIp', 'data.srcip'],
    userField: 'data.dstuser',
    fileFields: ['syscheck.path', 'data.virustotal.source.file'],
    invalidSource: wazuhMessages.invalidSource,
    invalidUser: wazuhMessages.invalidUser,
    rule: { id: 'rule.id', description: 'rule.description', level: 'rule.level' },
    /** rule.level is 0 to 15. */
    levelIsWord: false,
    agent: { id: 'agent.id', name: 'agent.name' },
    location: 'location',
    fullLog: 'full_log',
    timestamp: 'timestamp',
  },
  '5.x': {
    sourceFields: ['source.ip'],
    userField: 'user.name',
    fileFields: ['file.path'],
    invalidSource: "Cannot read 'source.ip' from data",
    invalidUser: "Cannot read 'user.name' from data",
    rule: { id: 'wazuh.rule.id', description: 'wazuh.rule.title', level: 'wazuh.rule.level' },
    /** wazuh.rule.level is a Sigma word: informational, low, medium, high, critical. */
    levelIsWord: true,
    agent: { id: 'wazuh.agent.id', name: 'wazuh.agent.name' },
    location: 'wazuh.protocol.location',
    fullLog: 'event.original',
    timestamp: '@timestamp',
  },
} as const satisfies Record<Dialect, unknown>;

export type DialectFields = (typeof dialectFields)[Dialect];

export type ParsedInput =
  | { ok: true; request: ArRequest }
  | { ok: false; wazuhMessage: string; detail: string };

type Refusal = { ok: false; wazuhMessage: string; detail: string };

const invalid = (detail: string): Refusal => ({ ok: false, wazuhMessage: wazuhMessages.invalidInput, detail });

function schemaRefusal(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): Refusal {
  const issue = issues[0];
  const where = issue && issue.path.length > 0 ? issue.path.map(String).join('.') : 'message';
  return invalid(`${where}: ${issue?.message ?? 'invalid'}`);
}

/** JSON.parse, then the dialect and its schema: a 5.x `wazuh` object, else a 4.x message, else neither. */
function readDocument(line: string): { ok: true; dialect: '4.x'; message: ArMessage } | { ok: true; dialect: '5.x'; message: Wazuh5Message } | Refusal {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (error) {
    return invalid(`not JSON: ${(error as Error).message}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return invalid('not a JSON object');
  if (Object.hasOwn(raw, 'wazuh')) {
    const parsed = wazuh5MessageSchema().safeParse(raw);
    return parsed.success ? { ok: true, dialect: '5.x', message: parsed.data } : schemaRefusal(parsed.error.issues);
  }
  if (!Object.hasOwn(raw, 'version') && !Object.hasOwn(raw, 'parameters')) {
    return invalid('neither a 4.x message (version, parameters) nor a 5.x one (a wazuh object and a command)');
  }
  const parsed = arMessageSchema().safeParse(raw);
  return parsed.success ? { ok: true, dialect: '4.x', message: parsed.data } : schemaRefusal(parsed.error.issues);
}

/**
 * execd's own verb among the document's "command" members. execd appends its enable as the last member, so the
 * last one is the verb; but for a disable, execd replaced the *first* one (the finding's own) and the appended
 * enable stays last. Such a disable and an enable whose finding's own command was "disable" are the same text;
 * only execd's pipes tell them apart: it reads our stdout (for check_keys) on an enable, and gives a disable
 * /dev/null. `execdAwaitsKeys` says whether stdout is such a pipe.
 */
function execdVerb(commands: readonly unknown[], execdAwaitsKeys: () => boolean): unknown {
  const first = commands[0];
  const last = commands.at(-1);
  if (commands.length > 1 && first === 'disable' && last === 'enable') return execdAwaitsKeys() ? 'enable' : 'disable';
  return last;
}

function statefulTimeout(message: Wazuh5Message): number | undefined {
  const ar = message.wazuh.active_response;
  if (ar?.type !== 'stateful' || typeof ar.stateful_timeout !== 'number') return undefined;
  // execd: (int)valuedouble, and only a value above 0 schedules a disable.
  const seconds = Math.trunc(ar.stateful_timeout);
  return seconds > 0 && Number.isSafeInteger(seconds) ? seconds : undefined;
}

/**
 * cJSON accepts trailing bytes after a JSON value; JSON.parse does not. Only trailing whitespace is
 * accepted here: a line with anything after its JSON is not one we can be sure we read right.
 */
export function parseInput(line: string, options: { execdAwaitsKeys?: () => boolean } = {}): ParsedInput {
  const document = readDocument(line);
  if (!document.ok) return document;
  const command = execdVerb(topLevelValues(line, 'command'), options.execdAwaitsKeys ?? (() => true));
  if (typeof command !== 'string') return invalid(command === undefined ? 'no command' : 'command is not a string');
  const verb = verbs[document.dialect].get(command);
  if (verb === undefined) {
    const expected = document.dialect === '5.x' ? 'enable or disable' : 'add or delete';
    return { ok: false, wazuhMessage: wazuhMessages.invalidCommand, detail: `command "${command.slice(0, 64)}" is not ${expected}` };
  }
  if (document.dialect === '4.x') {
    const { parameters } = document.message;
    return { ok: true, request: { dialect: '4.x', verb, alert: parameters.alert ?? {}, extraArgs: parameters.extra_args, statefulTimeout: undefined } };
  }
  const { message } = document;
  const request: ArRequest = {
    dialect: '5.x',
    verb,
    alert: message as Record<string, unknown>,
    extraArgs: message.wazuh.active_response?.extra_arguments,
    statefulTimeout: statefulTimeout(message),
  };
  return { ok: true, request };
}

/**
 * execd's reply to check_keys: the request's own document with its verdict, continue or abort. execd replaces
 * the document's first "command" member, so the verdict is the first one (a later one may still read enable).
 */
export function parseReply(line: string, dialect: Dialect): { ok: true; decision: 'continue' | 'abort' } | { ok: false; wazuhMessage: string } {
  const document = readDocument(line);
  if (!document.ok || document.dialect !== dialect) return { ok: false, wazuhMessage: wazuhMessages.invalidInput };
  const command = topLevelValues(line, 'command')[0];
  if (command === 'continue' || command === 'abort') return { ok: true, decision: command };
  if (typeof command !== 'string') return { ok: false, wazuhMessage: wazuhMessages.invalidInput };
  return { ok: false, wazuhMessage: wazuhMessages.invalidCommand };
}

/** The check_keys line, byte for byte as Wazuh's build_json_keys_message writes it. */
export function checkKeysLine(programName: string, keys: readonly string[]): string {
  return JSON.stringify({
    version: 1,
    origin: { name: programName, module: 'active-response' },
    command: 'check_keys',
    parameters: { keys },
  });
}

export function fieldValue(alert: unknown, path: string): unknown {
  let node: unknown = alert;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return undefined;
    if (!Object.hasOwn(node, part)) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

/**
 * The first field in order that holds a value (not absent, not null) decides: its value is the source,
 * valid or not. A later field is never consulted to rescue an earlier invalid one, as in Wazuh.
 */
export function findSourceValue(alert: unknown, fields: readonly string[]): { field: string; value: unknown } | undefined {
  for (const field of fields) {
    const value = fieldValue(alert, field);
    if (value !== undefined && value !== null) return { field, value };
  }
  return undefined;
}
