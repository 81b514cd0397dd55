/**
 * MikroTik RouterOS v7 REST (www-ssl service), HTTP Basic with a RouterOS user. Blocks are address-list
 * entries with a native timeout, so the router forgets a block by itself when execd's delete never comes.
 *
 *   block:   PUT    /rest/ip/firewall/address-list        {"list","address","timeout","comment"}
 *   find:    GET    /rest/ip/firewall/address-list?list=L&address=A
 *   renew:   PATCH  /rest/ip/firewall/address-list/{.id}  {"timeout"}
 *   unblock: DELETE /rest/ip/firewall/address-list/{.id}
 *   (IPv6: /rest/ipv6/firewall/address-list, the same list name)
 *
 * Errors are {"error":400,"message":"Bad Request","detail":"failure: already have such entry"}.
 * Entry ids (*1A) are the router's and are reused after a reboot, so none is kept between invocations: delete
 * finds the entry by list and address and removes it only when its comment carries our marker.
 *
 * From RouterOS's REST and address-list documentation. Assumed: IPv6 entries are stored with their prefix
 * (2001:db8::1/128), so they are written and searched that way; IPv4 hosts are stored bare.
 */
import type { ActiveBlock, AddOutcome, BackendContext, Block, DeleteOutcome, FirewallBlock } from '../backend.js';
import { BackendError } from '../backend.js';
import { parseAddress } from '../../runtime/address.js';
import { apiPath, HttpClient, type HttpResponse } from '../../runtime/http-client.js';
import type { PresetConfig } from '../../runtime/http-config.js';
import { isOurs, ruleNote } from './ownership.js';
import type { PresetBackend } from './preset.js';
import { basicAuthorization, readCaFile, resolveSecret } from '../../runtime/http-secrets.js';

type MikrotikConfig = PresetConfig<'mikrotik'>;

interface AddressListEntry {
  '.id': string;
  list?: string;
  address?: string;
  timeout?: string;
  comment?: string;
}

const listPath: Record<4 | 6, string> = { 4: '/rest/ip/firewall/address-list', 6: '/rest/ipv6/firewall/address-list' };
/** RouterOS's longest timeout (35w3d13:13:56); a longer TTL would be refused. */
const maxTimeoutSeconds = 21_474_836;

export function createMikrotikPreset(config: MikrotikConfig, ctx: BackendContext): PresetBackend {
  const password = resolveSecret({ file: config.secret_file, inline: config.secret, fileOption: 'secret_file', inlineOption: 'secret' }, ctx);
  const client = new HttpClient({
    config,
    label: config.preset,
    section: 'http',
    ctx,
    headers: { authorization: basicAuthorization(config.username, password, ctx) },
    ca: readCaFile(config.ca_file),
    describeError: routerosMessage,
    secrets: [password],
  });

  async function find(block: Block, verb: string): Promise<AddressListEntry[]> {
    const response = await client.request({
      method: 'GET',
      path: listPath[block.family],
      query: { list: config.list, address: entryAddress(block) },
      verb,
      address: block.address,
    });
    return entriesIn(response).filter((entry) => entry.list === config.list && sameAddress(entry.address, block));
  }

  async function remove(family: 4 | 6, id: string, verb: string, address: string): Promise<boolean> {
    const response = await client.request({
      method: 'DELETE',
      path: `${listPath[family]}${apiPath`/${id}`}`,
      verb,
      address,
      // Gone between our GET and our DELETE: it expired, which is what we wanted.
      accept: (answer) => answer.status === 404,
    });
    return response.status !== 404;
  }

  async function ourEntries(): Promise<Array<AddressListEntry & { family: 4 | 6 }>> {
    const entries: Array<AddressListEntry & { family: 4 | 6 }> = [];
    for (const family of [4, 6] as const) {
      const response = await client.request({ method: 'GET', path: listPath[family], query: { list: config.list }, verb: 'list' });
      for (const entry of entriesIn(response)) {
        if (entry.list === config.list && isOurs(config, entry.comment)) entries.push({ ...entry, family });
      }
    }
    return entries;
  }

  async function put(block: Block, ttl: number, verb: string): Promise<boolean> {
    const response = await client.request({
      method: 'PUT',
      path: listPath[block.family],
      body: { list: config.list, address: entryAddress(block), timeout: routerosTimeout(ttl), comment: ruleNote(config, block.address, ctx.note) },
      verb,
      address: block.address,
      accept: isDuplicate,
    });
    return !isDuplicate(response);
  }

  return {
    async add(block: Block, ttl: number): Promise<AddOutcome> {
      return { result: (await put(block, ttl, 'add')) ? 'added' : 'present', restored: 0 };
    },

    async refresh(block: Block, ttl: number): Promise<AddOutcome> {
      if (await put(block, ttl, 'refresh')) return { result: 'added', restored: 0 };
      for (const entry of await find(block, 'refresh-lookup')) {
        if (!isOurs(config, entry.comment)) {
          ctx.log.warn(
            { event: 'foreign-entry', preset: 'mikrotik', address: block.address, list: config.list },
            'an address-list entry not made by Palisade holds this address; its timeout is left alone',
          );
          continue;
        }
        await client.request({
          method: 'PATCH',
          path: `${listPath[block.family]}${apiPath`/${entry['.id']}`}`,
          body: { timeout: routerosTimeout(ttl) },
          verb: 'refresh',
          address: block.address,
        });
      }
      return { result: 'present', restored: 0 };
    },

    async delete(block: ActiveBlock | Block): Promise<DeleteOutcome> {
      let deleted = false;
      for (const entry of await find(block, 'delete-lookup')) {
        if (isOurs(config, entry.comment)) {
          deleted = (await remove(block.family, entry['.id'], 'delete', block.address)) || deleted;
        } else {
          ctx.log.warn(
            { event: 'foreign-entry', preset: 'mikrotik', address: block.address, list: config.list },
            'an address-list entry not made by Palisade holds this address; it stays',
          );
        }
      }
      return { result: deleted ? 'deleted' : 'absent', restored: 0 };
    },

    async list(): Promise<FirewallBlock[]> {
      return (await ourEntries()).flatMap((entry) => {
        const parsed = parseAddress(entry.address, { allowNetwork: true });
        if (!parsed.ok) return [];
        const expiresIn = entry.timeout !== undefined ? parseRouterosDuration(entry.timeout) : undefined;
        return [{ ...parsed.block, ...(expiresIn !== undefined ? { expiresIn } : {}) }];
      });
    },

    async flush(): Promise<void> {
      for (const entry of await ourEntries()) await remove(entry.family, entry['.id'], 'flush', entry.address ?? '');
    },
  };
}

/** How RouterOS stores the address: a bare IPv4 host, every IPv6 entry with its prefix. */
function entryAddress(block: Block): string {
  return block.family === 6 && !block.address.includes('/') ? `${block.address}/128` : block.address;
}

function sameAddress(value: unknown, block: Block): boolean {
  const text = typeof value === 'string' ? value.replace(/\/(32|128)$/, '') : value;
  const parsed = parseAddress(text, { allowNetwork: true });
  return parsed.ok && parsed.block.address === block.address;
}

function routerosTimeout(ttlSeconds: number): string {
  return `${Math.min(Math.max(1, Math.round(ttlSeconds)), maxTimeoutSeconds)}s`;
}

function isDuplicate(response: HttpResponse): boolean {
  const detail = (response.body as { detail?: unknown } | undefined)?.detail;
  return response.status === 400 && typeof detail === 'string' && detail.includes('already have such entry');
}

function entriesIn(response: HttpResponse): AddressListEntry[] {
  if (!Array.isArray(response.body)) {
    throw new BackendError(`mikrotik: HTTP ${response.status} brought no list of address-list entries`, { tool: 'https:mikrotik' });
  }
  return (response.body as unknown[]).filter((entry): entry is AddressListEntry => typeof (entry as AddressListEntry | null)?.['.id'] === 'string' && /^\*[0-9A-Fa-f]+$/.test((entry as AddressListEntry)['.id']));
}

/** "Bad Request: failure: already have such entry". */
function routerosMessage(body: unknown): string | undefined {
  const { message, detail } = (body ?? {}) as { message?: unknown; detail?: unknown };
  if (typeof message !== 'string') return undefined;
  return typeof detail === 'string' && detail !== '' ? `${message}: ${detail}` : message;
}

const durationUnits: Record<string, number> = { w: 604_800, d: 86_400, h: 3600, m: 60, s: 1 };

/** RouterOS durations as the REST API prints them: "6d23h59m58s", "1w2d", "00:09:58", "1d02:03:04". */
export function parseRouterosDuration(text: string): number | undefined {
  const match = /^((?:\d+[wdhms])*)(?:(\d{1,2}):(\d{2}):(\d{2})(?:\.\d+)?)?$/.exec(text.trim());
  if (match === null || text.trim() === '') return undefined;
  let seconds = 0;
  for (const [, amount, unit] of (match[1] ?? '').matchAll(/(\d+)([wdhms])/g)) seconds += Number(amount) * (durationUnits[unit ?? 's'] ?? 0);
  if (match[2] !== undefined) seconds += Number(match[2]) * 3600 + Number(match[3]) * 60 + Number(match[4]);
  return seconds;
}
