/**
 * The state lock: a Unix socket bound in Linux's abstract namespace, under a name derived from the install
 * dir. Binding is exclusive, and the kernel unbinds the name the instant its holder exits or is killed, so,
 * unlike Wazuh's lock directories (wazuh#23370), this lock cannot go stale; and it costs no process spawn,
 * which every alert would pay.
 *
 * Abstract names belong to a network namespace: two invocations sharing an install dir from different
 * namespaces would not exclude each other. execd runs every AR in the host's namespace, so this never
 * happens in production; tests give each namespace its own install dir.
 */
import { createServer, type Server } from 'node:net';

export class LockError extends Error {
  override name = 'LockError';
}

export interface HeldLock {
  release(): Promise<void>;
}

/** Abstract names are at most 107 bytes: long install paths are folded by a 64-bit FNV-1a hash. */
export function lockAddress(identity: string): string {
  if (identity.length <= 80) return `\0palisade-lock:${identity}`;
  let hash = 0xcbf29ce484222325n;
  for (const byte of Buffer.from(identity)) hash = BigInt.asUintN(64, (hash ^ BigInt(byte)) * 0x100000001b3n);
  return `\0palisade-lock:${identity.slice(-60)}:${hash.toString(16)}`;
}

function tryBind(address: string): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' ? resolve(undefined) : reject(error)));
    server.listen(address, () => resolve(server.unref()));
  });
}

/** Waits up to timeoutSeconds for the lock named by identity (the state dir); throws LockError after that. */
export async function acquireLock(identity: string, timeoutSeconds: number): Promise<HeldLock> {
  const address = lockAddress(identity);
  const deadline = Date.now() + timeoutSeconds * 1000;
  let pause = 1;
  for (;;) {
    const server = await tryBind(address);
    if (server) return { release: () => new Promise<void>((resolve) => server.close(() => resolve())) };
    if (Date.now() >= deadline) {
      throw new LockError(`the state lock for ${identity} is still held after ${timeoutSeconds} s (config lock_timeout); another Palisade command is stuck`);
    }
    // Holders keep the lock for a few milliseconds: poll fast, back off a little, jitter to avoid lockstep.
    await new Promise((resolve) => setTimeout(resolve, pause + Math.random() * pause));
    pause = Math.min(pause * 2, 25);
  }
}
