/**
 * palisade-quarantine: move the file a file-integrity (syscheck.path; 5.x: file.path) or VirusTotal
 * (data.virustotal.source.file) alert names into a root-only quarantine directory, with a record of what it
 * was; execd's delete puts it back, unless something new has taken its place.
 *
 * It acts only below quarantine.roots and never follows a symlink there: every directory from the root down
 * is opened with O_NOFOLLOW through the previous one's descriptor (/proc/self/fd/N/name, the openat of a
 * language without openat), so a directory swapped for a symlink mid-way is refused, not followed.
 *
 * Layout: <dir>/<sha256(path), 32 hex>/<id>.data (the file itself, owner, mode and times kept) and <id>.json.
 *
 * A file is hashed, and from another file system copied, before execd hears back, and execd runs one response
 * at a time: quarantine.max_size bounds that work, and it is done under a lock of that path alone
 * (var/palisade/locks/), never the state lock, so every other Palisade command goes on meanwhile. A copy keeps
 * the holes of a sparse file, and nothing half-done stays in quarantine: a copy or a record that cannot be
 * completed is removed, and a file already moved is put back.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  futimesSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { join, posix } from 'node:path';
import * as z from 'zod/mini';
import { removeIfPresent, writeFileAtomic } from '../runtime/atomic-file.js';
import { acquireLock } from '../runtime/lock.js';
import { findSourceValue } from '../runtime/message.js';
import { stateDir } from '../runtime/state.js';
import type { ArCommand, CommandContext, Targeting } from './command.js';
import { ruleOf, unusedOptionRefusal } from './common.js';

/** PATH_MAX: a longer name is not one the kernel would have reported. */
const maxPathBytes = 4096;

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

type QuarantineRecord = z.infer<typeof recordSchema>;

/** Refused for what the file system holds (a symlink, a device, a path outside the roots): nothing was moved. */
export class QuarantineRefused extends Error {
  override name = 'QuarantineRefused';
}

export function pathProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return `not a string (${value === null ? 'null' : typeof value})`;
  if (value.length === 0) return 'empty';
  if (value.includes('\0')) return 'holding a NUL byte';
  if (Buffer.byteLength(value) > maxPathBytes) return `longer than ${maxPathBytes} bytes`;
  if (!value.startsWith('/')) return 'not an absolute path';
  if (value.split('/').includes('..')) return 'holding ".." (path traversal)';
  if (posix.normalize(value) !== value || value.endsWith('/')) return 'not in normal form (//, /./ or a trailing /)';
  return undefined;
}

/** The longest configured root the path lies strictly below. */
function rootOf(path: string, roots: readonly string[]): string | undefined {
  return roots
    .map((root) => (root === '/' ? root : posix.normalize(root).replace(/\/$/, '')))
    .filter((root) => path.startsWith(root === '/' ? '/' : `${root}/`) && path !== root)
    .sort((a, b) => b.length - a.length)[0];
}

function errnoOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/** A name inside an open directory, as a path the kernel resolves through that descriptor. */
const inDir = (dirFd: number, name: string) => `/proc/self/fd/${dirFd}/${name}`;

/**
 * Opens the file's directory, from the root down, refusing every symlink and non-directory on the way.
 * The root itself is the administrator's word and may be a symlink; nothing below it may.
 */
function openParent(target: QuarantineTarget): { dirFd: number; name: string } {
  const components = target.path.slice(target.root === '/' ? 1 : target.root.length + 1).split('/');
  const name = components.pop()!;
  let dirFd: number;
  try {
    dirFd = openSync(realpathSync(target.root), constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (error) {
    throw new QuarantineRefused(`the quarantine root ${target.root} cannot be opened (${errnoOf(error)}); fix quarantine.roots`);
  }
  let walked = target.root;
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
      if (found?.isSymbolicLink()) throw new QuarantineRefused(`${walked} is a symlink: quarantine never follows one below ${target.root}`);
      if (found) throw new QuarantineRefused(`${walked} is not a directory`);
      if (code === 'ENOENT') throw new QuarantineRefused(`${walked} does not exist`);
      throw error;
    }
    closeSync(dirFd);
    dirFd = next;
  }
  return { dirFd, name };
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if (errnoOf(error) === 'ENOENT') return undefined;
    throw error;
  }
}

function describeKind(stat: Stats): string {
  if (stat.isSymbolicLink()) return 'a symlink (quarantine never follows one, nor moves one)';
  if (stat.isDirectory()) return 'a directory';
  return 'not a regular file (a device, FIFO or socket)';
}

const chunkBytes = 1 << 20;
/** The unit of holes a copy keeps: a block of zeros this size is skipped, not written (cp --sparse=always). */
const holeBytes = 4096;
const zeros = Buffer.alloc(holeBytes);

function sizeText(bytes: number): string {
  const [unit, size] = ([['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const).find(([, size]) => bytes >= size) ?? ['bytes', 1];
  return `${Number((bytes / size).toFixed(1))} ${unit}`;
}

function tooLarge(path: string, bytes: number, maxSize: number, what = 'is'): QuarantineRefused {
  return new QuarantineRefused(
    `${path} ${what} ${sizeText(bytes)}, over quarantine.max_size (${sizeText(maxSize)}): left where it is; hashing and copying it would hold up every response execd has queued. Quarantine it by hand, or raise max_size in palisade.yml`,
  );
}

/**
 * Reads an open file to its end through `each`, refusing once it holds more than maxSize bytes: a file that grows
 * while it is read (someone still writing to it) cannot make the work unbounded.
 */
function readAll(fd: number, maxSize: number, path: string, each: (chunk: Buffer, position: number) => void): number {
  const buffer = Buffer.allocUnsafe(chunkBytes);
  let position = 0;
  for (;;) {
    const read = readSync(fd, buffer, 0, buffer.length, position);
    if (read === 0) return position;
    if (position + read > maxSize) throw tooLarge(path, position + read, maxSize, 'grew to at least');
    each(buffer.subarray(0, read), position);
    position += read;
  }
}

function sha256OfFd(fd: number, maxSize: number, path: string): string {
  const hash = createHash('sha256');
  readAll(fd, maxSize, path, (chunk) => hash.update(chunk));
  return hash.digest('hex');
}

/**
 * Copies an open file into a new file, with its owner, mode and times (the cross-file-system move), and returns
 * the sha256 of what it copied. Blocks of zeros become holes, so a sparse file takes no more room in quarantine
 * than where it came from. On any failure (a full disk, a file grown past maxSize) the new file is removed.
 */
function copyInto(sourceFd: number, stat: Stats, destination: string, maxSize: number, path: string): string {
  const out = openSync(destination, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    const hash = createHash('sha256');
    const size = readAll(sourceFd, maxSize, path, (chunk, position) => {
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
const pathKey = (path: string) => createHash('sha256').update(path).digest('hex').slice(0, 32);

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

type QuarantineOutcome = { result: 'quarantined'; record: QuarantineRecord; stored: string } | { result: 'present' } | { result: 'nothing' };

function moveIntoQuarantine(ctx: CommandContext, target: QuarantineTarget): QuarantineOutcome {
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
      const record = recordOf(stat, sha256OfFd(fd, maxSize, target.path));
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
    const sha256 = copyInto(fd, stat, stored, maxSize, path);
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

type RestoreOutcome =
  | { result: 'restored'; record: QuarantineRecord; remaining: number }
  | { result: 'absent' }
  | { result: 'kept'; reason: string; stored: string };

function restoreFromQuarantine(ctx: CommandContext, target: QuarantineTarget): RestoreOutcome {
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
      sha256 = sha256OfFd(fd, record.size, stored);
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
          copyInto(fd, fstatSync(fd), original, record.size, target.path);
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
async function underPathLock<T>(ctx: CommandContext, path: string, change: () => T): Promise<T> {
  const dir = join(stateDir(ctx.installDir), 'locks');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const lock = await acquireLock(join(dir, `quarantine-${pathKey(path)}.lock`), ctx.config.lock_timeout);
  try {
    return change();
  } finally {
    await lock.release();
  }
}

export function quarantineCommand(): ArCommand<QuarantineTarget> {
  const quarantine = async (ctx: CommandContext, target: QuarantineTarget) => {
    const outcome = await underPathLock(ctx, target.path, () => moveIntoQuarantine(ctx, target));
    if (outcome.result === 'nothing') {
      const reason = `nothing is at ${target.path} (deleted, or moved away before this alert was handled)`;
      ctx.log.info({ event: 'skipped', path: target.path, reason });
      ctx.tell(`skipped: ${reason}`);
      return;
    }
    if (outcome.result === 'present') {
      ctx.log.info({ event: 'quarantined', path: target.path, result: 'present' });
      ctx.tell(`${target.path} is already in quarantine`);
      return;
    }
    const { record } = outcome;
    const entry = { event: 'quarantined', result: 'moved', stored: outcome.stored, ...record };
    if (record.otherLinks > 0) ctx.log.warn(entry, `${record.otherLinks} other hard link(s) still reach this content outside quarantine`);
    else ctx.log.info(entry);
    ctx.tell(`quarantined ${target.path} (sha256 ${record.sha256}) into ${outcome.stored}`);
  };

  return {
    name: 'palisade-quarantine',
    stateful: true,
    target(ctx): Targeting<QuarantineTarget> {
      const unused = unusedOptionRefusal(ctx, []);
      if (unused) return unused;
      const { fileFields } = ctx.fields;
      const found = findSourceValue(ctx.alert, fileFields);
      if (!found) return { ok: false, wazuhMessage: '', detail: `no file in ${fileFields.join(' or ')}: not a file-integrity or VirusTotal alert` };
      const problem = pathProblem(found.value);
      if (problem) return { ok: false, wazuhMessage: '', detail: `${found.field} is ${problem}` };
      const path = found.value as string;
      const { roots } = ctx.config.quarantine;
      if (roots.length === 0) {
        return { ok: false, wazuhMessage: '', detail: `quarantine.roots is empty in palisade.yml: list the directories files may be quarantined from (refusing ${path})` };
      }
      const root = rootOf(path, roots);
      if (!root) return { ok: false, wazuhMessage: '', detail: `${path} is outside quarantine.roots (${roots.join(', ')})` };
      return { ok: true, target: { path, root, field: found.field }, keys: [path] };
    },
    add: quarantine,
    // execd already holds the key, and the alert fired again: a new file is there, so it goes too.
    refresh: quarantine,
    async delete(ctx, target) {
      const outcome = await underPathLock(ctx, target.path, () => restoreFromQuarantine(ctx, target));
      if (outcome.result === 'kept') {
        ctx.log.warn({ event: 'skipped', path: target.path, stored: outcome.stored, reason: outcome.reason });
        ctx.tell(`not restored: ${outcome.reason}`);
        return;
      }
      if (outcome.result === 'absent') {
        ctx.log.info({ event: 'file-restored', path: target.path, result: 'absent' });
        ctx.tell(`nothing of ${target.path} is in quarantine`);
        return;
      }
      const { record, remaining } = outcome;
      ctx.log.info({ event: 'file-restored', result: 'restored', path: record.path, sha256: record.sha256, olderVersionsKept: remaining });
      ctx.tell(`restored ${record.path}${remaining > 0 ? ` (${remaining} older version(s) stay in quarantine)` : ''}`);
    },
  };
}
