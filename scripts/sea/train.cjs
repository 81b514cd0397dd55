// Makes the V8 code cache the SEA starts from (see main.cjs): runs the bundle as palisade-drop on a real
// add, in a throwaway install dir on the dry-run backend, and saves what V8 compiled on the way.
// It must run under the node the SEA is built from: V8 refuses a cache made by another version.
//
//   node scripts/sea/train.cjs BUNDLE CACHE
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');
const { Script, constants } = require('node:vm');

/** In the child: argv0 names the command, stdin holds the add, the cwd is the install dir. */
function runAndSaveCache(bundle, cacheFile) {
  // The same source and filename as main.cjs compiles: V8 matches a cache to its source.
  const script = new Script(readFileSync(bundle, 'latin1'), {
    filename: 'palisade.cjs',
    importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  process.on('exit', () => writeFileSync(cacheFile, script.createCachedData()));
  script.runInThisContext()(exports, require, module, __filename, __dirname);
}

function fail(message) {
  process.stderr.write(`train: ${message}\n`);
  process.exit(1);
}

function train(bundle, cacheFile) {
  const root = mkdtempSync(join(tmpdir(), 'palisade-train-'));
  try {
    for (const dir of ['active-response/bin', 'etc', 'logs', 'var/palisade']) mkdirSync(join(root, dir), { recursive: true });
    writeFileSync(join(root, 'etc/palisade.yml'), 'backend: dry-run\n');
    const alert = { rule: { id: '5763', level: 10, description: 'sshd: brute force' }, agent: { id: '001', name: 'build' }, data: { srcip: '192.0.2.10', srcuser: 'root' } };
    const add = { version: 1, origin: { name: 'build', module: 'wazuh-execd' }, command: 'add', parameters: { extra_args: [], alert, program: 'active-response/bin/palisade-drop' } };
    writeFileSync(join(root, 'add.json'), `${JSON.stringify(add)}\n`);
    // Twice: the first run writes the validated-config cache, so the second takes an alert's usual path, and
    // its code cache is the one kept.
    for (let run = 0; run < 2; run++) {
      const result = spawnSync(process.execPath, [__filename, '--run', bundle, cacheFile], {
        argv0: join(root, 'active-response/bin/palisade-drop'),
        cwd: root,
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
        stdio: [openSync(join(root, 'add.json'), 'r'), 'ignore', 'pipe'],
        encoding: 'utf8',
        timeout: 60_000,
      });
      if (result.status !== 0) fail(`the training run of ${bundle} failed (${result.error ?? result.signal ?? `status ${result.status}`}):\n${result.stderr}`);
    }
    const log = join(root, 'logs/active-responses.log');
    if (existsSync(log) && readFileSync(log, 'utf8').includes('"level":"error"')) fail(`the training add logged an error:\n${readFileSync(log, 'utf8')}`);
    const bytes = readFileSync(cacheFile).length;
    if (bytes === 0) fail(`V8 wrote an empty code cache for ${bundle}`);
    process.stdout.write(`train: ${cacheFile} (${Math.round(bytes / 1024)} KB)\n`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const args = process.argv.slice(2);
if (args[0] === '--run') {
  runAndSaveCache(args[1], args[2]);
} else if (args.length === 2) {
  train(resolve(args[0]), resolve(args[1]));
} else {
  process.stderr.write('usage: node scripts/sea/train.cjs BUNDLE CACHE\n');
  process.exit(2);
}
