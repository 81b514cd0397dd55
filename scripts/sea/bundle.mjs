// Bundles an entry into one CommonJS function expression, the asset scripts/sea/main.cjs runs (used by
// scripts/sea/build.sh). Wrapped, it is compiled once by V8 with the trained code cache and called with
// CommonJS's parameters, as Node would call a module.
//
// pino is used with our own synchronous destination and no transports, yet its entry loads the transport
// machinery (thread-stream, worker_threads) and sonic-boom (with node:assert) on every start: about 8 ms of
// every alert. Those modules are replaced by stubs that fail loudly if anything ever reaches them. And each
// pino() captures its callers' stack (lib/caller.js, through util.getCallSites, which loads the source-map
// support) only to resolve transport paths: ~0.8 ms of every alert, for a list that is never read here.
//
//   node scripts/sea/bundle.mjs ENTRY OUTFILE VERSION
import { build } from 'esbuild';

const [entry, outfile, version] = process.argv.slice(2);
if (!entry || !outfile || !version) {
  console.error('usage: node scripts/sea/bundle.mjs ENTRY OUTFILE VERSION');
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
  },
};

await build({
  entryPoints: [entry],
  outfile,
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
  define: { PALISADE_VERSION: JSON.stringify(version) },
  // Pure ASCII, so that main.cjs can read the asset as latin1 without decoding UTF-8.
  charset: 'ascii',
  banner: { js: '(function (exports, require, module, __filename, __dirname) {' },
  footer: { js: '})' },
  plugins: [unusedByPino],
});
