/**
 * The state lock: an exclusive POSIX record lock (fcntl) on a file in a root-only directory
 * (var/palisade/state.lock). The kernel drops the lock the instant its holder exits or is killed, so, unlike
 * Wazuh's lock directories (wazuh#23370), it cannot go stale; and an unprivileged user, who cannot open the
 * file, cannot take it and stall every response.
 *
 * Neither Bun (the binary's runtime) nor Node has fcntl or flock of its own. Both have SQLite built in, which
 * takes exactly this lock for BEGIN EXCLUSIVE, in process and without spawning anything (every alert would
 * pay a spawn): the file stays an empty database, nothing is ever written to it, and it is only ever used as
 * a lock. The two runtimes' bindings take the same lock, so the binary and the Node-run test instruments
 * exclude each other.
 */
import { chmodSync, lstatSync, writeFileSync } from 'node:fs';
import { LockError } from './errors.js';

export { LockError };

export interface HeldLock {
  release(): Promise<void>;
}

/** Waits up to timeoutSeconds for the lock on `path` (created if missing); throws LockError after that. */
export async function acquireLock(path: string, timeoutSeconds: number): Promise<HeldLock> {
  let database: LockDatabase;
  try {
    // Root's alone: whoever can open the file can hold a shared lock on it, and stall every response. No
    // descriptor of our own is opened here: closing one would drop the locks this process holds on the file.
    try {
      writeFileSync(path, '', { mode: 0o600, flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const stat = lstatSync(path);
    if (!stat.isFile()) throw new Error('not a regular file');
    if ((stat.mode & 0o777) !== 0o600) chmodSync(path, 0o600);
    database = await openDatabase(path, Math.round(timeoutSeconds * 1000));
  } catch (error) {
    throw new LockError(`cannot open the lock file ${path}: ${(error as Error).message}`);
  }
  try {
    // Nothing is ever written here, so nothing needs a journal file: without one, the lock is still taken when
    // var/palisade is full (a journal write there fails with "disk is full" and would stop every response).
    database.exec('PRAGMA journal_mode=MEMORY');
    database.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    database.close();
    const busy = /locked|busy/i.test((error as Error).message);
    throw new LockError(
      busy
        ? `the lock ${path} is still held after ${timeoutSeconds} s (config lock_timeout); another Palisade command is stuck`
        : `cannot take the lock ${path}: ${(error as Error).message}`,
    );
  }
  return {
    release: async () => {
      // Not COMMIT: committing an empty database writes its first page, which a full disk refuses.
      database.exec('ROLLBACK');
      database.close();
    },
  };
}

/** What the lock needs of either runtime's SQLite binding. */
interface LockDatabase {
  exec(sql: string): unknown;
  close(): void;
}

/** SQLite waits for the lock itself, sleeping between tries, for at most timeoutMs. */
async function openDatabase(path: string, timeoutMs: number): Promise<LockDatabase> {
  if (process.versions.bun) {
    const { Database } = await import('bun:sqlite');
    const database = new Database(path);
    database.exec(`PRAGMA busy_timeout = ${timeoutMs}`);
    return database;
  }
  const { DatabaseSync } = await import('node:sqlite');
  return new DatabaseSync(path, { timeout: timeoutMs });
}
