/**
 * Addresses no command ever blocks: blocking them would cut the host off from itself, its gateway or its
 * Wazuh manager, which is the one mistake an automatic response must never make.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { AddressRange, Block } from './block.js';
import { overlaps, parseAddress, specialRanges } from './address.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { readManagerCache, saveManagerResolutions } from './manager-cache.js';
import { stateDir } from './state.js';

export interface AllowEntry {
  range: AddressRange;
  /** Why it is protected, for the log line: "loopback", "this host (eth0)", "Wazuh manager (ossec.conf)". */
  why: string;
}

type Family = AddressRange['family'];

const privateRanges: Record<Family, string[]> = { 4: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'], 6: ['fc00::/7'] };

/** The range, if the text is one of this family (an IPv4-mapped IPv6 address counts as IPv4). */
function parsedRange(text: string, why: string, family: Family): AllowEntry[] {
  const parsed = parseAddress(text, { allowNetwork: true });
  return parsed.ok && parsed.block.family === family ? [{ range: parsed.block, why }] : [];
}

function interfaceAddresses(family: Family): AllowEntry[] {
  return Object.entries(networkInterfaces()).flatMap(([name, addresses]) =>
    (addresses ?? [])
      .filter((address) => address.family === `IPv${family}`)
      .flatMap((address) => parsedRange(address.address.split('%')[0] ?? '', `this host (${name})`, family)),
  );
}

/** Default and other gateways from the kernel's routing tables (/proc/net/route is little-endian hex). */
export function gatewayAddresses(family: Family, procNet = '/proc/net'): AllowEntry[] {
  return family === 4 ? ipv4Gateways(procNet) : ipv6Gateways(procNet);
}

function ipv4Gateways(procNet: string): AllowEntry[] {
  const entries: AllowEntry[] = [];
  try {
    for (const line of readFileSync(`${procNet}/route`, 'utf8').split('\n').slice(1)) {
      const gateway = line.split(/\s+/)[2];
      if (!gateway || !/^[0-9A-F]{8}$/i.test(gateway) || gateway === '00000000') continue;
      const octets = (gateway.match(/../g) ?? []).map((hex) => parseInt(hex, 16)).reverse();
      entries.push(...parsedRange(octets.join('.'), 'gateway', 4));
    }
  } catch {
    // No IPv4 routing table (a container without /proc/net): nothing to protect there.
  }
  return entries;
}

function ipv6Gateways(procNet: string): AllowEntry[] {
  const entries: AllowEntry[] = [];
  try {
    for (const line of readFileSync(`${procNet}/ipv6_route`, 'utf8').split('\n')) {
      const nextHop = line.split(/\s+/)[4];
      if (!nextHop || !/^[0-9a-f]{32}$/i.test(nextHop) || /^0+$/.test(nextHop)) continue;
      entries.push(...parsedRange((nextHop.match(/.{4}/g) ?? []).join(':'), 'gateway', 6));
    }
  } catch {
    // No IPv6.
  }
  return entries;
}

/** The agent's managers: every <client><server><address> of etc/ossec.conf. */
export function managerAddressesFromOssecConf(text: string): string[] {
  const addresses: string[] = [];
  for (const client of text.matchAll(/<client>([\s\S]*?)<\/client>/g)) {
    for (const server of (client[1] ?? '').matchAll(/<server>([\s\S]*?)<\/server>/g)) {
      const address = /<address>\s*([^<\s]+)\s*<\/address>/.exec(server[1] ?? '')?.[1];
      if (address) addresses.push(address);
    }
  }
  return addresses;
}

export interface AllowlistOptions {
  /** Where a failed manager lookup is reported, as a warning. */
  log?: Pick<Logger, 'warn'> | undefined;
  /** Record every good lookup, changed or not: palisade reconcile refreshes the cache so. */
  refresh?: boolean;
}

/** A slow resolver must never hold up a block for long; the cached resolution covers the wait. */
const lookupTimeoutMs = 1500;

type Lookup = { ok: true; addresses: string[] } | { ok: false; reason: string };

/** The addresses /etc/hosts gives a name, as getaddrinfo's `files` source would. */
function hostsFileAddresses(name: string, hostsFile = '/etc/hosts'): string[] {
  let text = '';
  try {
    text = readFileSync(hostsFile, 'utf8');
  } catch {
    return [];
  }
  const wanted = name.toLowerCase();
  return text.split('\n').flatMap((line) => {
    const [address, ...names] = (line.split('#')[0] ?? '').trim().split(/\s+/);
    return address && names.some((alias) => alias.toLowerCase() === wanted) ? [address] : [];
  });
}

/**
 * /etc/hosts, then DNS through c-ares, which a timer can cancel: nsswitch's usual `files dns`. Not
 * dns.lookup: getaddrinfo runs in libuv's thread pool and cannot be cancelled, and the pool is joined at exit,
 * so a resolver that never answers would keep the process (and execd, which waits for it) for the resolver's
 * whole timeout, however early we stopped waiting.
 */
async function lookupManager(name: string): Promise<Lookup> {
  const fromHosts = hostsFileAddresses(name);
  if (fromHosts.length > 0) return { ok: true, addresses: fromHosts };
  const { Resolver } = await import('node:dns/promises');
  const resolver = new Resolver({ timeout: lookupTimeoutMs, tries: 1 });
  const timer = setTimeout(() => resolver.cancel(), lookupTimeoutMs);
  const answers = await Promise.allSettled([resolver.resolve4(name), resolver.resolve6(name)]);
  clearTimeout(timer);
  const addresses = answers.flatMap((answer) => (answer.status === 'fulfilled' ? answer.value : []));
  if (addresses.length > 0) return { ok: true, addresses };
  const codes = answers.map((answer) => (answer.status === 'rejected' ? ((answer.reason as NodeJS.ErrnoException).code ?? 'error') : 'no address'));
  const timedOut = codes.some((code) => code === 'ECANCELLED' || code === 'ETIMEOUT');
  return { ok: false, reason: timedOut ? `no answer within ${lookupTimeoutMs / 1000} s` : [...new Set(codes)].join(', ') };
}

const sameAddresses = (a: readonly string[] | undefined, b: readonly string[]) => a !== undefined && [...a].sort().join() === [...b].sort().join();

/**
 * Every manager address of both families, with why: an address as written, a name's fresh lookup, and the
 * name's last good lookup (manager-cache.ts), which stays protected whether or not today's lookup works.
 */
async function managerAddresses(config: Config, installDir: string, options: AllowlistOptions): Promise<Array<{ address: string; why: string }>> {
  let ossecConf = '';
  try {
    ossecConf = readFileSync(`${installDir}/etc/ossec.conf`, 'utf8');
  } catch {
    // Not an agent install (a manual test): no manager to protect.
  }
  const names = [...managerAddressesFromOssecConf(ossecConf), ...config.manager_addresses];
  const found: Array<{ address: string; why: string }> = [];
  const hostnames: string[] = [];
  for (const name of names) {
    if (parseAddress(name, { allowNetwork: true }).ok) found.push({ address: name, why: 'Wazuh manager' });
    else hostnames.push(name);
  }
  if (hostnames.length === 0) return found;

  const dir = stateDir(installDir);
  const cache = readManagerCache(dir);
  const fresh: Record<string, string[]> = {};
  await Promise.all(
    hostnames.map(async (name) => {
      const lookup = await lookupManager(name);
      const known = cache[name]?.addresses ?? [];
      if (lookup.ok) {
        fresh[name] = lookup.addresses;
        for (const address of lookup.addresses) found.push({ address, why: `Wazuh manager (${name})` });
      } else {
        const outcome = known.length > 0
          ? `its last known address(es) ${known.join(', ')} stay protected`
          : 'no earlier lookup is known, so its address is not protected';
        options.log?.warn(
          { event: 'manager-lookup-failed', manager: name, reason: lookup.reason, cached: known },
          `cannot resolve the Wazuh manager ${name} (${lookup.reason}): ${outcome}; palisade reconcile looks it up again`,
        );
      }
      for (const address of known) {
        if (!lookup.ok || !lookup.addresses.includes(address)) found.push({ address, why: `Wazuh manager (${name}, as last resolved)` });
      }
    }),
  );
  const changed = Object.entries(fresh).filter(([name, addresses]) => options.refresh || !sameAddresses(cache[name]?.addresses, addresses));
  if (changed.length > 0) saveManagerResolutions(dir, Object.fromEntries(changed));
  return found;
}

function allowlistOf(config: Config, managers: ReadonlyArray<{ address: string; why: string }>, family: Family): AllowEntry[] {
  return [
    ...specialRanges(family).map(({ range, name }) => ({ range, why: name })),
    ...interfaceAddresses(family),
    ...gatewayAddresses(family),
    ...managers.flatMap(({ address, why }) => parsedRange(address, why, family)),
    ...config.allowlist.filter((range) => range.family === family).map((range) => ({ range, why: 'config allowlist' })),
    ...(config.allowlist_private ? privateRanges[family].flatMap((text) => parsedRange(text, 'private (config allowlist_private)', family)) : []),
  ];
}

/**
 * Every protected range of one family: an alert's address is checked against its own family's only, so an
 * IPv4 alert never parses an IPv6 range (nor loads the IPv6 parser).
 */
export async function buildAllowlist(config: Config, installDir: string, family: Family, options: AllowlistOptions = {}): Promise<AllowEntry[]> {
  return allowlistOf(config, await managerAddresses(config, installDir, options), family);
}

/** Both families' protected ranges from one lookup of the managers: for checking many blocks at once. */
export async function buildAllowlists(config: Config, installDir: string, options: AllowlistOptions = {}): Promise<Record<Family, AllowEntry[]>> {
  const managers = await managerAddresses(config, installDir, options);
  return { 4: allowlistOf(config, managers, 4), 6: allowlistOf(config, managers, 6) };
}

/** The first protected range the block touches; a network that merely overlaps one is refused too. */
export function allowedBy(block: Block, allowlist: readonly AllowEntry[]): AllowEntry | undefined {
  return allowlist.find((entry) => entry.range.family === block.family && overlaps(entry.range, block));
}

export async function findAllowed(block: Block, config: Config, installDir: string, options: AllowlistOptions = {}): Promise<AllowEntry | undefined> {
  return allowedBy(block, await buildAllowlist(config, installDir, block.family, options));
}
