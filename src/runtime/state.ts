/**
 * What Palisade has blocked, so that a delete can undo exactly it, a firewall reload can be repaired, and
 * the operator can list it. One JSON file, replaced atomically (temp file + rename) and only under the
 * state lock, so concurrent invocations never lose an entry and a crash never leaves half a file.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { backendNames } from '../backends/backend.js';
import { acquireLock } from './lock.js';

export const stateEntrySchema = z.object({
  address: z.string(),
  family: z.union([z.literal(4), z.literal(6)]),
  prefix: z.number().int(),
  backend: z.enum(backendNames),
  /** The AR command that made it (palisade-drop, palisade-nftables-drop, the CLI ...). */
  command: z.string(),
  since: z.number(),
  expiresAt: z.number(),
  reason: z.object({ ruleId: z.string().optional(), description: z.string().optional() }).optional(),
  backendData: z.record(z.string(), z.string()).optional(),
});

export const stateFileSchema = z.object({
  version: z.literal(1),
  entries: z.array(stateEntrySchema),
});

export type StateEntry = z.infer<typeof stateEntrySchema>;
export type StateFile = z.infer<typeof stateFileSchema>;

export const statePaths = (installDir: string) => ({
  file: `${installDir}/var/palisade/state.json`,
  lock: `${installDir}/var/palisade/state.lock`,
});

export function entryKey(entry: Pick<StateEntry, 'backend' | 'address'>): string {
  return `${entry.backend} ${entry.address}`;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

export class StateStore {
  constructor(
    readonly file: string,
    readonly lockFile: string,
    private readonly onCorrupt: (detail: string, movedTo: string) => void = () => {},
  ) {}

  /** Reads without the lock: a consistent snapshot thanks to rename, maybe a moment old. */
  read(): StateFile {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, entries: [] };
      throw error;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (error) {
      return this.setAsideCorrupt(`not JSON: ${(error as Error).message}`);
    }
    const parsed = stateFileSchema.safeParse(raw);
    if (!parsed.success) return this.setAsideCorrupt(parsed.error.issues[0]?.message ?? 'invalid');
    return parsed.data;
  }

  /** Unexpired entries of one backend: what it must hold. */
  active(backend?: StateEntry['backend']): StateEntry[] {
    const now = nowSeconds();
    return this.read().entries.filter((entry) => entry.expiresAt > now && (backend === undefined || entry.backend === backend));
  }

  /**
   * Runs `change` under the lock with the current state; what it returns is written back atomically.
   * The lock is held across the firewall change too, so the kernel and the file agree at every release.
   */
  async update<T>(lockTimeoutSeconds: number, change: (state: StateFile) => Promise<{ state: StateFile; result: T }>): Promise<T> {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o750 });
    const lock = await acquireLock(this.lockFile, lockTimeoutSeconds);
    try {
      const { state, result } = await change(this.read());
      this.write(state);
      return result;
    } finally {
      await lock.release();
    }
  }

  private write(state: StateFile): void {
    const temp = `${this.file}.${process.pid}.tmp`;
    const fd = openSync(temp, 'w', 0o640);
    try {
      writeSync(fd, `${JSON.stringify(state, null, 1)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, this.file);
  }

  private setAsideCorrupt(detail: string): StateFile {
    const movedTo = `${this.file}.corrupt-${Date.now()}`;
    try {
      renameSync(this.file, movedTo);
    } catch {
      // Another invocation moved it first.
    }
    this.onCorrupt(detail, movedTo);
    return { version: 1, entries: [] };
  }
}

/** Put or replace one entry, keyed by backend and address. */
export function withEntry(state: StateFile, entry: StateEntry): StateFile {
  const key = entryKey(entry);
  return { ...state, entries: [...state.entries.filter((e) => entryKey(e) !== key), entry] };
}

export function withoutEntry(state: StateFile, key: Pick<StateEntry, 'backend' | 'address'>): StateFile {
  const wanted = entryKey(key);
  return { ...state, entries: state.entries.filter((e) => entryKey(e) !== wanted) };
}

/** Expired entries go: the kernel timer has removed them already. */
export function withoutExpired(state: StateFile, now = nowSeconds()): StateFile {
  return { ...state, entries: state.entries.filter((entry) => entry.expiresAt > now) };
}
