/**
 * The `http:` section of etc/palisade.yml: which firewall API, where, with which credentials, and how patient.
 * One schema per preset, told apart by `preset`; every type the HTTP backend uses is inferred from here. It lives
 * in runtime/ with the rest of the config's schema; the presets themselves are in backends/http/.
 *
 * This module must not import config.ts (that module imports this one), so durations here are plain
 * numbers of seconds: sub-second timeouts are legitimate for an API on the local network.
 */
import { hostname } from 'node:os';
import * as z from 'zod/mini';
import { absolutePathSchema, isLoopbackUrl, transportLimitsShape } from './http-transport.js';

/** Placeholders a path or body template may use: values Palisade validated itself, encoded where they land. */
export const requestPlaceholders = ['address', 'duration', 'reason'] as const;
/** The only placeholder a header template may use. It never reaches a path or a body, so never a log line. */
export const headerPlaceholders = ['token'] as const;

const placeholderPattern = /\{([a-z_]+)\}/g;

function placeholdersIn(text: string): string[] {
  return [...text.matchAll(placeholderPattern)].map((match) => match[1] ?? '');
}

/** The issues for placeholders a template may not use. */
function placeholderIssues(text: string, allowed: readonly string[]): string[] {
  const choice = allowed.length > 0 ? `use ${allowed.map((a) => `{${a}}`).join(', ')}` : 'no placeholder is allowed here';
  return placeholdersIn(text)
    .filter((name) => !allowed.includes(name))
    .map((name) => `unknown placeholder {${name}} in "${text}" (${choice})`);
}

const templateString = (allowed: readonly string[]) =>
  z.string().check(
    z.superRefine((text, ctx) => {
      for (const message of placeholderIssues(text, allowed)) ctx.issues.push({ code: 'custom', message, input: text });
    }),
  );

/** A path below http.url. Placeholders are URL-encoded when substituted, so an address can never add a path segment. */
const pathTemplate = (allowed: readonly string[]) =>
  templateString(allowed).check(z.regex(/^\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/{}]*$/, 'must start with "/" and hold only URL path characters'));

/** A JSON body whose string leaves may hold placeholders; "{duration}" alone becomes a number. */
const bodyTemplate = z.json().check(
  z.superRefine((value, ctx) => {
    const visit = (node: unknown): void => {
      if (typeof node === 'string') for (const message of placeholderIssues(node, requestPlaceholders)) ctx.issues.push({ code: 'custom', message, input: node });
      else if (Array.isArray(node)) node.forEach(visit);
      else if (node !== null && typeof node === 'object') Object.values(node).forEach(visit);
    };
    visit(value);
  }),
);

const methodSchema = z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

const requestTemplateSchema = z.strictObject({
  method: methodSchema,
  path: pathTemplate(requestPlaceholders),
  body: z.optional(bodyTemplate),
});

/** A dotted path into a JSON response: data.rules, source.ip. */
const jsonPathSchema = z.string().check(z.regex(/^[A-Za-z0-9_@$-]+(\.[A-Za-z0-9_@$-]+)*$/, 'must be a dotted field path such as data.rules'));

/** https://, or http:// where the preset's check allows it (loopback, or plain_http: true). */
const apiUrlSchema = z.url({ protocol: /^https?$/, error: 'must be an https:// URL (credentials must not cross the network in clear)' }).check(
  z.refine((text) => {
    const url = new URL(text);
    return url.username === '' && url.password === '' && url.search === '' && url.hash === '';
  }, 'must hold no user, password, query or fragment (credentials go in token_file or secret_file)'),
);

/** RouterOS, OPNsense and Cloudflare all store it; printable ASCII keeps every one of them happy. */
const reasonSchema = z.string().check(z.minLength(1), z.maxLength(120), z.regex(/^[\x20-\x7e]+$/, 'must be printable ASCII on one line'));

const pattern = (regex: RegExp, message: string) => z.string().check(z.regex(regex, message));
const statusList = z.array(z.int().check(z.gte(200), z.lte(599)));
const nonEmpty = () => z.string().check(z.minLength(1));

function defaultOwner(): string {
  return hostname().replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 63) || 'host';
}

/** What every preset shares: transport, patience, and how our rules are marked. */
const transportShape = {
  ...transportLimitsShape,
  /** Turns certificate verification off. Never implied by anything else, and logged as a warning on every call. */
  insecure: z._default(z.boolean(), false),
  /** Allows an http:// url off this host, for an appliance that speaks nothing else; logged as a warning on every call. */
  plain_http: z._default(z.boolean(), false),
  /** Names this host in the marker on every rule, so hosts sharing one firewall never remove each other's rules. */
  owner: z._default(pattern(/^[A-Za-z0-9._-]{1,63}$/, 'must be 1-63 letters, digits, ".", "_" or "-"'), defaultOwner),
  /** Why, as the firewall shows it next to the marker. */
  reason: z._default(reasonSchema, 'Wazuh active response'),
};

const tokenShape = {
  /** File holding the API token alone; it must not be readable by group or others. */
  token_file: z.optional(absolutePathSchema),
  /** The token itself, accepted only when the config file is private (mode 0600 or stricter). */
  token: z.optional(nonEmpty()),
};

const secretShape = {
  /** File holding the secret (OPNsense: also its apikey.txt as downloaded, key= and secret= lines). */
  secret_file: z.optional(absolutePathSchema),
  /** The secret itself, accepted only when the config file is private. */
  secret: z.optional(nonEmpty()),
};

const genericSchema = z.strictObject({
  preset: z.literal('generic'),
  /** The API's base; template paths are appended to it. */
  url: apiUrlSchema,
  ...transportShape,
  ...tokenShape,
  /** The Wazuh custom AR guide's firewall: POST {url}/rules {"action":"block","source":IP,"duration":S,"reason":T}. */
  block: z._default(requestTemplateSchema, () => ({
    method: 'POST' as const,
    path: '/rules',
    body: { action: 'block', source: '{address}', duration: '{duration}', reason: '{reason}' },
  })),
  unblock: z._default(requestTemplateSchema, () => ({ method: 'DELETE' as const, path: '/rules/{address}' })),
  headers: z._default(z.record(pattern(/^[A-Za-z0-9-]+$/, 'must be an HTTP header name'), templateString(headerPlaceholders)), () => ({
    Authorization: 'Bearer {token}',
  })),
  /** Statuses that mean "already blocked" on block. */
  present_status: z._default(statusList, () => [409]),
  /** Statuses that mean "was not blocked" on unblock. */
  absent_status: z._default(statusList, () => [404]),
  /** How to read the rules back, when the API can: without it, list and flush use Palisade's own state. */
  list: z.optional(
    z.strictObject({
      method: z._default(z.enum(['GET', 'POST']), 'GET'),
      path: pathTemplate([]),
      /** Where the array of rules sits in the response; omitted, the response is the array. */
      items: z.optional(jsonPathSchema),
      address_field: z._default(jsonPathSchema, 'source'),
      /** When set, only rules whose reason carries our marker are ours. */
      reason_field: z.optional(jsonPathSchema),
    }),
  ),
});

const cloudflareIdSchema = pattern(/^[0-9a-f]{32}$/, 'must be the 32-hex-digit id shown in the Cloudflare dashboard');

const cloudflareSchema = z.strictObject({
  preset: z.literal('cloudflare'),
  url: z._default(apiUrlSchema, 'https://api.cloudflare.com/client/v4'),
  ...transportShape,
  ...tokenShape,
  /** Exactly one of zone_id (rules for one site) or account_id (rules for every zone of the account). */
  zone_id: z.optional(cloudflareIdSchema),
  account_id: z.optional(cloudflareIdSchema),
});

const opnsenseSchema = z.strictObject({
  preset: z.literal('opnsense'),
  /** The appliance, e.g. https://fw.example.lan; /api/... is appended. */
  url: apiUrlSchema,
  ...transportShape,
  ...secretShape,
  /** The API key (the Basic user); may instead come from secret_file in OPNsense's key=/secret= format. */
  api_key: z.optional(nonEmpty()),
  /**
   * A firewall alias dedicated to Palisade, referenced by a block rule. Type External is the one meant to be
   * fed by the API (alias_util edits the live pf table; host/network aliases also rewrite config.xml).
   */
  alias: pattern(/^[A-Za-z0-9_]{1,31}$/, 'must be an OPNsense alias name: 1-31 letters, digits or "_"'),
});

const mikrotikSchema = z.strictObject({
  preset: z.literal('mikrotik'),
  /** The router's www-ssl service, e.g. https://router.example.lan; /rest/... is appended. */
  url: apiUrlSchema,
  ...transportShape,
  ...secretShape,
  /** The RouterOS user (a group with api, rest-api, read and write policies). The password is the secret. */
  username: z.string().check(z.minLength(1), z.maxLength(64)),
  /** The address list our firewall filter rule drops: /ip and /ipv6 firewall address-list share the name. */
  list: z._default(pattern(/^[A-Za-z0-9._-]{1,63}$/, 'must be 1-63 letters, digits, ".", "_" or "-"'), 'palisade'),
});

export const httpConfigSchema = z.discriminatedUnion('preset', [genericSchema, cloudflareSchema, opnsenseSchema, mikrotikSchema]).check(
  z.superRefine((config, ctx) => {
    const issue = (key: string, message: string) => ctx.issues.push({ code: 'custom', path: [key], message, input: config });
    const exactlyOne = (file: string, inline: string, present: [unknown, unknown]) => {
      if (present[0] !== undefined && present[1] !== undefined) issue(inline, `set ${file} or ${inline}, not both`);
      else if (present[0] === undefined && present[1] === undefined) issue(file, `the ${config.preset} preset needs ${file} (a file readable by root only)`);
    };
    if (config.preset === 'generic' || config.preset === 'cloudflare') {
      exactlyOne('token_file', 'token', [config.token_file, config.token]);
    } else {
      exactlyOne('secret_file', 'secret', [config.secret_file, config.secret]);
    }
    if (config.preset === 'cloudflare' && (config.zone_id === undefined) === (config.account_id === undefined)) {
      issue('zone_id', 'set exactly one of zone_id or account_id');
    }
    if (config.preset === 'opnsense' && config.api_key === undefined && config.secret_file === undefined) {
      issue('api_key', 'set api_key, or secret_file holding OPNsense key= and secret= lines');
    }
    if (config.insecure && config.ca_file !== undefined) issue('insecure', 'ca_file and insecure contradict each other: keep ca_file');
    const url = new URL(config.url);
    const credential = config.preset === 'generic' || config.preset === 'cloudflare' ? 'token' : 'password';
    if (url.protocol === 'http:' && !config.plain_http && !isLoopbackUrl(url)) {
      issue('url', `http:// sends the ${credential} in clear to ${url.host}: use https://, an http:// proxy on loopback, or set plain_http: true if this appliance speaks nothing else`);
    }
    if (url.protocol === 'https:' && config.plain_http) issue('plain_http', 'plain_http applies to an http:// url only: remove it');
  }),
);

export type HttpConfig = z.infer<typeof httpConfigSchema>;
export type HttpPreset = HttpConfig['preset'];
export type PresetConfig<P extends HttpPreset> = Extract<HttpConfig, { preset: P }>;
