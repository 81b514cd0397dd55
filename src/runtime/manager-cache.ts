/**
 * The last good resolution of each Wazuh manager named by host name in ossec.conf, in var/palisade/managers.json
 * (root's, mode 0600). A resolver that fails or is slow at the moment of an alert must not make the manager
 * blockable: the addresses it last had stay protected until `palisade reconcile` refreshes them.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { nowSeconds } from './duration.js';

export interface ManagerResolution {
  addresses: string[];
  /** Epoch seconds of the lookup that found them. */
  resolvedAt: number;
}

export type ManagerCache = Record<string, ManagerResolution>;

export function managerCachePath(stateDir: string): string {
  return join(stateDir, 'managers.json');
}

/** What the file holds; an unreadable or malformed file holds nothing (the next good lookup rewrites it). */
export function readManagerCache(stateDir: string): ManagerCache {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(managerCachePath(stateDir), 'utf8'));
  } catch {
    return {};
  }
  const cache: ManagerCache = {};
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return cache;
  for (const [name, entry] of Object.entries(raw as Record<string, unknown>)) {
    const { addresses, resolvedAt } = (entry ?? {}) as Partial<ManagerResolution>;
    if (Array.isArray(addresses) && addresses.every((address) => typeof address === 'string') && typeof resolvedAt === 'number') {
      cache[name] = { addresses, resolvedAt };
    }
  }
  return cache;
}

/** Records fresh resolutions over the cached ones. A write that fails costs only the cache: the lookup stood. */
export function saveManagerResolutions(stateDir: string, fresh: Record<string, string[]>): void {
  const cache = readManagerCache(stateDir);
  const resolvedAt = nowSeconds();
  for (const [name, addresses] of Object.entries(fresh)) cache[name] = { addresses: [...addresses].sort(), resolvedAt };
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o750 });
    writeFileAtomic(managerCachePath(stateDir), `${JSON.stringify(cache)}\n`, { mode: 0o600 });
  } catch {
    // A read-only or full state dir: the protection of this run came from the fresh lookup anyway.
  }
}
