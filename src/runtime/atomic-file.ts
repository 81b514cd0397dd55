/**
 * Replacing a file so that a reader, or a crash, only ever sees the old content or the new one: write a
 * temp file beside it, fsync, rename over it. A leftover under the temp name (a crash, a reused pid) is
 * removed and the temp file created exclusively, so nothing planted there is ever written through.
 */
import { closeSync, fchmodSync, fchownSync, fsyncSync, openSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** Permission bits of the new file, exactly: the umask does not apply. */
  mode: number;
  /** Owner to give the new file, to keep the one the replaced file had. */
  uid?: number | undefined;
  gid?: number | undefined;
}

export function writeFileAtomic(path: string, content: string, options: AtomicWriteOptions): void {
  const temp = join(dirname(path), `.${basename(path)}.palisade-${process.pid}.tmp`);
  removeIfPresent(temp);
  const fd = openSync(temp, 'wx', options.mode);
  try {
    try {
      // chown first: it clears set-id bits that chmod then sets back.
      if (options.uid !== undefined || options.gid !== undefined) fchownSync(fd, options.uid ?? -1, options.gid ?? -1);
      fchmodSync(fd, options.mode);
      writeFileSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (error) {
    removeIfPresent(temp);
    throw error;
  }
}

/**
 * writeFileAtomic for many files at once, with one flush for all of them instead of one fsync each
 * (one fsync per file is most of a 10,000-line threat list's time: bench/RESULTS.md). Every temp file is written, then
 * `flush` makes them durable (syncfs of their file system), then each is renamed over its target: a crash
 * leaves each target old or new, never half written. On a failure no target has been replaced.
 */
export async function writeFilesAtomic(files: ReadonlyArray<{ path: string; content: string }>, options: AtomicWriteOptions, flush: () => Promise<void>): Promise<void> {
  const temps: string[] = [];
  try {
    for (const { path, content } of files) {
      const temp = join(dirname(path), `.${basename(path)}.palisade-${process.pid}.tmp`);
      removeIfPresent(temp);
      const fd = openSync(temp, 'wx', options.mode);
      temps.push(temp);
      try {
        fchmodSync(fd, options.mode);
        writeFileSync(fd, content);
      } finally {
        closeSync(fd);
      }
    }
    await flush();
  } catch (error) {
    for (const temp of temps) removeIfPresent(temp);
    throw error;
  }
  files.forEach(({ path }, i) => renameSync(temps[i]!, path));
}

export function removeIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
