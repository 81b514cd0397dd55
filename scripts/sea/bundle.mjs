// Bundles an entry into OUTDIR/palisade.cjs and execa into OUTDIR/tools.cjs, each one CommonJS function
// expression: the assets scripts/sea/main.cjs runs (used by scripts/sea/build.sh). Each is compiled once by
// V8 with its trained code cache and called with CommonJS's parameters, as Node would call a module;
// palisade.cjs's require('execa') is answered with tools.cjs.
//
// pino is used with our own synchronous destination and no transports, yet its entry loads the transport
// machinery (thread-stream, worker_threads) and sonic-boom (with node:assert) on every start: about 8 ms of
// every alert. Those modules are replaced by stubs that fail loudly if anything ever reaches them. And each
// pino() captures its callers' stack (lib/caller.js, through util.getCallSites, which loads the source-map
// support) only to resolve transport paths: ~0.8 ms of every alert, for a list that is never read here.
//
//   node scripts/sea/bundle.mjs ENTRY OUTDIR VERSION
import { build } from 'esbuild';

const [entry, outdir, version] = process.argv.slice(2);
if (!entry || !outdir || !version) {
  console.error('usage: node scripts/sea/bundle.mjs ENTRY OUTDIR VERSION');
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

const common = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
  // Pure ASCII, so that main.cjs can read the assets as latin1 without decoding UTF-8.
  charset: 'ascii',
  banner: { js: '(function (exports, require, module, __filename, __dirname) {' },
  footer: { js: '})' },
};

await build({
  ...common,
  entryPoints: [entry],
  outfile: `${outdir}/palisade.cjs`,
  external: ['execa'],
  // import() as require(), so that execa (and node: built-ins) come through main.cjs's require.
  supported: { 'dynamic-import': false },
  define: { PALISADE_VERSION: JSON.stringify(version) },
  plugins: [unusedByPino],
});

await build({
  ...common,
  stdin: { contents: "module.exports = require('execa');", resolveDir: process.cwd(), loader: 'js' },
  outfile: `${outdir}/tools.cjs`,
});
