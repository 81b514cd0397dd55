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
 * Makes the renames and removals done in `dir` durable: a file's fsync keeps its content, not its name. For
 * a change whose order matters after a crash (a new file in place before older ones go).
 */
export function syncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** True when there was a file to remove. */
export function removeIfPresent(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    return false;
  }
}
