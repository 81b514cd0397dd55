/**
 * What Palisade has blocked, so that a delete undoes exactly it, a firewall reload can be repaired and the
 * operator can list it. Kept in var/palisade/blocks/, changed only under the state lock, in two forms:
 *
 * - one small JSON file per block ("nftables-203.0.113.7.json"), replaced atomically (temp file + rename):
 *   an alert costs one file write whether 10 or 50,000 addresses are blocked;
 * - one sorted file per backend for blocks written many at once ("nftables.bulk", runtime/sorted-file.ts):
 *   a threat list of 10,000 is one file written, not 10,000, and an alert still finds its address in it
 *   with a binary search.
 *
 * An address's own file, when there is one, is its whole entry: it takes precedence over its line in the
 * bulk file, so an alert changes a listed block by writing that one small file. Concurrent invocations never
 * lose an entry, and a crash never leaves half an entry behind.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as z from 'zod/mini';
import { backendNames, type BackendName } from './backend-names.js';
import { removeIfPresent, syncDirectory, writeFileAtomic } from './atomic-file.js';
import { nowSeconds } from './duration.js';
import { lazy } from './lazy.js';
import { acquireLock } from './lock.js';
import { blankInSortedFile, findInSortedFile, readSortedFile, writeSortedFile } from './sorted-file.js';

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

const bulkSuffix = '.bulk';

/** "nftables.bulk": a backend's entries written many at once, one line each, sorted by address. */
function bulkFileName(backend: BackendName): string {
  return `${backend}${bulkSuffix}`;
}

function backendOfBulkFile(name: string): BackendName | undefined {
  const backend = name.slice(0, -bulkSuffix.length);
  return name.endsWith(bulkSuffix) && (backendNames as readonly string[]).includes(backend) ? (backend as BackendName) : undefined;
}

export interface StateChange {
  put?: readonly StateEntry[];
  remove?: readonly EntryKey[];
}

/** An entry's JSON text, checked against its schema; `detail` says in one line what is wrong. */
function parseEntry(text: string): { success: true; data: StateEntry } | { success: false; detail: string } {
  let parsed: ReturnType<ReturnType<typeof stateEntrySchema>['safeParse']>;
  try {
    parsed = stateEntrySchema().safeParse(JSON.parse(text));
  } catch (error) {
    return { success: false, detail: (error as Error).message.split('\n')[0] ?? 'invalid' };
  }
  return parsed.success ? { success: true, data: parsed.data } : { success: false, detail: parsed.error.message.split('\n')[0] ?? 'invalid' };
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
    const own = this.readFile(fileName(key));
    if (own) return own;
    const path = this.bulkPath(key.backend);
    const line = findInSortedFile(path, key.address);
    return line === undefined ? undefined : this.parseBulkLine(path, key, line);
  }

  /** The entries of these addresses on one backend that the state holds: the bulk file is read once, not searched each time. */
  getMany(backend: BackendName, addresses: readonly string[]): Map<string, StateEntry> {
    const path = this.bulkPath(backend);
    const listed = new Map(readSortedFile(path).map((line) => [line.key, line]));
    // One directory read instead of a failed open per address: a list of 10,000 against a backend holding none.
    const own = new Set(this.names());
    const found = new Map<string, StateEntry>();
    for (const address of addresses) {
      const key = { backend, address };
      const line = listed.get(address);
      const entry = (own.has(fileName(key)) ? this.readFile(fileName(key)) : undefined) ?? (line && this.parseBulkLine(`${path}:${line.line}`, key, line.value));
      if (entry) found.set(address, entry);
    }
    return found;
  }

  /** Every entry, expired ones included; optionally one backend's. Reads the whole state: not for the add path. */
  all(backend?: BackendName): StateEntry[] {
    const names = this.names();
    const own = names.filter((name) => name.endsWith('.json') && (backend === undefined || name.startsWith(`${backend}-`)));
    const entries: StateEntry[] = [];
    // An entry file set aside as unreadable no longer hides its bulk line, as in get().
    const superseding = new Set<string>();
    for (const name of own) {
      const entry = this.readFile(name);
      if (!entry) continue;
      entries.push(entry);
      superseding.add(name);
    }
    for (const name of names) {
      const bulkBackend = backendOfBulkFile(name);
      if (bulkBackend === undefined || (backend !== undefined && bulkBackend !== backend)) continue;
      const path = join(this.blocksDir, name);
      for (const { key: address, value, line } of readSortedFile(path, (line) => this.onCorrupt(`${path}:${line}`, 'not an address and an entry'))) {
        const key = { backend: bulkBackend, address };
        if (superseding.has(fileName(key))) continue;
        const entry = this.parseBulkLine(`${path}:${line}`, key, value);
        if (entry) entries.push(entry);
      }
    }
    return entries;
  }

  /**
   * When the state last changed, in epoch seconds (undefined: never): the directory's time covers entry files
   * written and removed, a bulk file's own time a line blanked in place.
   */
  lastChange(): number | undefined {
    const times = [this.blocksDir, ...this.names().filter((name) => backendOfBulkFile(name)).map((name) => join(this.blocksDir, name))].flatMap((path) => {
      try {
        return [statSync(path).mtimeMs];
      } catch {
        return [];
      }
    });
    return times.length > 0 ? Math.floor(Math.max(...times) / 1000) : undefined;
  }

  /** The entry files set aside as unreadable ("*.corrupt"), for the operator to look at; none when the directory cannot be read. */
  setAside(): string[] {
    try {
      return this.names().filter((name) => name.endsWith('.corrupt'));
    } catch {
      return [];
    }
  }

  /** Unexpired entries of a backend: what its firewall must hold. */
  active(backend?: BackendName, now = nowSeconds()): StateEntry[] {
    return this.all(backend).filter((entry) => entry.expiresAt > now);
  }

  /** One entry, in its own file: an alert's write, whatever the size of the state. */
  put(entry: StateEntry): void {
    mkdirSync(this.blocksDir, { recursive: true, mode: 0o750 });
    writeFileAtomic(join(this.blocksDir, fileName(entry)), `${JSON.stringify(entry)}\n`, { mode: 0o640 });
  }

  /**
   * One entry out of the state, from its own file and its bulk line alike (or the line would be back). The
   * line is blanked in place: no rewrite of a 10,000-line file for one address, and no free space needed, so
   * an unblock works on a full disk.
   */
  remove(key: EntryKey): boolean {
    // The line first: a crash between the two leaves the entry whole, as it was, never an older line of it.
    const listed = blankInSortedFile(this.bulkPath(key.backend), key.address);
    return removeIfPresent(join(this.blocksDir, fileName(key))) || listed;
  }

  /**
   * Many entries written and removed at once: one rewrite of each backend's bulk file instead of a file
   * per entry (a 10,000-line threat list). The bulk file is replaced and made durable first; only then do
   * the changed addresses' own files go (they would take precedence over their new lines), so a crash at
   * any point leaves each entry whole, as it was or as it is now.
   */
  change({ put = [], remove = [] }: StateChange): void {
    if (put.length + remove.length === 0) return;
    mkdirSync(this.blocksDir, { recursive: true, mode: 0o750 });
    const names = new Set(this.names());
    for (const backend of new Set([...put, ...remove].map((key) => key.backend))) {
      const path = this.bulkPath(backend);
      const damaged = (line: number) => this.onCorrupt(`${path}:${line}`, 'not an address and an entry: left out of the rewritten file');
      const lines = new Map(readSortedFile(path, damaged).map(({ key, value }) => [key, value]));
      const removed = remove.filter((key) => key.backend === backend && lines.delete(key.address));
      const written = put.filter((entry) => entry.backend === backend);
      for (const entry of written) lines.set(entry.address, JSON.stringify(entry));
      if (removed.length + written.length === 0) continue;
      if (lines.size > 0) writeSortedFile(path, lines, { mode: 0o640 });
      else removeIfPresent(path);
    }
    syncDirectory(this.blocksDir);
    const superseded = [...put, ...remove].map(fileName).filter((name) => names.has(name));
    for (const name of superseded) removeIfPresent(join(this.blocksDir, name));
    if (superseded.length > 0) syncDirectory(this.blocksDir);
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

  private bulkPath(backend: BackendName): string {
    return join(this.blocksDir, bulkFileName(backend));
  }

  private names(): string[] {
    try {
      return readdirSync(this.blocksDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  /** A line of a bulk file: left out, and reported, when it is not a valid entry of that very address. */
  private parseBulkLine(where: string, key: EntryKey, text: string): StateEntry | undefined {
    const parsed = parseEntry(text);
    if (parsed.success && parsed.data.backend === key.backend && parsed.data.address === key.address) return parsed.data;
    this.onCorrupt(where, parsed.success ? `it names ${parsed.data.backend} ${parsed.data.address}` : parsed.detail);
    return undefined;
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
    const parsed = parseEntry(text);
    if (parsed.success) return parsed.data;
    // A damaged entry must not stop every later block: set it aside where the operator can see it.
    try {
      renameSync(path, `${path}.corrupt`);
    } catch {
      // Another invocation set it aside first.
    }
    this.onCorrupt(`${path}.corrupt`, parsed.detail);
    return undefined;
  }
}
