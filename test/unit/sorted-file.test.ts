/** The sorted bulk file's search, without root: every key found, absent keys not, whatever the line lengths. */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { blankInSortedFile, findInSortedFile, readSortedFile, writeSortedFile } from '../../src/runtime/sorted-file.js';

const dir = mkdtempSync(join(tmpdir(), 'palisade-sorted-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function written(lines: Map<string, string>): string {
  const path = join(dir, `file-${files++}`);
  writeSortedFile(path, lines, { mode: 0o640 });
  return path;
}

/** A deterministic spread of IPv4 and IPv6 keys, as a threat list has. */
function keys(count: number): string[] {
  return Array.from({ length: count }, (_, n) => (n % 3 === 0 ? `2001:db8:${(n * 7919) % 65536}::${n % 97}` : `${(n * 31) % 223 + 1}.${(n * 17) % 256}.${n % 256}.${(n * 13) % 256}${n % 5 === 0 ? '/24' : ''}`));
}

describe('sorted file', () => {
  it('finds every key of 5,000 lines and no key it does not hold', () => {
    const all = [...new Set(keys(5200))];
    const held = all.slice(0, 5000);
    const path = written(new Map(held.map((key) => [key, JSON.stringify({ address: key, n: key.length })])));
    for (const key of held) expect(findInSortedFile(path, key)).toBe(JSON.stringify({ address: key, n: key.length }));
    for (const key of all.slice(5000)) expect(findInSortedFile(path, key)).toBeUndefined();
    for (const key of ['', '0', '~', '255.255.255.255', held[0]!.slice(0, -1), `${held[1]}0`]) {
      if (!held.includes(key)) expect(findInSortedFile(path, key)).toBeUndefined();
    }
  });

  it('writes the lines sorted by key, one per line, with the file mode asked', () => {
    const path = written(new Map([['b', '2'], ['a', '1'], ['c', '3']]));
    expect(readFileSync(path, 'utf8')).toBe('a\t1\nb\t2\nc\t3\n');
    expect(statSync(path).mode & 0o777).toBe(0o640);
    expect(readSortedFile(path)).toEqual([
      { key: 'a', value: '1', line: 1 },
      { key: 'b', value: '2', line: 2 },
      { key: 'c', value: '3', line: 3 },
    ]);
  });

  it('finds lines longer than a read and values that are not ASCII', () => {
    const long = 'x'.repeat(9000);
    const lines = new Map([
      ['10.0.0.1', long],
      ['10.0.0.2', 'sshd: échec, 認証'],
      ['10.0.0.3', `${long}y`],
    ]);
    const path = written(lines);
    for (const [key, value] of lines) expect(findInSortedFile(path, key)).toBe(value);
    expect(findInSortedFile(path, '10.0.0.4')).toBeUndefined();
  });

  it('answers for a file of one line, an empty file and a missing one', () => {
    const one = written(new Map([['192.0.2.1', 'v']]));
    expect(findInSortedFile(one, '192.0.2.1')).toBe('v');
    expect(findInSortedFile(one, '192.0.2.2')).toBeUndefined();
    const empty = join(dir, 'empty');
    writeFileSync(empty, '');
    expect(findInSortedFile(empty, 'a')).toBeUndefined();
    expect(readSortedFile(empty)).toEqual([]);
    expect(findInSortedFile(join(dir, 'missing'), 'a')).toBeUndefined();
    expect(readSortedFile(join(dir, 'missing'))).toEqual([]);
  });

  it('reports a damaged line and still finds the others', () => {
    const path = join(dir, 'damaged');
    writeFileSync(path, 'a\t1\nno tab here\nc\t3\n');
    const damaged: number[] = [];
    expect(readSortedFile(path, (line) => damaged.push(line)).map(({ key }) => key)).toEqual(['a', 'c']);
    expect(damaged).toEqual([2]);
    expect(findInSortedFile(path, 'a')).toBe('1');
    expect(findInSortedFile(path, 'c')).toBe('3');
  });

  it('refuses a key or a value that would break the line format', () => {
    expect(() => written(new Map([['a\tb', '1']]))).toThrow(/cannot hold/);
    expect(() => written(new Map([['a b', '1']]))).toThrow(/cannot hold/);
    expect(() => written(new Map([['é', '1']]))).toThrow(/cannot hold/);
    expect(() => written(new Map([['', '1']]))).toThrow(/cannot hold/);
    expect(() => written(new Map([['a', '1\nb\t2']]))).toThrow(/cannot hold/);
  });
});

describe('a line removed in place', () => {
  it('is blanked to the same length, found no more, and read by no one, while its neighbours stay', () => {
    const lines = new Map(['192.0.2.1', '192.0.2.2', '192.0.2.3'].map((key) => [key, JSON.stringify({ address: key, note: 'é' })]));
    const path = written(lines);
    const size = statSync(path).size;
    expect(blankInSortedFile(path, '192.0.2.2')).toBe(true);
    expect(statSync(path).size).toBe(size);
    expect(findInSortedFile(path, '192.0.2.2')).toBeUndefined();
    expect(findInSortedFile(path, '192.0.2.1')).toBe(lines.get('192.0.2.1'));
    expect(findInSortedFile(path, '192.0.2.3')).toBe(lines.get('192.0.2.3'));
    expect(readSortedFile(path).map(({ key }) => key)).toEqual(['192.0.2.1', '192.0.2.3']);
    expect(blankInSortedFile(path, '192.0.2.2')).toBe(false);
    expect(blankInSortedFile(path, '192.0.2.9')).toBe(false);
    expect(blankInSortedFile(join(dir, 'missing'), '192.0.2.2')).toBe(false);
  });

  it('refuses to write a blank value, which would read as removed', () => {
    expect(() => written(new Map([['a', '  ']]))).toThrow(/cannot hold/);
  });
});
