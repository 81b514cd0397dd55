/**
 * OPNsense alias_util API, HTTP Basic with the API key and secret. The alias is dedicated to Palisade and
 * referenced by a block rule; alias_util adds and removes one address at a time on the server, which does its
 * own locking, so no whole-alias read-modify-write ever happens here.
 *
 *   block:   POST /api/firewall/alias_util/add/{alias}     {"address":"203.0.113.7"}  -> {"status":"done"}
 *   unblock: POST /api/firewall/alias_util/delete/{alias}  {"address":...}            -> {"status":"done"}
 *   find:    POST /api/firewall/alias_util/list/{alias}    {"searchPhrase":...}       -> {"rows":[{"ip":...}]}
 *   flush:   POST /api/firewall/alias_util/flush/{alias}
 *
 * Read from OPNsense's AliasUtilController: add answers HTTP 200 with {"status":"failed","status_msg":"non
 * existing alias X"} for an unknown alias and {"status":"not_an_address"} for bad input, and both add and delete
 * answer "done" whether or not the address was there. Authentication failures are {"status":401,"message":...}.
 * Addresses carry no comment, so ownership is the alias itself, and no native expiry exists.
 */
import type { ActiveBlock, AddOutcome, BackendContext, Block, DeleteOutcome, FirewallBlock } from '../backend.js';
import { BackendError } from '../backend.js';
import { parseAddress } from '../../runtime/address.js';
import { apiPath, HttpClient, type HttpResponse } from '../../runtime/http-client.js';
import type { PresetConfig } from '../../runtime/http-config.js';
import type { PresetBackend } from './preset.js';
import { basicAuthorization, checkSecret, readCaFile, readSecretFile, resolveSecret } from '../../runtime/http-secrets.js';

type OpnsenseConfig = PresetConfig<'opnsense'>;

export function createOpnsensePreset(config: OpnsenseConfig, ctx: BackendContext): PresetBackend {
  const { key, secret } = credentials(config, ctx);
  const client = new HttpClient({
    config,
    label: config.preset,
    section: 'http',
    ctx,
    headers: { authorization: basicAuthorization(key, secret, ctx) },
    ca: readCaFile(config.ca_file),
    describeError: opnsenseMessage,
    secrets: [key, secret],
  });
  const base = apiPath`/api/firewall/alias_util`;
  const action = (verb: 'add' | 'delete' | 'list' | 'flush') => `${base}/${verb}${apiPath`/${config.alias}`}`;

  /** alias_util answers 200 even when it did nothing; the status field says whether it did. */
  function requireDone(response: HttpResponse, what: string, address?: string): void {
    const status = (response.body as { status?: unknown } | undefined)?.status;
    if (status === 'done') return;
    const said = opnsenseMessage(response.body) ?? JSON.stringify(status ?? null);
    const hint = /non existing alias/.test(said) ? `; create alias ${config.alias} (type External) under Firewall > Aliases` : '';
    throw new BackendError(`opnsense: ${what}${address ? ` ${address}` : ''} was refused: ${said}${hint}`, { tool: 'https:opnsense', stderr: said });
  }

  async function entries(verb: string, searchPhrase?: string, address?: string): Promise<Block[]> {
    const response = await client.request({
      method: 'POST',
      path: action('list'),
      // rowCount is a page size (default 9999); the whole table fits in one page of a million.
      body: searchPhrase !== undefined ? { current: 1, rowCount: 100, searchPhrase } : { current: 1, rowCount: 1_000_000 },
      verb,
      ...(address !== undefined ? { address } : {}),
    });
    // Releases before 23.1 answer a bare array of addresses; later ones a page of {"ip": ...} rows.
    const body = response.body as { rows?: Array<{ ip?: unknown }> } | unknown[] | undefined;
    const raw = Array.isArray(body) ? body : Array.isArray(body?.rows) ? body.rows.map((row) => row.ip) : undefined;
    if (raw === undefined) throw new BackendError(`opnsense: HTTP ${response.status} brought no alias content`, { tool: 'https:opnsense' });
    return raw.flatMap((value) => {
      const parsed = parseAddress(value, { allowNetwork: true });
      return parsed.ok ? [parsed.block] : [];
    });
  }

  async function add(block: Block, verb: string): Promise<AddOutcome> {
    const response = await client.request({ method: 'POST', path: action('add'), body: { address: block.address }, verb, address: block.address });
    requireDone(response, verb, block.address);
    // The API does not say whether the address was already there, and asking first would list on the add path.
    return { result: 'added', restored: 0 };
  }

  return {
    add: (block, _ttl) => add(block, 'add'),
    refresh: (block, _ttl) => add(block, 'refresh'),

    async delete(block: ActiveBlock | Block): Promise<DeleteOutcome> {
      // searchPhrase is a substring match: compare exactly here.
      const held = (await entries('delete-lookup', block.address, block.address)).some((entry) => entry.address === block.address);
      // Sent even when the table lacks it: a host-type alias may still list it in config.xml.
      const response = await client.request({ method: 'POST', path: action('delete'), body: { address: block.address }, verb: 'delete', address: block.address });
      requireDone(response, 'delete', block.address);
      return { result: held ? 'deleted' : 'absent', restored: 0 };
    },

    list: async (): Promise<FirewallBlock[]> => entries('list'),

    async flush(): Promise<void> {
      const response = await client.request({ method: 'POST', path: action('flush'), verb: 'flush' });
      requireDone(response, 'flush');
    },
  };
}

/**
 * The key and secret: the secret from secret_file or the config, the key from api_key, or both from the
 * apikey.txt OPNsense hands out (key=... and secret=... lines) used as secret_file.
 */
function credentials(config: OpnsenseConfig, ctx: BackendContext): { key: string; secret: string } {
  if (config.api_key !== undefined) ctx.log.addSecret(config.api_key);
  if (config.secret_file !== undefined) {
    const text = readSecretFile(config.secret_file, 'secret_file', ctx);
    const key = /^\s*key\s*=\s*(\S+)\s*$/m.exec(text)?.[1];
    const secret = /^\s*secret\s*=\s*(\S+)\s*$/m.exec(text)?.[1];
    if (secret !== undefined) {
      ctx.log.addSecret(secret);
      if (key !== undefined) ctx.log.addSecret(key);
      const chosenKey = config.api_key ?? key;
      if (chosenKey === undefined) throw new BackendError(`http.secret_file ${config.secret_file} has a secret= line but no key= line; add it or set http.api_key`, { tool: 'palisade' });
      checkSecret(secret, `http.secret_file ${config.secret_file}`);
      return { key: chosenKey, secret };
    }
    checkSecret(text, `http.secret_file ${config.secret_file}`);
    if (config.api_key === undefined) throw new BackendError('the opnsense preset needs http.api_key when secret_file holds the secret alone', { tool: 'palisade' });
    return { key: config.api_key, secret: text };
  }
  const secret = resolveSecret({ file: undefined, inline: config.secret, fileOption: 'secret_file', inlineOption: 'secret' }, ctx);
  return { key: config.api_key ?? '', secret };
}

/** {"status":401,"message":"Authentication Failed"}, or alias_util's {"status":"failed","status_msg":...}. */
function opnsenseMessage(body: unknown): string | undefined {
  const { message, status_msg: statusMessage, status } = (body ?? {}) as { message?: unknown; status_msg?: unknown; status?: unknown };
  if (typeof message === 'string') return message;
  if (typeof statusMessage === 'string') return statusMessage;
  return typeof status === 'string' && status !== 'done' ? status : undefined;
}
