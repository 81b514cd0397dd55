/**
 * Any REST firewall, described in the config. The default is the HTTP firewall of Wazuh's custom AR guide:
 *
 *   block:   POST   {url}/rules       {"action":"block","source":IP,"duration":SECONDS,"reason":TEXT}
 *   unblock: DELETE {url}/rules/{IP}
 *   Authorization: Bearer TOKEN
 *
 * Templates take only values Palisade validated itself: {address}, {duration} and {reason} in paths (percent-
 * encoded) and JSON bodies (a string leaf that is exactly "{duration}" becomes a number; everything is escaped
 * by JSON serialisation), and {token} in headers alone, so the token can never land in a URL or a log line.
 */
import type { ActiveBlock, AddOutcome, BackendContext, Block, DeleteOutcome, FirewallBlock } from '../backend.js';
import { BackendError } from '../backend.js';
import { parseAddress } from '../../runtime/address.js';
import { HttpClient, pick, usualErrorMessage } from '../../runtime/http-client.js';
import type { PresetConfig } from '../../runtime/http-config.js';
import { isOurs, ruleNote } from './ownership.js';
import type { PresetBackend } from './preset.js';
import { readCaFile, resolveSecret } from '../../runtime/http-secrets.js';
import { nowSeconds } from '../../runtime/duration.js';

type GenericConfig = PresetConfig<'generic'>;
type RequestTemplate = GenericConfig['block'];
type Values = { address: string; duration: number; reason: string };

export function createGenericPreset(config: GenericConfig, ctx: BackendContext): PresetBackend {
  const token = resolveSecret({ file: config.token_file, inline: config.token, fileOption: 'token_file', inlineOption: 'token' }, ctx);
  const headers = Object.fromEntries(Object.entries(config.headers).map(([name, value]) => [name, value.replaceAll('{token}', token)]));
  const client = new HttpClient({
    config,
    label: config.preset,
    section: 'http',
    ctx,
    headers,
    ca: readCaFile(config.ca_file),
    describeError: usualErrorMessage,
    secrets: [token],
  });

  const values = (block: Block, ttl: number): Values => ({ address: block.address, duration: ttl, reason: ruleNote(config, block.address, ctx.note) });

  function send(template: RequestTemplate, block: Block, ttl: number, verb: string, accepted: number[]) {
    const filled = values(block, ttl);
    return client.request({
      method: template.method,
      path: renderPath(template.path, filled),
      ...(template.body !== undefined ? { body: renderBody(template.body, filled) } : {}),
      verb,
      address: block.address,
      accept: (response) => accepted.includes(response.status),
      // Block and unblock answers are judged by status alone; what a firewall writes in them is its business.
      bodyMayBeText: true,
    });
  }

  async function add(block: Block, ttl: number, verb: string): Promise<AddOutcome> {
    const response = await send(config.block, block, ttl, verb, config.present_status);
    return { result: config.present_status.includes(response.status) ? 'present' : 'added', restored: 0 };
  }

  async function remoteList(): Promise<FirewallBlock[] | undefined> {
    const list = config.list;
    if (list === undefined) return undefined;
    const response = await client.request({ method: list.method, path: list.path, verb: 'list' });
    const items = pick(response.body, list.items);
    if (!Array.isArray(items)) {
      throw new BackendError(`generic: the list answer holds no array at ${list.items ?? 'its top level'} (http.list.items)`, { tool: 'https:generic' });
    }
    return items.flatMap((item) => {
      if (list.reason_field !== undefined && !isOurs(config, pick(item, list.reason_field))) return [];
      const parsed = parseAddress(pick(item, list.address_field), { allowNetwork: true });
      return parsed.ok ? [parsed.block] : [];
    });
  }

  /** Without a list call, what Palisade's state says it holds there. */
  function fromState(): FirewallBlock[] {
    const now = nowSeconds();
    return ctx.restorable().map(({ address, family, prefix, expiresAt }) => ({ address, family, prefix, expiresIn: Math.max(0, expiresAt - now) }));
  }

  async function remove(block: Block, verb: string): Promise<DeleteOutcome> {
    const response = await send(config.unblock, block, 0, verb, config.absent_status);
    return { result: config.absent_status.includes(response.status) ? 'absent' : 'deleted', restored: 0 };
  }

  return {
    add: (block, ttl) => add(block, ttl, 'add'),
    // The block call again: the API decides whether that renews its timer (the guide's firewall takes "duration").
    refresh: (block, ttl) => add(block, ttl, 'refresh'),
    delete: (block: ActiveBlock | Block) => remove(block, 'delete'),
    list: async () => (await remoteList()) ?? fromState(),
    async flush(): Promise<void> {
      for (const block of (await remoteList()) ?? fromState()) await remove(block, 'flush');
    },
  };
}

/** Substitutes percent-encoded values: "/rules/{address}" with 198.51.100.0/24 gives /rules/198.51.100.0%2F24. */
export function renderPath(template: string, values: Values): string {
  return template.replace(/\{([a-z_]+)\}/g, (whole, name: string) =>
    name in values ? encodeURIComponent(String(values[name as keyof Values])) : whole,
  );
}

/** Fills string leaves; the result is serialised as JSON, which escapes whatever the values hold. */
export function renderBody(template: unknown, values: Values): unknown {
  if (typeof template === 'string') {
    const whole = /^\{([a-z_]+)\}$/.exec(template);
    if (whole !== null && whole[1] !== undefined && whole[1] in values) return values[whole[1] as keyof Values];
    return template.replace(/\{([a-z_]+)\}/g, (text, name: string) => (name in values ? String(values[name as keyof Values]) : text));
  }
  if (Array.isArray(template)) return template.map((item) => renderBody(item, values));
  if (template !== null && typeof template === 'object') {
    return Object.fromEntries(Object.entries(template).map(([key, item]) => [key, renderBody(item, values)]));
  }
  return template;
}
