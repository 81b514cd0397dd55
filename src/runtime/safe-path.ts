/**
 * File walking that never follows a symlink an attacker planted: every directory from a trusted root down is
 * opened with O_NOFOLLOW through the previous one's descriptor (/proc/self/fd/N/name, the openat of a
 * language without openat), so a directory swapped for a symlink mid-way is refused, not followed. And
 * bounded reading and copying of an open file, holes kept. Quarantine moves files with these.
 */
import { createHash } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fsyncSync,
  ftruncateSync,
  futimesSync,
  lstatSync,
  openSync,
  readSync,
  realpathSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { posix } from 'node:path';
import { removeIfPresent } from './atomic-file.js';

export function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/** A name inside an open directory, as a path the kernel resolves through that descriptor. */
export const inDir = (dirFd: number, name: string) => `/proc/self/fd/${dirFd}/${name}`;

/**
 * Why a walk stopped: the root cannot be opened (`code` says why), or a component below it is a symlink, is
 * not a directory, or does not exist. `path` is the root, or the path walked so far. The caller words it.
 */
export class UnsafePath extends Error {
  override name = 'UnsafePath';
  constructor(
    readonly kind: 'root' | 'symlink' | 'not-directory' | 'missing',
    readonly path: string,
    readonly code?: string | undefined,
  ) {
    super(`${path}: ${kind}${code ? ` (${code})` : ''}`);
  }
}

/**
 * Opens the directory of `path`, which lies below `root`, from the root down, refusing every symlink and
 * non-directory on the way. The root itself is the administrator's word and may be a symlink; nothing below
 * it may. Returns the directory's descriptor (the caller closes it) and the last component's name.
 */
export function openParentBelow(root: string, path: string): { dirFd: number; name: string } {
  const components = path.slice(root === '/' ? 1 : root.length + 1).split('/');
  const name = components.pop()!;
  let dirFd: number;
  try {
    dirFd = openSync(realpathSync(root), constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (error) {
    throw new UnsafePath('root', root, errnoOf(error));
  }
  let walked = root;
  for (const component of components) {
    walked = posix.join(walked, component);
    let next: number;
    try {
      next = openSync(inDir(dirFd, component), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
    } catch (error) {
      const code = errnoOf(error);
      // O_DIRECTORY | O_NOFOLLOW on a symlink fails with ENOTDIR or ELOOP: lstat says which it was.
      const found = code === 'ENOTDIR' || code === 'ELOOP' ? lstatOrUndefined(inDir(dirFd, component)) : undefined;
      closeSync(dirFd);
      if (found?.isSymbolicLink()) throw new UnsafePath('symlink', walked);
      if (found) throw new UnsafePath('not-directory', walked);
      if (code === 'ENOENT') throw new UnsafePath('missing', walked);
      throw error;
    }
    closeSync(dirFd);
    dirFd = next;
  }
  return { dirFd, name };
}

export function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw error;
  }
}

const chunkBytes = 1 << 20;
/** The unit of holes a copy keeps: a block of zeros this size is skipped, not written (cp --sparse=always). */
const holeBytes = 4096;
const zeros = Buffer.alloc(holeBytes);

/** What a read past its bound throws, given how many bytes it had seen. */
export type OverLimit = (bytes: number) => Error;

/**
 * Reads an open file to its end through `each`, refusing once it holds more than maxSize bytes: a file that grows
 * while it is read (someone still writing to it) cannot make the work unbounded.
 */
export function readAll(fd: number, maxSize: number, overLimit: OverLimit, each: (chunk: Buffer, position: number) => void): number {
  const buffer = Buffer.allocUnsafe(chunkBytes);
  let position = 0;
  for (;;) {
    const read = readSync(fd, buffer, 0, buffer.length, position);
    if (read === 0) return position;
    if (position + read > maxSize) throw overLimit(position + read);
    each(buffer.subarray(0, read), position);
    position += read;
  }
}

export function sha256OfFd(fd: number, maxSize: number, overLimit: OverLimit): string {
  const hash = createHash('sha256');
  readAll(fd, maxSize, overLimit, (chunk) => hash.update(chunk));
  return hash.digest('hex');
}

/**
 * Copies an open file into a new file, with its owner, mode and times (the cross-file-system move), and returns
 * the sha256 of what it copied. Blocks of zeros become holes, so a sparse file takes no more room in quarantine
 * than where it came from. On any failure (a full disk, a file grown past maxSize) the new file is removed.
 */
export function copyInto(sourceFd: number, stat: Stats, destination: string, maxSize: number, overLimit: OverLimit): string {
  const out = openSync(destination, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    const hash = createHash('sha256');
    const size = readAll(sourceFd, maxSize, overLimit, (chunk, position) => {
      hash.update(chunk);
      for (let offset = 0; offset < chunk.length; offset += holeBytes) {
        const block = chunk.subarray(offset, offset + holeBytes);
        if (block.length === holeBytes && block.equals(zeros)) continue;
        let written = 0;
        while (written < block.length) written += writeSync(out, block, written, block.length - written, position + offset + written);
      }
    });
    // Trailing holes: the length comes from the size, not from a write.
    ftruncateSync(out, size);
    fchownSync(out, stat.uid, stat.gid);
    fchmodSync(out, stat.mode & 0o7777);
    futimesSync(out, stat.atime, stat.mtime);
    fsyncSync(out);
    closeSync(out);
    return hash.digest('hex');
  } catch (error) {
    closeSync(out);
    removeIfPresent(destination);
    throw error;
  }
}
