/**
 * The fleet layer: etc/shared/palisade.yml, which the manager pushes to every agent of a group, read on
 * top of etc/palisade.yml when that says fleet_config: true.
 *
 * wazuh-agentd writes etc/shared, not root; so does whoever holds the wazuh group, or the manager. The file
 * is therefore untrusted input, not a config root trusts (trusted-file.ts does not apply to it): it is opened
 * without following a symlink or waiting on a FIFO, only a regular file of at most 64 KiB is read, its YAML
 * may hold no alias, and only keys that cannot hurt the host are taken from it:
 *
 *   allowlist      entries added to the local ones: fewer addresses blocked, never more;
 *   source_fields  where the address is, unless the local file says;
 *   max_ttl        only lower than the default, unless the local file says.
 *
 * Never a URL, a file path, a secret, the backend or the action: any other key is refused by its name and
 * the rest of the file applies; so does a key whose value is wrong. A value of the file is never repeated in
 * a message: the log is readable by the wazuh group, and the file may be anything root can open.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, type Stats } from 'node:fs';
import { blockText } from './address.js';
import type { Config, ConfigShape, Layer, LoadedConfig } from './config.js';
import { describeKind, type Logger } from './log.js';

/** Far above any allow-list a group needs; a 64 KiB YAML file parses in a few milliseconds. */
export const fleetFileMaxBytes = 64 * 1024;

/** The keys taken from the fleet layer, and what each must be, for the message that refuses a wrong one. */
const fleetKeys = {
  allowlist: 'a list of addresses or networks, such as [198.51.100.7, 2001:db8::/48]',
  source_fields: 'a non-empty list of dotted field paths, such as [data.src_ip]',
  max_ttl: 'a duration of at most 365d: seconds, or 30m, 12h, 7d',
} as const;

type FleetKey = keyof typeof fleetKeys;

export interface FleetReport {
  path: string;
  /** Whether there is a file: no group pushing one is no problem. */
  present: boolean;
  /** The keys it set. */
  applied: string[];
  /** Keys it sets that the local file sets too, whose local value holds. */
  overridden: string[];
  /** Keys not taken, each with why; the rest of the file applied. */
  refused: Array<{ key: string; reason: string }>;
  /** Why nothing of the file applied: not a regular file, too large, not YAML, not a mapping. */
  error?: string;
}

/** Names longer than this, or more keys than this, are cut short in a report: the file is anyone's. */
const maxKeyName = 64;
const maxRefusedKeys = 20;

function stampOf(stat: Stats): string {
  return `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
}

/** What the config cache compares: one lstat, never an open (the name may be a FIFO). */
export function fleetFileStamp(path: string): string {
  try {
    return stampOf(lstatSync(path));
  } catch (error) {
    return `error:${(error as NodeJS.ErrnoException).code ?? 'unknown'}`;
  }
}

class FleetFileRefused extends Error {}

/**
 * The file's text, or undefined when there is none. The stamp is taken before the open, and the result is
 * only cacheable if the file opened is the one stamped: a change after that shows at the next alert.
 */
function readFleetFile(path: string, before: string): { text: string | undefined; stamp: string } {
  if (before === 'error:ENOENT') return { text: undefined, stamp: before };
  let fd: number;
  try {
    // O_NOFOLLOW: a symlink planted there would make root read what it points at. O_NONBLOCK: a FIFO would
    // hold the open, and execd with it, until something writes to it.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { text: undefined, stamp: 'error:ENOENT' };
    throw new FleetFileRefused(code === 'ELOOP' ? 'it is a symbolic link, which is never followed' : `it cannot be opened (${code ?? (error as Error).message})`);
  }
  try {
    const stat = fstatSync(fd);
    const kind = describeKind(stat);
    if (kind) throw new FleetFileRefused(`it is ${kind}, not a regular file`);
    if (stat.size > fleetFileMaxBytes) throw new FleetFileRefused(`it is ${stat.size} bytes, more than the ${fleetFileMaxBytes} read`);
    // One byte more than the cap: a file that grew since fstat is refused, not cut short.
    const buffer = Buffer.alloc(fleetFileMaxBytes + 1);
    let length = 0;
    for (let read = -1; read !== 0 && length < buffer.length; length += read) read = readSync(fd, buffer, length, buffer.length - length, null);
    if (length > fleetFileMaxBytes) throw new FleetFileRefused(`it grew past the ${fleetFileMaxBytes} bytes read`);
    const stamp = stampOf(stat) === before ? before : 'changed-while-read';
    return { text: buffer.subarray(0, length).toString('utf8'), stamp };
  } finally {
    closeSync(fd);
  }
}

async function parseFleetYaml(text: string): Promise<Record<string, unknown>> {
  const { parse } = await import('yaml');
  let value: unknown;
  try {
    // No alias (a billion laughs is a few lines), no merge key, no duplicate key; an unknown tag is a plain
    // string, which the schemas then refuse. logLevel error: yaml's warnings would go to execd's stderr.
    value = parse(text, { maxAliasCount: 0, merge: false, uniqueKeys: true, logLevel: 'error', prettyErrors: false }) ?? {};
  } catch (error) {
    // With maxAliasCount 0, yaml refuses the first alias with a ReferenceError of its own.
    if (error instanceof ReferenceError) throw new FleetFileRefused('it holds a YAML alias (*name), and a group\'s file may hold none');
    const where = (error as { linePos?: Array<{ line: number }> }).linePos?.[0]?.line;
    throw new FleetFileRefused(`it is not valid YAML${where === undefined ? '' : ` (line ${where})`}`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new FleetFileRefused('it is not a mapping of keys to values');
  return value as Record<string, unknown>;
}

const isFleetKey = (key: string): key is FleetKey => Object.hasOwn(fleetKeys, key);

function keyName(key: string): string {
  const printable = key.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > maxKeyName ? `${printable.slice(0, maxKeyName)}...` : printable;
}

/**
 * The local layer with the fleet file's allowed keys applied on top, and the stamp to cache it under.
 * localKeys: the keys etc/palisade.yml sets, which the fleet layer never changes (allowlist entries are
 * added, not replaced). shape: the local schema's key by key, from config.ts, which imports this module lazily.
 */
export async function withFleetLayer(
  local: LoadedConfig,
  localKeys: ReadonlySet<string>,
  path: string,
  shape: Pick<ConfigShape, FleetKey>,
): Promise<{ loaded: LoadedConfig; stamp: string }> {
  const report: FleetReport = { path, present: false, applied: [], overridden: [], refused: [] };
  let raw: Record<string, unknown>;
  // Taken first: whatever changes the file after this shows in the next alert's stamp.
  let stamp = fleetFileStamp(path);
  try {
    const file = readFleetFile(path, stamp);
    stamp = file.stamp;
    if (file.text === undefined) return { loaded: { ...local, fleet: report }, stamp };
    report.present = true;
    raw = await parseFleetYaml(file.text);
  } catch (error) {
    if (!(error instanceof FleetFileRefused)) throw error;
    report.present = true;
    report.error = error.message;
    return { loaded: { ...local, fleet: report }, stamp };
  }

  const config: Config = { ...local.config };
  const sources = { ...local.sources };
  const allowlistSources = [...local.allowlistSources];
  const notTaken: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    if (!isFleetKey(key)) {
      notTaken.push(key);
      continue;
    }
    // The local schema's own check of the key: the same addresses, paths and limits as in etc/palisade.yml.
    const parsed = shape[key].safeParse(value);
    if (!parsed.success) {
      const at = parsed.error.issues[0]?.path.join('.');
      report.refused.push({ key, reason: `must be ${fleetKeys[key]}${at ? ` (${key}.${at} is not)` : ''}` });
      continue;
    }
    if (key === 'allowlist') {
      const entries = parsed.data as Config['allowlist'];
      config.allowlist = [...config.allowlist, ...entries];
      allowlistSources.push(...entries.map((): Layer => 'fleet'));
      if (entries.length > 0) report.applied.push(key);
    } else if (localKeys.has(key)) {
      report.overridden.push(key);
    } else if (key === 'source_fields') {
      config.source_fields = parsed.data as Config['source_fields'];
      sources[key] = 'fleet';
      report.applied.push(key);
    } else {
      const ttl = parsed.data as Config['max_ttl'];
      if (ttl < config.max_ttl) {
        config.max_ttl = ttl;
        sources[key] = 'fleet';
        report.applied.push(key);
      } else {
        report.refused.push({ key, reason: `the fleet layer may only lower max_ttl, and ${ttl} s is not below ${config.max_ttl} s` });
      }
    }
  }
  if (notTaken.length > 0) {
    const names = notTaken.slice(0, maxRefusedKeys).map(keyName);
    const more = notTaken.length > maxRefusedKeys ? ` (and ${notTaken.length - maxRefusedKeys} more)` : '';
    const reason = `not taken from the fleet layer, which wazuh-agentd writes, not root: only ${Object.keys(fleetKeys).join(', ')} are; set it in etc/palisade.yml${more}`;
    for (const name of names) report.refused.push({ key: name, reason });
  }
  return { loaded: { config, sources, allowlistSources, fleet: report }, stamp };
}

/** Every top-level value and the layer that set it; allowlist entry by entry. http and notify may hold secrets: their values are left out. */
export function describeSettings({ config, sources, allowlistSources }: LoadedConfig): Record<string, unknown> {
  const settings: Record<string, unknown> = {};
  for (const [key, source] of Object.entries(sources)) {
    if (key === 'allowlist') {
      settings[key] = config.allowlist.map((range, index) => ({ value: blockText(range), source: allowlistSources[index] ?? 'local' }));
    } else if (key === 'http' || key === 'notify') {
      settings[key] = { source };
    } else {
      settings[key] = { value: config[key as keyof Config] ?? null, source };
    }
  }
  return settings;
}

/** The refused keys grouped by why: "backend", "http": not taken from the fleet layer ... */
export function refusedByReason(fleet: FleetReport): Array<{ reason: string; keys: string[] }> {
  const groups = new Map<string, string[]>();
  for (const { key, reason } of fleet.refused) groups.set(reason, [...(groups.get(reason) ?? []), JSON.stringify(key)]);
  return [...groups].map(([reason, keys]) => ({ reason, keys }));
}

/** One warning record for whatever the fleet layer refused, a key by its name or the whole file and why: once a run. */
export function warnAboutFleetLayer(fleet: FleetReport | undefined, log: Pick<Logger, 'warn'>): void {
  if (!fleet || (fleet.error === undefined && fleet.refused.length === 0)) return;
  const message =
    fleet.error !== undefined
      ? `fleet config ${fleet.path} ignored, as ${fleet.error}; etc/palisade.yml and the defaults apply`
      : `fleet config ${fleet.path}: refused ${refusedByReason(fleet).map(({ reason, keys }) => `${keys.join(', ')}: ${reason}`).join('; ')}; the rest of it applies`;
  const refused = fleet.refused.map(({ key }) => key);
  log.warn({ event: 'fleet-config-refused', path: fleet.path, refused, ...(fleet.error !== undefined ? { reason: fleet.error } : {}) }, message);
}
