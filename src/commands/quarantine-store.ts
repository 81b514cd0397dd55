/**
 * Where palisade-quarantine keeps what it moved, and how it moves it there and back: one directory per path,
 * <dir>/<sha256(path), 32 hex>/<id>.data (the file itself, owner, mode and times kept) and <id>.json (its
 * record), quarantine.max_size on what is hashed or copied, and a lock per path.
 *
 * A file is hashed, and from another file system copied, before execd hears back, and execd runs one response
 * at a time: quarantine.max_size bounds that work, and it is done under a lock of that path alone
 * (var/palisade/locks/), never the state lock, so every other Palisade command goes on meanwhile. A copy keeps
 * the holes of a sparse file, and nothing half-done stays in quarantine: a copy or a record that cannot be
 * completed is removed, and a file already moved is put back.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, closeSync, constants, fstatSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { removeIfPresent, writeFileAtomic } from '../runtime/atomic-file.js';
import { acquireLock } from '../runtime/lock.js';
import { copyInto, errnoOf, inDir, lstatOrUndefined, openParentBelow, sha256OfFd, UnsafePath, type OverLimit } from '../runtime/safe-path.js';
import { stateDir } from '../runtime/state.js';
import type { CommandContext } from './command.js';
import { ruleOf } from './common.js';

export interface QuarantineTarget {
  path: string;
  /** The configured root it lies under (normalised, as written in the config). */
  root: string;
  field: string;
}

const recordSchema = z.object({
  path: z.string(),
  sha256: z.string(),
  size: z.number(),
  /** Permission bits as octal text, "0644". */
  mode: z.string(),
  owner: z.int(),
  group: z.int(),
  mtime: z.string(),
  /** Other names (hard links) that still reach the content. */
  otherLinks: z.int(),
  quarantinedAt: z.string(),
  field: z.string(),
  rule: z.optional(z.object({ ruleId: z.optional(z.string()), description: z.optional(z.string()) })),
});

export type QuarantineRecord = z.infer<typeof recordSchema>;

/** Refused for what the file system holds (a symlink, a device, a path outside the roots): nothing was moved. */
export class QuarantineRefused extends Error {
  override name = 'QuarantineRefused';
}

/** The file's directory, opened from the quarantine root down without following a symlink, or why not. */
function openParent(target: QuarantineTarget): { dirFd: number; name: string } {
  try {
    return openParentBelow(target.root, target.path);
  } catch (error) {
    if (!(error instanceof UnsafePath)) throw error;
    switch (error.kind) {
      case 'root':
        throw new QuarantineRefused(`the quarantine root ${target.root} cannot be opened (${error.code}); fix quarantine.roots`);
      case 'symlink':
        throw new QuarantineRefused(`${error.path} is a symlink: quarantine never follows one below ${target.root}`);
      case 'not-directory':
        throw new QuarantineRefused(`${error.path} is not a directory`);
      case 'missing':
        throw new QuarantineRefused(`${error.path} does not exist`);
    }
  }
}

function describeKind(stat: Stats): string {
  if (stat.isSymbolicLink()) return 'a symlink (quarantine never follows one, nor moves one)';
  if (stat.isDirectory()) return 'a directory';
  return 'not a regular file (a device, FIFO or socket)';
}

export function sizeText(bytes: number): string {
  const [unit, size] = ([['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const).find(([, size]) => bytes >= size) ?? ['bytes', 1];
  return `${Number((bytes / size).toFixed(1))} ${unit}`;
}

function tooLarge(path: string, bytes: number, maxSize: number, what = 'is'): QuarantineRefused {
  return new QuarantineRefused(
    `${path} ${what} ${sizeText(bytes)}, over quarantine.max_size (${sizeText(maxSize)}): left where it is; hashing and copying it would hold up every response execd has queued. Quarantine it by hand, or raise max_size in palisade.yml`,
  );
}

/** A file that grew past the bound while it was read. */
const grewPast = (path: string, maxSize: number): OverLimit => (bytes) => tooLarge(path, bytes, maxSize, 'grew to at least');

function quarantineDir(ctx: CommandContext): string {
  const dir = ctx.config.quarantine.dir ?? join(stateDir(ctx.installDir), 'quarantine');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  if (!stat.isDirectory()) throw new QuarantineRefused(`${dir} (config quarantine.dir) is not a directory`);
  if (stat.uid !== process.getuid?.()) throw new QuarantineRefused(`${dir} (config quarantine.dir) is owned by UID ${stat.uid}, not by the user Palisade runs as`);
  // Only root may ever read what is held there: a quarantined file keeps its own, possibly open, mode.
  if ((stat.mode & 0o777) !== 0o700) chmodSync(dir, 0o700);
  return dir;
}

/** A path's name in quarantine and in its lock's: 32 hex of its sha256. */
export const pathKey = (path: string) => createHash('sha256').update(path).digest('hex').slice(0, 32);

const entryDir = (ctx: CommandContext, path: string) => join(quarantineDir(ctx), pathKey(path));

/** Quarantine entries of one path, oldest first. */
function entriesOf(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((name) => name.endsWith('.json'))
      .map((name) => name.slice(0, -'.json'.length))
      .sort();
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return [];
    throw error;
  }
}

function octal(mode: number): string {
  return `0${(mode & 0o7777).toString(8).padStart(3, '0')}`;
}

export type QuarantineOutcome = { result: 'quarantined'; record: QuarantineRecord; stored: string } | { result: 'present' } | { result: 'nothing' };

export function moveIntoQuarantine(ctx: CommandContext, target: QuarantineTarget): QuarantineOutcome {
  const maxSize = ctx.config.quarantine.max_size;
  const dir = entryDir(ctx, target.path);
  const { dirFd, name } = openParent(target);
  try {
    const original = inDir(dirFd, name);
    const before = lstatOrUndefined(original);
    if (!before) return entriesOf(dir).length > 0 ? { result: 'present' } : { result: 'nothing' };
    if (!before.isFile()) throw new QuarantineRefused(`${target.path} is ${describeKind(before)}`);
    if (before.size > maxSize) throw tooLarge(target.path, before.size, maxSize);

    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Sortable by time; random so that two invocations in one millisecond never meet.
    const id = `${Date.now()}-${randomBytes(4).toString('hex')}`;
    const stored = join(dir, `${id}.data`);
    const recordFile = join(dir, `${id}.json`);
    const recordOf = (stat: Stats, sha256: string): QuarantineRecord => {
      const rule = ruleOf(ctx);
      return {
        path: target.path,
        sha256,
        size: stat.size,
        mode: octal(stat.mode),
        owner: stat.uid,
        group: stat.gid,
        mtime: stat.mtime.toISOString(),
        otherLinks: stat.nlink - 1,
        quarantinedAt: new Date().toISOString(),
        field: target.field,
        ...(rule ? { rule } : {}),
      };
    };
    const writeRecord = (record: QuarantineRecord) => writeFileAtomic(recordFile, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });

    try {
      renameSync(original, stored);
    } catch (error) {
      if (errnoOf(error) !== 'EXDEV') throw error;
      const record = copyAcrossFileSystems(original, { stored, recordFile }, target.path, maxSize, (stat, sha256) => {
        const record = recordOf(stat, sha256);
        writeRecord(record);
        return record;
      });
      return { result: 'quarantined', record, stored };
    }
    // Moved: until its record is written, any failure puts it back where it was.
    const putBack = () => renameSync(stored, original);
    const fd = openHeldFile(stored, putBack, target.path);
    try {
      const stat = fstatSync(fd);
      const record = recordOf(stat, sha256OfFd(fd, maxSize, grewPast(target.path, maxSize)));
      writeRecord(record);
      return { result: 'quarantined', record, stored };
    } catch (error) {
      putBack();
      throw error;
    } finally {
      closeSync(fd);
    }
  } finally {
    closeSync(dirFd);
  }
}

/**
 * Opens what now sits in quarantine, without following it. If the name was swapped for a symlink or a
 * device between our lstat and the rename, that is what moved: put it back and refuse.
 */
function openHeldFile(stored: string, putBack: () => void, path: string): number {
  let fd: number;
  try {
    fd = openSync(stored, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    if (errnoOf(error) !== 'ELOOP') throw error;
    putBack();
    throw new QuarantineRefused(`${path} became a symlink while being quarantined; it was put back`);
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    putBack();
    throw new QuarantineRefused(`${path} stopped being a regular file while being quarantined; it was put back`);
  }
  return fd;
}

/**
 * rename cannot cross file systems: copy and record, then remove the original only if it is still the file
 * copied. Until then the original stays, and on any failure the copy and its record go.
 */
function copyAcrossFileSystems(
  original: string,
  { stored, recordFile }: { stored: string; recordFile: string },
  path: string,
  maxSize: number,
  record: (stat: Stats, sha256: string) => QuarantineRecord,
): QuarantineRecord {
  const fd = openSync(original, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new QuarantineRefused(`${path} is ${describeKind(stat)}`);
    if (stat.size > maxSize) throw tooLarge(path, stat.size, maxSize);
    const sha256 = copyInto(fd, stat, stored, maxSize, grewPast(path, maxSize));
    try {
      const written = record(stat, sha256);
      const now = lstatOrUndefined(original);
      if (!now || now.ino !== stat.ino || now.dev !== stat.dev) {
        throw new QuarantineRefused(`${path} was replaced while being copied into quarantine; nothing was moved`);
      }
      unlinkSync(original);
      return written;
    } catch (error) {
      removeIfPresent(recordFile);
      removeIfPresent(stored);
      throw error;
    }
  } finally {
    closeSync(fd);
  }
}

export type RestoreOutcome =
  | { result: 'restored'; record: QuarantineRecord; remaining: number }
  | { result: 'absent' }
  | { result: 'kept'; reason: string; stored: string };

export function restoreFromQuarantine(ctx: CommandContext, target: QuarantineTarget): RestoreOutcome {
  const dir = entryDir(ctx, target.path);
  const entries = entriesOf(dir);
  const latest = entries.at(-1);
  if (!latest) return { result: 'absent' };
  const recordFile = join(dir, `${latest}.json`);
  const stored = join(dir, `${latest}.data`);
  const record = recordSchema.parse(JSON.parse(readFileSync(recordFile, 'utf8')));
  if (record.path !== target.path) throw new Error(`${recordFile} is for ${record.path}, not ${target.path}`);

  const fd = openSync(stored, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const changed = { result: 'kept' as const, stored, reason: `${stored} no longer has the sha256 recorded when it was quarantined: left in quarantine for a person to look at` };
    // The recorded size bounds the hashing: what has grown since is not what was quarantined.
    if (fstatSync(fd).size !== record.size) return changed;
    let sha256: string;
    try {
      sha256 = sha256OfFd(fd, record.size, grewPast(stored, record.size));
    } catch (error) {
      if (error instanceof QuarantineRefused) return changed;
      throw error;
    }
    if (sha256 !== record.sha256) return changed;
    let parent: { dirFd: number; name: string };
    try {
      parent = openParent(target);
    } catch (error) {
      if (error instanceof QuarantineRefused) return { result: 'kept', stored, reason: `${error.message}: the file stays in quarantine` };
      throw error;
    }
    try {
      const original = inDir(parent.dirFd, parent.name);
      const kept = { result: 'kept' as const, stored, reason: `something new is at ${target.path}: both are kept, the quarantined file stays at ${stored}` };
      if (lstatOrUndefined(original)) return kept;
      try {
        // link, not rename: it fails rather than replace what appeared there since the check above.
        linkSync(stored, original);
      } catch (error) {
        if (errnoOf(error) === 'EEXIST') return kept;
        if (errnoOf(error) !== 'EXDEV') throw error;
        try {
          copyInto(fd, fstatSync(fd), original, record.size, grewPast(target.path, record.size));
        } catch (copyError) {
          if (errnoOf(copyError) === 'EEXIST') return kept;
          throw copyError;
        }
      }
      unlinkSync(stored);
      unlinkSync(recordFile);
      return { result: 'restored', record, remaining: entries.length - 1 };
    } finally {
      closeSync(parent.dirFd);
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Runs a move or a restore of one path holding that path's own lock: two alerts for one file never interleave,
 * and nothing else waits for the hashing and copying (var/palisade/locks/quarantine-<hash>.lock).
 */
export async function underPathLock<T>(ctx: CommandContext, path: string, change: () => T): Promise<T> {
  const dir = join(stateDir(ctx.installDir), 'locks');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lock = await acquireLock(join(dir, `quarantine-${pathKey(path)}.lock`), ctx.config.lock_timeout);
  try {
    return change();
  } finally {
    await lock.release();
  }
}
