/**
 * A file of lines sorted by a key, "KEY<TAB>VALUE\n", written whole and atomically, and searched in place:
 * finding one key reads a few small pieces of the file (a binary search over byte offsets, as look(1) does),
 * so one lookup costs about the same whether the file holds ten lines or a hundred thousand.
 *
 * Keys are printable ASCII without spaces (addresses), so that bytes and JavaScript strings sort alike.
 * Values are any text without a newline (JSON.stringify never writes one), and not blank: a line is removed
 * in place by blanking its value (blankInSortedFile), which needs no free space and no rewrite; the next
 * rewrite drops it.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { writeFileAtomic, type AtomicWriteOptions } from './atomic-file.js';

const newline = 0x0a;
const tab = 0x09;
/** Most lines fit: a state entry is a few hundred bytes. A longer line is read on until its end. */
const chunkBytes = 2048;

/** Replaces `path` with these lines, sorted by key. */
export function writeSortedFile(path: string, lines: ReadonlyMap<string, string>, options: AtomicWriteOptions): void {
  const keys = [...lines.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let content = '';
  for (const key of keys) {
    const value = lines.get(key)!;
    if (!/^[\x21-\x7e]+$/.test(key) || value.includes('\n') || isBlank(value)) throw new Error(`a sorted file cannot hold the key ${JSON.stringify(key)}`);
    content += `${key}\t${value}\n`;
  }
  writeFileAtomic(path, content, options);
}

export interface SortedLine {
  key: string;
  value: string;
  /** 1-based, for messages about a damaged line. */
  line: number;
}

const isBlank = (value: string) => value.trim() === '';

/** Every line in file order, blanked ones left out; a line without a tab is reported to `onDamaged` and left out too. Missing file: none. */
export function readSortedFile(path: string, onDamaged: (line: number) => void = () => {}): SortedLine[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const lines: SortedLine[] = [];
  let start = 0;
  for (let number = 1; start < text.length; number++) {
    const end = text.indexOf('\n', start);
    const stop = end === -1 ? text.length : end;
    const split = text.indexOf('\t', start);
    if (split === -1 || split > stop) onDamaged(number);
    else if (!isBlank(text.slice(split + 1, stop))) lines.push({ key: text.slice(start, split), value: text.slice(split + 1, stop), line: number });
    start = stop + 1;
  }
  return lines;
}

/** The value of `key`, or undefined when the file does not hold it (or does not exist). */
export function findInSortedFile(path: string, key: string): string | undefined {
  return withFile(path, 'r', (fd) => {
    const line = locate(new LineReader(fd, fstatSync(fd).size), key);
    return line && !isBlank(line.value()) ? line.value() : undefined;
  });
}

/**
 * Removes the line of `key` where it is, by overwriting its value with spaces, and makes that durable: no
 * new block of the disk is needed, so this works on a full file system. True when the file held the key.
 */
export function blankInSortedFile(path: string, key: string): boolean {
  return (
    withFile(path, 'r+', (fd) => {
      const line = locate(new LineReader(fd, fstatSync(fd).size), key);
      if (!line || isBlank(line.value())) return false;
      writeSync(fd, Buffer.alloc(line.end - line.valueStart, ' '), 0, line.end - line.valueStart, line.valueStart);
      fsyncSync(fd);
      return true;
    }) ?? false
  );
}

/** `use` on the open file; undefined when there is no file. */
function withFile<T>(path: string, flags: 'r' | 'r+', use: (fd: number) => T): T | undefined {
  let fd: number;
  try {
    fd = openSync(path, flags);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  try {
    return use(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * The line of `key`. Invariant: if the key is there, its line starts in [low, high), and `low` is the start
 * of a line. Each step reads the first line that starts at or after the middle, and halves the range.
 */
function locate(reader: LineReader, key: string): Line | undefined {
  let low = 0;
  let high = reader.size;
  while (low < high) {
    const middle = Math.floor((low + high) / 2);
    const start = middle === 0 ? 0 : reader.nextLineStart(middle - 1);
    if (start >= high) {
      // No line starts in [middle, high): the few left start in [low, middle), read them one by one.
      for (let at = low; at < high; ) {
        const line = reader.lineAt(at);
        if (line.key === key) return line;
        at = line.end + 1;
      }
      return undefined;
    }
    const line = reader.lineAt(start);
    if (line.key === key) return line;
    if (line.key < key) low = line.end + 1;
    else high = start;
  }
  return undefined;
}

interface Line {
  key: string;
  /** Offsets in the file: where the value starts, and the line's newline (the file's size for a last line without one). */
  valueStart: number;
  end: number;
  value: () => string;
}

class LineReader {
  private readonly chunk = Buffer.alloc(chunkBytes);

  constructor(
    private readonly fd: number,
    readonly size: number,
  ) {}

  /** The offset just after the first newline at or after `from` (size when there is none). */
  nextLineStart(from: number): number {
    for (let at = from; at < this.size; ) {
      const read = readSync(this.fd, this.chunk, 0, chunkBytes, at);
      if (read === 0) break;
      const found = this.chunk.subarray(0, read).indexOf(newline);
      if (found !== -1) return at + found + 1;
      at += read;
    }
    return this.size;
  }

  /** The line that starts at `start`. */
  lineAt(start: number): Line {
    const pieces: Buffer[] = [];
    let end = this.size;
    for (let at = start; at < this.size; ) {
      const read = readSync(this.fd, this.chunk, 0, chunkBytes, at);
      if (read === 0) break;
      const found = this.chunk.subarray(0, read).indexOf(newline);
      pieces.push(Buffer.from(this.chunk.subarray(0, found === -1 ? read : found)));
      if (found !== -1) {
        end = at + found;
        break;
      }
      at += read;
    }
    const text = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces);
    const split = text.indexOf(tab);
    // A line without a tab (damaged) has no key: it sorts below every key and never matches.
    if (split === -1) return { key: '', valueStart: end, end, value: () => '' };
    return { key: text.toString('latin1', 0, split), valueStart: start + split + 1, end, value: () => text.toString('utf8', split + 1) };
  }
}
