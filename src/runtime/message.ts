/**
 * The messages execd writes on our stdin, as zod schemas, and where in the alert the attacker's address is.
 *
 * 4.x: {"version":1,"origin":{...},"command":"add"|"delete","parameters":{"extra_args":[],"alert":{...},"program":"..."}}
 * 5.x renames the verbs enable/disable; they mean add/delete here.
 * Wazuh's own library requires `origin` to be an object; a person testing by hand rarely writes one, and it
 * carries nothing we use, so it is optional (issue 9).
 */
import * as z from 'zod/mini';
import { ownEntry } from './own.js';

const jsonObject = z.record(z.string(), z.unknown());

export const arMessageSchema = z.looseObject({
  version: z.number(),
  origin: z.optional(z.union([jsonObject, z.null()])),
  command: z.string(),
  parameters: z.looseObject({
    extra_args: z.optional(z.array(z.unknown())),
    alert: z.optional(z.union([jsonObject, z.null()])),
    program: z.optional(z.string()),
  }),
});

export type ArMessage = z.infer<typeof arMessageSchema>;
export type Verb = 'add' | 'delete';

const verbs: Record<string, Verb> = { add: 'add', delete: 'delete', enable: 'add', disable: 'delete' };

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

export type ParsedInput =
  | { ok: true; message: ArMessage; verb: Verb }
  | { ok: false; wazuhMessage: string; detail: string };

/**
 * cJSON accepts trailing bytes after a JSON value; JSON.parse does not. Only trailing whitespace is
 * accepted here: a line with anything after its JSON is not one we can be sure we read right.
 */
export function parseInput(line: string): ParsedInput {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch (error) {
    return { ok: false, wazuhMessage: wazuhMessages.invalidInput, detail: `not JSON: ${(error as Error).message}` };
  }
  const parsed = arMessageSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : 'message';
    return { ok: false, wazuhMessage: wazuhMessages.invalidInput, detail: `${where}: ${issue?.message ?? 'invalid'}` };
  }
  const verb = ownEntry(verbs, parsed.data.command);
  if (verb === undefined) {
    return { ok: false, wazuhMessage: wazuhMessages.invalidCommand, detail: `command "${parsed.data.command.slice(0, 64)}" is not add or delete` };
  }
  return { ok: true, message: parsed.data, verb };
}

/** execd's reply to check_keys: the add message with command continue or abort. */
export function parseReply(line: string): { ok: true; decision: 'continue' | 'abort' } | { ok: false; wazuhMessage: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return { ok: false, wazuhMessage: wazuhMessages.invalidInput };
  }
  const parsed = arMessageSchema.safeParse(raw);
  if (!parsed.success) return { ok: false, wazuhMessage: wazuhMessages.invalidInput };
  const { command } = parsed.data;
  if (command === 'continue' || command === 'abort') return { ok: true, decision: command };
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

/**
 * Wazuh 4.14.7's get_srcip_from_json: data.win.eventdata.ipAddress, then destinationIp, then data.srcip.
 * A Windows field that holds a string wins even when that string is not an address.
 */
export const defaultSourceFields = ['data.win.eventdata.ipAddress', 'data.win.eventdata.destinationIp', 'data.srcip'] as const;

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
