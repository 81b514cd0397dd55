/**
 * The lines palisade-host-deny writes to TCP wrappers' deny file and reads back as its own, without a file:
 * hosts_access(5)'s forms (IPv6 in brackets, an IPv4 network as net/mask), and the rule that only the exact
 * form Palisade writes is ever Palisade's.
 */
import { describe, expect, it } from 'vitest';
import { blockOfLine, hostDenyLine } from '../../src/backends/hosts-deny.js';

describe('hosts.deny lines', () => {
  it.each([
    [{ address: '192.0.2.7', family: 4 as const, prefix: 32 }, 'ALL: 192.0.2.7 # palisade'],
    [{ address: '2001:db8::7', family: 6 as const, prefix: 128 }, 'ALL: [2001:db8::7] # palisade'],
    [{ address: '198.51.100.0/24', family: 4 as const, prefix: 24 }, 'ALL: 198.51.100.0/255.255.255.0 # palisade'],
    [{ address: '10.0.0.0/8', family: 4 as const, prefix: 8 }, 'ALL: 10.0.0.0/255.0.0.0 # palisade'],
    [{ address: '2001:db8:200::/48', family: 6 as const, prefix: 48 }, 'ALL: [2001:db8:200::]/48 # palisade'],
  ])('writes %j as %s, and reads it back as the same block', (block, line) => {
    expect(hostDenyLine(block)).toBe(line);
    expect(blockOfLine(line)).toEqual(block);
    // Trailing white space (an editor's) does not make it someone else's.
    expect(blockOfLine(`${line}  `)).toEqual(block);
  });

  it.each([
    ['an administrator\'s line', 'sshd: 192.0.2.7'],
    ['ours without the marker', 'ALL: 192.0.2.7'],
    ['a non-canonical IPv6 typed by hand', 'ALL: [2001:0db8::7] # palisade'],
    ['IPv6 without brackets', 'ALL: 2001:db8::7 # palisade'],
    ['a mask that is not a prefix', 'ALL: 198.51.100.0/255.0.255.0 # palisade'],
    ['an IPv4 network as a prefix length', 'ALL: 198.51.100.0/24 # palisade'],
    ['a network with host bits', 'ALL: 198.51.100.7/255.255.255.0 # palisade'],
    ['another service', 'sshd: 192.0.2.7 # palisade'],
    ['a comment', '# palisade'],
  ])('never reads %s as ours: %s', (_what, line) => {
    expect(blockOfLine(line)).toBeUndefined();
  });
});
