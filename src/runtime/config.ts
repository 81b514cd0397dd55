import { existsSync, readFileSync } from 'node:fs';
import { z } from 'zod';
import { backendNames } from '../backends/backend.js';
import { httpConfigSchema } from '../backends/http/config.js';
import { parseAddress } from './address.js';
import { parseDuration } from './duration.js';

/** Seconds, written as 3600 or "1h", "7d". */
export const durationSchema = z
  .union([z.number().int().positive(), z.string()])
  .transform((value, ctx) => {
    const seconds = typeof value === 'number' ? value : parseDuration(value);
    if (seconds === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${value}" is not a duration (use seconds or 30m, 12h, 7d)` });
      return z.NEVER;
    }
    return seconds;
  });

export const networkSchema = z.string().transform((value, ctx) => {
  const parsed = parseAddress(value, { allowNetwork: true });
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: `"${value}" is not an address or network: ${parsed.reason}` });
    return z.NEVER;
  }
  return parsed.block;
});

/** A dotted path into the alert, as Wazuh's decoders name fields: data.srcip, data.win.eventdata.ipAddress. */
export const fieldPathSchema = z
  .string()
  .regex(/^[A-Za-z0-9_@-]+(\.[A-Za-z0-9_@-]+)*$/, 'must be a dotted field path such as data.src_ip');

const nftablesSchema = z.strictObject({
  table: z.string().regex(/^[a-z][a-z0-9_]{0,30}$/).default('palisade'),
  /** Below the usual filter priority (0), so a block applies before any accept of the host's own rules. */
  priority: z.number().int().min(-400).max(400).default(-10),
  hooks: z.array(z.enum(['input', 'forward'])).min(1).default(['input', 'forward']),
});

const ipsetSchema = z.strictObject({
  name_prefix: z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,20}$/).default('palisade'),
  maxelem: z.number().int().min(1024).max(1 << 26).default(1_048_576),
  chains: z.array(z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,28}$/)).min(1).default(['INPUT', 'FORWARD']),
});

const iptablesSchema = z.strictObject({
  chain: z.string().regex(/^[A-Z][A-Z0-9_-]{0,28}$/).default('PALISADE'),
  parent_chains: z.array(z.string().regex(/^[A-Za-z][A-Za-z0-9_-]{0,28}$/)).min(1).default(['INPUT', 'FORWARD']),
  /** Also jump from DOCKER-USER when it exists: published container ports bypass INPUT. */
  docker_user: z.boolean().default(true),
  /** Which iptables holds the host's rules; auto picks the one with rules, nft when neither has any. */
  variant: z.enum(['auto', 'nft', 'legacy']).default('auto'),
});

export const configSchema = z.strictObject({
  backend: z.enum(['auto', ...backendNames]).default('auto'),
  /** drop is silent; reject answers with an ICMP/TCP reset so a legitimate client fails fast. */
  action: z.enum(['drop', 'reject']).default('drop'),
  /** The longest a block may live in the firewall without a delete from execd: the kernel timer's value. */
  max_ttl: durationSchema.default(604_800),
  /** Networks never blocked, on top of loopback, link-local, multicast, this host and its manager. */
  allowlist: z.array(networkSchema).default([]),
  /** Also never block RFC 1918, CGNAT and unique-local addresses. */
  allowlist_private: z.boolean().default(false),
  /** Block an IPv6 attacker's whole /N (64 is typical: one host often owns a /64). 128 blocks the address only. */
  ipv6_prefix: z.number().int().min(16).max(128).default(128),
  /** Where to find the attacker's address, in order. Default: Wazuh 4.14's get_srcip_from_json. */
  source_fields: z.array(fieldPathSchema).min(1).optional(),
  /** Extra manager addresses to protect, beyond those read from the agent's ossec.conf. */
  manager_addresses: z.array(z.string().min(1).max(253)).default([]),
  /** How long to wait for the state lock before giving up with an error. */
  lock_timeout: durationSchema.default(30),
  /** Bound on every external command (nft, ipset, iptables, ip, usermod ...). */
  command_timeout: durationSchema.default(10),
  nftables: nftablesSchema.default(nftablesSchema.parse({})),
  ipset: ipsetSchema.default(ipsetSchema.parse({})),
  iptables: iptablesSchema.default(iptablesSchema.parse({})),
  http: httpConfigSchema.optional(),
});

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Defaults only: what a host with no etc/palisade.yml runs with. */
export function defaultConfig(): Config {
  return configSchema.parse({});
}

/**
 * Read and validate the YAML config. A missing file means defaults; anything wrong is one ConfigError
 * naming the file, the key and the fix, so that the log line alone is enough to repair it.
 */
export async function loadConfig(path: string): Promise<Config> {
  if (!existsSync(path)) return defaultConfig();
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read ${path}: ${(error as Error).message}`);
  }
  const { parse } = await import('yaml');
  let raw: unknown;
  try {
    raw = parse(text) ?? {};
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    throw new ConfigError(`${path} is not valid YAML: ${message}`);
  }
  return parseConfig(raw, path);
}

export function parseConfig(raw: unknown, origin: string): Config {
  const result = configSchema.safeParse(raw);
  if (result.success) return result.data;
  throw new ConfigError(`${origin}: ${describeIssues(result.error)}`);
}

/** "nftables.priority: expected number, received string; backend: ..." */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const key = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
      if (issue.code === 'unrecognized_keys') {
        const prefix = issue.path.length > 0 ? `${issue.path.join('.')}.` : '';
        return `unknown key ${issue.keys.map((k) => `"${prefix}${k}"`).join(', ')} (check its spelling)`;
      }
      return `${key}: ${issue.message}`;
    })
    .join('; ');
}
