// The main of every Palisade SEA: runs the bundle (an SEA asset) with a V8 code cache that a training run
// made at build time (scripts/sea/train.cjs). Node's own "useCodeCache" holds only what V8 compiles before
// anything runs, the top level; every function an alert calls was then compiled on its first call, about
// 5 ms of each alert. A cache taken after a real add holds them all.
//
// The bundle is one function expression (scripts/sea/bundle.mjs wraps it) taking CommonJS's parameters.
// A cache V8 refuses (another node built it) only costs that time again: the code runs all the same, and
// `palisade doctor` reports it.
'use strict';
const { getRawAsset } = require('node:sea');
const { Script, constants } = require('node:vm');

// Assets are mapped read-only from the executable: no copy. The bundle is ASCII (esbuild escapes the rest).
const source = Buffer.from(getRawAsset('bundle.cjs')).toString('latin1');
const cachedData = new Uint8Array(getRawAsset('bundle.cache'));
const script = new Script(source, {
  filename: 'palisade.cjs',
  cachedData,
  importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});
globalThis[Symbol.for('palisade.codeCache')] = { bytes: cachedData.byteLength, rejected: script.cachedDataRejected === true };
script.runInThisContext()(exports, require, module, __filename, __dirname);
