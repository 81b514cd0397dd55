/**
 * Addresses no command ever blocks: blocking them would cut the host off from itself, its gateway or its
 * Wazuh manager, which is the one mistake an automatic response must never make.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { Block } from '../backends/backend.js';
import { overlaps, parseAddress, specialRanges } from './address.js';
import type { Config } from './config.js';

export interface AllowEntry {
  range: Block;
  /** Why it is protected, for the log line: "loopback", "this host (eth0)", "Wazuh manager (ossec.conf)". */
  why: string;
}

type Family = Block['family'];

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

async function resolveManagers(names: string[], family: Family, timeoutMs: number): Promise<AllowEntry[]> {
  if (names.length === 0) return [];
  const entries: AllowEntry[] = [];
  await Promise.all(
    names.map(async (name) => {
      const direct = parseAddress(name, { allowNetwork: true });
      if (direct.ok) {
        if (direct.block.family === family) entries.push({ range: direct.block, why: 'Wazuh manager' });
        return;
      }
      // A manager by hostname: resolve it, but never let a slow resolver hold up a block for long.
      const { lookup } = await import('node:dns/promises');
      const timeout = new Promise<[]>((resolve) => setTimeout(() => resolve([]), timeoutMs).unref());
      const found = await Promise.race([lookup(name, { all: true, family }).catch(() => []), timeout]);
      for (const { address } of found) entries.push(...parsedRange(address, `Wazuh manager (${name})`, family));
    }),
  );
  return entries;
}

/**
 * Every protected range of one family: an alert's address is checked against its own family's only, so an
 * IPv4 alert never parses an IPv6 range (nor loads the IPv6 parser).
 */
export async function buildAllowlist(config: Config, installDir: string, family: Family): Promise<AllowEntry[]> {
  let ossecConf = '';
  try {
    ossecConf = readFileSync(`${installDir}/etc/ossec.conf`, 'utf8');
  } catch {
    // Not an agent install (a manual test): no manager to protect.
  }
  const managers = [...managerAddressesFromOssecConf(ossecConf), ...config.manager_addresses];
  return [
    ...specialRanges(family).map(({ range, name }) => ({ range, why: name })),
    ...interfaceAddresses(family),
    ...gatewayAddresses(family),
    ...(await resolveManagers(managers, family, 1500)),
    ...config.allowlist.filter((range) => range.family === family).map((range) => ({ range, why: 'config allowlist' })),
    ...(config.allowlist_private ? privateRanges[family].flatMap((text) => parsedRange(text, 'private (config allowlist_private)', family)) : []),
  ];
}

/** The first protected range the block touches; a network that merely overlaps one is refused too. */
export async function findAllowed(block: Block, config: Config, installDir: string): Promise<AllowEntry | undefined> {
  return (await buildAllowlist(config, installDir, block.family)).find((entry) => overlaps(entry.range, block));
}
