/**
 * The state lock: flock(2) on var/palisade/state.lock, held by a small `flock … cat` child for as long as
 * we need it. The kernel drops an flock when its holder dies, so, unlike Wazuh's lock directories
 * (wazuh#23370), this lock cannot go stale: a killed invocation releases it by dying.
 */
import type { ResultPromise } from 'execa';

export class LockError extends Error {
  override name = 'LockError';
}

export interface HeldLock {
  release(): Promise<void>;
}

/** Waits up to timeoutSeconds for the lock; throws LockError naming the file and the wait. */
export async function acquireLock(path: string, timeoutSeconds: number): Promise<HeldLock> {
  const { execa } = await import('execa');
  // `cat` echoes our byte back once flock holds the lock; closing its stdin ends it and frees the lock.
  const holder: ResultPromise = execa('flock', ['--exclusive', '--wait', String(timeoutSeconds), path, 'cat'], {
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    reject: false,
    // A safety net far beyond any invocation: the holder must never outlive a stuck parent for long.
    timeout: (timeoutSeconds + 600) * 1000,
  });
  const acquired = new Promise<boolean>((resolve) => {
    holder.stdout?.once('data', () => resolve(true));
    void holder.then(() => resolve(false), () => resolve(false));
  });
  holder.stdin?.write('x\n');
  if (!(await acquired)) {
    const result = await holder;
    const reason = result.failed && (result as { code?: string }).code === 'ENOENT'
      ? 'flock is not installed (util-linux)'
      : String(result.stderr ?? '').trim() || `no lock within ${timeoutSeconds} s`;
    throw new LockError(`cannot take the state lock ${path}: ${reason} (config lock_timeout)`);
  }
  return {
    release: async () => {
      holder.stdin?.end();
      await holder;
    },
  };
}
