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

const privateRanges = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'];

function parsedRange(text: string, why: string): AllowEntry[] {
  const parsed = parseAddress(text, { allowNetwork: true });
  return parsed.ok ? [{ range: parsed.block, why }] : [];
}

function interfaceAddresses(): AllowEntry[] {
  return Object.entries(networkInterfaces()).flatMap(([name, addresses]) =>
    (addresses ?? []).flatMap((address) => parsedRange(address.address.split('%')[0] ?? '', `this host (${name})`)),
  );
}

/** Default and other gateways from the kernel's routing tables (/proc/net/route is little-endian hex). */
export function gatewayAddresses(procNet = '/proc/net'): AllowEntry[] {
  const entries: AllowEntry[] = [];
  try {
    for (const line of readFileSync(`${procNet}/route`, 'utf8').split('\n').slice(1)) {
      const gateway = line.split(/\s+/)[2];
      if (!gateway || !/^[0-9A-F]{8}$/i.test(gateway) || gateway === '00000000') continue;
      const octets = (gateway.match(/../g) ?? []).map((hex) => parseInt(hex, 16)).reverse();
      entries.push(...parsedRange(octets.join('.'), 'gateway'));
    }
  } catch {
    // No IPv4 routing table (a container without /proc/net): nothing to protect there.
  }
  try {
    for (const line of readFileSync(`${procNet}/ipv6_route`, 'utf8').split('\n')) {
      const nextHop = line.split(/\s+/)[4];
      if (!nextHop || !/^[0-9a-f]{32}$/i.test(nextHop) || /^0+$/.test(nextHop)) continue;
      entries.push(...parsedRange((nextHop.match(/.{4}/g) ?? []).join(':'), 'gateway'));
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

async function resolveManagers(names: string[], timeoutMs: number): Promise<AllowEntry[]> {
  if (names.length === 0) return [];
  const { lookup } = await import('node:dns/promises');
  const entries: AllowEntry[] = [];
  await Promise.all(
    names.map(async (name) => {
      const direct = parsedRange(name, 'Wazuh manager');
      if (direct.length > 0) {
        entries.push(...direct);
        return;
      }
      // A manager by hostname: resolve it, but never let a slow resolver hold up a block for long.
      const timeout = new Promise<[]>((resolve) => setTimeout(() => resolve([]), timeoutMs).unref());
      const found = await Promise.race([lookup(name, { all: true }).catch(() => []), timeout]);
      for (const { address } of found) entries.push(...parsedRange(address, `Wazuh manager (${name})`));
    }),
  );
  return entries;
}

export async function buildAllowlist(config: Config, installDir: string): Promise<AllowEntry[]> {
  let ossecConf = '';
  try {
    ossecConf = readFileSync(`${installDir}/etc/ossec.conf`, 'utf8');
  } catch {
    // Not an agent install (a manual test): no manager to protect.
  }
  const managers = [...managerAddressesFromOssecConf(ossecConf), ...config.manager_addresses];
  return [
    ...specialRanges().map(({ range, name }) => ({ range, why: name })),
    ...interfaceAddresses(),
    ...gatewayAddresses(),
    ...(await resolveManagers(managers, 1500)),
    ...config.allowlist.map((range) => ({ range, why: 'config allowlist' })),
    ...(config.allowlist_private ? privateRanges.flatMap((text) => parsedRange(text, 'private (config allowlist_private)')) : []),
  ];
}

/** The first protected range the block touches; a network that merely overlaps one is refused too. */
export function findAllowed(block: Block, allowlist: readonly AllowEntry[]): AllowEntry | undefined {
  return allowlist.find((entry) => overlaps(entry.range, block));
}
