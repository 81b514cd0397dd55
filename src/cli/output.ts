/**
 * How the CLI speaks: aligned tables and colour for a person at a terminal, one JSON document for a script
 * (--json), and plain text with no escape codes when stdout is a pipe or a file. NO_COLOR and --no-color
 * turn colour off (https://no-color.org); it is never on when stdout is not a terminal.
 */
import { writeSync } from 'node:fs';

export type Tone = 'ok' | 'warn' | 'fail' | 'dim' | 'bold' | 'plain';

const codes: Record<Exclude<Tone, 'plain'>, [string, string]> = {
  ok: ['\u001b[32m', '\u001b[39m'],
  warn: ['\u001b[33m', '\u001b[39m'],
  fail: ['\u001b[31m', '\u001b[39m'],
  dim: ['\u001b[2m', '\u001b[22m'],
  bold: ['\u001b[1m', '\u001b[22m'],
};

/**
 * C0 and C1 controls, DEL, bidirectional overrides and line separators: with these, text from an alert
 * could move the cursor, erase a row, forge one after a CR/LF, or reverse what a row says.
 */
const controls = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** Text a terminal shows as it is: each control character becomes its escape (\x1b, \u202e). */
export function printable(text: string): string {
  return text.replace(controls, (char) => {
    const code = char.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** A table cell: text, or text in a tone. Either way the table makes it printable before painting it. */
export type Cell = string | { tone: Tone; text: string };

export interface Column {
  header: string;
  /** Numbers read best right-aligned. */
  align?: 'left' | 'right';
}

export interface Output {
  readonly json: boolean;
  readonly color: boolean;
  /** Wraps text in a tone's colour when colour is on. */
  paint(tone: Tone, text: string): string;
  line(text?: string): void;
  /** Every cell is made printable: tables show alert text, and alert text is the attacker's. */
  table(columns: readonly Column[], rows: ReadonlyArray<readonly Cell[]>): void;
  /** The whole answer of a --json run: one document on stdout. */
  document(value: unknown): void;
  /** A message for the person (stderr), whatever the mode: stdout stays parseable. */
  note(text: string): void;
}

export function wantsColor(noColorFlag: boolean, stream: NodeJS.WriteStream = process.stdout): boolean {
  if (noColorFlag || (process.env.NO_COLOR ?? '') !== '' || process.env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

function write(fd: number, text: string): void {
  try {
    writeSync(fd, text);
  } catch (error) {
    // A closed pipe (palisade list | head) is the reader's choice, not an error of ours.
    if ((error as NodeJS.ErrnoException).code !== 'EPIPE') throw error;
  }
}

export function createOutput(options: { json: boolean; color: boolean }): Output {
  const paint = (tone: Tone, text: string) => {
    if (!options.color || tone === 'plain') return text;
    const [open, close] = codes[tone];
    return `${open}${text}${close}`;
  };
  return {
    json: options.json,
    color: options.color,
    paint,
    line: (text = '') => write(1, `${text}\n`),
    table(columns, rows) {
      const plain = rows.map((row) => row.map((cell) => printable(typeof cell === 'string' ? cell : cell.text)));
      const tones = rows.map((row) => row.map((cell) => (typeof cell === 'string' ? 'plain' : cell.tone)));
      const widths = columns.map((column, i) => Math.max(column.header.length, ...plain.map((row) => (row[i] ?? '').length)));
      // Padding goes outside the colour, so that the escape codes take no room and trailing spaces trim.
      const pad = (text: string, tone: Tone, i: number) => {
        const room = ' '.repeat(Math.max(0, (widths[i] ?? 0) - text.length));
        return columns[i]?.align === 'right' ? `${room}${paint(tone, text)}` : `${paint(tone, text)}${room}`;
      };
      const render = (cells: readonly string[], tones: readonly Tone[]) => cells.map((text, i) => pad(text, tones[i] ?? 'plain', i)).join('  ').trimEnd();
      write(1, `${paint('bold', render(columns.map((column) => column.header), []))}\n`);
      for (const [r, row] of plain.entries()) write(1, `${render(row, tones[r] ?? [])}\n`);
    },
    document: (value) => write(1, `${JSON.stringify(value, null, 2)}\n`),
    note: (text) => write(2, `${text}\n`),
  };
}

/** "3m ago", "in 2h" style ages for tables: 5400 → "1h30m". */
export function shortDuration(seconds: number): string {
  if (seconds < 60) return `${Math.max(0, Math.round(seconds))}s`;
  const units: Array<[string, number]> = [['d', 86400], ['h', 3600], ['m', 60]];
  const parts: string[] = [];
  let rest = Math.round(seconds);
  for (const [unit, size] of units) {
    if (rest >= size && parts.length < 2) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}

/** Local time as in the Wazuh log: 2026-11-26 10:20:30. */
export function localTime(epochSeconds: number): string {
  const date = new Date(epochSeconds * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}
