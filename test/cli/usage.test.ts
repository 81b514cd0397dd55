/**
 * What an administrator sees when the command line is wrong: exit status 2 and a message that names the
 * argument and the way out, before anything is touched. And --help documents every verb and exit status.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { linkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInstall, distBinary, type Install } from '../harness/install.js';
import { palisade } from '../harness/verbs.js';

let install: Install;
beforeAll(() => {
  install = createInstall({ config: 'backend: dry-run\n' });
});
afterAll(() => install?.remove());

describe('palisade --help', () => {
  it('documents every verb, the options of every verb, and the exit statuses', async () => {
    const run = await palisade(install, ['--help']);
    expect(run.exitCode).toBe(0);
    for (const verb of ['status', 'list', 'block', 'unblock', 'flush', 'reconcile', 'doctor', 'simulate']) expect(run.stdout).toMatch(new RegExp(`^  ${verb} `, 'm'));
    for (const flag of ['--json', '--root DIR', '--no-color']) expect(run.stdout).toContain(flag);
    expect(run.stdout).toMatch(/Exit status:\n {2}0 .*\n {2}1 .*\n {2}2 .*usage/);
  });

  it('documents each verb its own options', async () => {
    const block = await palisade(install, ['block', '--help']);
    expect(block.exitCode).toBe(0);
    expect(block.stdout).toContain('Usage: palisade block [ADDRESS] [options]');
    for (const flag of ['--for DURATION', '--reason TEXT', '--backend NAME', '--from FILE']) expect(block.stdout).toContain(flag);
    expect((await palisade(install, ['help', 'simulate'])).stdout).toContain('--timeout SECONDS');
  });
});

describe('bad arguments exit 2 with a clear message and change nothing', () => {
  const cases: Array<[string[], RegExp]> = [
    [['frobnicate'], /unknown verb "frobnicate"; the verbs are status, list, block/],
    [['block'], /palisade block: ADDRESS is missing \(see palisade block --help\)/],
    [['block', 'not-an-ip'], /ADDRESS: "not-an-ip" is not an address or network: not an IP address/],
    [['block', '203.0.113.7', '--for', 'forever'], /--for: "forever" is not a duration \(use seconds or 30m, 12h, 7d\)/],
    [['block', '203.0.113.7', '--for'], /--for needs a value \(--for DURATION/],
    [['block', '203.0.113.7', '--bogus'], /unknown option "--bogus" for palisade block \(its options: --for, --reason, --backend/],
    [['block', '203.0.113.7', '--backend', 'pf'], /--backend: .*"nftables"/],
    [['block', '203.0.113.7', '198.51.100.1'], /unexpected argument "198.51.100.1"/],
    [['block', '203.0.113.7', '--from', '-'], /give ADDRESS or --from FILE, not both/],
    [['unblock'], /palisade unblock: ADDRESS is missing \(see palisade unblock --help\): give one, or --from FILE/],
    [['unblock', '203.0.113.0/33'], /ADDRESS: "203.0.113.0\/33" is not an address or network: invalid prefix length/],
    [['list', '--yes'], /unknown option "--yes" for palisade list/],
    [['status', '--json=yes'], /--json takes no value/],
    [['simulate', '--ip', '203.0.113.7', '--timeout', 'soon'], /--timeout: "soon" is not a number of seconds/],
    [['simulate', '--ip', '203.0.113.7', '--command', 'firewall-drop'], /--command: .*"palisade-drop"/],
    [['simulate'], /give either --ip ADDRESS or --alert FILE/],
    [['list', '--root', '/nonexistent/ossec'], /--root \/nonexistent\/ossec: no such directory/],
    [['toString'], /unknown verb "toString"/],
    [['constructor', 'list'], /unknown verb "constructor"/],
  ];
  it.each(cases)('palisade %j', async (args, message) => {
    const run = await palisade(install, args);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(message);
    expect(run.stdout).toBe('');
    expect(install.stateEntries()).toEqual([]);
    expect(install.logLines()).toEqual([]);
  });

  it('a link named after an inherited property (constructor, toString) is the CLI, not an active response', async () => {
    for (const name of ['constructor', 'toString', '__proto__']) {
      const link = join(install.root, 'active-response', 'bin', name);
      linkSync(distBinary, link);
      try {
        const run = await execa(link, ['--version'], { reject: false, timeout: 60_000, input: '' });
        expect(run.exitCode).toBe(0);
        expect(String(run.stdout)).toMatch(/^palisade \d/);
      } finally {
        rmSync(link);
      }
    }
    expect(install.logLines()).toEqual([]);
  });

  it('flush off a terminal without --yes refuses, says how, and removes nothing', async () => {
    expect((await palisade(install, ['block', '203.0.113.7'])).exitCode).toBe(0);
    const run = await palisade(install, ['flush']);
    expect(run.exitCode).toBe(2);
    expect(run.stderr).toMatch(/this would remove every Palisade block \(dry-run: 1\).*add --yes to do it/);
    expect(install.stateEntries()).toHaveLength(1);
    expect((await palisade(install, ['flush', '--yes'])).exitCode).toBe(0);
    expect(install.stateEntries()).toEqual([]);
  });
});
