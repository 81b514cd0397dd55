// Bundles an entry into one CommonJS file for `bun build --compile` (used by scripts/build/build.sh).
//
// Every import() becomes a require() behind a lazy module wrapper, so a module is evaluated only when a
// command first reaches it: an IPv4 alert never evaluates ip-address, an alert that runs no tool never
// evaluates execa. Bun then compiles the whole file to bytecode once, at build time.
//
// pino is used with our own synchronous destination and no transports, yet its entry loads the transport
// machinery (thread-stream, worker_threads) and sonic-boom on every start. Those modules are replaced by
// stubs that fail loudly if anything ever reaches them. Each pino() captures its callers' stack
// (lib/caller.js) only to resolve transport paths, a list that is never read here. And pino traces every
// record through a diagnostics channel that nothing in a Palisade process subscribes to.
//
//   node scripts/build/bundle.mjs ENTRY OUTFILE VERSION
import { build } from 'esbuild';

const [entry, outfile, version] = process.argv.slice(2);
if (!entry || !outfile || !version) {
  console.error('usage: node scripts/build/bundle.mjs ENTRY OUTFILE VERSION');
  process.exit(2);
}

const notBundled = (what) => `module.exports = new Proxy(function () {}, { get(_, key) { if (key === 'isMainThread') return true; if (key === Symbol.hasInstance) return () => false; if (typeof key === 'symbol' || key === '__esModule' || key === 'prototype') return undefined; throw new Error(${JSON.stringify(what)} + ' is not part of the Palisade binary (pino transports are unused)'); }, construct() { throw new Error(${JSON.stringify(what)} + ' is not part of the Palisade binary'); }, apply() { throw new Error(${JSON.stringify(what)} + ' is not part of the Palisade binary'); } });`;

const unusedByPino = {
  name: 'pino-without-transports',
  setup(builder) {
    const fromPino = (args) => /[\\/]node_modules[\\/]pino[\\/]/.test(args.importer);
    const stubbed = /^(\.\/transport|\.\/lib\/transport|sonic-boom|thread-stream|worker_threads)$/;
    builder.onResolve({ filter: stubbed }, (args) => (fromPino(args) ? { path: args.path, namespace: 'palisade-stub' } : undefined));
    builder.onLoad({ filter: /.*/, namespace: 'palisade-stub' }, (args) => ({ contents: notBundled(args.path), loader: 'js' }));
    builder.onResolve({ filter: /^\.\/lib\/caller$/ }, (args) => (fromPino(args) ? { path: args.path, namespace: 'palisade-no-callers' } : undefined));
    builder.onLoad({ filter: /.*/, namespace: 'palisade-no-callers' }, () => ({ contents: 'module.exports = function getCallers() { return []; };', loader: 'js' }));
    builder.onResolve({ filter: /^node:diagnostics_channel$/ }, (args) => (fromPino(args) ? { path: args.path, namespace: 'palisade-no-subscribers' } : undefined));
    builder.onLoad({ filter: /.*/, namespace: 'palisade-no-subscribers' }, () => ({ contents: 'module.exports = { tracingChannel: () => ({ hasSubscribers: false }) };', loader: 'js' }));
  },
};

await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  // Bun's own modules (bun:sqlite for the state lock) are the runtime's, not the bundle's.
  external: ['bun:*'],
  // import() as a lazy require(), evaluated on first use.
  supported: { 'dynamic-import': false },
  define: { PALISADE_VERSION: JSON.stringify(version) },
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [unusedByPino],
  // Bench only (bench/startup.ts): a variant with execa replaced, to measure what loading execa costs.
  ...(process.env.PALISADE_BENCH_EXECA_SHIM ? { alias: { execa: process.env.PALISADE_BENCH_EXECA_SHIM } } : {}),
});
