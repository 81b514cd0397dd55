/**
 * The nftables backend's pure parts, without root or a kernel: the script builder that numbers lines by
 * role, the judge that reads nft's refusal back to a verdict, and the guards that keep anything but a
 * canonical address and a whole-second timer out of a script. The stderr texts are nft 1.0's own words,
 * captured from a namespace (the same refusals test/backends/nftables.test.ts provokes on a real kernel).
 */
import { describe, expect, it } from 'vitest';
import { BackendError } from '../../src/backends/backend.js';
import { checkedBlock, checkedTtl, counterFor, fingerprintOf, hintFor, judge, NftScript, setFor } from '../../src/backends/nftables-script.js';

const table = 'inet palisade';

/** A script of two structure lines, then element lines: line 3 onwards are elements. */
function script(...elements: string[]): NftScript {
  return new NftScript()
    .add('structure', `add counter ${table} blocked_addr4`, `add chain ${table} input { type filter hook input priority -10; policy accept; }`)
    .add('element', ...elements);
}

/** nft's error report for one line: the location, the message, the line and its caret. */
function nftError(line: number, message: string, text = 'add element inet palisade addr4 { 192.0.2.1 }'): string {
  return `/dev/stdin:${line}:38-46: Error: ${message}\n${text}\n${' '.repeat(37)}^^^^^^^^^\n`;
}

describe('NftScript', () => {
  it('joins its lines in the order added, ending in a newline, and knows the role of each by nft\'s 1-based line number', () => {
    const built = new NftScript().add('structure', 'add table inet palisade').add('replay', 'add element a', 'add element b').add('element', 'delete element c');
    expect(built.text()).toBe('add table inet palisade\nadd element a\nadd element b\ndelete element c\n');
    expect([1, 2, 3, 4].map((n) => built.roleOf(n))).toEqual(['structure', 'replay', 'replay', 'element']);
    expect(built.roleOf(0)).toBeUndefined();
    expect(built.roleOf(5)).toBeUndefined();
  });
});

describe('judge: what nft\'s refusal means', () => {
  it('a zero exit is done, whatever stderr says', () => {
    expect(judge(script('x'), 0, 'Warning: something', table)).toEqual({ kind: 'done' });
  });

  it('an element line refused with EEXIST is a block already present', () => {
    const stderr = nftError(3, 'Could not process rule: File exists', 'create element inet palisade addr4 { 192.0.2.1 timeout 60s }');
    expect(judge(script('create element ...'), 1, stderr, table)).toMatchObject({
      kind: 'element-present',
      failure: { message: 'Could not process rule: File exists', exitCode: 1, stderr, hint: '' },
    });
  });

  it('an element line refused with ENOENT (hash set) or "element does not exist" (interval set) is a block absent', () => {
    const hash = nftError(3, 'Could not process rule: No such file or directory', 'delete element inet palisade addr4 { 192.0.2.9 }');
    expect(judge(script('delete element ...'), 1, hash, table).kind).toBe('element-absent');
    const interval = nftError(3, 'element does not exist', 'delete element inet palisade net4 { 198.51.100.0/24 }');
    expect(judge(script('delete element ...'), 1, interval, table).kind).toBe('element-absent');
  });

  it('a structure line that fails means our table is gone or differs: structure-broken', () => {
    const stderr = nftError(2, 'Could not process rule: No such file or directory');
    expect(judge(script('add element ...'), 1, stderr, table)).toMatchObject({ kind: 'structure-broken', failure: { message: 'Could not process rule: No such file or directory' } });
  });

  it('an element line naming a set or table nft cannot find (bare ENOENT, no kernel) is structure-broken, not absent', () => {
    // nft resolves the set before the kernel sees the line: "Error: No such file or directory", without "Could not process rule".
    const stderr = nftError(1, 'No such file or directory');
    expect(judge(new NftScript().add('element', 'add element inet palisade addr4 { 192.0.2.1 }'), 1, stderr, table).kind).toBe('structure-broken');
  });

  it('one structure failure among element failures wins: the table must be rebuilt', () => {
    const stderr = nftError(3, 'Could not process rule: File exists') + nftError(1, 'Could not process rule: Device or resource busy');
    expect(judge(script('create element ...'), 1, stderr, table).kind).toBe('structure-broken');
  });

  it('element failures of mixed kinds are refused, not read as present or absent', () => {
    const stderr = nftError(3, 'Could not process rule: File exists') + nftError(4, 'conflicting intervals specified');
    expect(judge(script('a', 'b'), 1, stderr, table)).toMatchObject({ kind: 'refused', failure: { message: 'Could not process rule: File exists' } });
  });

  it('an error with no line (nft could not talk to the kernel) is refused, with the root hint for EPERM', () => {
    const stderr = 'Operation not permitted (you must be root)\nnetlink: Error: cache initialization failed: Operation not permitted\n';
    expect(judge(script('a'), 1, stderr, table)).toEqual({
      kind: 'refused',
      failure: { message: 'netlink: Error: cache initialization failed: Operation not permitted', hint: ' (nft needs root or CAP_NET_ADMIN)', exitCode: 1, stderr },
    });
  });

  it('a failure without any "Error:" is refused with its first line, or the exit status when stderr is empty', () => {
    expect(judge(script('a'), 139, '', table)).toMatchObject({ kind: 'refused', failure: { message: 'nft exited with 139', hint: '' } });
    expect(judge(script('a'), 1, 'Segmentation fault\nmore\n', table)).toMatchObject({ kind: 'refused', failure: { message: 'Segmentation fault' } });
  });
});

describe('hintFor', () => {
  it('says how to fix an overlap and a table owned by another program, and nothing for the rest', () => {
    expect(hintFor('Could not process rule: interval overlaps with an existing one', table)).toMatch(/a network overlapping it is already blocked/);
    expect(hintFor('Could not process rule: Operation not permitted', table)).toBe(
      ' (another program owns table inet palisade (nft "flags owner"): give Palisade another table name with nftables.table)',
    );
    expect(hintFor('Could not process rule: File exists', table)).toBe('');
  });
});

describe('what may reach a script', () => {
  it('takes a canonical block as it is', () => {
    expect(checkedBlock({ address: '2001:db8::1', family: 6, prefix: 128 })).toEqual({ address: '2001:db8::1', family: 6, prefix: 128 });
    expect(checkedBlock({ address: '198.51.100.0/24', family: 4, prefix: 24 })).toEqual({ address: '198.51.100.0/24', family: 4, prefix: 24 });
  });

  it.each([
    ['nft syntax', { address: '192.0.2.1 } ; flush ruleset ; add element inet palisade addr4 { 192.0.2.2', family: 4 as const, prefix: 32 }, /refusing to hand .* to nft/],
    ['a non-canonical IPv6', { address: '2001:0db8::1', family: 6 as const, prefix: 128 }, /not the canonical 2001:db8::1/],
    ['a network with host bits', { address: '198.51.100.7/24', family: 4 as const, prefix: 24 }, /refusing to hand/],
    ['the wrong family', { address: '192.0.2.1', family: 6 as const, prefix: 128 }, /not the canonical/],
  ])('refuses %s with a BackendError naming nft', (_what, block, message) => {
    expect(() => checkedBlock(block)).toThrow(BackendError);
    expect(() => checkedBlock(block)).toThrow(message);
  });

  it('takes a timer of whole seconds above 0 only', () => {
    expect(checkedTtl(1)).toBe(1);
    expect(checkedTtl(2_592_000)).toBe(2_592_000);
    for (const ttl of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) expect(() => checkedTtl(ttl), String(ttl)).toThrow(/whole number of seconds above 0/);
  });
});

describe('sets, counters and the declaration fingerprint', () => {
  it('puts a host in the hash set of its family and a network in the interval set', () => {
    expect(setFor({ address: '192.0.2.1', family: 4, prefix: 32 })).toBe('addr4');
    expect(setFor({ address: '2001:db8::1', family: 6, prefix: 128 })).toBe('addr6');
    expect(setFor({ address: '198.51.100.0/24', family: 4, prefix: 24 })).toBe('net4');
    expect(setFor({ address: '2001:db8::/48', family: 6, prefix: 48 })).toBe('net6');
    expect(counterFor('net6')).toBe('blocked_net6');
  });

  it('names a configuration by 8 hex digits that change with any line (FNV-1a)', () => {
    expect(fingerprintOf('')).toBe('811c9dc5');
    expect(fingerprintOf('a')).toBe('e40c292c');
    expect(fingerprintOf('add rule inet palisade input ip saddr @addr4 drop')).toMatch(/^[0-9a-f]{8}$/);
    expect(fingerprintOf('priority -10')).not.toBe(fingerprintOf('priority -11'));
  });
});
