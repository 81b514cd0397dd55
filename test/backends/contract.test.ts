/**
 * The backend contract (contract.ts) for every backend: nftables, ipset and iptables in a network namespace
 * of their own per test, null-route on that namespace's routing table, each HTTP preset against its HTTPS
 * fixture on loopback, hosts-deny on a deny file of its own, and dry-run. Kernel tests never skip: without
 * root and CAP_NET_ADMIN, createNamespace throws and the test fails.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import type { BackendName } from '../../src/backends/backend.js';
import { defaultZoneId } from '../fixtures/http-firewall/cloudflare.js';
import { type FirewallPreset, type FirewallServer, startFirewallServer } from '../fixtures/http-firewall/server.js';
import { runBackend, type BackendRunArgs } from '../harness/backend-run.js';
import { testRoot } from '../harness/bundle.js';
import { createNamespace, type Namespace } from '../harness/netns.js';
import { type ContractFirewall, type ContractSubject, notApplicable, supported, testBackendContract } from './contract.js';

const workDir = join(testRoot, `contract-${process.pid}`);
afterAll(() => rmSync(workDir, { recursive: true, force: true }));

function caseDir(): string {
  const dir = join(workDir, randomBytes(4).toString('hex'));
  mkdirSync(dir, { recursive: true });
  return dir;
}

const lines = (text: string) => text.split('\n').map((line) => line.trim()).filter((line) => line.length > 0);
const sorted = (items: string[]) => [...items].sort();

/** A firewall in a fresh namespace: the backend's runner runs inside it. */
function inNamespace(
  backend: BackendName,
  config: unknown,
  views: (ns: Namespace) => Omit<ContractFirewall, 'run' | 'close'>,
): () => Promise<ContractFirewall> {
  return async () => {
    const ns = await createNamespace(backend.slice(0, 4));
    return {
      run: (verb, args: BackendRunArgs = {}) => runBackend(backend, verb, { ...args, config }, { netns: ns.name }),
      ...views(ns),
      close: () => ns.destroy(),
    };
  };
}

// ---------------------------------------------------------------- nftables

/** Our table's elements, read from nft's JSON by the test itself (not by the backend's listing parser). */
async function nftElements(ns: Namespace): Promise<string[]> {
  let json: string;
  try {
    json = await ns.run(['nft', '-j', 'list', 'table', 'inet', 'palisade']);
  } catch (error) {
    if (/No such file or directory/.test((error as Error).message)) return [];
    throw error;
  }
  const listing = JSON.parse(json) as { nftables: Array<{ set?: { name: string; elem?: unknown[] } }> };
  const found: string[] = [];
  for (const { set } of listing.nftables) {
    if (!set || !['addr4', 'addr6', 'net4', 'net6'].includes(set.name)) continue;
    for (const element of set.elem ?? []) {
      const value = (typeof element === 'object' && element !== null && 'elem' in element ? (element as { elem: { val: unknown } }).elem.val : element) as
        | string
        | { prefix: { addr: string; len: number } };
      found.push(typeof value === 'string' ? value : `${value.prefix.addr}/${value.prefix.len}`);
    }
  }
  return found.sort();
}

/** nft's listing without an element's timer and the seconds it has left (a restored block keeps only what it had left). */
const withoutExpiry = (text: string) => text.replace(/ (timeout|expires) [0-9hmsd]+/g, '');

testBackendContract({
  title: 'nftables',
  backend: 'nftables',
  capabilities: { holdsBlocks: supported, answersPresent: supported, ensureRestores: supported, ownStructure: supported },
  open: inNamespace('nftables', {}, (ns) => ({
    held: () => nftElements(ns),
    ours: async () => {
      const table = await ns.run(['nft', 'list', 'table', 'inet', 'palisade']).catch((error: Error) => {
        if (/No such file or directory/.test(error.message)) return '';
        throw error;
      });
      return lines(withoutExpiry(table));
    },
    snapshot: async () => withoutExpiry(await ns.run(['nft', 'list', 'ruleset'])),
    seedForeign: async () => {
      await ns.run(['nft', '-f', '-'], 'table inet admin {\n chain input {\n type filter hook input priority 0; policy accept;\n ip saddr 203.0.113.10 accept\n }\n}\n');
    },
    // A firewall reload (firewalld, an nftables.service restart) starts from an empty ruleset.
    wipe: async () => void (await ns.run(['nft', 'flush', 'ruleset'])),
  })),
});

// ---------------------------------------------------------------- ipset and iptables

const xtables = (family: 4 | 6) => (family === 4 ? 'iptables-nft' : 'ip6tables-nft');
const filterRules = async (ns: Namespace, family: 4 | 6) => lines(await ns.run([xtables(family), '-w', '-S']));
const bothFamilies = async (ns: Namespace) => [...(await filterRules(ns, 4)), ...(await filterRules(ns, 6))];
/** A host rule that is not ours, in both families (what an administrator's firewall holds). */
const seedHostRules = async (ns: Namespace) => {
  await ns.run([xtables(4), '-w', '-A', 'INPUT', '-s', '203.0.113.10', '-j', 'ACCEPT']);
  await ns.run([xtables(6), '-w', '-A', 'INPUT', '-s', '2001:db8:ffff::10', '-j', 'ACCEPT']);
};
const ipsetSets = ['palisade4', 'palisade4net', 'palisade6', 'palisade6net'];

/** Our sets' elements: "add palisade4 192.0.2.66 timeout 597" → 192.0.2.66. */
async function ipsetElements(ns: Namespace): Promise<string[]> {
  const saved = await ns.run(['ipset', 'save']);
  return sorted(
    lines(saved).flatMap((line) => {
      const match = /^add (\S+) (\S+)/.exec(line);
      return match && ipsetSets.includes(match[1]!) ? [match[2]!] : [];
    }),
  );
}
/** ipset save without element timers and without the random hash seed a set is created with. */
const ipsetSaveWithoutTimers = async (ns: Namespace) => lines((await ns.run(['ipset', 'save'])).replace(/ timeout \d+| initval 0x[0-9a-f]+/g, ''));

testBackendContract({
  title: 'ipset',
  backend: 'ipset',
  capabilities: { holdsBlocks: supported, answersPresent: supported, ensureRestores: supported, ownStructure: supported },
  open: inNamespace('ipset', {}, (ns) => ({
    held: () => ipsetElements(ns),
    ours: async () => [
      ...(await ipsetSaveWithoutTimers(ns)).filter((line) => ipsetSets.includes(line.split(' ')[1] ?? '')),
      ...(await bothFamilies(ns)).filter((line) => /--match-set palisade/.test(line)),
    ],
    snapshot: async () => [...(await bothFamilies(ns)), ...(await ipsetSaveWithoutTimers(ns))].join('\n'),
    seedForeign: async () => {
      await seedHostRules(ns);
      await ns.run(['ipset', 'create', 'admin', 'hash:ip']);
      await ns.run(['ipset', 'add', 'admin', '203.0.113.11']);
    },
    // What `firewall-cmd --reload` or an iptables.service restart does: the rules go, and with them our sets.
    wipe: async () => {
      await ns.run([xtables(4), '-w', '-F']);
      await ns.run([xtables(6), '-w', '-F']);
      await ns.run(['ipset', 'destroy']);
    },
  })),
});

/** "-A PALISADE -s 192.0.2.66/32 -j DROP" → 192.0.2.66: the chain's per-address rules, a duplicate twice. */
const chainEntries = (rules: string[]) =>
  sorted(rules.flatMap((line) => /^-A PALISADE -s (\S+) -j /.exec(line)?.[1]?.replace(/\/(32|128)$/, '') ?? []));

testBackendContract({
  title: 'iptables',
  backend: 'iptables',
  capabilities: { holdsBlocks: supported, answersPresent: supported, ensureRestores: supported, ownStructure: supported },
  open: inNamespace('iptables', {}, (ns) => ({
    held: async () => chainEntries(await bothFamilies(ns)),
    ours: async () => (await bothFamilies(ns)).filter((line) => /PALISADE/.test(line)),
    snapshot: async () => (await bothFamilies(ns)).join('\n'),
    seedForeign: () => seedHostRules(ns),
    wipe: async () => {
      for (const family of [4, 6] as const) {
        await ns.run([xtables(family), '-w', '-F']);
        await ns.run([xtables(family), '-w', '-X']);
      }
    },
  })),
});

// ---------------------------------------------------------------- null-route

const routes = async (ns: Namespace) => [...lines(await ns.run(['ip', 'route', 'show'])), ...lines(await ns.run(['ip', '-6', 'route', 'show']))];

testBackendContract({
  title: 'null-route',
  backend: 'null-route',
  capabilities: {
    holdsBlocks: supported,
    answersPresent: supported,
    ensureRestores: notApplicable(
      'a route is per address, with no table of ours whose absence tells a loss; palisade reconcile lists the routes and re-adds each missing block (src/cli/reconcile.ts)',
    ),
    ownStructure: notApplicable('routes live in the main table, which is not ours'),
  },
  open: inNamespace('null-route', {}, (ns) => ({
    // "blackhole 192.0.2.66 proto 199": ours are the blackholes of our routing protocol number.
    held: async () => sorted((await routes(ns)).filter((line) => / proto 199\b/.test(line)).map((line) => line.split(' ')[1]!)),
    ours: async () => (await routes(ns)).filter((line) => / proto 199\b/.test(line)),
    snapshot: async () => (await routes(ns)).join('\n'),
    seedForeign: async () => {
      await ns.run(['ip', 'route', 'add', 'blackhole', '203.0.113.10']);
      await ns.run(['ip', '-6', 'route', 'add', 'blackhole', '2001:db8:ffff::10']);
    },
    // A reboot, or `ip route flush`: the routes go.
    wipe: async () => {
      await ns.run(['ip', 'route', 'flush', 'proto', '199']);
      await ns.run(['ip', '-6', 'route', 'flush', 'proto', '199']);
    },
  })),
});

// ---------------------------------------------------------------- hosts-deny

const adminLines = '# /etc/hosts.deny: the administrator\'s own\nsshd: 10.0.0.1\n';

/** "ALL: [2001:db8::1] # palisade" → 2001:db8::1; "ALL: 198.51.100.0/255.255.255.0 # palisade" → 198.51.100.0/24. */
function deniedAddress(line: string): string {
  const [, pattern = ''] = /^ALL: (\S+) # palisade$/.exec(line) ?? [];
  const [host = '', mask] = pattern.replace(/^\[(.*)\]/, '$1').split('/');
  if (mask === undefined) return host;
  const prefix = mask.includes('.') ? mask.split('.').reduce((bits, octet) => bits + Number(octet).toString(2).replace(/0/g, '').length, 0) : Number(mask);
  return `${host}/${prefix}`;
}

testBackendContract({
  title: 'hosts-deny',
  backend: 'hosts-deny',
  capabilities: {
    holdsBlocks: supported,
    answersPresent: supported,
    ensureRestores: supported,
    ownStructure: notApplicable('TCP wrappers\' deny file is the host\'s; Palisade owns lines in it, nothing to create'),
  },
  open: async () => {
    const path = join(caseDir(), 'hosts.deny');
    writeFileSync(path, '', { mode: 0o644 });
    const ours = () => lines(readFileSync(path, 'utf8')).filter((line) => line.endsWith('# palisade'));
    return {
      run: (verb, args = {}) => runBackend('hosts-deny', verb, { ...args, config: { host_deny: { path } } }),
      held: async () => sorted(ours().map(deniedAddress)),
      ours: async () => ours(),
      snapshot: async () => readFileSync(path, 'utf8'),
      seedForeign: async () => writeFileSync(path, adminLines),
      // A configuration-management run that writes the file anew, without our lines.
      wipe: async () => writeFileSync(path, ''),
      close: async () => undefined,
    };
  },
});

// ---------------------------------------------------------------- HTTP presets

interface HttpKit {
  preset: Exclude<FirewallPreset, 'webhook'>;
  start(dir: string): Promise<{ server: FirewallServer; http: Record<string, unknown> }>;
  /** Our rules in the store, one per rule (a duplicate shows twice), as the addresses Palisade wrote. */
  ours(server: FirewallServer): Array<Record<string, unknown> | string>;
  address(rule: Record<string, unknown> | string): string;
  seedForeign?(server: FirewallServer): void;
  noForeign?: string;
  answersPresent: ReturnType<typeof notApplicable> | typeof supported;
}

function secretFile(dir: string, name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, `${content}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return path;
}

const marked = (field: string) => (rule: Record<string, unknown> | string) => typeof rule === 'object' && String(rule[field]).startsWith('palisade:');
/** The store without the timers a vendor counts down (RouterOS's timeout). */
const timeless = (rules: unknown[]) => JSON.stringify(rules.map((rule) => (typeof rule === 'object' && rule !== null ? { ...rule, timeout: undefined } : rule)));

const httpKits: HttpKit[] = [
  {
    preset: 'generic',
    async start(dir) {
      const token = randomBytes(18).toString('base64url');
      const server = await startFirewallServer('generic', { token });
      const list = { path: '/rules', items: 'rules', address_field: 'source', reason_field: 'reason' };
      return { server, http: { preset: 'generic', url: server.url, ca_file: server.caFile, token_file: secretFile(dir, 'token', token), list } };
    },
    ours: (server) => (server.rules() as Array<Record<string, unknown>>).filter(marked('reason')),
    address: (rule) => String((rule as Record<string, unknown>).source),
    seedForeign: (server) => server.seed({ source: '203.0.113.10', duration: 3600, reason: 'blocked by hand' }),
    answersPresent: supported,
  },
  {
    preset: 'cloudflare',
    async start(dir) {
      const token = randomBytes(18).toString('base64url');
      const server = await startFirewallServer('cloudflare', { token });
      return { server, http: { preset: 'cloudflare', url: server.url, ca_file: server.caFile, zone_id: defaultZoneId, token_file: secretFile(dir, 'token', token) } };
    },
    ours: (server) => (server.rules() as Array<Record<string, unknown>>).filter(marked('notes')),
    address: (rule) => String((rule as Record<string, unknown>).value),
    seedForeign: (server) => server.seed({ value: '203.0.113.10', notes: 'blocked by hand after the March incident' }),
    answersPresent: supported,
  },
  {
    preset: 'opnsense',
    async start(dir) {
      const [user, secret] = [randomBytes(18).toString('base64url'), randomBytes(18).toString('base64url')];
      const server = await startFirewallServer('opnsense', { user, secret, aliases: ['palisade'] });
      return {
        server,
        http: { preset: 'opnsense', url: server.url.replace(/\/api$/, ''), ca_file: server.caFile, alias: 'palisade', api_key: user, secret_file: secretFile(dir, 'secret', secret) },
      };
    },
    // The alias is Palisade's alone: every address in it is ours.
    ours: (server) => server.rules() as string[],
    address: (rule) => String(rule),
    noForeign: 'the alias is Palisade\'s alone, and flush empties it whole (src/backends/http/opnsense.ts)',
    answersPresent: notApplicable('OPNsense\'s alias_util/add answers "done" whether or not the alias held the address'),
  },
  {
    preset: 'mikrotik',
    async start(dir) {
      const password = randomBytes(18).toString('base64url');
      const server = await startFirewallServer('mikrotik', { user: 'palisade-ar', secret: password });
      return {
        server,
        http: { preset: 'mikrotik', url: server.url.replace(/\/rest$/, ''), ca_file: server.caFile, username: 'palisade-ar', secret_file: secretFile(dir, 'password', password) },
      };
    },
    ours: (server) => (server.rules() as Array<Record<string, unknown>>).filter(marked('comment')),
    address: (rule) => String((rule as Record<string, unknown>).address).replace(/\/128$/, ''),
    seedForeign: (server) => server.seed({ address: '203.0.113.10', list: 'palisade', comment: 'static block by the admin' }),
    answersPresent: supported,
  },
];

for (const kit of httpKits) {
  testBackendContract({
    title: `http (${kit.preset})`,
    backend: 'http',
    capabilities: {
      holdsBlocks: supported,
      answersPresent: kit.answersPresent,
      ensureRestores: notApplicable(
        'the rules live in the firewall\'s own objects, with nothing of ours whose absence tells a loss: ensure() checks the config and secrets only, and palisade reconcile re-adds each missing block (src/cli/reconcile.ts)',
      ),
      ownStructure: notApplicable('the firewall\'s objects are the vendor\'s'),
    },
    ...(kit.noForeign === undefined ? {} : { noForeign: kit.noForeign }),
    open: async () => {
      const dir = caseDir();
      const { server, http } = await kit.start(dir);
      const config = { backend: 'http', http };
      const logFile = join(dir, 'active-responses.log');
      return {
        run: (verb, args = {}) => runBackend('http', verb, { ...args, config }, { logFile }),
        held: async () => sorted(kit.ours(server).map(kit.address)),
        ours: async () => kit.ours(server).map((rule) => timeless([rule])),
        snapshot: async () => timeless(server.rules()),
        ...(kit.seedForeign ? { seedForeign: async () => kit.seedForeign!(server) } : {}),
        // The appliance reset, or its configuration restored from a backup taken before our rules.
        wipe: async () => server.clear(),
        close: () => server.close(),
      };
    },
  });
}

// ---------------------------------------------------------------- dry-run

testBackendContract({
  title: 'dry-run',
  backend: 'dry-run',
  capabilities: {
    holdsBlocks: notApplicable('dry-run changes nothing by design: every verb succeeds and is only logged (src/backends/dry-run.ts)'),
    answersPresent: notApplicable('nothing is held'),
    ensureRestores: notApplicable('nothing is held'),
    ownStructure: notApplicable('nothing is held'),
  },
  open: inNamespace('dry-run', {}, (ns) => ({
    held: async () => [],
    ours: async () => [],
    // Every firewall of the namespace: nothing may change in any of them.
    snapshot: async () =>
      [await ns.run(['nft', 'list', 'ruleset']), ...(await bothFamilies(ns)), await ns.run(['ipset', 'save']), ...(await routes(ns))].join('\n'),
    wipe: async () => undefined,
  })),
});
