/**
 * The HTTP backend against real HTTPS servers on loopback that speak each vendor's API. Every verb runs in a
 * fresh node process through the backend runner, as it would under execd; after every test the server's
 * rule store is compared whole, and the runner's log, stdout and stderr are searched for every secret.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ActiveBlock, Block } from '../../src/backends/backend.js';
import { httpConfigSchema } from '../../src/runtime/http-config.js';
import { defaultAccountId, defaultZoneId } from '../fixtures/http-firewall/cloudflare.js';
import { type FirewallPreset, type FirewallServer, startFirewallServer } from '../fixtures/http-firewall/server.js';
import { runBackend } from '../harness/backend-run.js';
import { backendRunnerArgv, nodeBin, testRoot } from '../harness/bundle.js';
import { readLogRecords } from '../harness/install.js';
import { createLab } from '../harness/netns.js';

interface RunArgs {
  config: Record<string, unknown>;
  block?: Block | ActiveBlock;
  ttl?: number;
  restorable?: ActiveBlock[];
  configFileMode?: number;
}

interface Run {
  ok: boolean;
  outcome?: any;
  error?: { kind: string; message: string };
  elapsedMs: number;
}

const host4: Block = { address: '203.0.113.7', family: 4, prefix: 32 };
const neighbour4: Block = { address: '203.0.113.8', family: 4, prefix: 32 };
const host6: Block = { address: '2001:db8:bad::7', family: 6, prefix: 128 };
const net24: Block = { address: '198.51.100.0/24', family: 4, prefix: 24 };

const workDir = join(testRoot, `http-${process.pid}`);
let caseDir = '';
let logFile = '';
let secrets: string[] = [];
let outputs: string[] = [];
let server: FirewallServer | undefined;
let caseNumber = 0;

beforeEach(() => {
  caseDir = join(workDir, String(++caseNumber));
  mkdirSync(caseDir, { recursive: true });
  logFile = join(caseDir, 'active-responses.log');
  secrets = [];
  outputs = [];
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  // No secret, plain or in its Basic encoding, anywhere the runner wrote.
  const written = [...outputs, existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''].join('\n');
  for (const secret of secrets) expect(written, 'a secret reached the log or the output').not.toContain(secret);
});

afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function newSecret(): string {
  const secret = randomBytes(18).toString('base64url');
  secrets.push(secret);
  return secret;
}

/** A wrong password for user; what travels is its Basic encoding, so that is watched for too. */
function wrongBasic(user: string): string {
  const wrong = newSecret();
  secrets.push(Buffer.from(`${user}:${wrong}`).toString('base64'));
  return wrong;
}

function secretFile(name: string, content: string, mode = 0o600): string {
  const path = join(caseDir, name);
  writeFileSync(path, `${content}\n`, { mode });
  chmodSync(path, mode); // the umask must not decide what the test is about
  return path;
}

async function run(verb: string, args: RunArgs): Promise<Run> {
  // The runner is bundled before the clock starts: elapsedMs is the backend's time, as execd would see it.
  await backendRunnerArgv('http', verb, args);
  const started = Date.now();
  const { stdout, stderr, ...result } = await runBackend('http', verb, args, { logFile });
  const elapsedMs = Date.now() - started;
  outputs.push(stdout, stderr);
  return { ...result, elapsedMs };
}

const logRecords = () => readLogRecords(logFile);

/** One vendor: how to start its server with fresh credentials, configure Palisade for it, and read its store. */
interface Kit {
  preset: FirewallPreset;
  start(): Promise<{ server: FirewallServer; config: Record<string, unknown>; wrongCredentials: Record<string, unknown> }>;
  /** The addresses the store holds, as Palisade writes them. */
  held(server: FirewallServer): string[];
  authFailure: RegExp;
  /** OPNsense cannot tell: add answers "done" either way. */
  duplicateResult: 'present' | 'added';
  /** The verb whose first answer is the JSON Palisade must read. */
  readingVerb: 'add' | 'delete' | 'list';
}

const kits: Kit[] = [
  {
    preset: 'generic',
    async start() {
      const token = newSecret();
      const server = await startFirewallServer('generic', { token });
      const base = {
        preset: 'generic',
        url: server.url,
        ca_file: server.caFile,
        list: { path: '/rules', items: 'rules', address_field: 'source', reason_field: 'reason' },
      };
      return {
        server,
        config: { ...base, token_file: secretFile('token', token) },
        wrongCredentials: { ...base, token_file: secretFile('wrong-token', newSecret()) },
      };
    },
    held: (server) => (server.rules() as Array<{ source: string }>).map((rule) => rule.source),
    authFailure: /HTTP 401: invalid or missing bearer token/,
    duplicateResult: 'present',
    readingVerb: 'list',
  },
  {
    preset: 'cloudflare',
    async start() {
      const token = newSecret();
      const server = await startFirewallServer('cloudflare', { token });
      const base = { preset: 'cloudflare', url: server.url, ca_file: server.caFile, zone_id: defaultZoneId };
      return {
        server,
        config: { ...base, token_file: secretFile('token', token) },
        wrongCredentials: { ...base, token_file: secretFile('wrong-token', newSecret()) },
      };
    },
    held: (server) => (server.rules() as Array<{ value: string }>).map((rule) => rule.value),
    authFailure: /HTTP 403: Authentication error \(code 10000\)/,
    duplicateResult: 'present',
    readingVerb: 'add',
  },
  {
    preset: 'opnsense',
    async start() {
      const user = newSecret();
      const secret = newSecret();
      secrets.push(Buffer.from(`${user}:${secret}`).toString('base64'));
      const server = await startFirewallServer('opnsense', { user, secret, aliases: ['palisade'] });
      const base = { preset: 'opnsense', url: server.url.replace(/\/api$/, ''), ca_file: server.caFile, alias: 'palisade', api_key: user };
      return {
        server,
        config: { ...base, secret_file: secretFile('secret', secret) },
        wrongCredentials: { ...base, secret_file: secretFile('wrong-secret', wrongBasic(user)) },
      };
    },
    held: (server) => server.rules() as string[],
    authFailure: /HTTP 401: Authentication Failed/,
    duplicateResult: 'added',
    readingVerb: 'add',
  },
  {
    preset: 'mikrotik',
    async start() {
      const password = newSecret();
      secrets.push(Buffer.from(`palisade-ar:${password}`).toString('base64'));
      const server = await startFirewallServer('mikrotik', { user: 'palisade-ar', secret: password });
      const base = { preset: 'mikrotik', url: server.url.replace(/\/rest$/, ''), ca_file: server.caFile, username: 'palisade-ar' };
      return {
        server,
        config: { ...base, secret_file: secretFile('password', password) },
        wrongCredentials: { ...base, secret_file: secretFile('wrong-password', wrongBasic('palisade-ar')) },
      };
    },
    held: (server) => (server.rules() as Array<{ address: string }>).map((rule) => rule.address.replace(/\/128$/, '')),
    authFailure: /HTTP 401: Unauthorized/,
    duplicateResult: 'present',
    readingVerb: 'delete',
  },
];

/** Fast failure settings, so that the fault cases finish in a few seconds. */
const impatient = { timeout: 1, budget: 4, max_attempts: 3 };

describe.each(kits)('http backend, $preset preset', (kit) => {
  let config: Record<string, unknown>;
  let wrongCredentials: Record<string, unknown>;
  const http = (extra: Record<string, unknown> = {}) => ({ backend: 'http', http: { ...config, ...extra } });

  beforeEach(async () => {
    const started = await kit.start();
    server = started.server;
    config = started.config;
    wrongCredentials = started.wrongCredentials;
  });

  it('blocks an address: the firewall holds it, and one record tells the request', async () => {
    const result = await run('add', { config: http(), block: host4 });
    expect(result).toMatchObject({ ok: true, outcome: { result: 'added' } });
    expect(kit.held(server!)).toEqual([host4.address]);
    const records = logRecords().filter((record) => record.event === 'http-request' && record.verb === 'add');
    expect(records).toEqual([expect.objectContaining({ level: 'info', preset: kit.preset, address: host4.address, attempts: 1, elapsed_ms: expect.any(Number) })]);
    expect(records[0]!.status).toBeGreaterThanOrEqual(200);
  });

  it('blocks an address twice: the second call succeeds and the firewall still holds one rule', async () => {
    await run('add', { config: http(), block: host4 });
    const again = await run('add', { config: http(), block: host4 });
    expect(again).toMatchObject({ ok: true, outcome: { result: kit.duplicateResult } });
    expect(kit.held(server!)).toEqual([host4.address]);
  });

  it('unblocks what it blocked and leaves the neighbour alone', async () => {
    const added = await run('add', { config: http(), block: host4 });
    await run('add', { config: http(), block: neighbour4 });
    const active: ActiveBlock = { ...host4, expiresAt: Math.floor(Date.now() / 1000) + 600, backendData: added.outcome.backendData };
    const deleted = await run('delete', { config: http(), block: active });
    expect(deleted).toMatchObject({ ok: true, outcome: { result: 'deleted' } });
    expect(kit.held(server!)).toEqual([neighbour4.address]);
  });

  it('unblocks an address the firewall does not hold: success, reported absent', async () => {
    const result = await run('delete', { config: http(), block: host4 });
    expect(result).toMatchObject({ ok: true, outcome: { result: 'absent' } });
    expect(kit.held(server!)).toEqual([]);
  });

  it('blocks and unblocks IPv6', async () => {
    expect(await run('add', { config: http(), block: host6 })).toMatchObject({ ok: true, outcome: { result: 'added' } });
    expect(kit.held(server!)).toEqual([host6.address]);
    expect(await run('delete', { config: http(), block: host6 })).toMatchObject({ ok: true, outcome: { result: 'deleted' } });
    expect(kit.held(server!)).toEqual([]);
  });

  it('lists and flushes what it holds', async () => {
    await run('add', { config: http(), block: host4 });
    await run('add', { config: http(), block: host6 });
    const listed = await run('list', { config: http() });
    expect(listed.ok).toBe(true);
    expect((listed.outcome as Block[]).map((block) => block.address).sort()).toEqual([host6.address, host4.address].sort());
    expect(await run('flush', { config: http() })).toMatchObject({ ok: true });
    expect(kit.held(server!)).toEqual([]);
  });

  it('names the refusal when the credentials are wrong, and changes nothing', async () => {
    const result = await run('add', { config: { backend: 'http', http: wrongCredentials }, block: host4 });
    expect(result.ok).toBe(false);
    expect(result.error?.kind).toBe('BackendError');
    expect(result.error?.message).toMatch(kit.authFailure);
    expect(kit.held(server!)).toEqual([]);
    expect(logRecords()).toContainEqual(expect.objectContaining({ event: 'http-request', level: 'error', attempts: 1 }));
  });

  it('waits as long as a 429 asks, then succeeds', async () => {
    server!.inject({ status: 429, headers: { 'retry-after': '1' } });
    const result = await run('add', { config: http(), block: host4 });
    expect(result).toMatchObject({ ok: true, outcome: { result: 'added' } });
    expect(kit.held(server!)).toEqual([host4.address]);
    const [first, second] = server!.requests();
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(950);
    expect(logRecords()).toContainEqual(expect.objectContaining({ event: 'http-request', verb: 'add', attempts: 2, level: 'info' }));
  });

  it('gives up after three answers of 500, with an error that says so', async () => {
    server!.inject({ status: 500 }, { status: 500 }, { status: 500 });
    const result = await run('add', { config: http(impatient), block: host4 });
    expect(result.ok).toBe(false);
    expect(result.error?.message).toMatch(/gave up after 3 attempts: HTTP 500/);
    expect(server!.requests()).toHaveLength(3);
    expect(kit.held(server!)).toEqual([]);
  });

  it('stops waiting for a server that never answers, within the budget', async () => {
    server!.inject('hang', 'hang', 'hang');
    const result = await run('add', { config: http(impatient), block: host4 });
    expect(result.ok).toBe(false);
    expect(result.error?.message).toMatch(/no answer from 127\.0\.0\.1:\d+ within 1\.0 s \(http\.timeout\)/);
    // Bounded by http.budget (4 s) plus the runner's start-up, far below execd's patience.
    expect(result.elapsedMs).toBeLessThan(15_000);
    expect(kit.held(server!)).toEqual([]);
  });

  it('reports an answer that is not JSON instead of guessing', async () => {
    if (kit.readingVerb !== 'add') await run('add', { config: http(), block: host4 });
    server!.inject('malformed');
    const result = await run(kit.readingVerb, { config: http(), block: host4 });
    expect(result.ok).toBe(false);
    expect(result.error?.message).toMatch(/not JSON/);
    expect(kit.held(server!)).toEqual(kit.readingVerb === 'add' ? [] : [host4.address]);
  });

  it('refuses a certificate it cannot verify without ca_file, before sending anything', async () => {
    const { ca_file: _trusted, ...untrusted } = config;
    const result = await run('add', { config: { backend: 'http', http: untrusted }, block: host4 });
    expect(result.ok).toBe(false);
    expect(result.error?.message).toMatch(/TLS: the certificate of 127\.0\.0\.1:\d+ cannot be trusted .*set http\.ca_file/);
    expect(server!.requests()).toEqual([]);
    expect(kit.held(server!)).toEqual([]);
  });

  it('turns verification off only when told, and says so in the log', async () => {
    const { ca_file: _trusted, ...untrusted } = config;
    const result = await run('add', { config: { backend: 'http', http: { ...untrusted, insecure: true } }, block: host4 });
    expect(result.ok).toBe(true);
    expect(kit.held(server!)).toEqual([host4.address]);
    expect(logRecords()).toContainEqual(expect.objectContaining({ event: 'tls-verification-off', level: 'warn' }));
  });

  it('refuses a secret file that others can read, and sends nothing', async () => {
    const key = 'token_file' in config ? 'token_file' : 'secret_file';
    chmodSync(config[key] as string, 0o644);
    const result = await run('add', { config: http(), block: host4 });
    expect(result.ok).toBe(false);
    expect(result.error?.message).toMatch(/open to group or others \(mode 0644\).*chmod 600/);
    expect(server!.requests()).toEqual([]);
    expect(kit.held(server!)).toEqual([]);
  });

  it('reports a bad secret file at ensure, before any address is involved', async () => {
    const key = 'token_file' in config ? 'token_file' : 'secret_file';
    const result = await run('ensure', { config: http({ [key]: join(caseDir, 'missing') }) });
    expect(result.ok).toBe(false);
    expect(result.error?.message).toMatch(/cannot read http\.(token|secret)_file .*missing: ENOENT/);
    expect(await run('ensure', { config: http() })).toMatchObject({ ok: true, outcome: { created: false } });
    expect(server!.requests()).toEqual([]);
  });

  it('takes a secret written in the config only when the config file is private', async () => {
    const fileKey = 'token_file' in config ? 'token_file' : 'secret_file';
    const inlineKey = fileKey === 'token_file' ? 'token' : 'secret';
    const value = readFileSync(config[fileKey] as string, 'utf8').trim();
    const { [fileKey]: _file, ...rest } = config;
    const inline = { backend: 'http', http: { ...rest, [inlineKey]: value } };
    for (const mode of [undefined, 0o640]) {
      const refused = await run('add', { config: inline, block: host4, ...(mode !== undefined ? { configFileMode: mode } : {}) });
      expect(refused.ok).toBe(false);
      expect(refused.error?.message).toMatch(new RegExp(`http\\.${inlineKey} is written in (the config|a config file open to group or others)`));
    }
    expect(server!.requests()).toEqual([]);
    expect(await run('add', { config: inline, block: host4, configFileMode: 0o600 })).toMatchObject({ ok: true });
    expect(kit.held(server!)).toEqual([host4.address]);
  });
});

describe('cloudflare specifics', () => {
  let config: Record<string, unknown>;
  const http = (extra: Record<string, unknown> = {}) => ({ backend: 'http', http: { ...config, ...extra } });

  beforeEach(async () => {
    const token = newSecret();
    server = await startFirewallServer('cloudflare', { token });
    config = { preset: 'cloudflare', url: server.url, ca_file: server.caFile, zone_id: defaultZoneId, token_file: secretFile('token', token), owner: 'web-01' };
  });

  it('marks its rule in the notes and hands the rule id back for the state file', async () => {
    const result = await run('add', { config: http(), block: host4 });
    const [rule] = server!.rules() as Array<{ id: string }>;
    expect(server!.rules()).toEqual([
      { id: rule!.id, mode: 'block', target: 'ip', value: host4.address, notes: `palisade:web-01: Wazuh active response [${host4.address}]` },
    ]);
    expect(result.outcome).toEqual({ result: 'added', restored: 0, backendData: { rule_id: rule!.id } });
  });

  it('finds its rule by address when the state holds no id, and deletes only that one', async () => {
    await run('add', { config: http(), block: host4 });
    await run('add', { config: http(), block: neighbour4 });
    expect(await run('delete', { config: http(), block: host4 })).toMatchObject({ ok: true, outcome: { result: 'deleted' } });
    expect((server!.rules() as Array<{ value: string }>).map((rule) => rule.value)).toEqual([neighbour4.address]);
  });

  it('never deletes a rule that is not ours, even for the address it is asked to unblock', async () => {
    server!.seed({ value: host4.address, notes: 'blocked by hand after the March incident' });
    const added = await run('add', { config: http(), block: host4 });
    expect(added.outcome).toEqual({ result: 'present', restored: 0 });
    expect(logRecords()).toContainEqual(expect.objectContaining({ event: 'foreign-rule', level: 'warn', address: host4.address }));
    expect(await run('delete', { config: http(), block: host4 })).toMatchObject({ ok: true, outcome: { result: 'absent' } });
    expect(await run('flush', { config: http() })).toMatchObject({ ok: true });
    expect(server!.rules()).toEqual([expect.objectContaining({ value: host4.address, notes: 'blocked by hand after the March incident' })]);
  });

  it("leaves another host's rule for the same firewall alone", async () => {
    await run('add', { config: http({ owner: 'web-02' }), block: host4 });
    expect(await run('delete', { config: http(), block: host4 })).toMatchObject({ ok: true, outcome: { result: 'absent' } });
    expect(server!.rules()).toEqual([expect.objectContaining({ value: host4.address, notes: expect.stringMatching(/^palisade:web-02:/) })]);
  });

  it('refuses to report success when a whitelist rule holds the address', async () => {
    server!.seed({ value: host4.address, mode: 'whitelist', notes: 'office' });
    const result = await run('add', { config: http(), block: host4 });
    expect(result.ok).toBe(false);
    expect(result.error?.message).toMatch(/mode "whitelist".*already holds this address/);
    expect(server!.rules()).toEqual([expect.objectContaining({ mode: 'whitelist', value: host4.address })]);
  });

  it('blocks a /24 as an ip_range and refuses a prefix Cloudflare does not take, sending nothing', async () => {
    expect(await run('add', { config: http(), block: net24 })).toMatchObject({ ok: true, outcome: { result: 'added' } });
    expect(server!.rules()).toEqual([expect.objectContaining({ target: 'ip_range', value: net24.address })]);
    const requestsBefore = server!.requests().length;
    const refused = await run('add', { config: http(), block: { address: '198.51.96.0/20', family: 4, prefix: 20 } });
    expect(refused.error?.message).toMatch(/IPv4 \/16 or \/24 and IPv6 \/32, \/48 or \/64 ranges only/);
    expect(server!.requests()).toHaveLength(requestsBefore);
    expect(server!.rules()).toHaveLength(1);
  });

  it('works at account scope', async () => {
    const account = http({ zone_id: undefined, account_id: defaultAccountId });
    expect(await run('add', { config: account, block: host6 })).toMatchObject({ ok: true, outcome: { result: 'added' } });
    expect(server!.rules()).toEqual([expect.objectContaining({ target: 'ip6', value: host6.address })]);
    expect(server!.requests()[0]!.path).toBe(`/client/v4/accounts/${defaultAccountId}/firewall/access_rules/rules`);
    expect(await run('delete', { config: account, block: host6 })).toMatchObject({ ok: true, outcome: { result: 'deleted' } });
    expect(server!.rules()).toEqual([]);
  });
});

describe('mikrotik specifics', () => {
  let config: Record<string, unknown>;
  const http = (extra: Record<string, unknown> = {}) => ({ backend: 'http', http: { ...config, ...extra } });

  beforeEach(async () => {
    const password = newSecret();
    secrets.push(Buffer.from(`palisade-ar:${password}`).toString('base64'));
    server = await startFirewallServer('mikrotik', { user: 'palisade-ar', secret: password });
    config = { preset: 'mikrotik', url: server.url.replace(/\/rest$/, ''), ca_file: server.caFile, username: 'palisade-ar', secret_file: secretFile('password', password), owner: 'web-01' };
  });

  it('writes an address-list entry with a native timeout and our comment', async () => {
    await run('add', { config: http(), block: host4, ttl: 3600 });
    await run('add', { config: http(), block: host6, ttl: 3600 });
    expect(server!.rules()).toEqual([
      { list: 'palisade', address: `${host6.address}/128`, comment: `palisade:web-01: Wazuh active response [${host6.address}]`, timeout: expect.closeTo(3600, -1) },
      { list: 'palisade', address: host4.address, comment: `palisade:web-01: Wazuh active response [${host4.address}]`, timeout: expect.closeTo(3600, -1) },
    ]);
  });

  it('renews the timeout on refresh', async () => {
    await run('add', { config: http(), block: host4, ttl: 60 });
    expect(await run('refresh', { config: http(), block: host4, ttl: 7200 })).toMatchObject({ ok: true, outcome: { result: 'present' } });
    expect(server!.rules()).toEqual([expect.objectContaining({ address: host4.address, timeout: expect.closeTo(7200, -1) })]);
  });

  it('lists with the time left, and keeps entries that are not ours through delete and flush', async () => {
    server!.seed({ address: host4.address, list: 'palisade', comment: 'static block by the admin' });
    await run('add', { config: http(), block: neighbour4, ttl: 900 });
    const listed = await run('list', { config: http() });
    expect(listed.outcome).toEqual([{ ...neighbour4, expiresIn: expect.closeTo(900, -1) }]);
    expect(await run('delete', { config: http(), block: host4 })).toMatchObject({ ok: true, outcome: { result: 'absent' } });
    expect(await run('flush', { config: http() })).toMatchObject({ ok: true });
    expect(server!.rules()).toEqual([{ list: 'palisade', address: host4.address, comment: 'static block by the admin', timeout: null }]);
  });
});

describe('an API that echoes the credentials back in an error', () => {
  const user = 'palisade-ar';
  let password = '';
  let config: Record<string, unknown>;

  beforeEach(async () => {
    // Quotes and backslashes change when JSON-escaped: the log must not show the password in that form either.
    password = `pa"ss\\wo rd/${newSecret()}`;
    secrets.push(
      password,
      JSON.stringify(password).slice(1, -1),
      encodeURIComponent(password),
      Buffer.from(password).toString('base64'),
      Buffer.from(`${user}:${password}`).toString('base64'),
    );
    server = await startFirewallServer('mikrotik', { user, secret: password });
    config = { preset: 'mikrotik', url: server.url.replace(/\/rest$/, ''), ca_file: server.caFile, username: user, secret_file: secretFile('password', password), owner: 'web-01' };
  });

  it.each([
    ['as text', () => `login failed for ${user} with password ${password}`],
    ['JSON-escaped', () => `{"detail": "bad password ${JSON.stringify(password).slice(1, -1)}"`],
    ['URL-encoded', () => `rejected: /login?user=${user}&password=${encodeURIComponent(password)}`],
    ['in base64', () => `bad token ${Buffer.from(password).toString('base64')}`],
    ['as the Basic header it was sent', () => `unexpected Authorization: Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`],
  ])('keeps it out of the log and the error when it comes back %s', async (_form, echo) => {
    server!.inject({ status: 400, body: echo() });
    const result = await run('add', { config: { backend: 'http', http: config }, block: host4, ttl: 60 });
    expect(result.ok).toBe(false);
    expect(result.error?.message).toMatch(/HTTP 400: .*\[redacted\]/);
    expect(readFileSync(logFile, 'utf8')).toContain('[redacted]');
  });
});

describe('opnsense specifics', () => {
  let config: Record<string, unknown>;
  let key = '';
  let secret = '';
  const http = (extra: Record<string, unknown> = {}) => ({ backend: 'http', http: { ...config, ...extra } });

  beforeEach(async () => {
    key = newSecret();
    secret = newSecret();
    secrets.push(Buffer.from(`${key}:${secret}`).toString('base64'));
    server = await startFirewallServer('opnsense', { user: key, secret, aliases: ['palisade'] });
    config = { preset: 'opnsense', url: server.url.replace(/\/api$/, ''), ca_file: server.caFile, alias: 'palisade' };
  });

  it("reads key and secret from OPNsense's own apikey.txt", async () => {
    const apikey = secretFile('apikey.txt', `key=${key}\nsecret=${secret}`);
    expect(await run('add', { config: http({ secret_file: apikey }), block: net24 })).toMatchObject({ ok: true, outcome: { result: 'added' } });
    expect(server!.rules()).toEqual([net24.address]);
  });

  it('names the missing alias and how to make it', async () => {
    const result = await run('add', { config: http({ api_key: key, secret_file: secretFile('secret', secret), alias: 'nosuch' }), block: host4 });
    expect(result.ok).toBe(false);
    expect(result.error?.message).toMatch(/non existing alias nosuch; create alias nosuch \(type External\)/);
    expect(server!.rules()).toEqual([]);
  });
});

describe('generic specifics', () => {
  it('encodes a network in the unblock path, so it stays one segment', async () => {
    const token = newSecret();
    server = await startFirewallServer('generic', { token });
    const config = { backend: 'http', http: { preset: 'generic', url: server.url, ca_file: server.caFile, token_file: secretFile('token', token), owner: 'web-01' } };
    await run('add', { config, block: net24, ttl: 900 });
    expect(server.rules()).toEqual([{ source: net24.address, duration: 900, reason: `palisade:web-01: Wazuh active response [${net24.address}]` }]);
    expect(await run('delete', { config, block: net24 })).toMatchObject({ ok: true, outcome: { result: 'deleted' } });
    expect(server.requests().at(-1)).toMatchObject({ method: 'DELETE', path: '/api/rules/198.51.100.0%2F24' });
    expect(server.rules()).toEqual([]);
  });

  it('accepts only validated placeholders in templates, and the token only in headers', () => {
    const base = { preset: 'generic', url: 'https://fw.example/api', token_file: '/etc/palisade/token' };
    expect(httpConfigSchema.safeParse(base).success).toBe(true);
    const tokenInPath = httpConfigSchema.safeParse({ ...base, unblock: { method: 'DELETE', path: '/rules/{address}?key={token}' } });
    expect(tokenInPath.error?.issues.map((issue) => issue.message).join()).toMatch(/unknown placeholder \{token\}/);
    const tokenInBody = httpConfigSchema.safeParse({ ...base, block: { method: 'POST', path: '/rules', body: { ip: '{address}', auth: '{token}' } } });
    expect(tokenInBody.success).toBe(false);
    expect(httpConfigSchema.safeParse({ ...base, url: 'https://admin:pw@fw.example/api' }).success).toBe(false);
    expect(httpConfigSchema.safeParse({ ...base, token: 'inline' }).success).toBe(false);
  });
});

describe('plain http://', () => {
  const base = { preset: 'generic', token_file: '/etc/palisade/token' };
  const warnings = () => logRecords().filter((record) => record.event === 'plain-http');

  it('is taken to loopback (a local proxy), elsewhere only with plain_http: true', () => {
    const refused = httpConfigSchema.safeParse({ ...base, url: 'http://fw.example.lan/api' });
    expect(refused.error?.issues.map((issue) => issue.message).join()).toMatch(/http:\/\/ sends the token in clear to fw\.example\.lan: use https:\/\/, an http:\/\/ proxy on loopback, or set plain_http: true/);
    for (const url of ['http://127.0.0.1:8080/api', 'http://127.8.9.10/api', 'http://[::1]:3128/api', 'http://localhost:8080/api']) {
      expect(httpConfigSchema.safeParse({ ...base, url }).success, url).toBe(true);
    }
    expect(httpConfigSchema.safeParse({ ...base, url: 'http://fw.example.lan/api', plain_http: true }).success).toBe(true);
    expect(httpConfigSchema.safeParse({ ...base, url: 'https://fw.example.lan/api', plain_http: true }).error?.issues[0]?.message).toMatch(/plain_http applies to an http:\/\/ url only/);
    expect(httpConfigSchema.safeParse({ ...base, url: 'ftp://fw.example.lan/api', plain_http: true }).success).toBe(false);
  });

  it('to a proxy on loopback: blocks and unblocks, with no warning', async () => {
    const token = newSecret();
    server = await startFirewallServer('generic', { token, plainHttp: true });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:/);
    const config = { backend: 'http', http: { preset: 'generic', url: server.url, token_file: secretFile('token', token) } };
    expect(await run('add', { config, block: host4 })).toMatchObject({ ok: true, outcome: { result: 'added' } });
    expect(server.rules()).toEqual([expect.objectContaining({ source: host4.address })]);
    expect(await run('delete', { config, block: host4 })).toMatchObject({ ok: true, outcome: { result: 'deleted' } });
    expect(server.rules()).toEqual([]);
    expect(warnings()).toEqual([]);
  });

  it('to an appliance elsewhere with plain_http: true: works, and warns on every call', async () => {
    const lab = await createLab();
    // An HTTP-only appliance at the protected host's own (not loopback) address, in the lab's namespace.
    const [command, ...args] = lab.inNs(lab.protectedNs, [nodeBin, '-e', plainAppliance, lab.protected4]);
    const appliance = execa(command!, args, { reject: false, buffer: false });
    try {
      const heard: string[] = [];
      appliance.stdout!.on('data', (chunk: Buffer) => heard.push(...chunk.toString().split('\n').filter(Boolean)));
      await vi.waitFor(() => expect(heard).toContain('listening'), { timeout: 10_000 });
      const token = newSecret();
      const config = { backend: 'http', http: { preset: 'generic', url: `http://${lab.protected4}:8081/api`, plain_http: true, token_file: secretFile('token', token) } };
      for (const verb of ['add', 'delete']) {
        const argv = lab.inNs(lab.protectedNs, await backendRunnerArgv('http', verb, { config, block: host4 }));
        const result = await execa(argv[0]!, argv.slice(1), { env: { RUNNER_LOG: logFile }, reject: false, timeout: 60_000 });
        outputs.push(result.stdout, result.stderr);
        expect(JSON.parse(result.stdout.trim().split('\n').pop()!)).toMatchObject({ ok: true });
      }
      expect(heard.filter((line) => line !== 'listening')).toEqual(['POST /api/rules', `DELETE /api/rules/${host4.address}`]);
      expect(warnings()).toEqual([
        expect.objectContaining({ level: 'warn', host: `${lab.protected4}:8081`, message: expect.stringMatching(/http\.plain_http is set: requests to 192\.0\.2\.1:8081, credentials included, cross the network in clear/) }),
        expect.objectContaining({ level: 'warn', host: `${lab.protected4}:8081` }),
      ]);
    } finally {
      appliance.kill();
      await lab.destroy();
    }
  });
});

/** An appliance that speaks plain HTTP only: answers every rule call, and prints each request it hears. */
const plainAppliance = `
const server = require('node:http').createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    process.stdout.write(req.method + ' ' + req.url + '\\n');
    res.writeHead(req.method === 'POST' ? 201 : 204);
    res.end();
  });
});
server.listen(8081, process.argv[1], () => process.stdout.write('listening\\n'));
`;

describe('transport limits', () => {
  let config: Record<string, unknown>;

  beforeEach(async () => {
    const token = newSecret();
    server = await startFirewallServer('generic', { token });
    config = { backend: 'http', http: { preset: 'generic', url: server.url, ca_file: server.caFile, token_file: secretFile('token', token), ...impatient } };
  });

  it('does not wait longer than the budget when a 429 asks for more', async () => {
    server!.inject({ status: 429, headers: { 'retry-after': '60' } });
    const result = await run('add', { config, block: host4 });
    expect(result.ok).toBe(false);
    expect(result.error?.message).toMatch(/HTTP 429: injected 429; the API asks to wait 60 s, beyond the \d s left of http\.budget/);
    expect(server!.requests()).toHaveLength(1);
    expect(result.elapsedMs).toBeLessThan(15_000);
  });

  it('retries a refused connection, then names it', async () => {
    await server!.close();
    server = undefined;
    const result = await run('add', { config, block: host4 });
    expect(result.ok).toBe(false);
    expect(result.error?.message).toMatch(/gave up after 3 attempts: cannot reach 127\.0\.0\.1:\d+: ECONNREFUSED/);
  });

  it('never follows a redirect: the credentials go nowhere but the configured URL', async () => {
    server!.inject({ status: 302, body: '', headers: { location: 'https://127.0.0.1:9/steal' } });
    const result = await run('add', { config, block: host4 });
    expect(result.ok).toBe(false);
    expect(result.error?.message).toMatch(/HTTP 302/);
    expect(server!.requests()).toHaveLength(1);
  });

  it('stops reading an answer larger than 1 MiB, and says so', async () => {
    server!.inject({ status: 200, body: 'x'.repeat(2 * 1024 * 1024) });
    const result = await run('add', { config, block: host4 });
    expect(result.ok).toBe(false);
    expect(result.error?.message).toMatch(/the answer is larger than 1048576 bytes/);
  });
});
