/**
 * The threat-list parser (src/runtime/threat-list.ts) on its own: the formats, and lines an attacker who
 * controls a downloaded list could write.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { collapseList, ListReadError, maxLineLength, maxListLines, parseThreatList, readThreatList } from '../src/runtime/threat-list.js';

const addresses = (text: string) => parseThreatList(text).entries.map((entry) => entry.block.address);

describe('list formats', () => {
  it('reads a plain list with comments and blank lines', () => {
    const list = parseThreatList('# my list\n\n203.0.113.7\n  198.51.100.9  # scanner\n\t\n2001:db8::1\n');
    expect(list.entries).toEqual([
      { line: 3, block: { address: '203.0.113.7', family: 4, prefix: 32 } },
      { line: 4, block: { address: '198.51.100.9', family: 4, prefix: 32 } },
      { line: 6, block: { address: '2001:db8::1', family: 6, prefix: 128 } },
    ]);
    expect(list.comments).toBe(3);
    expect(list.refused).toEqual([]);
  });

  it('reads a FireHOL .netset', () => {
    const netset = [
      '#',
      '# firehol_level1',
      '#',
      '# List source URL    : https://iplists.firehol.org/',
      '#',
      '1.10.16.0/20',
      '1.19.0.0/16',
      '2.56.192.0/22',
      '5.8.37.0/24',
      '',
    ].join('\n');
    expect(addresses(netset)).toEqual(['1.10.16.0/20', '1.19.0.0/16', '2.56.192.0/22', '5.8.37.0/24']);
  });

  it('reads Spamhaus DROP with its "; SBL..." tails and header', () => {
    const drop = '; Spamhaus DROP List 2026/12/06 - (c) 2026 The Spamhaus Project SLU\n; Last-Modified: Sat, 05 Dec 2026\n1.10.16.0/20 ; SBL256894\n1.19.0.0/16 ; SBL434604\n2a06:e480::/29 ; SBL301771\n';
    const list = parseThreatList(drop);
    expect(list.entries.map((entry) => [entry.line, entry.block.address])).toEqual([
      [3, '1.10.16.0/20'],
      [4, '1.19.0.0/16'],
      [5, '2a06:e480::/29'],
    ]);
    expect(list.comments).toBe(2);
  });

  it('takes CRLF line ends, and a last line without one', () => {
    expect(addresses('203.0.113.7\r\n198.51.100.0/24 ; SBL1\r\n2001:db8::5')).toEqual(['203.0.113.7', '198.51.100.0/24', '2001:db8::5']);
  });

  it('writes every address in canonical form, IPv4-mapped IPv6 as IPv4, host bits of a network cleared', () => {
    expect(addresses('2001:DB8:0:0::0001\n::ffff:203.0.113.9\n198.51.100.77/24\n')).toEqual(['2001:db8::1', '203.0.113.9', '198.51.100.0/24']);
  });

  it('skips repeats and entries inside a wider network of the list, naming the line that covers them', () => {
    const list = collapseList(parseThreatList('198.51.100.7\n198.51.100.0/24\n198.51.100.7\n198.51.100.128/25\n203.0.113.1\n2001:db8::/32\n2001:db8:1::1\n').entries);
    expect(list.entries.map((entry) => entry.block.address)).toEqual(['198.51.100.0/24', '203.0.113.1', '2001:db8::/32']);
    expect(list.skipped).toEqual([
      { line: 1, text: '198.51.100.7', reason: 'inside 198.51.100.0/24 (line 2)' },
      { line: 3, text: '198.51.100.7', reason: 'inside 198.51.100.0/24 (line 2)' },
      { line: 4, text: '198.51.100.128/25', reason: 'inside 198.51.100.0/24 (line 2)' },
      { line: 7, text: '2001:db8:1::1', reason: 'inside 2001:db8::/32 (line 6)' },
    ]);
    expect(collapseList(parseThreatList('203.0.113.1\n203.0.113.1\n').entries).skipped).toEqual([{ line: 2, text: '203.0.113.1', reason: 'repeats line 1' }]);
  });
});

describe('hostile lines', () => {
  const refusals = (text: string) => parseThreatList(text).refused.map(({ line, reason }) => [line, reason]);

  it('refuses shell characters, option-like entries and junk by line number, and keeps the good lines', () => {
    const list = parseThreatList(['203.0.113.7', '$(reboot)', '1.2.3.4;rm -rf /', '`id`', '--flush', '-j ACCEPT', '1.2.3.4 5.6.7.8', '127.1', '010.0.0.1', '1.2.3.4/33', '1.2.3.4/8/8', 'example.com', '198.51.100.9'].join('\n'));
    expect(list.entries.map((entry) => entry.block.address)).toEqual(['203.0.113.7', '1.2.3.4', '198.51.100.9']);
    expect(list.refused.map(({ line, reason }) => [line, reason])).toEqual([
      [2, 'not an IP address'],
      [4, 'not an IP address'],
      [5, 'looks like an option, not an address'],
      [6, 'more than one field (one address or network per line)'],
      [7, 'more than one field (one address or network per line)'],
      [8, 'not an IP address'],
      [9, 'not an IP address'],
      [10, 'invalid prefix length'],
      [11, 'not an IP address'],
      [12, 'not an IP address'],
    ]);
  });

  it('refuses a NUL byte, and quotes control characters escaped so they cannot rewrite the terminal', () => {
    const list = parseThreatList('203.0.113.7\u0000\n\u001b[2J198.51.100.1\n');
    expect(list.refused).toEqual([
      { line: 1, text: '203.0.113.7\\x00', reason: 'contains a NUL byte' },
      { line: 2, text: '\\x1b[2J198.51.100.1', reason: 'not an IP address' },
    ]);
  });

  it('refuses a huge line without parsing it and quotes only its start', () => {
    const huge = `${'9'.repeat(5_000_000)}\n203.0.113.7\n`;
    const list = parseThreatList(huge);
    expect(list.entries.map((entry) => entry.block.address)).toEqual(['203.0.113.7']);
    expect(list.refused).toEqual([{ line: 1, text: `${'9'.repeat(80)}...`, reason: `line longer than ${maxLineLength} characters` }]);
  });

  it('refuses a list of more lines than it reads, before splitting it', () => {
    expect(() => parseThreatList('\n'.repeat(maxListLines + 1))).toThrow(/more than 1,000,000 lines/);
    expect(parseThreatList('\n'.repeat(maxListLines)).comments).toBe(maxListLines);
  });

  it('lets networks that cover this host, loopback or everything through the parser: the allow-list refuses those', () => {
    // The parser only says what the line is; blocking.ts's allow-list check is what refuses them (test/cli/bulk.test.ts).
    expect(addresses('0.0.0.0/0\n::/0\n')).toEqual(['0.0.0.0/0', '::/0']);
    expect(addresses('127.0.0.0/8\n::1\n')).toEqual(['127.0.0.0/8', '::1']);
  });
});

describe('reading FILE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'palisade-list-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a regular file', () => {
    const file = join(dir, 'list.txt');
    writeFileSync(file, '203.0.113.7\n');
    expect(readThreatList(file)).toBe('203.0.113.7\n');
  });

  it('refuses a FIFO at once instead of waiting for a writer', () => {
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const started = Date.now();
    expect(() => readThreatList(fifo)).toThrow(/is not a regular file \(a FIFO, a device or a directory\)/);
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('refuses /dev/zero and a directory', () => {
    expect(() => readThreatList('/dev/zero')).toThrow(ListReadError);
    expect(() => readThreatList(dir)).toThrow(/not a regular file/);
  });

  it('refuses a file over the byte limit without reading it all', () => {
    const file = join(dir, 'big.txt');
    writeFileSync(file, '203.0.113.7\n'.repeat(1000));
    expect(() => readThreatList(file, 5000)).toThrow(/holds more than 5000 bytes/);
  });

  it('says which file it cannot open', () => {
    expect(() => readThreatList(join(dir, 'missing'))).toThrow(/cannot open .*missing: ENOENT/);
  });
});
