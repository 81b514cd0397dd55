// The main of every Palisade SEA: runs the bundle (an SEA asset) with a V8 code cache that a training run
// made at build time (scripts/sea/train.cjs). Node's own "useCodeCache" holds only what V8 compiles before
// anything runs, the top level; every function an alert calls was then compiled on its first call, about
// 5 ms of each alert. A cache taken after a real add holds them all.
//
// Two bundles, each with its cache: palisade.cjs, and tools.cjs (execa), compiled only when a command first
// runs a tool, so that an alert that runs none (an HTTP firewall, a dry run) does not load execa's cache.
// Each bundle is one function expression (scripts/sea/bundle.mjs wraps it) taking CommonJS's parameters.
// A cache V8 refuses (another node built it) only costs that time again: the code runs all the same, and
// `palisade doctor` reports it.
//
// train.cjs runs the same start() on files instead of assets, so both compile the bundles identically: V8
// matches a cache to its source.
'use strict';
const { Script, constants } = require('node:vm');

/**
 * asset(name): an asset's bytes. compiled(name, script): told of each bundle compiled (training keeps their
 * caches). What V8 did with each cache is left on globalThis for `palisade doctor`.
 */
function start(asset, compiled = () => {}) {
  const status = (globalThis[Symbol.for('palisade.codeCache')] = {});
  let tools;
  const requireInBundle = (id) => (id === 'execa' ? (tools ??= load('tools')) : require(id));
  function load(name) {
    // The bundles are ASCII (esbuild escapes the rest): latin1 copies them without decoding UTF-8.
    const source = Buffer.from(asset(`${name}.cjs`)).toString('latin1');
    const cache = asset(`${name}.cache`);
    const cachedData = cache.byteLength > 0 ? new Uint8Array(cache) : undefined;
    const script = new Script(source, { filename: `${name}.cjs`, cachedData, importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER });
    status[name] = { bytes: cache.byteLength, rejected: cachedData !== undefined && script.cachedDataRejected === true };
    compiled(name, script);
    const bundleModule = { exports: {} };
    script.runInThisContext()(bundleModule.exports, requireInBundle, bundleModule, __filename, __dirname);
    return bundleModule.exports;
  }
  load('palisade');
}

const sea = require('node:sea');
if (sea.isSea()) {
  // Assets are mapped read-only from the executable: no copy.
  start(sea.getRawAsset);
} else {
  module.exports = { start };
}
