// Makes the V8 code caches the SEA starts from (see main.cjs): runs the bundles as palisade-drop on a real
// add, in a throwaway install dir, and saves what V8 compiled on the way. The add goes to the nftables
// backend with an `nft` of the training's own first on PATH, which reads its script and succeeds: nothing
// of the build host's firewall is read or changed, and the cache holds execa and the nftables path too.
// It must run under the node the SEA is built from: V8 refuses a cache made by another version.
//
//   node scripts/sea/train.cjs DIR     (DIR holds palisade.cjs and tools.cjs; the caches are written there)
'use strict';
const { spawnSync } = require('node:child_process');
const { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { join, resolve } = require('node:path');
const { start } = require('./main.cjs');

const bundles = ['palisade', 'tools'];

/** In the child: argv0 names the command, stdin holds the add, the cwd is the install dir. */
function runAndSaveCaches(dir) {
  const compiled = new Map();
  process.on('exit', () => {
    // A bundle the run never loaded (tools, for a command that runs none) gets an empty cache.
    for (const name of bundles) writeFileSync(join(dir, `${name}.cache`), compiled.get(name)?.createCachedData() ?? Buffer.alloc(0));
  });
  start(
    (name) => (name.endsWith('.cache') ? Buffer.alloc(0) : readFileSync(join(dir, name))),
    (name, script) => compiled.set(name, script),
  );
}

function fail(message) {
  process.stderr.write(`train: ${message}\n`);
  process.exit(1);
}

function train(dir) {
  // Beside the bundles, not in /tmp, which may be mounted noexec: the training's nft must run.
  const root = mkdtempSync(join(dir, 'training-'));
  try {
    for (const sub of ['active-response/bin', 'etc', 'logs', 'var/palisade', 'tools']) mkdirSync(join(root, sub), { recursive: true });
    writeFileSync(join(root, 'etc/palisade.yml'), 'backend: nftables\n');
    writeFileSync(join(root, 'tools/nft'), `#!/bin/sh\ncat >/dev/null\necho "$*" >> '${join(root, 'nft.calls')}'\n`, { mode: 0o755 });
    const alert = { rule: { id: '5763', level: 10, description: 'sshd: brute force' }, agent: { id: '001', name: 'build' }, data: { srcip: '192.0.2.10', srcuser: 'root' } };
    const add = { version: 1, origin: { name: 'build', module: 'wazuh-execd' }, command: 'add', parameters: { extra_args: [], alert, program: 'active-response/bin/palisade-drop' } };
    writeFileSync(join(root, 'add.json'), `${JSON.stringify(add)}\n`);
    // Twice: the first run writes the validated-config cache, so the second takes an alert's usual path, and
    // its code caches are the ones kept.
    for (let run = 0; run < 2; run++) {
      const result = spawnSync(process.execPath, [__filename, '--run', dir], {
        argv0: join(root, 'active-response/bin/palisade-drop'),
        cwd: root,
        // Palisade appends the sbin directories to PATH, never prepends: this nft is the one it runs.
        env: { PATH: `${join(root, 'tools')}:/usr/bin:/bin` },
        stdio: [openSync(join(root, 'add.json'), 'r'), 'ignore', 'pipe'],
        encoding: 'utf8',
        timeout: 60_000,
      });
      if (result.status !== 0) fail(`the training run in ${dir} failed (${result.error ?? result.signal ?? `status ${result.status}`}):\n${result.stderr}`);
    }
    const log = join(root, 'logs/active-responses.log');
    if (existsSync(log) && readFileSync(log, 'utf8').includes('"level":"error"')) fail(`the training add logged an error:\n${readFileSync(log, 'utf8')}`);
    const bytes = Object.fromEntries(bundles.map((name) => [name, readFileSync(join(dir, `${name}.cache`)).length]));
    if (bytes.tools > 0 && !existsSync(join(root, 'nft.calls'))) fail('the training add ran a tool, but not the nft of the training: refusing a cache made against a real firewall');
    if (bytes.palisade === 0) fail(`V8 wrote an empty code cache for ${dir}/palisade.cjs`);
    process.stdout.write(`train: code caches in ${dir}: ${bundles.map((name) => `${name} ${Math.round(bytes[name] / 1024)} KB`).join(', ')}\n`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

const args = process.argv.slice(2);
if (args[0] === '--run' && args[1]) {
  runAndSaveCaches(args[1]);
} else if (args.length === 1) {
  train(resolve(args[0]));
} else {
  process.stderr.write('usage: node scripts/sea/train.cjs DIR\n');
  process.exit(2);
}
