import type { AddressRange, Block } from './block.js';

type IpAddress = typeof import('ip-address');
let ipAddress: IpAddress | undefined;

/**
 * ip-address, loaded on the first IPv6 address: evaluating it builds some forty Address6 objects, which every
 * alert would pay at start-up (bench/RESULTS.md), and an IPv4 alert never needs it. (A CommonJS require, which the
 * bundle resolves in place, because an ESM import cannot be deferred without making every caller async.)
 */
function ipv6(): IpAddress['Address6'] {
  ipAddress ??= require('ip-address') as IpAddress;
  return ipAddress.Address6;
}

/**
 * Address parsing is deliberately stricter than glibc's inet_aton (which Wazuh's get_ip_version accepts):
 * "127.1", "0x7f.1", "010.0.0.1" and scoped IPv6 are refused, because a value that two programs read
 * differently has no business reaching a firewall.
 */
const ipv4Pattern = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const ipv6Characters = /^[0-9a-fA-F:.]+$/;
const maxAddressLength = 64;

export type ParseResult = { ok: true; block: Block } | { ok: false; reason: string };

/** Parse one address, or a network when allowNetwork is set. IPv4-mapped IPv6 becomes IPv4. */
export function parseAddress(text: unknown, options: { allowNetwork?: boolean } = {}): ParseResult {
  if (typeof text !== 'string') return { ok: false, reason: `not a string (${describeType(text)})` };
  if (text.length === 0) return { ok: false, reason: 'empty' };
  if (text.length > maxAddressLength) return { ok: false, reason: 'too long to be an address' };
  const [host, prefixText, ...rest] = text.split('/');
  if (rest.length > 0 || host === undefined) return { ok: false, reason: 'not an IP address' };
  if (prefixText !== undefined && !options.allowNetwork) return { ok: false, reason: 'a network where a single address is expected' };
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return { ok: false, reason: 'invalid prefix length' };

  let family: 4 | 6;
  let bits: bigint;
  if (ipv4Pattern.test(host)) {
    family = 4;
    bits = ipv4ToBigInt(host);
  } else if (ipv6Characters.test(host) && host.includes(':') && ipv6().isValid(host)) {
    const v6bits = ipv6ToBigInt(host);
    if (v6bits >> 32n === 0xffffn) {
      family = 4; // IPv4-mapped: the kernel sees the IPv4 packet, so that is what must be blocked
      bits = v6bits & 0xffffffffn;
    } else {
      family = 6;
      bits = v6bits;
    }
  } else {
    return { ok: false, reason: 'not an IP address' };
  }

  const width = family === 4 ? 32 : 128;
  let prefix = width;
  if (prefixText !== undefined) {
    prefix = Number(prefixText);
    // a mapped IPv6 network (::ffff:0:0/104) keeps its meaning in IPv4 terms
    if (family === 4 && host.includes(':')) prefix -= 96;
    if (prefix < 0 || prefix > width) return { ok: false, reason: 'invalid prefix length' };
  }
  return { ok: true, block: blockFromBits(family, bits, prefix) };
}

/** The /prefix network that holds block, e.g. the /64 of an IPv6 host. */
export function widenTo(block: Block, prefix: number): Block {
  if (prefix >= block.prefix) return block;
  return blockFromBits(block.family, toBigInt(block), prefix);
}

/** True when a and b share at least one address. */
export function overlaps(a: AddressRange, b: AddressRange): boolean {
  if (a.family !== b.family) return false;
  const shorter = Math.min(a.prefix, b.prefix);
  const width = a.family === 4 ? 32 : 128;
  const shift = BigInt(width - shorter);
  return toBigInt(a) >> shift === toBigInt(b) >> shift;
}

export function isSingleHost(block: Block): boolean {
  return block.prefix === (block.family === 4 ? 32 : 128);
}

/** The form nft, ipset and iptables take: a bare address for a host, address/prefix for a network. */
export function blockText(block: Block): string {
  return block.address;
}

function blockFromBits(family: 4 | 6, bits: bigint, prefix: number): Block {
  const width = family === 4 ? 32 : 128;
  const hostBits = BigInt(width - prefix);
  const network = (bits >> hostBits) << hostBits;
  const text = family === 4 ? bigIntToIpv4(network) : bigIntToIpv6(network);
  return { address: prefix === width ? text : `${text}/${prefix}`, family, prefix };
}

function toBigInt(block: AddressRange): bigint {
  const host = block.address.split('/')[0] ?? '';
  return block.family === 4 ? ipv4ToBigInt(host) : ipv6ToBigInt(host);
}

function ipv6ToBigInt(text: string): bigint {
  const Address6 = ipv6();
  return BigInt(`0x${new Address6(text).canonicalForm().replaceAll(':', '')}`);
}

function ipv4ToBigInt(text: string): bigint {
  return text.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
}

function bigIntToIpv4(bits: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((bits >> shift) & 0xffn)).join('.');
}

function bigIntToIpv6(bits: bigint): string {
  const hex = bits.toString(16).padStart(32, '0');
  const groups = hex.match(/.{4}/g) ?? [];
  const Address6 = ipv6();
  return new Address6(groups.join(':')).correctForm();
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

/** Ranges that are never a remote attacker: blocking them would cut the host off itself. */
const specialRangeTexts: Record<4 | 6, ReadonlyArray<[string, string]>> = {
  4: [
    ['0.0.0.0/8', 'unspecified'],
    ['127.0.0.0/8', 'loopback'],
    ['169.254.0.0/16', 'link-local'],
    ['224.0.0.0/4', 'multicast'],
    ['255.255.255.255/32', 'broadcast'],
  ],
  6: [
    ['::/128', 'unspecified'],
    ['::1/128', 'loopback'],
    ['fe80::/10', 'link-local'],
    ['ff00::/8', 'multicast'],
  ],
};

/** One family's special ranges, parsed when asked for: nothing is computed at import time, which every alert pays. */
export function specialRanges(family: 4 | 6): Array<{ range: AddressRange; name: string }> {
  return specialRangeTexts[family].map(([text, name]) => {
    const parsed = parseAddress(text, { allowNetwork: true });
    if (!parsed.ok) throw new Error(`bad built-in range ${text}`);
    return { range: parsed.block, name };
  });
}
