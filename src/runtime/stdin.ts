/**
 * Reads stdin one line at a time, synchronously, and never waits for end of file: execd keeps our stdin
 * open until we exit, and a reader that waits for EOF hangs execd for good (wazuh#29602).
 */
import { readSync } from 'node:fs';

/** Wazuh's AR library reads with fgets into 65536 bytes. */
export const maxLineBytes = 65_536;

export type LineResult =
  | { kind: 'line'; text: string; terminated: boolean }
  | { kind: 'eof' }
  | { kind: 'too-long' };

const sleeper = new Int32Array(new SharedArrayBuffer(4));

export class LineReader {
  private buffered = Buffer.alloc(0);

  constructor(private readonly fd = 0) {}

  /** The next line without its "\n" (and "\r"); terminated says whether a newline ended it. */
  readLine(): LineResult {
    const chunk = Buffer.alloc(maxLineBytes);
    for (;;) {
      const newline = this.buffered.indexOf(0x0a);
      if (newline >= 0) {
        const line = this.buffered.subarray(0, newline);
        this.buffered = this.buffered.subarray(newline + 1);
        if (line.length > maxLineBytes) return { kind: 'too-long' };
        return { kind: 'line', text: stripCarriageReturn(line.toString('utf8')), terminated: true };
      }
      if (this.buffered.length > maxLineBytes) return { kind: 'too-long' };
      const count = this.readChunk(chunk);
      if (count === 0) {
        if (this.buffered.length === 0) return { kind: 'eof' };
        const text = stripCarriageReturn(this.buffered.toString('utf8'));
        this.buffered = Buffer.alloc(0);
        return { kind: 'line', text, terminated: false };
      }
      this.buffered = Buffer.concat([this.buffered, chunk.subarray(0, count)]);
    }
  }

  /**
   * Forget whatever arrived after the line just read. execd sends its reply only after reading our
   * check_keys, so bytes that came with the message are a person's multi-line paste, never a reply.
   */
  discardBuffered(): number {
    const count = this.buffered.length;
    this.buffered = Buffer.alloc(0);
    return count;
  }

  private readChunk(chunk: Buffer): number {
    for (;;) {
      try {
        return readSync(this.fd, chunk, 0, chunk.length, null);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        // A non-blocking descriptor (a terminal, some supervisors): wait a little and try again.
        if (code === 'EAGAIN') {
          Atomics.wait(sleeper, 0, 0, 5);
          continue;
        }
        if (code === 'EOF' || code === 'EBADF' || code === 'ENOTCONN' || code === 'EINVAL') return 0;
        throw error;
      }
    }
  }
}

function stripCarriageReturn(text: string): string {
  return text.endsWith('\r') ? text.slice(0, -1) : text;
}
