// Bundles an entry into one CommonJS file for the SEA blob (used by scripts/build-sea.sh).
//
// pino is used with our own synchronous destination and no transports, yet its entry loads the transport
// machinery (thread-stream, worker_threads) and sonic-boom (with node:assert) on every start: about 8 ms of
// every alert. Those modules are replaced by stubs that fail loudly if anything ever reaches them.
//
//   node scripts/bundle.mjs ENTRY OUTFILE VERSION
import { build } from 'esbuild';

const [entry, outfile, version] = process.argv.slice(2);
if (!entry || !outfile || !version) {
  console.error('usage: node scripts/bundle.mjs ENTRY OUTFILE VERSION');
  process.exit(2);
}

const notBundled = (what) => `module.exports = new Proxy(function () {}, { get(_, key) { if (key === 'isMainThread') return true; if (key === Symbol.hasInstance) return () => false; if (typeof key === 'symbol' || key === '__esModule' || key === 'prototype') return undefined; throw new Error(${JSON.stringify(what)} + ' is not part of the Palisade binary (pino transports are unused)'); }, construct() { throw new Error(${JSON.stringify(what)} + ' is not part of the Palisade binary'); }, apply() { throw new Error(${JSON.stringify(what)} + ' is not part of the Palisade binary'); } });`;

const unusedByPino = {
  name: 'pino-without-transports',
  setup(builder) {
    const stubbed = /^(\.\/transport|sonic-boom|thread-stream|worker_threads)$/;
    builder.onResolve({ filter: stubbed }, (args) =>
      /[\\/]node_modules[\\/]pino[\\/]/.test(args.importer) ? { path: args.path, namespace: 'palisade-stub' } : undefined,
    );
    builder.onLoad({ filter: /.*/, namespace: 'palisade-stub' }, (args) => ({ contents: notBundled(args.path), loader: 'js' }));
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
  plugins: [unusedByPino],
});
