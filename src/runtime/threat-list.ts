/**
 * Threat lists for `palisade block --from` / `unblock --from`: one address or network per line, as plain
 * lists, FireHOL .netset and Spamhaus DROP ("1.10.16.0/20 ; SBL256894") write them. A list is downloaded
 * data, so every line is hostile until parsed: nothing but the canonical form parseAddress gives ever leaves
 * this module, a bad line is refused by its number with the reason, and reading is bounded in bytes and
 * lines, so a FIFO, /dev/zero or a runaway download cannot hang or exhaust the process.
 */
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import * as z from 'zod/mini';
import type { Block } from './block.js';
import { isSingleHost, parseAddress, widenTo } from './address.js';

/** Far above the largest public lists (FireHOL level1 ~4,500 lines, Spamhaus DROP ~1,500), far below memory trouble. */
export const maxListBytes = 32 * 1024 * 1024;
export const maxListLines = 1_000_000;
/** A line longer than this holds no address: refused unread, and only its start is quoted. */
export const maxLineLength = 512;
const quotedLength = 80;

export const listRefusalSchema = z.object({ line: z.int(), text: z.string(), reason: z.string() });
export type ListRefusal = z.infer<typeof listRefusalSchema>;

export interface ListEntry {
  line: number;
  block: Block;
}

export interface ParsedList {
  /** Every address line, in order, repeats included: collapseList drops what is redundant. */
  entries: ListEntry[];
  /** Lines that are no address: by line number, with why. */
  refused: ListRefusal[];
  /** Blank and comment lines. */
  comments: number;
}

export class ListReadError extends Error {
  override name = 'ListReadError';
}

/** What the operator sees of a hostile line: its start, with control characters escaped. */
function quoted(text: string): string {
  const start = text.length > quotedLength ? `${text.slice(0, quotedLength)}...` : text;
  return start.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** One line: undefined for a blank or comment line, else the address or why it is none. */
function parseLine(raw: string): { block: Block } | { reason: string } | undefined {
  if (raw.length > maxLineLength) return { reason: `line longer than ${maxLineLength} characters` };
  if (raw.includes('\u0000')) return { reason: 'contains a NUL byte' };
  // "#" (plain lists, FireHOL) and ";" (Spamhaus: "; SBL..." after the network, or a whole header line) start a comment.
  const content = raw.replace(/[#;].*$/s, '').trim();
  if (content === '') return undefined;
  if (/\s/.test(content)) return { reason: 'more than one field (one address or network per line)' };
  if (content.startsWith('-')) return { reason: 'looks like an option, not an address' };
  const parsed = parseAddress(content, { allowNetwork: true });
  if (!parsed.ok) return { reason: parsed.reason };
  return { block: parsed.block };
}

function coveringIn(kept: ReadonlyMap<string, ListEntry>, prefixes: ReadonlySet<number>, block: Block): ListEntry | undefined {
  for (const prefix of prefixes) {
    if (prefix >= block.prefix) continue;
    const found = kept.get(widenTo(block, prefix).address);
    if (found) return found;
  }
  return undefined;
}

/** Every line of a list, parsed. */
export function parseThreatList(text: string): ParsedList {
  // Counted before splitting: 32 MiB of bare newlines would be 32 million strings.
  let newlines = 0;
  for (let at = text.indexOf('\n'); at >= 0 && newlines <= maxListLines; at = text.indexOf('\n', at + 1)) newlines += 1;
  if (newlines > maxListLines) throw new ListReadError(`the list has more than ${maxListLines.toLocaleString('en')} lines`);
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const parsed: ListEntry[] = [];
  const refused: ListRefusal[] = [];
  let comments = 0;
  lines.forEach((line, index) => {
    const raw = line.endsWith('\r') ? line.slice(0, -1) : line;
    const result = parseLine(raw);
    if (result === undefined) comments += 1;
    else if ('reason' in result) refused.push({ line: index + 1, text: quoted(raw), reason: result.reason });
    else parsed.push({ line: index + 1, block: result.block });
  });
  return { entries: parsed, refused, comments };
}

/**
 * What the list itself makes redundant: a repeated entry, and any entry inside a wider network of the list
 * (an nftables interval set refuses to hold both). Run it on what the allow-list let through, never before:
 * a hostile 0.0.0.0/0 that the allow-list refuses must not make every other line look covered.
 */
export function collapseList(parsed: readonly ListEntry[]): { entries: ListEntry[]; skipped: ListRefusal[] } {
  // Widest first, so a network is kept before anything inside it; then by line, so the first of twins is kept.
  const byWidth = [...parsed].sort((a, b) => a.block.family - b.block.family || a.block.prefix - b.block.prefix || a.line - b.line);
  const kept = new Map<string, ListEntry>();
  // The prefixes of kept networks: a covering network is found by widening the entry to each, not by a scan.
  const prefixes = { 4: new Set<number>(), 6: new Set<number>() };
  const skipped: ListRefusal[] = [];
  for (const entry of byWidth) {
    const same = kept.get(entry.block.address);
    const cover = same ?? coveringIn(kept, prefixes[entry.block.family], entry.block);
    if (cover) {
      const why = same ? `repeats line ${cover.line}` : `inside ${cover.block.address} (line ${cover.line})`;
      skipped.push({ line: entry.line, text: entry.block.address, reason: why });
      continue;
    }
    kept.set(entry.block.address, entry);
    if (!isSingleHost(entry.block)) prefixes[entry.block.family].add(entry.block.prefix);
  }
  const entries = [...kept.values()].sort((a, b) => a.line - b.line);
  return { entries, skipped: skipped.sort((a, b) => a.line - b.line) };
}

/**
 * The list's text from FILE, or from stdin for "-". A file must be a regular file: a FIFO would block the
 * open for a writer that may never come (it is opened non-blocking, and refused), and a device such as
 * /dev/zero never ends. Either source is read in bounded chunks and refused past maxListBytes.
 */
export function readThreatList(source: string, limit = maxListBytes): string {
  let fd: number;
  const fromStdin = source === '-';
  if (fromStdin) fd = 0;
  else {
    try {
      fd = openSync(source, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    } catch (error) {
      throw new ListReadError(`cannot open ${quoted(source)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  try {
    if (!fromStdin && !fstatSync(fd).isFile()) {
      throw new ListReadError(`${quoted(source)} is not a regular file (a FIFO, a device or a directory): save the list to a file, or pipe it in with --from -`);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    const chunk = Buffer.alloc(1024 * 1024);
    for (;;) {
      let count: number;
      try {
        count = readSync(fd, chunk, 0, chunk.length, null);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN') {
          // A non-blocking stdin (a terminal): wait a little for more.
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
          continue;
        }
        if (code === 'EOF') break;
        throw new ListReadError(`cannot read ${fromStdin ? 'stdin' : quoted(source)}: ${code ?? (error as Error).message}`);
      }
      if (count === 0) break;
      total += count;
      if (total > limit) throw new ListReadError(`${fromStdin ? 'stdin' : quoted(source)} holds more than ${limit} bytes: not a threat list this tool reads in one go`);
      chunks.push(Buffer.from(chunk.subarray(0, count)));
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    if (!fromStdin) closeSync(fd);
  }
}
