/** Runtime pieces whose failure modes are hard to reach through a whole invocation. */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { execa } from 'execa';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acquireLock, LockError } from '../src/runtime/lock.js';
import { Execd } from './harness/execd.js';
import { nodeBin, testRoot } from './harness/bundle.js';
import { createInstall, type Install } from './harness/install.js';

/** A 4.x add for one source address, as execd writes it. */
function addLine(srcip: string): string {
  return JSON.stringify({ version: 1, origin: { name: 'node01', module: 'wazuh-execd' }, command: 'add', parameters: { extra_args: [], alert: { rule: { id: '5763' }, data: { srcip } }, program: 'active-response/bin/palisade-drop' } });
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(what);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the state lock', () => {
  const lockDir = join(testRoot, `lock-${process.pid}`);
  const lockFile = join(lockDir, 'state.lock');
  mkdirSync(lockDir, { recursive: true });

  it('excludes a second holder until released, then lets it in', async () => {
    const held = await acquireLock(lockFile, 1);
    const started = Date.now();
    await expect(acquireLock(lockFile, 0.3)).rejects.toBeInstanceOf(LockError);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    await held.release();
    await (await acquireLock(lockFile, 1)).release();
  });

  it('cannot go stale: a palisade-drop killed with SIGKILL while it holds the lock frees it at once', async () => {
    const install = createInstall({ config: 'backend: nftables\nlock_timeout: 1\ncommand_timeout: 60\n' });
    try {
      // An nft of the test's own, first on PATH: it succeeds, or hangs while the file `hang` exists. The
      // binary holds the state lock while it changes the firewall, so a hung nft keeps the lock held.
      const tools = join(install.root, '..', 'tools');
      mkdirSync(tools);
      writeFileSync(join(tools, 'nft'), `#!/bin/sh\ncat >/dev/null\nif [ -f '${tools}/hang' ]; then touch '${tools}/hung'; exec sleep 60; fi\n`, { mode: 0o755 });
      writeFileSync(join(tools, 'hang'), '');
      const env = { PATH: `${tools}:/usr/sbin:/usr/bin:/sbin:/bin` };
      const holder = spawn(install.commandPath('palisade-drop'), [], { cwd: install.root, env, stdio: ['pipe', 'ignore', 'ignore'] });
      holder.stdin!.end(`${addLine('198.51.100.1')}\n`);
      await waitFor(() => existsSync(join(tools, 'hung')), 10_000, 'the holder never reached its nft');

      const execd = new Execd(install, { env });
      const refused = await execd.pipeIn('palisade-drop', `${addLine('198.51.100.2')}\n`);
      expect(refused.exitCode).not.toBe(0);
      expect(install.logLines().join('\n')).toMatch(/still held after 1 s \(config lock_timeout\)/);

      rmSync(join(tools, 'hang'));
      holder.kill('SIGKILL');
      await new Promise((resolve) => holder.once('exit', resolve));
      const admitted = await execd.pipeIn('palisade-drop', `${addLine('198.51.100.2')}\n`);
      expect(admitted.exitCode).toBe(0);
      expect(install.logRecords()).toContainEqual(expect.objectContaining({ event: 'blocked', address: '198.51.100.2', backend: 'nftables' }));
    } finally {
      install.remove();
    }
  });

  it('cannot be taken by an unprivileged user, who cannot even open the file', async () => {
    const install = createInstall({ config: 'backend: dry-run\n' });
    try {
      await new Execd(install).add('palisade-drop', { data: { srcip: '198.51.100.1' } });
      const lockFile = join(install.root, 'var', 'palisade', 'state.lock');
      // As nobody, with Node's SQLite (the same fcntl lock the binary takes): opening the file is refused.
      const attempt = spawnSync(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', nodeBin, '-e', `const { DatabaseSync } = require('node:sqlite'); new DatabaseSync(${JSON.stringify(lockFile)}).exec('BEGIN EXCLUSIVE'); console.log('held');`],
        { encoding: 'utf8', timeout: 20_000 },
      );
      expect(attempt.stdout).not.toContain('held');
      expect(attempt.stderr).toMatch(/unable to open database file|permission denied|EACCES/i);
      // And root's next alert is not held up.
      const run = await new Execd(install).add('palisade-drop', { data: { srcip: '198.51.100.2' } });
      expect(run.exitCode).toBe(0);
    } finally {
      install.remove();
    }
  });

  it('is a file only root can open, in a directory only root can write', async () => {
    const install = createInstall({ config: 'backend: dry-run\n' });
    try {
      await new Execd(install).add('palisade-drop', { data: { srcip: '198.51.100.1' } });
      const dir = statSync(join(install.root, 'var', 'palisade'));
      expect(dir.uid).toBe(0);
      expect(dir.mode & 0o022).toBe(0);
      const lock = statSync(join(install.root, 'var', 'palisade', 'state.lock'));
      expect({ uid: lock.uid, mode: lock.mode & 0o777 }).toEqual({ uid: 0, mode: 0o600 });
    } finally {
      install.remove();
    }
  });
});

describe('the log file', () => {
  it('is never written through a symlink planted in logs/ (the wazuh group can write there)', async () => {
    const install = createInstall({ config: 'backend: dry-run\n' });
    try {
      const target = join(install.root, 'etc', 'precious');
      writeFileSync(target, 'untouched\n');
      symlinkSync(target, install.logFile);
      const run = await new Execd(install).add('palisade-drop', { data: { srcip: '198.51.100.1' } });
      expect(run.exitCode).toBe(0);
      expect(readFileSync(target, 'utf8')).toBe('untouched\n');
      expect(run.stderr).toMatch(/active-responses\.log is not a regular file \(a symbolic link\): carrying on without the log/);
    } finally {
      install.remove();
    }
  });

  it('a FIFO planted there does not hang the response in open(): it acts without the log and says so', async () => {
    const install = createInstall({ config: 'backend: dry-run\n' });
    try {
      await execa('mkfifo', ['-m', '0660', install.logFile]);
      const run = await new Execd(install).add('palisade-drop', { data: { srcip: '198.51.100.1' } });
      expect(run.exitCode).toBe(0);
      expect(run.stderr).toContain(`${install.logFile} is not a regular file (a FIFO): carrying on without the log`);
      expect(install.stateEntries().map((entry) => entry.address)).toEqual(['198.51.100.1']);
      expect(lstatSync(install.logFile).isFIFO()).toBe(true);
    } finally {
      install.remove();
    }
  });

  it('a FIFO with a reader waiting gets nothing: only a regular file is the log', async () => {
    const install = createInstall({ config: 'backend: dry-run\n' });
    await execa('mkfifo', ['-m', '0660', install.logFile]);
    // The reader holds the FIFO open for reading (a writer that opens it then succeeds) until it is killed.
    const reader = spawn('sh', ['-c', 'exec 3<"$0"; exec cat <&3', install.logFile]);
    const heard: Buffer[] = [];
    reader.stdout.on('data', (chunk: Buffer) => heard.push(chunk));
    try {
      await new Promise((resolve) => setTimeout(resolve, 300));
      const run = await new Execd(install).add('palisade-drop', { data: { srcip: '198.51.100.1' } });
      expect(run.exitCode).toBe(0);
      expect(run.stderr).toContain(`${install.logFile} is not a regular file (a FIFO): carrying on without the log`);
      expect(Buffer.concat(heard).toString()).toBe('');
    } finally {
      reader.kill();
      install.remove();
    }
  });
});

describe('the config', () => {
  let install: Install;
  beforeEach(() => {
    install = createInstall();
  });
  afterEach(() => install.remove());

  it('applies an edit at the very next alert, though the parsed file is cached', async () => {
    const execd = new Execd(install);
    install.writeConfig('backend: dry-run\nmax_ttl: 1h\n');
    await execd.add('palisade-drop', { data: { srcip: '198.51.100.1' } });
    install.writeConfig('backend: dry-run\nmax_ttl: 2h\n');
    await execd.add('palisade-drop', { data: { srcip: '198.51.100.2' } });
    install.writeConfig('backend: dry-run\nmax_ttl: [oops\n');
    const broken = await execd.add('palisade-drop', { data: { srcip: '198.51.100.3' } });
    expect(install.logRecords().filter((r) => r.event === 'blocked').map((r) => r.ttl)).toEqual([3600, 7200]);
    expect(broken.exitCode).toBe(1);
    expect(String(install.logRecords().at(-1)!.reason)).toMatch(/palisade\.yml is not valid YAML/);
  });

  it('a wrong type is named with the key', async () => {
    install.writeConfig('backend: dry-run\nnftables:\n  priority: high\nallowlist: [10.0.0.0/33]\n');
    const run = await new Execd(install).add('palisade-drop', { data: { srcip: '198.51.100.1' } });
    expect(run.exitCode).toBe(1);
    const reason = String(install.logRecords().at(-1)!.reason);
    expect(reason).toContain('nftables.priority:');
    expect(reason).toContain('allowlist.0: "10.0.0.0/33" is not an address or network');
    install.writeConfig('backend: dry-run\nmax_ttl: 400d\n');
    await new Execd(install).add('palisade-drop', { data: { srcip: '198.51.100.1' } });
    expect(String(install.logRecords().at(-1)!.reason)).toContain('max_ttl: must be at most 365d');
  });

  it('an http: section is checked by the HTTP schema even when another backend is in use', async () => {
    install.writeConfig('backend: dry-run\nhttp:\n  preset: generic\n  url: http://fw.example/api\n  token_file: /nonexistent\n');
    const run = await new Execd(install).add('palisade-drop', { data: { srcip: '198.51.100.1' } });
    expect(run.exitCode).toBe(1);
    expect(String(install.logRecords().at(-1)!.reason)).toMatch(/http\.url: /);
  });
});
