/**
 * palisade-quarantine through the execd stand-in on real files: a watched root inside the throwaway install
 * tree (and one on /dev/shm, another file system), asserting bytes, mode, owner and mtime as they really
 * are after each step, and that nothing outside the roots is ever touched.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chownSync, closeSync, createReadStream, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, truncateSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Execd } from '../harness/execd.js';
import { createInstall, type Install } from '../harness/install.js';

const command = 'palisade-quarantine';
const fimAlert = (path: unknown) => ({ rule: { id: '554', description: 'File added to the system.' }, syscheck: { path, event: 'added' } });
const virusTotalAlert = (file: unknown) => ({ rule: { id: '87105', description: 'VirusTotal: Alert' }, data: { virustotal: { malicious: '1', source: { file, sha1: 'x' } } } });
const mtime = new Date('2025-01-02T03:04:05.678Z');
const malware = 'X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*\n';

let install: Install;
let execd: Execd;
let top: string;
let watched: string;
let outside: string;
const quarantineDir = () => join(install.root, 'var', 'palisade', 'quarantine');
const quarantined = () =>
  existsSync(quarantineDir()) ? readdirSync(quarantineDir()).flatMap((entry) => readdirSync(join(quarantineDir(), entry)).map((name) => join(quarantineDir(), entry, name))) : [];
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function plant(path: string, content = malware): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, content, { mode: 0o640 });
  chownSync(path, 4242, 4343);
  utimesSync(path, mtime, mtime);
  return path;
}

const described = (path: string) => {
  const stat = lstatSync(path);
  return { content: readFileSync(path, 'utf8'), mode: stat.mode & 0o7777, uid: stat.uid, gid: stat.gid, mtime: stat.mtime.toISOString() };
};

beforeEach(() => {
  install = createInstall();
  top = join(install.root, '..', '..');
  watched = join(top, 'srv', 'www');
  outside = join(top, 'outside');
  mkdirSync(watched, { recursive: true });
  mkdirSync(outside, { recursive: true });
  install.writeConfig(`quarantine:\n  roots: [${watched}]\n`);
  execd = new Execd(install);
});
afterEach(() => install.remove());

describe('quarantine and restore through execd', () => {
  it('moves the file into a root-only directory with its record; the delete puts it back exactly', async () => {
    const path = plant(join(watched, 'uploads', 'shell.php'));
    const original = described(path);
    const run = await execd.add(command, fimAlert(path));
    expect(run.keys).toEqual([path]);
    expect(run.exitCode).toBe(0);
    expect(existsSync(path)).toBe(false);
    expect(statSync(quarantineDir()).mode & 0o7777).toBe(0o700);
    const files = quarantined();
    const data = files.find((file) => file.endsWith('.data'))!;
    const record = JSON.parse(readFileSync(files.find((file) => file.endsWith('.json'))!, 'utf8')) as Record<string, unknown>;
    expect(described(data)).toEqual(original);
    expect(statSync(files.find((file) => file.endsWith('.json'))!).mode & 0o777).toBe(0o600);
    expect(record).toMatchObject({ path, sha256: sha256(malware), size: Buffer.byteLength(malware), mode: '0640', owner: 4242, group: 4343, mtime: mtime.toISOString(), otherLinks: 0, field: 'syscheck.path', rule: { ruleId: '554' } });
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'quarantined', result: 'moved', path, sha256: sha256(malware) });
    expect(install.logRecords().some((entry) => 'command' in entry)).toBe(false);

    expect((await execd.expire(run.rkey)).exitCode).toBe(0);
    expect(described(path)).toEqual(original);
    expect(quarantined()).toEqual([]);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'file-restored', result: 'restored', path });
  });

  it('takes the file of a VirusTotal alert', async () => {
    const path = plant(join(watched, 'eicar.com'));
    const run = await execd.add(command, virusTotalAlert(path));
    expect(run.exitCode).toBe(0);
    expect(existsSync(path)).toBe(false);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'quarantined', field: 'data.virustotal.source.file' });
  });

  it('does not restore over something new in its place: both are kept and the log says why', async () => {
    const path = plant(join(watched, 'index.php'));
    const run = await execd.add(command, fimAlert(path));
    writeFileSync(path, 'the clean index the administrator deployed since\n');
    expect((await execd.expire(run.rkey)).exitCode).toBe(0);
    expect(readFileSync(path, 'utf8')).toBe('the clean index the administrator deployed since\n');
    expect(quarantined().filter((file) => file.endsWith('.data')).map((file) => readFileSync(file, 'utf8'))).toEqual([malware]);
    expect(install.logRecords().at(-1)).toMatchObject({ level: 'warn', event: 'skipped', path, reason: expect.stringContaining('something new is at') });
  });

  it('on abort quarantines the file that came back too; the delete restores the latest and keeps the older', async () => {
    const path = plant(join(watched, 'dropper.sh'));
    const first = await execd.add(command, fimAlert(path));
    plant(path, 'second version\n');
    const again = await execd.add(command, fimAlert(path));
    expect(again.decision).toBe('abort');
    expect(existsSync(path)).toBe(false);
    expect(quarantined().filter((file) => file.endsWith('.data'))).toHaveLength(2);
    // Another alert while nothing is there: already in quarantine.
    await execd.add(command, fimAlert(path), { timeout: 0 });
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'quarantined', result: 'present' });

    await execd.expire(first.rkey);
    expect(readFileSync(path, 'utf8')).toBe('second version\n');
    expect(quarantined().filter((file) => file.endsWith('.data')).map((file) => readFileSync(file, 'utf8'))).toEqual([malware]);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'file-restored', olderVersionsKept: 1 });
  });

  it('moves and restores across file systems (a root on /dev/shm) with owner, mode and mtime kept', async () => {
    const shm = join('/dev/shm', `palisade-test-${process.pid}-${Date.now()}`);
    try {
      const path = plant(join(shm, 'payload.bin'));
      const original = described(path);
      install.writeConfig(`quarantine:\n  roots: [${shm}]\n`);
      const run = await execd.add(command, fimAlert(path));
      expect(run.exitCode).toBe(0);
      expect(existsSync(path)).toBe(false);
      expect(described(quarantined().find((file) => file.endsWith('.data'))!)).toEqual(original);
      await execd.expire(run.rkey);
      expect(described(path)).toEqual(original);
      expect(quarantined()).toEqual([]);
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  });

  it('an alert for a file already gone is skipped, and a delete with nothing held succeeds', async () => {
    const path = join(watched, 'gone.txt');
    const run = await execd.add(command, fimAlert(path));
    expect(run.exitCode).toBe(0);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'skipped', reason: expect.stringContaining('nothing is at') });
    expect((await execd.delete(command, fimAlert(path))).exitCode).toBe(0);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'file-restored', result: 'absent' });
  });

  it('by hand: the echo test quarantines and the delete restores', async () => {
    const path = plant(join(watched, 'manual.txt'));
    const message = (verb: string) => `${JSON.stringify({ version: 1, command: verb, parameters: { alert: fimAlert(path) } })}\n`;
    const add = await execd.pipeIn(command, message('add'));
    expect(add.exitCode).toBe(0);
    expect(add.stderr).toContain(`palisade-quarantine: quarantined ${path} (sha256 ${sha256(malware)})`);
    const del = await execd.pipeIn(command, message('delete'));
    expect(del.exitCode).toBe(0);
    expect(del.stderr).toContain(`restored ${path}`);
    expect(readFileSync(path, 'utf8')).toBe(malware);
  });
});

describe('bounded work (issue 14, item 1)', () => {
  const GiB = 1024 ** 3;
  const MiB = 1024 ** 2;
  let tmpfs: string | undefined;
  afterEach(async () => {
    if (tmpfs) await execa('umount', [tmpfs]);
    tmpfs = undefined;
  });

  /** A small tmpfs as quarantine.dir: another file system, and one that fills up. */
  async function quarantineOnTmpfs(size: string, settings: string): Promise<string> {
    const dir = join(top, 'quarantine-fs');
    mkdirSync(dir, { recursive: true });
    await execa('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'palisade-test', dir]);
    tmpfs = dir;
    install.writeConfig(`quarantine:\n  roots: [${watched}]\n  dir: ${dir}\n${settings}`);
    return dir;
  }
  const filesIn = (dir: string) => readdirSync(dir).flatMap((entry) => readdirSync(join(dir, entry)).map((name) => join(dir, entry, name)));

  /** A sparse file: a little data at the start and at `at`, holes elsewhere, `size` bytes long. */
  function plantSparse(path: string, size: number, at = size / 2): string {
    plant(path);
    truncateSync(path, size);
    const fd = openSync(path, 'r+');
    writeSync(fd, 'MZ payload in the middle', at);
    closeSync(fd);
    return path;
  }

  async function sha256OfFile(path: string): Promise<string> {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
    return hash.digest('hex');
  }

  it('refuses a file over quarantine.max_size at once, leaving it where it is, with a record that says why and what to do', async () => {
    const path = plantSparse(join(watched, 'huge.iso'), 16 * GiB);
    const started = Date.now();
    const run = await execd.add(command, fimAlert(path));
    expect(run.exitCode).toBe(1);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(String(install.logRecords().at(-1)!.reason)).toMatch(
      new RegExp(`^${path.replaceAll('.', '\\.')} is 16 GiB, over quarantine\\.max_size \\(256 MiB\\): left where it is; .* raise max_size in palisade\\.yml$`),
    );
    expect(statSync(path).size).toBe(16 * GiB);
    expect(quarantined()).toEqual([]);
  });

  it('takes max_size from palisade.yml, and refuses a value that is not a size', async () => {
    const path = plant(join(watched, 'small.bin'), 'x'.repeat(2048));
    install.writeConfig(`quarantine:\n  roots: [${watched}]\n  max_size: 1K\n`);
    expect((await execd.add(command, fimAlert(path))).exitCode).toBe(1);
    expect(String(install.logRecords().at(-1)!.reason)).toContain('is 2 KiB, over quarantine.max_size (1 KiB)');
    install.writeConfig(`quarantine:\n  roots: [${watched}]\n  max_size: huge\n`);
    expect((await execd.add(command, fimAlert(path))).exitCode).toBe(1);
    expect(String(install.logRecords().at(-1)!.reason)).toMatch(/quarantine\.max_size: "huge" is not a size/);
    expect(existsSync(path)).toBe(true);
  });

  it('never holds the state lock while hashing: another command acts while a large file is hashed', async () => {
    install.writeConfig(`backend: dry-run\nlock_timeout: 1\nquarantine:\n  roots: [${watched}]\n  max_size: 16G\n`);
    const path = plantSparse(join(watched, 'big.img'), 4 * GiB);
    const slow = new Execd(install, { hangMs: 180_000 });
    const quarantining = slow.add(command, fimAlert(path));
    // Moved into quarantine (same file system: a rename), its record not yet written: it is being hashed.
    await vi.waitFor(() => expect(quarantined().some((file) => file.endsWith('.data'))).toBe(true), { timeout: 30_000, interval: 20 });
    const drop = await new Execd(install).add('palisade-drop', { data: { srcip: '203.0.113.7' } });
    expect(drop.exitCode).toBe(0);
    expect(drop.decision).toBe('continue');
    expect(quarantined().some((file) => file.endsWith('.json'))).toBe(false);
    expect((await quarantining).exitCode).toBe(0);
    expect(quarantined().some((file) => file.endsWith('.json'))).toBe(true);
  }, 240_000);

  it('keeps the holes of a sparse file copied across file systems, both ways', async () => {
    const dir = await quarantineOnTmpfs('64m', '  max_size: 1G\n');
    const path = plantSparse(join(watched, 'sparse.img'), 512 * MiB, 300 * MiB);
    const sha256 = await sha256OfFile(path);
    const run = await execd.add(command, fimAlert(path));
    expect(run.exitCode).toBe(0);
    const data = filesIn(dir).find((file) => file.endsWith('.data'))!;
    expect(statSync(data).size).toBe(512 * MiB);
    expect(statSync(data).blocks * 512).toBeLessThan(MiB);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'quarantined', result: 'moved', sha256, size: 512 * MiB });
    expect(await sha256OfFile(data)).toBe(sha256);

    expect((await execd.expire(run.rkey)).exitCode).toBe(0);
    expect(await sha256OfFile(path)).toBe(sha256);
    expect(statSync(path).blocks * 512).toBeLessThan(MiB);
    expect(filesIn(dir)).toEqual([]);
  }, 120_000);

  it('a copy that fills the quarantine file system leaves nothing there, and the file where it was', async () => {
    const dir = await quarantineOnTmpfs('16m', '  max_size: 1G\n');
    const path = plant(join(watched, 'dense.bin'), '');
    writeFileSync(path, randomBytes(24 * MiB));
    const sha256 = await sha256OfFile(path);
    const run = await execd.add(command, fimAlert(path));
    expect(run.exitCode).toBe(1);
    expect(String(install.logRecords().at(-1)!.reason)).toMatch(/ENOSPC/);
    expect(filesIn(dir)).toEqual([]);
    expect(await sha256OfFile(path)).toBe(sha256);
  });
});

describe('what it never touches', () => {
  it('a symlink itself: refused, the link and what it points to stay', async () => {
    const secret = plant(join(outside, 'shadow-copy'));
    const link = join(watched, 'innocent.txt');
    symlinkSync(secret, link);
    const run = await execd.add(command, fimAlert(link));
    expect(run.exitCode).toBe(1);
    expect(readlinkSync(link)).toBe(secret);
    expect(readFileSync(secret, 'utf8')).toBe(malware);
    expect(quarantined().filter((file) => file.endsWith('.data'))).toEqual([]);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'error', reason: expect.stringContaining('is a symlink') });
  });

  it('a symlinked directory leading out of the root: refused, never followed', async () => {
    const secret = plant(join(outside, 'keys', 'id_ed25519'));
    symlinkSync(join(outside, 'keys'), join(watched, 'escape'));
    const run = await execd.add(command, fimAlert(join(watched, 'escape', 'id_ed25519')));
    expect(run.exitCode).toBe(1);
    expect(readFileSync(secret, 'utf8')).toBe(malware);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'error', reason: expect.stringMatching(/escape is a symlink: quarantine never follows one/) });
  });

  it('a restore never writes through a directory swapped for a symlink meanwhile: the file stays in quarantine', async () => {
    const path = plant(join(watched, 'site', 'app.js'));
    const run = await execd.add(command, fimAlert(path));
    rmSync(join(watched, 'site'), { recursive: true });
    symlinkSync(outside, join(watched, 'site'));
    expect((await execd.expire(run.rkey)).exitCode).toBe(0);
    expect(readdirSync(outside)).toEqual([]);
    expect(quarantined().filter((file) => file.endsWith('.data')).map((file) => readFileSync(file, 'utf8'))).toEqual([malware]);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'skipped', reason: expect.stringMatching(/site is a symlink.*stays in quarantine/) });
  });

  it('a FIFO or a directory: refused', async () => {
    await execa('mkfifo', [join(watched, 'pipe')]);
    expect((await execd.add(command, fimAlert(join(watched, 'pipe')))).exitCode).toBe(1);
    expect(lstatSync(join(watched, 'pipe')).isFIFO()).toBe(true);
    mkdirSync(join(watched, 'dir'));
    expect((await execd.add(command, fimAlert(join(watched, 'dir')))).exitCode).toBe(1);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'error', reason: expect.stringContaining('is a directory') });
  });

  it('a path outside quarantine.roots, or any path when no roots are set: refused before check_keys', async () => {
    const secret = plant(join(outside, 'notes.txt'));
    const run = await execd.add(command, fimAlert(secret));
    expect(run.keysLine).toBeUndefined();
    expect(run.exitCode).toBe(255);
    expect(install.logRecords().at(-1)!.reason).toMatch(/is outside quarantine\.roots/);
    install.writeConfig('');
    const inside = plant(join(watched, 'a.txt'));
    const none = await execd.add(command, fimAlert(inside));
    expect(none.exitCode).toBe(255);
    expect(install.logRecords().at(-1)!.reason).toMatch(/quarantine\.roots is empty in palisade\.yml/);
    expect(readFileSync(secret, 'utf8')).toBe(malware);
    expect(readFileSync(inside, 'utf8')).toBe(malware);
  });
  it('a relative root in the config is refused naming the key, and nothing moves', async () => {
    const inside = plant(join(watched, 'a.txt'));
    install.writeConfig('quarantine:\n  roots: [srv/www]\n');
    const run = await execd.add(command, fimAlert(inside));
    expect(run.exitCode).toBe(1);
    expect(install.logRecords().at(-1)!.reason).toMatch(/quarantine\.roots\.0: must be an absolute path/);
    expect(readFileSync(inside, 'utf8')).toBe(malware);
  });
});

describe('bad input changes nothing', () => {
  const cases: Array<[string, (root: string) => unknown]> = [
    ['traversal out of the root', (root) => `${root}/../../outside/notes.txt`],
    ['a NUL byte', (root) => `${root}/a.txt\u0000.jpg`],
    ['a name over 4096 bytes', (root) => `${root}/${'a'.repeat(4100)}`],
    ['a relative path', () => 'srv/www/a.txt'],
    ['a doubled slash', (root) => `${root}//a.txt`],
    ['a number', () => 4096],
    ['no file in the alert', () => undefined],
  ];
  it.each(cases)('%s', async (_name, pathFor) => {
    const inside = plant(join(watched, 'a.txt'));
    const secret = plant(join(outside, 'notes.txt'));
    const run = await execd.sendAndWait(command, `${JSON.stringify(execd.buildMessage(command, fimAlert(pathFor(watched))))}\n`);
    expect(run.exitCode).toBe(255);
    expect(run.stdout).toBe('');
    expect(install.logRecords().at(-1)).toMatchObject({ level: 'error', event: 'error' });
    expect(readFileSync(inside, 'utf8')).toBe(malware);
    expect(readFileSync(secret, 'utf8')).toBe(malware);
    expect(quarantined()).toEqual([]);
  });
});
