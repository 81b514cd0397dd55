/**
 * A value built on first use and kept. Every alert starts a new process, so whatever a module builds at
 * import time (zod schemas, mostly) is paid by every alert, needed or not (bench/RESULTS.md).
 */
export function lazy<T>(build: () => T): () => T {
  let value: T | undefined;
  let built = false;
  return () => {
    if (!built) {
      value = build();
      built = true;
    }
    return value as T;
  };
}
