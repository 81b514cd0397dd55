/**
 * A full disk, for real: a small tmpfs mounted over the logs dir or the state dir of a throwaway install and
 * filled to the last byte, then an alert on a real nftables kernel in a namespace lab.
 *
 * - Log file system full: the block still happens (logging is best effort) and stderr says the log failed.
 * - State file system full: the add fails loudly (exit 1, a stderr line naming the way out) and the kernel
 *   holds nothing Palisade cannot account for.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Execd } from './harness/execd.js';
import { createInstall, type Install } from './harness/install.js';
import { createLab, type Lab } from './harness/netns.js';
import { expectSuccess, palisade } from './harness/verbs.js';

const alertFrom = (srcip: string) => ({ rule: { level: 10, id: '5712', description: 'sshd: brute force trying to get access to the system.' }, data: { srcip } });

let lab: Lab;
let install: Install;
let execd: Execd;
const mounted: string[] = [];

beforeAll(async () => {
  lab = await createLab();
});
afterAll(async () => {
  await lab?.destroy();
});
afterEach(async () => {
  for (const dir of mounted.splice(0)) await execa('umount', [dir], { timeout: 10_000 });
  await execa('ip', ['netns', 'exec', lab.protectedNs, 'nft', 'delete', 'table', 'inet', 'palisade'], { reject: false, timeout: 10_000 });
  install?.remove();
});

/** Mounts a 64 KiB tmpfs over `dir` (unmounted after the test). */
async function smallFileSystemAt(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  await execa('mount', ['-t', 'tmpfs', '-o', 'size=64k,mode=0750', 'tmpfs', dir], { timeout: 10_000 });
  mounted.push(dir);
}

/** Fills the file system of `dir` until the kernel says ENOSPC. */
function fill(dir: string): void {
  const fd = openSync(join(dir, 'filler'), 'w');
  try {
    const chunk = Buffer.alloc(4096, 1);
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    expect((error as NodeJS.ErrnoException).code).toBe('ENOSPC');
  } finally {
    closeSync(fd);
  }
  // Even a byte more is refused: the file system is full, not nearly full.
  const again = openSync(join(dir, 'filler'), 'a');
  try {
    expect(() => writeSync(again, 'x')).toThrow(/ENOSPC/);
  } finally {
    closeSync(again);
  }
}

/** Every element of our sets, as the kernel lists them ([] when the table does not exist). */
async function kernelElements(): Promise<string[]> {
  const result = await execa('ip', ['netns', 'exec', lab.protectedNs, 'nft', '-j', 'list', 'table', 'inet', 'palisade'], { reject: false, timeout: 10_000 });
  if (result.exitCode !== 0) return [];
  const listing = JSON.parse(result.stdout) as { nftables: Array<{ set?: { elem?: unknown[] } }> };
  return listing.nftables.flatMap((item) => item.set?.elem ?? []).map((element) => JSON.stringify(element));
}

describe('a full disk', () => {
  it('with the log file system full, the alert still blocks and the delete still unblocks', async () => {
    install = createInstall({ config: 'backend: nftables\n' });
    execd = new Execd(install, { netns: lab.protectedNs });
    await smallFileSystemAt(join(install.root, 'logs'));
    fill(join(install.root, 'logs'));
    const [attacker] = lab.attacker4;

    const run = await execd.add('palisade-drop', alertFrom(attacker));
    expect(run.exitCode).toBe(0);
    expect(run.stderr).toContain('carrying on without the log');
    expect(run.stderr).toContain('ENOSPC');
    expect(run.stderr).toContain(`blocked ${attacker} on nftables`);
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(install.stateEntries()).toEqual([expect.objectContaining({ address: attacker, backend: 'nftables' })]);

    const removal = await execd.expire(run.rkey);
    expect(removal.exitCode).toBe(0);
    expect(await lab.canConnect(attacker)).toBe(true);
    expect(install.stateEntries()).toEqual([]);
  });

  it('with the state file system full, the add fails loudly and leaves nothing in the kernel', async () => {
    install = createInstall({ config: 'backend: nftables\n' });
    execd = new Execd(install, { netns: lab.protectedNs });
    const stateDir = join(install.root, 'var', 'palisade');
    await smallFileSystemAt(stateDir);
    const [attacker, neighbour] = lab.attacker4;
    const earlier = await execd.add('palisade-drop', alertFrom(neighbour));
    expect(earlier.exitCode).toBe(0);
    fill(stateDir);

    const run = await execd.add('palisade-drop', alertFrom(attacker));
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(new RegExp(`cannot record the block of ${attacker.replaceAll('.', '\\.')} in .*ENOSPC.*so nothing was blocked.*Free space on that file system`));
    expect(await kernelElements()).toEqual([JSON.stringify(neighbour)].map((text) => expect.stringContaining(text)));
    expect(await lab.canConnect(attacker)).toBe(true);
    expect(install.stateEntries()).toEqual([expect.objectContaining({ address: neighbour })]);
    expect(install.logRecords().at(-1)).toMatchObject({ level: 'error', event: 'error', error: 'StateWriteError' });

    // A full state dir does not stop an unblock: removing an entry needs no space.
    const removal = await execd.expire(earlier.rkey);
    expect(removal.exitCode).toBe(0);
    expect(await lab.canConnect(neighbour)).toBe(true);
    expect(await kernelElements()).toEqual([]);
    expect(install.stateEntries()).toEqual([]);
  });

  it('with the state file system full, a threat list blocks nothing and says so, and a listed address can still be unblocked', async () => {
    install = createInstall({ config: 'backend: nftables\n' });
    const stateDir = join(install.root, 'var', 'palisade');
    await smallFileSystemAt(stateDir);
    const [attacker, neighbour, spare] = lab.attacker4;
    const cli = (...args: string[]) => palisade(install, args, { netns: lab.protectedNs, ...(args.includes('-') ? { input: `${attacker}\n${neighbour}\n` } : {}) });
    expect((await cli('block', '--from', '-')).exitCode).toBe(0);
    fill(stateDir);

    // 2,000 entries need more than the space left: refused whole, before the kernel is touched.
    const list = Array.from({ length: 2000 }, (_, n) => `198.18.${n >> 8}.${n & 255}`).concat(spare).join('\n');
    const refused = await palisade(install, ['block', '--from', '-'], { netns: lab.protectedNs, input: list });
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/nothing was blocked, the state is as it was: cannot record the list's blocks in .*ENOSPC.*Free space on that file system/);
    expect(await lab.canConnect(spare)).toBe(true);
    expect((await kernelElements()).length).toBe(2);

    // Lifting a listed address blanks its line in place: no free space needed.
    expectSuccess(await cli('unblock', attacker));
    expect(await lab.canConnect(attacker)).toBe(true);
    expect(await lab.canConnect(neighbour, 500)).toBe(false);
    expect(install.stateEntries().map((entry) => entry.address)).toEqual([neighbour]);
  });
});
