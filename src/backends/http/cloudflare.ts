/**
 * Cloudflare IP Access Rules (API v4), at zone or account scope, with an API token (Bearer; permission
 * "Firewall Services / Access Rules: Edit" for the zone or account).
 *
 *   block:   POST   {scope}/firewall/access_rules/rules  {"mode":"block","configuration":{"target","value"},"notes"}
 *   lookup:  GET    {scope}/firewall/access_rules/rules?configuration.target=ip&configuration.value=IP
 *   unblock: DELETE {scope}/firewall/access_rules/rules/{id}
 *
 * Cloudflare keeps one rule per configuration and answers a second with HTTP 400, code 10009
 * ("firewallaccessrules.api.duplicate_of_existing"). The rule id comes back in AddOutcome.backendData and the
 * state file hands it to delete; without it, delete looks the rule up. Only rules whose notes start with our
 * marker are ever deleted. Rules have no expiry: Palisade's own state decides when they go.
 *
 * Verified against Cloudflare's API reference and its TypeScript SDK (paths, bodies, errors[{code,message}],
 * result_info pagination). Assumed: the list filter on configuration.value is documented for IPv4 addresses and
 * /16, /24 ranges only, so IPv6 rules are found by searching their notes, which end with the address (a
 * foreign IPv6 rule, which lacks that, is not found: a duplicate is then reported present with a warning, its mode
 * unchecked); and an unknown rule id on DELETE answers 404.
 */
import type { ActiveBlock, AddOutcome, BackendContext, Block, DeleteOutcome, FirewallBlock } from '../backend.js';
import { BackendError } from '../backend.js';
import { parseAddress } from '../../runtime/address.js';
import { apiPath, HttpClient, type HttpResponse } from '../../runtime/http-client.js';
import type { PresetConfig } from '../../runtime/http-config.js';
import { isOurs, ownershipMarker, ruleNote } from './ownership.js';
import type { PresetBackend } from './preset.js';
import { readCaFile, resolveSecret } from '../../runtime/http-secrets.js';

type CloudflareConfig = PresetConfig<'cloudflare'>;

interface AccessRule {
  id: string;
  mode?: string;
  notes?: string;
  configuration?: { target?: string; value?: string };
}

const duplicateCode = 10009;
/** Where the rule id lives in backendData. */
const ruleIdKey = 'rule_id';
/** Bounds list and flush: 100 pages of 100 rules is far beyond what one host blocks at a time. */
const maxPages = 100;

/** Cloudflare's ranges: IPv4 /16 and /24, IPv6 /32, /48 and /64 (IP Access rules parameters). */
const rangePrefixes: Record<4 | 6, number[]> = { 4: [16, 24], 6: [32, 48, 64] };

export function createCloudflarePreset(config: CloudflareConfig, ctx: BackendContext): PresetBackend {
  const token = resolveSecret({ file: config.token_file, inline: config.token, fileOption: 'token_file', inlineOption: 'token' }, ctx);
  const client = new HttpClient({
    config,
    label: config.preset,
    section: 'http',
    ctx,
    headers: { authorization: `Bearer ${token}` },
    ca: readCaFile(config.ca_file),
    describeError: cloudflareMessage,
    secrets: [token],
  });
  const rulesPath =
    config.zone_id !== undefined
      ? apiPath`/zones/${config.zone_id}/firewall/access_rules/rules`
      : apiPath`/accounts/${config.account_id ?? ''}/firewall/access_rules/rules`;

  /** The rules whose configuration is exactly this block, ours or not. */
  async function lookup(block: Block, verb: string): Promise<AccessRule[]> {
    const { target, value } = configurationFor(block);
    const query: Record<string, string> =
      block.family === 4
        ? { 'configuration.target': target, 'configuration.value': value, match: 'all', per_page: '50' }
        : { notes: value, match: 'all', per_page: '50' };
    const response = await client.request({ method: 'GET', path: rulesPath, query, verb, address: block.address });
    return rulesIn(response).filter((rule) => sameAddress(rule.configuration?.value, block));
  }

  async function deleteRule(id: string, verb: string, address?: string): Promise<boolean> {
    const response = await client.request({
      method: 'DELETE',
      path: `${rulesPath}${apiPath`/${id}`}`,
      verb,
      ...(address !== undefined ? { address } : {}),
      accept: (answer) => answer.status === 404,
    });
    return response.status !== 404;
  }

  async function ourRules(): Promise<AccessRule[]> {
    const rules: AccessRule[] = [];
    for (let page = 1; page <= maxPages; page++) {
      const response = await client.request({
        method: 'GET',
        path: rulesPath,
        query: { notes: ownershipMarker(config), mode: 'block', match: 'all', per_page: '100', page: String(page) },
        verb: 'list',
      });
      rules.push(...rulesIn(response).filter((rule) => isOurs(config, rule.notes)));
      const info = (response.body as { result_info?: { total_pages?: number } } | undefined)?.result_info;
      if (info?.total_pages === undefined || page >= info.total_pages) break;
    }
    return rules;
  }

  async function add(block: Block, verb: string): Promise<AddOutcome> {
    const response = await client.request({
      method: 'POST',
      path: rulesPath,
      body: { mode: 'block', configuration: configurationFor(block), notes: ruleNote(config, block.address, ctx.note) },
      verb,
      address: block.address,
      accept: isDuplicate,
    });
    if (!isDuplicate(response)) {
      const id = (response.body as { result?: { id?: unknown } } | undefined)?.result?.id;
      if (typeof id !== 'string') throw unexpected(response, 'a created rule without result.id');
      return { result: 'added', restored: 0, backendData: { [ruleIdKey]: id } };
    }
    const existing = await lookup(block, `${verb}-lookup`);
    const ours = existing.find((rule) => isOurs(config, rule.notes));
    if (ours !== undefined) return { result: 'present', restored: 0, backendData: { [ruleIdKey]: ours.id } };
    const foreign = existing[0];
    if (foreign !== undefined && foreign.mode !== 'block') {
      // One rule per address: a whitelist or challenge rule someone else made means we cannot block it here.
      throw new BackendError(
        `cloudflare: cannot block ${block.address}: an IP Access rule with mode "${foreign.mode}" (notes ${JSON.stringify(foreign.notes ?? '')}) already holds this address; remove or change it in the dashboard`,
        { tool: 'https:cloudflare', stderr: 'duplicate_of_existing' },
      );
    }
    ctx.log.warn(
      { event: 'foreign-rule', preset: 'cloudflare', address: block.address, rule_id: foreign?.id ?? null },
      'a rule not made by Palisade already covers this address; it stays, and Palisade will never remove it',
    );
    return { result: 'present', restored: 0 };
  }

  return {
    add: (block, _ttl) => add(block, 'add'),
    // No expiry on Cloudflare's side: refreshing means making sure the rule is there.
    refresh: (block, _ttl) => add(block, 'refresh'),

    async delete(block: ActiveBlock | Block): Promise<DeleteOutcome> {
      const storedId = 'backendData' in block ? block.backendData?.[ruleIdKey] : undefined;
      if (storedId !== undefined && /^[0-9a-f]{32}$/.test(storedId)) {
        // The id came from our own create (or a lookup that saw our marker), so it names our rule.
        const deleted = await deleteRule(storedId, 'delete', block.address);
        return { result: deleted ? 'deleted' : 'absent', restored: 0 };
      }
      const ours = (await lookup(block, 'delete-lookup')).filter((rule) => isOurs(config, rule.notes));
      let deleted = false;
      for (const rule of ours) deleted = (await deleteRule(rule.id, 'delete', block.address)) || deleted;
      return { result: deleted ? 'deleted' : 'absent', restored: 0 };
    },

    async list(): Promise<FirewallBlock[]> {
      return (await ourRules()).flatMap((rule) => {
        const parsed = parseAddress(rule.configuration?.value, { allowNetwork: true });
        return parsed.ok ? [parsed.block] : [];
      });
    },

    async flush(): Promise<void> {
      for (const rule of await ourRules()) await deleteRule(rule.id, 'flush', rule.configuration?.value);
    },
  };
}

function configurationFor(block: Block): { target: 'ip' | 'ip6' | 'ip_range'; value: string } {
  const single = block.prefix === (block.family === 4 ? 32 : 128);
  if (single) return { target: block.family === 4 ? 'ip' : 'ip6', value: block.address };
  if (rangePrefixes[block.family].includes(block.prefix)) return { target: 'ip_range', value: block.address };
  throw new BackendError(
    `cloudflare: cannot block ${block.address}: IP Access rules take IPv4 /16 or /24 and IPv6 /32, /48 or /64 ranges only` +
      (block.family === 6 ? ' (set ipv6_prefix to 64 or 128)' : ''),
    { tool: 'https:cloudflare' },
  );
}

function sameAddress(value: unknown, block: Block): boolean {
  const parsed = parseAddress(value, { allowNetwork: true });
  return parsed.ok && parsed.block.address === block.address;
}

function isDuplicate(response: HttpResponse): boolean {
  if (response.status !== 400) return false;
  const errors = (response.body as { errors?: Array<{ code?: unknown; message?: unknown }> } | undefined)?.errors ?? [];
  return errors.some((error) => error.code === duplicateCode || String(error.message).includes('duplicate_of_existing'));
}

function rulesIn(response: HttpResponse): AccessRule[] {
  const result = (response.body as { result?: unknown } | undefined)?.result;
  if (!Array.isArray(result)) throw unexpected(response, 'a rule list without a result array');
  return result.filter((rule): rule is AccessRule => typeof (rule as AccessRule | null)?.id === 'string');
}

function unexpected(response: HttpResponse, what: string): BackendError {
  return new BackendError(`cloudflare: HTTP ${response.status} brought ${what}`, { tool: 'https:cloudflare' });
}

/** "Authentication error (code 10000)": the API's first error, and how many more there were. */
function cloudflareMessage(body: unknown): string | undefined {
  const errors = (body as { errors?: Array<{ code?: unknown; message?: unknown }> } | null)?.errors;
  const first = Array.isArray(errors) ? errors[0] : undefined;
  if (first === undefined || typeof first.message !== 'string') return undefined;
  const more = errors!.length > 1 ? ` (+${errors!.length - 1} more)` : '';
  return `${first.message}${first.code !== undefined ? ` (code ${String(first.code)})` : ''}${more}`;
}
