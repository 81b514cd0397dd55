/** The nft scripts the backend writes, without root or a kernel (nft's refusals: nftables-script.test.ts). */
import { describe, expect, it } from 'vitest';
import type { Block } from '../../src/backends/backend.js';
import {
  chainLines,
  checkedBlock,
  checkedTtl,
  createLine,
  declarationLines,
  deleteLines,
  removalLines,
  renewLines,
  replayLines,
  setFor,
  tableSpec,
  type TableSpec,
} from '../../src/backends/nftables-script.js';

const host4: Block = { address: '192.0.2.7', family: 4, prefix: 32 };
const host6: Block = { address: '2001:db8::7', family: 6, prefix: 128 };
const net4: Block = { address: '198.51.100.0/24', family: 4, prefix: 24 };
const spec: TableSpec = { table: 'inet palisade', priority: -10, hooks: ['input', 'forward'], action: 'drop' };

describe('nft scripts', () => {
  it('puts single hosts and networks in separate sets', () => {
    expect([host4, host6, net4].map(setFor)).toEqual(['addr4', 'addr6', 'net4']);
  });

  it('declares the table and its four timeout sets, networks in interval sets', () => {
    expect(declarationLines(spec)).toEqual([
      'add table inet palisade',
      'add set inet palisade addr4 { type ipv4_addr; flags timeout; }',
      'add set inet palisade addr6 { type ipv6_addr; flags timeout; }',
      'add set inet palisade net4 { type ipv4_addr; flags interval, timeout; }',
      'add set inet palisade net6 { type ipv6_addr; flags interval, timeout; }',
    ]);
  });

  it('declares each configured hook as a chain with one counted drop rule per set, and removes an unconfigured one', () => {
    const lines = chainLines({ ...spec, hooks: ['input'] });
    expect(lines.slice(0, 4)).toEqual(['add counter inet palisade blocked_addr4', 'add counter inet palisade blocked_addr6', 'add counter inet palisade blocked_net4', 'add counter inet palisade blocked_net6']);
    expect(lines).toContain('add chain inet palisade input { type filter hook input priority -10; policy accept; }');
    expect(lines).toContain('add rule inet palisade input ip saddr @addr4 counter name "blocked_addr4" drop');
    expect(lines.slice(-3)).toEqual(['add chain inet palisade forward', 'flush chain inet palisade forward', 'delete chain inet palisade forward']);
  });

  it('rejects instead of dropping when the action says so: a TCP reset, else an ICMP admin-prohibited', () => {
    const lines = chainLines({ ...spec, action: 'reject' }).filter((line) => line.includes('@net6'));
    expect(lines).toEqual([
      'add rule inet palisade input ip6 saddr @net6 meta l4proto tcp counter name "blocked_net6" reject with tcp reset',
      'add rule inet palisade input ip6 saddr @net6 counter name "blocked_net6" reject with icmpx type admin-prohibited',
      'add rule inet palisade forward ip6 saddr @net6 meta l4proto tcp counter name "blocked_net6" reject with tcp reset',
      'add rule inet palisade forward ip6 saddr @net6 counter name "blocked_net6" reject with icmpx type admin-prohibited',
    ]);
  });

  it('writes element lines with their timers, one element per line for replays', () => {
    expect(createLine(spec, 'addr4', { block: host4, ttl: 600 })).toBe('create element inet palisade addr4 { 192.0.2.7 timeout 600s }');
    expect(renewLines(spec, 'addr4', { block: host4, ttl: 60 })).toEqual([
      'add element inet palisade addr4 { 192.0.2.7 timeout 60s }',
      'delete element inet palisade addr4 { 192.0.2.7 }',
      'add element inet palisade addr4 { 192.0.2.7 timeout 60s }',
    ]);
    const other: Block = { address: '192.0.2.8', family: 4, prefix: 32 };
    expect(replayLines(spec, [{ block: host4, ttl: 5 }, { block: net4, ttl: 6 }, { block: other, ttl: 7 }])).toEqual([
      'add element inet palisade addr4 {',
      '192.0.2.7 timeout 5s,',
      '192.0.2.8 timeout 7s',
      '}',
      'add element inet palisade net4 {',
      '198.51.100.0/24 timeout 6s',
      '}',
    ]);
    expect(deleteLines(spec, [host6])).toEqual(['delete element inet palisade addr6 {', '2001:db8::7', '}']);
    expect(removalLines(spec, net4)).toEqual(['add element inet palisade net4 { 198.51.100.0/24 }', 'delete element inet palisade net4 { 198.51.100.0/24 }']);
  });

  it('takes its table, hooks, priority and action from the configuration', () => {
    expect(tableSpec({ nftables: { table: 'guard', priority: 5, hooks: ['forward'] }, action: 'reject' } as Parameters<typeof tableSpec>[0])).toEqual({
      table: 'inet guard',
      priority: 5,
      hooks: ['forward'],
      action: 'reject',
    });
  });

  it('hands nft only canonical addresses and whole positive timers', () => {
    expect(checkedBlock(net4)).toEqual(net4);
    expect(() => checkedBlock({ address: '192.0.2.7; flush ruleset', family: 4, prefix: 32 })).toThrow(/refusing to hand/);
    expect(() => checkedBlock({ address: '2001:DB8::7', family: 6, prefix: 128 })).toThrow(/not the canonical 2001:db8::7/);
    expect(checkedTtl(1)).toBe(1);
    expect(() => checkedTtl(0)).toThrow(/above 0/);
    expect(() => checkedTtl(1.5)).toThrow(/whole number/);
  });
});
