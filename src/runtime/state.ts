/**
 * What Palisade has blocked, so that a delete undoes exactly it, a firewall reload can be repaired and the
 * operator can list it. One small JSON file per block in var/palisade/blocks/, each replaced atomically
 * (temp file + rename) and changed only under the state lock: an alert costs one file write whether 10 or
 * 50,000 addresses are blocked, concurrent invocations never lose an entry, and a crash never leaves half
 * an entry behind.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { backendNames, type BackendName } from './backend-names.js';
import { writeFileAtomic, writeFilesAtomic } from './atomic-file.js';
import { nowSeconds } from './duration.js';
import { lazy } from './lazy.js';
import { acquireLock } from './lock.js';

export const holderSchema = lazy(() =>
  z.object({
    /** "operator" (palisade block), or the AR command that blocked: palisade-drop, palisade-nftables-drop ... */
    by: z.string(),
    /** The command's execd key for this hold (the address it sent in check_keys); none for the operator. */
    key: z.optional(z.string()),
    /** Epoch seconds. */
    since: z.number(),
    expiresAt: z.number(),
  }),
);

export type Holder = z.infer<ReturnType<typeof holderSchema>>;
/** Who holds a block, whatever its times: the same command with the same key is the same hold. */
export type HolderId = Pick<Holder, 'by' | 'key'>;
export const operatorHold: HolderId = { by: 'operator' };

const storedEntrySchema = lazy(() =>
  z.object({
    address: z.string(),
    family: z.union([z.literal(4), z.literal(6)]),
    prefix: z.int(),
    backend: z.enum(backendNames),
    /** Who holds the block, each until its own expiry: it lasts while any of them does. */
    holders: z.optional(z.array(holderSchema())),
    /** Written by versions before holders: the last command that added the block. Read only to migrate it. */
    command: z.optional(z.string()),
    /** Epoch seconds. */
    since: z.number(),
    /** The latest expiry of its holders. */
    expiresAt: z.number(),
    reason: z.optional(z.object({ ruleId: z.optional(z.string()), description: z.optional(z.string()) })),
    backendData: z.optional(z.record(z.string(), z.string())),
  }),
);

/**
 * An entry written before holders existed becomes one held by the command it names until its expiry: the
 * CLI's ("palisade") by the operator, an AR command's with its execd key, which for every address command
 * is the address itself, so that command's delete still lifts it. Which other commands had added the same
 * address was never recorded, so their later deletes find no hold of theirs and change nothing.
 */
function migrated({ command, holders, ...entry }: z.infer<ReturnType<typeof storedEntrySchema>>) {
  if (holders !== undefined) return { ...entry, holders };
  const legacy: HolderId = command === undefined || command === 'palisade' ? operatorHold : { by: command, key: entry.address };
  return { ...entry, holders: [{ ...legacy, since: entry.since, expiresAt: entry.expiresAt }] };
}

export const stateEntrySchema = lazy(() => z.pipe(storedEntrySchema(), z.transform(migrated)));

export type StateEntry = z.output<ReturnType<typeof stateEntrySchema>>;
export type EntryKey = Pick<StateEntry, 'backend' | 'address'>;

export function sameHolder(a: HolderId, b: HolderId): boolean {
  return a.by === b.by && a.key === b.key;
}

export function isHeldBy(entry: StateEntry, who: HolderId): boolean {
  return entry.holders.some((holder) => sameHolder(holder, who));
}

const latestExpiry = (holders: readonly Holder[]) => Math.max(...holders.map((holder) => holder.expiresAt));

/**
 * `entry` held by `who` until `until` at least: a hold is extended, never shortened, and so is the block.
 * Holds that ran out are dropped on the way.
 */
export function withHold(entry: StateEntry, who: HolderId, until: number, now: number): StateEntry {
  const own = entry.holders.find((holder) => sameHolder(holder, who));
  const others = entry.holders.filter((holder) => !sameHolder(holder, who) && holder.expiresAt > now);
  const hold: Holder = { by: who.by, ...(who.key !== undefined ? { key: who.key } : {}), since: own?.since ?? now, expiresAt: Math.max(own?.expiresAt ?? 0, until) };
  const holders = [...others, hold];
  return { ...entry, holders, expiresAt: latestExpiry(holders) };
}

/**
 * `entry` without the hold of `who` (of everyone: "everyone") nor those that ran out; undefined when nobody
 * holds it any more, and the block must go.
 */
export function withoutHold(entry: StateEntry, who: HolderId | 'everyone', now: number): StateEntry | undefined {
  const holders = who === 'everyone' ? [] : entry.holders.filter((holder) => !sameHolder(holder, who) && holder.expiresAt > now);
  return holders.length === 0 ? undefined : { ...entry, holders, expiresAt: latestExpiry(holders) };
}

/** Enough that two addresses rarely share a lock, few enough to stay a handful of files. */
const addressLockStripes = 64;

export function stateDir(installDir: string): string {
  return join(installDir, 'var', 'palisade');
}

/** "nftables-198.51.100.0_24.json": the address is validated, only "/" needs replacing. */
function fileName(key: EntryKey): string {
  return `${key.backend}-${key.address.replace('/', '_')}.json`;
}

export class StateStore {
  readonly blocksDir: string;

  constructor(
    readonly dir: string,
    private readonly onCorrupt: (file: string, detail: string) => void = () => {},
  ) {
    this.blocksDir = join(dir, 'blocks');
  }

  get(key: EntryKey): StateEntry | undefined {
    return this.readFile(fileName(key));
  }

  /** Every entry, expired ones included; optionally one backend's. Reads the whole directory: not for the add path. */
  all(backend?: BackendName): StateEntry[] {
    let names: string[];
    try {
      names = readdirSync(this.blocksDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    return names
      .filter((name) => name.endsWith('.json') && (backend === undefined || name.startsWith(`${backend}-`)))
      .flatMap((name) => this.readFile(name) ?? []);
  }

  /** Unexpired entries of a backend: what its firewall must hold. */
  active(backend?: BackendName, now = nowSeconds()): StateEntry[] {
    return this.all(backend).filter((entry) => entry.expiresAt > now);
  }

  put(entry: StateEntry): void {
    mkdirSync(this.blocksDir, { recursive: true, mode: 0o750 });
    writeFileAtomic(join(this.blocksDir, fileName(entry)), `${JSON.stringify(entry)}\n`, { mode: 0o640 });
  }

  /**
   * Many entries with one flush of the file system (`flush`: a syncfs, which only a tool can do from here)
   * instead of one fsync each: for bulk blocks from a threat list. Each entry is still replaced whole.
   */
  async putMany(entries: readonly StateEntry[], flush: () => Promise<void>): Promise<void> {
    if (entries.length === 0) return;
    mkdirSync(this.blocksDir, { recursive: true, mode: 0o750 });
    await writeFilesAtomic(entries.map((entry) => ({ path: join(this.blocksDir, fileName(entry)), content: `${JSON.stringify(entry)}\n` })), { mode: 0o640 }, flush);
  }

  remove(key: EntryKey): boolean {
    try {
      unlinkSync(join(this.blocksDir, fileName(key)));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  /** Runs `change` holding the lock, so that the firewall and these files agree whenever it is free. */
  async locked<T>(timeoutSeconds: number, change: () => Promise<T>): Promise<T> {
    mkdirSync(this.blocksDir, { recursive: true, mode: 0o750 });
    const lock = await acquireLock(join(this.dir, 'state.lock'), timeoutSeconds);
    try {
      return await change();
    } finally {
      await lock.release();
    }
  }

  /**
   * Runs `change` holding the lock of one address, and not the state lock: for a change whose firewall call
   * takes long (an HTTP API), so that two changes of the same address never interleave while changes of
   * other addresses go on. One lock file per stripe of addresses keeps their number bounded. Take it before
   * the state lock, never while holding it.
   */
  async lockedAddress<T>(address: string, timeoutSeconds: number, change: () => Promise<T>): Promise<T> {
    const dir = join(this.dir, 'locks');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const stripe = [...address].reduce((hash, char) => (Math.imul(hash, 31) + char.charCodeAt(0)) >>> 0, 7) % addressLockStripes;
    const lock = await acquireLock(join(dir, `address-${stripe}.lock`), timeoutSeconds);
    try {
      return await change();
    } finally {
      await lock.release();
    }
  }

  private readFile(name: string): StateEntry | undefined {
    const path = join(this.blocksDir, name);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    let parsed: ReturnType<ReturnType<typeof stateEntrySchema>['safeParse']>;
    try {
      parsed = stateEntrySchema().safeParse(JSON.parse(text));
    } catch (error) {
      parsed = { success: false, error: error as z.core.$ZodError } as never;
    }
    if (parsed.success) return parsed.data;
    // A damaged entry must not stop every later block: set it aside where the operator can see it.
    try {
      renameSync(path, `${path}.corrupt`);
    } catch {
      // Another invocation set it aside first.
    }
    this.onCorrupt(`${path}.corrupt`, (parsed.error as Error).message.split('\n')[0] ?? 'invalid');
    return undefined;
  }
}
