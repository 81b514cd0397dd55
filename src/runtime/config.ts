import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { commandBackends, firewallBackendNames } from './backend-names.js';
import { parseAddress } from './address.js';
import { parseDuration } from './duration.js';
import type { FleetReport } from './fleet-config.js';
import { ConfigError } from './errors.js';
import { lazy } from './lazy.js';
import type { Logger } from './log.js';
import type { HttpConfig } from './http-config.js';
import type { NotifyConfig } from './notify-config.js';
import { describeTrustProblem, trustProblem } from './trusted-file.js';
import { version } from '../version.js';

/**
 * For `backend:` and `--backend`: hosts-deny and null-route are refused with the command to register
 * instead, as they belong to palisade-host-deny and palisade-route-null.
 */
const notACommandBackend = lazy(() =>
  z.refine((name: unknown) => !(typeof name === 'string' && Object.hasOwn(commandBackends, name)), {
    error: (issue) => {
      const name = issue.input as keyof typeof commandBackends;
      return `${name} is only ever the backend of ${commandBackends[name]}: register that command in ossec.conf instead of choosing ${name} here`;
    },
  }),
);

// The schemas below are shared with <extra_args> options and the CLI, and built on first use (see lazy.ts).

/** A firewall named in the config or in <extra_args>. */
export const chosenBackendSchema = lazy(() => z.pipe(z.unknown().check(notACommandBackend()), z.enum(firewallBackendNames)));

/** Seconds, written as 3600 or "1h", "7d". */
export const durationSchema = lazy(() =>
  z.pipe(
    z.union([z.int().check(z.positive()), z.string()]),
    z.transform((value: number | string, ctx) => {
      const seconds = typeof value === 'number' ? value : parseDuration(value);
      if (seconds === undefined) {
        ctx.issues.push({ code: 'custom', message: `"${value}" is not a duration (use seconds or 30m, 12h, 7d)`, input: value });
        return z.NEVER;
      }
      return seconds;
    }),
  ),
);

const sizeUnits: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 };

/** Bytes, written as 268435456 or "256M", "1G" (K, M and G are powers of 1024). */
export const sizeSchema = lazy(() =>
  z.pipe(
    z.union([z.int().check(z.positive()), z.string()]),
    z.transform((value: number | string, ctx) => {
      const match = typeof value === 'string' ? /^(\d{1,12})([KMG]?)$/i.exec(value.trim()) : undefined;
      const bytes = typeof value === 'number' ? value : match ? Number(match[1]) * (sizeUnits[match[2]!.toUpperCase()] ?? 1) : 0;
      if (bytes <= 0) {
        ctx.issues.push({ code: 'custom', message: `"${value}" is not a size (use bytes or 512K, 256M, 2G)`, input: value });
        return z.NEVER;
      }
      return bytes;
    }),
  ),
);

/** One year: the longest kernel timer Palisade sets. */
export const maxSafetyNet = 365 * 86_400;

export const networkSchema = lazy(() =>
  z.pipe(
    z.string(),
    z.transform((value: string, ctx) => {
      const parsed = parseAddress(value, { allowNetwork: true });
      if (!parsed.ok) {
        ctx.issues.push({ code: 'custom', message: `"${value}" is not an address or network: ${parsed.reason}`, input: value });
        return z.NEVER;
      }
      return parsed.block;
    }),
  ),
);

/** A dotted path into the alert, as Wazuh's decoders name fields: data.srcip, data.win.eventdata.ipAddress. */
export const fieldPathSchema = lazy(() =>
  z.string().check(z.regex(/^[A-Za-z0-9_@-]+(\.[A-Za-z0-9_@-]+)*$/, 'must be a dotted field path such as data.src_ip')),
);

const name = (pattern: RegExp) => z.string().check(z.regex(pattern, `must match ${pattern.source}`));
const intBetween = (min: number, max: number) => z.int().check(z.gte(min), z.lte(max));

/**
 * The whole schema, built on first use (configSchema): it is some hundred zod schemas, and an alert whose
 * config comes from the validated cache (loadConfig) needs none of them.
 */
function buildConfigSchema() {
  const nftablesSchema = z.strictObject({
    table: z._default(name(/^[a-z][a-z0-9_]{0,30}$/), 'palisade'),
    /** Below the usual filter priority (0), so a block applies before any accept of the host's own rules. */
    priority: z._default(intBetween(-400, 400), -10),
    hooks: z._default(z.array(z.enum(['input', 'forward'])).check(z.minLength(1)), ['input', 'forward']),
  });

  const ipsetSchema = z.strictObject({
    name_prefix: z._default(name(/^[A-Za-z][A-Za-z0-9_-]{0,20}$/), 'palisade'),
    maxelem: z._default(intBetween(1024, 1 << 26), 1_048_576),
    chains: z._default(z.array(name(/^[A-Za-z][A-Za-z0-9_-]{0,28}$/)).check(z.minLength(1)), ['INPUT', 'FORWARD']),
  });

  const iptablesSchema = z.strictObject({
    chain: z._default(name(/^[A-Z][A-Z0-9_-]{0,28}$/), 'PALISADE'),
    parent_chains: z._default(z.array(name(/^[A-Za-z][A-Za-z0-9_-]{0,28}$/)).check(z.minLength(1)), ['INPUT', 'FORWARD']),
    /** Also jump from DOCKER-USER when it exists: published container ports bypass INPUT. */
    docker_user: z._default(z.boolean(), true),
    /** Which iptables holds the host's rules; auto picks the one with rules, nft when neither has any. */
    variant: z._default(z.enum(['auto', 'nft', 'legacy']), 'auto'),
  });

  /** An absolute path, as the commands that write files take them: never relative to wherever they run. */
  const absolutePathSchema = z.string().check(
    z.regex(/^\/[^\0]*$/, 'must be an absolute path'),
    z.maxLength(4096),
    z.refine((path) => !path.split('/').includes('..'), 'must not contain ".."'),
  );

  /** A local account name as shadow's useradd accepts one. */
  const userNameSchema = z.string().check(z.regex(/^[a-z_][a-z0-9_.-]{0,31}\$?$/i, 'must be an account name such as deploy'));

  const hostDenySchema = z.strictObject({
    /** TCP wrappers' deny file: the only one palisade-host-deny ever changes. */
    path: z._default(absolutePathSchema, '/etc/hosts.deny'),
  });

  const disableAccountSchema = z.strictObject({
    /** lock-and-expire also stops key-based logins (the account expires); lock-password is Wazuh's passwd -l. */
    method: z._default(z.enum(['lock-and-expire', 'lock-password']), 'lock-and-expire'),
    /** Also end the account's running processes, sessions included (pkill -KILL -u). */
    kill_sessions: z._default(z.boolean(), false),
  });

  const quarantineSchema = z.strictObject({
    /** Where quarantined files go (root-only, 0700). Default: var/palisade/quarantine in the install dir. */
    dir: z.optional(absolutePathSchema),
    /** The only directories files may be taken from. None by default: quarantine refuses until this is set. */
    roots: z._default(z.array(absolutePathSchema), []),
    /**
     * The largest file quarantine takes. execd runs one response at a time and waits for each, and a file is
     * hashed (and, from another file system, copied) before execd hears back: 256 MiB is about a second of
     * that, far above what a web shell or a dropped binary weighs. A larger file stays where it is, and the
     * log says so; a person decides.
     */
    max_size: z._default(sizeSchema(), 256 * 1024 ** 2),
  });

  return z.strictObject({
    backend: z._default(z.pipe(z.unknown().check(notACommandBackend()), z.enum(['auto', ...firewallBackendNames])), 'auto'),
    /** drop is silent; reject answers with an ICMP/TCP reset so a legitimate client fails fast. */
    action: z._default(z.enum(['drop', 'reject']), 'drop'),
    /** The longest a block may live in the firewall without a delete from execd: the kernel timer's value. */
    max_ttl: z._default(durationSchema().check(z.lte(maxSafetyNet, 'must be at most 365d: a safety net longer than a year protects nothing, and nft refuses very long timeouts')), 604_800),
    /** Networks never blocked, on top of loopback, link-local, multicast, this host and its manager. */
    allowlist: z._default(z.array(networkSchema()), []),
    /** Also never block RFC 1918, CGNAT and unique-local addresses. */
    allowlist_private: z._default(z.boolean(), false),
    /** Block an IPv6 attacker's whole /N (64 is typical: one host often owns a /64). 128 blocks the address only. */
    ipv6_prefix: z._default(intBetween(16, 128), 128),
    /** Where to find the attacker's address, in order. Default: Wazuh 4.14's get_srcip_from_json. */
    source_fields: z.optional(z.array(fieldPathSchema()).check(z.minLength(1))),
    /** Extra manager addresses to protect, beyond those read from the agent's ossec.conf. */
    manager_addresses: z._default(z.array(z.string().check(z.minLength(1), z.maxLength(253))), []),
    /** How long to wait for the state lock before giving up with an error. */
    lock_timeout: z._default(durationSchema(), 30),
    /** Bound on every external command (nft, ipset, iptables, ip, usermod ...). */
    command_timeout: z._default(durationSchema(), 10),
    nftables: z._default(nftablesSchema, () => nftablesSchema.parse({})),
    ipset: z._default(ipsetSchema, () => ipsetSchema.parse({})),
    iptables: z._default(iptablesSchema, () => iptablesSchema.parse({})),
    /** Validated by the HTTP backend's own schema (parseConfig), loaded only when this section exists. */
    http: z.optional(z.unknown()),
    host_deny: z._default(hostDenySchema, () => hostDenySchema.parse({})),
    /** Accounts palisade-disable-account never locks, on top of root and every system account. */
    protected_users: z._default(z.array(userNameSchema), []),
    disable_account: z._default(disableAccountSchema, () => disableAccountSchema.parse({})),
    quarantine: z._default(quarantineSchema, () => quarantineSchema.parse({})),
    /** The webhook palisade-notify posts to. Validated by its own schema (parseConfig), loaded only when this section exists. */
    notify: z.optional(z.unknown()),
    /**
     * Also read etc/shared/palisade.yml, which the manager pushes to an agent group (fleet-config.ts). Only a
     * local key: the shared file cannot switch itself on.
     */
    fleet_config: z._default(z.boolean(), false),
  });
}

export const configSchema = lazy(buildConfigSchema);

type ConfigSchema = ReturnType<typeof buildConfigSchema>;
export type ConfigShape = ConfigSchema['shape'];

export type Config = Omit<z.infer<ConfigSchema>, 'http' | 'notify'> & { http?: HttpConfig | undefined; notify?: NotifyConfig | undefined };
export type ConfigInput = z.input<ConfigSchema>;

export { ConfigError };

/** etc/palisade.yml of the install dir, or PALISADE_CONFIG (tests, a config tried before it is installed). */
export function configPath(installDir: string): string {
  return process.env.PALISADE_CONFIG ?? join(installDir, 'etc/palisade.yml');
}

/** What the manager pushes to this agent's groups (/var/ossec/etc/shared/<group>/palisade.yml there). */
export function fleetConfigPath(installDir: string): string {
  return join(installDir, 'etc/shared/palisade.yml');
}

export function configCachePath(installDir: string): string {
  return join(installDir, 'var/palisade/config.cache.json');
}

/** The config file's permission bits: a backend takes a secret written in it only when it is private. */
export function fileMode(path: string): number | undefined {
  try {
    return statSync(path).mode & 0o7777;
  } catch {
    return undefined;
  }
}

/** Defaults only: what a host with no etc/palisade.yml runs with. */
export function defaultConfig(): Config {
  const { http: _http, notify: _notify, ...defaults } = configSchema().parse({});
  return defaults;
}

/** Where a value came from: the defaults, etc/palisade.yml, or the fleet layer, etc/shared/palisade.yml. */
export type Layer = 'default' | 'local' | 'fleet';

export interface LoadedConfig {
  config: Config;
  /** The layer that set each top-level key (for allowlist, the key itself: its entries are in allowlistSources). */
  sources: Record<string, Layer>;
  /** The layer of each entry of config.allowlist, in order: the fleet layer only adds entries. */
  allowlistSources: Layer[];
  /** The fleet layer: what it set and what it refused. Undefined when fleet_config is off. */
  fleet?: FleetReport | undefined;
}

interface ConfigCache {
  path: string;
  stamp: string;
  /** The shared file's stamp when it was read; present only when fleet_config is on. */
  fleetStamp?: string | undefined;
  loaded: LoadedConfig;
}

/**
 * Read and validate the YAML config. A missing file means defaults; anything wrong is one ConfigError
 * naming the file, the key and the fix, so that the log line alone is enough to repair it.
 *
 * With fleet_config: true, etc/shared/palisade.yml (fleetPath) is a second layer of a few keys that can
 * only tighten (fleet-config.ts). A problem with that file never stops a response: what it lacks is
 * reported in loaded.fleet, and the local file and the defaults apply.
 *
 * Every alert starts a process, and parsing YAML and building the schemas would be much of its start-up
 * (bench/RESULTS.md); so the validated result is kept in cacheFile (private: the config may hold secrets) and reused while the file's inode,
 * size, mtime and ctime and the binary itself are unchanged, and, when the fleet layer is on, the shared
 * file's too: a cached value of the shared file never outlives that file. A local config with an error is
 * never cached; a shared file refused is, under its own stamp, and reported again at every alert.
 */
export async function loadLayeredConfig(path: string, cacheFile: string | undefined, fleetPath: string): Promise<LoadedConfig> {
  let stamp: string;
  try {
    const stat = statSync(path);
    // Checked on every run, the cache's too: a chown or chmod leaves a cached config as valid as before.
    const untrusted = trustProblem(stat, path, path);
    if (untrusted) throw new ConfigError(describeTrustProblem(untrusted));
    stamp = `${stat.ino}:${stat.size}:${stat.mtimeMs}:${stat.ctimeMs}`;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new ConfigError(`cannot read ${path}: ${(error as Error).message}`);
    stamp = 'absent';
  }
  stamp = `${stamp}:${buildStamp()}`;
  const cached = cacheFile ? readCache(cacheFile, path, stamp) : undefined;
  // fleet_config off: the shared file is never looked at, so no syscall more than before.
  if (cached && cached.loaded.fleet === undefined) return cached.loaded;
  if (cached && cached.loaded.fleet?.path === fleetPath && cached.fleetStamp === (await import('./fleet-config.js')).fleetFileStamp(fleetPath)) return cached.loaded;

  const raw = stamp.startsWith('absent:') ? {} : await readYaml(path);
  const config = await parseConfig(raw, path);
  const localKeys = new Set(raw !== null && typeof raw === 'object' ? Object.keys(raw) : []);
  const sources: Record<string, Layer> = {};
  for (const key of Object.keys(configSchema().shape)) sources[key] = localKeys.has(key) ? 'local' : 'default';
  let loaded: LoadedConfig = { config, sources, allowlistSources: config.allowlist.map((): Layer => 'local') };
  let fleetStamp: string | undefined;
  if (config.fleet_config) ({ loaded, stamp: fleetStamp } = await (await import('./fleet-config.js')).withFleetLayer(loaded, localKeys, fleetPath, configSchema().shape));
  if (cacheFile) writeCache(cacheFile, { path, stamp, fleetStamp, loaded });
  return loaded;
}

/** The config as an AR command or a verb acts on it; what the fleet layer refused goes to log, once a run. */
export async function loadConfig(path: string, cacheFile: string | undefined, fleetPath: string, log?: Pick<Logger, 'warn'>): Promise<Config> {
  const loaded = await loadLayeredConfig(path, cacheFile, fleetPath);
  if (log && loaded.fleet) (await import('./fleet-config.js')).warnAboutFleetLayer(loaded.fleet, log);
  return loaded.config;
}

async function readYaml(path: string): Promise<unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read ${path}: ${(error as Error).message}`);
  }
  const { parse } = await import('yaml');
  try {
    return parse(text) ?? {};
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    throw new ConfigError(`${path} is not valid YAML: ${message}`);
  }
}

/** This build of Palisade: a cache written by another version (other defaults, other keys) is not reused. */
function buildStamp(): string {
  try {
    const stat = statSync(process.execPath);
    return `${version}:${stat.ino}:${stat.mtimeMs}`;
  } catch {
    return version;
  }
}

function readCache(cacheFile: string, path: string, stamp: string): ConfigCache | undefined {
  try {
    const cache = JSON.parse(readFileSync(cacheFile, 'utf8')) as Partial<ConfigCache>;
    return cache.path === path && cache.stamp === stamp && cache.loaded !== undefined ? (cache as ConfigCache) : undefined;
  } catch {
    return undefined;
  }
}

function writeCache(cacheFile: string, cache: ConfigCache): void {
  const temp = `${cacheFile}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, JSON.stringify(cache), { mode: 0o600 });
    renameSync(temp, cacheFile);
  } catch {
    // A read-only state dir only costs the cache.
  }
}

export async function parseConfig(raw: unknown, origin: string): Promise<Config> {
  const result = configSchema().safeParse(raw);
  if (!result.success) throw new ConfigError(`${origin}: ${describeIssues(result.error)}`);
  const { http, notify, ...rest } = result.data;
  const config: Config = rest;
  // The HTTP presets' and the webhook's schemas are large; hosts without those sections never build them.
  if (http !== undefined) config.http = parseSection('http', (await import('./http-config.js')).httpConfigSchema, http, origin);
  if (notify !== undefined) config.notify = parseSection('notify', (await import('./notify-config.js')).notifyConfigSchema, notify, origin);
  return config;
}

function parseSection<T>(key: string, schema: z.ZodMiniType<T>, raw: unknown, origin: string): T {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) issue.path.unshift(key);
    throw new ConfigError(`${origin}: ${describeIssues(parsed.error)}`);
  }
  return parsed.data;
}

/** "nftables.priority: expected number, received string; backend: ..." */
export function describeIssues(error: z.core.$ZodError): string {
  return error.issues
    .map((issue) => {
      const key = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
      if (issue.code === 'unrecognized_keys') {
        const prefix = issue.path.length > 0 ? `${issue.path.join('.')}.` : '';
        return `unknown key ${issue.keys.map((k) => `"${prefix}${k}"`).join(', ')} (check its spelling)`;
      }
      return `${key}: ${issueMessage(issue)}`;
    })
    .join('; ');
}

/** zod/mini carries no message texts: an enum's issue is only "Invalid input", so name its choices. */
export function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_value') return `must be one of ${issue.values.map((value) => JSON.stringify(value)).join(', ')}`;
  return issue.message;
}
