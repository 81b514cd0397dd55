/**
 * palisade-host-deny through the execd stand-in, on a hosts.deny inside the throwaway install dir (never
 * the real /etc/hosts.deny), asserting the file's bytes, mode, owner and inode after each step.
 */
import { chownSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Execd } from '../harness/execd.js';
import { createInstall, wazuhLogLine, type Install } from '../harness/install.js';

const command = 'palisade-host-deny';
const alertFrom = (srcip: unknown) => ({ rule: { id: '5712', description: 'sshd: brute force' }, data: { srcip } });
/** What the administrator already had: none of it may ever change. */
const theirs = ['# /etc/hosts.deny: their own rules', 'sshd: 10.9.8.7', 'ALL: 203.0.113.70', 'ALL: 203.0.113.7', 'ALL: [2001:db8::1]/64', ''].join('\n');

let install: Install;
let execd: Execd;
let denyFile: string;
const denyText = () => readFileSync(denyFile, 'utf8');
const ourLines = () => denyText().split('\n').filter((line) => line.endsWith('# palisade'));

beforeEach(() => {
  install = createInstall();
  denyFile = join(install.root, 'etc', 'hosts.deny');
  install.writeConfig(`host_deny:\n  path: ${denyFile}\n`);
  writeFileSync(denyFile, theirs, { mode: 0o640 });
  chownSync(denyFile, 4242, 4343);
  execd = new Execd(install);
});
afterEach(() => install.remove());

describe('add and delete through execd', () => {
  it('appends one marked line, keeps mode and owner, and the delete removes exactly it', async () => {
    const run = await execd.add(command, alertFrom('203.0.113.7'));
    expect(run.keys).toEqual(['203.0.113.7']);
    expect(run.decision).toBe('continue');
    expect(run.exitCode).toBe(0);
    expect(denyText()).toBe(`${theirs}ALL: 203.0.113.7 # palisade\n`);
    const stat = statSync(denyFile);
    expect([stat.mode & 0o7777, stat.uid, stat.gid]).toEqual([0o640, 4242, 4343]);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'host-denied', address: '203.0.113.7', result: 'added', rule: { ruleId: '5712' } });
    expect(install.logRecords().some((record) => 'command' in record)).toBe(false);

    const deleted = await execd.expire(run.rkey);
    expect(deleted.exitCode).toBe(0);
    // Their "ALL: 203.0.113.7" and "ALL: 203.0.113.70" stay: Wazuh's substring match would take both.
    expect(denyText()).toBe(theirs);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'host-allowed', address: '203.0.113.7', result: 'deleted' });
    const after = statSync(denyFile);
    expect([after.mode & 0o7777, after.uid, after.gid]).toEqual([0o640, 4242, 4343]);
  });

  it('writes IPv6 in the brackets TCP wrappers require, and a /64 when ipv6_prefix says so', async () => {
    await execd.add(command, alertFrom('2001:0db8:0000::0001'));
    expect(ourLines()).toEqual(['ALL: [2001:db8::1] # palisade']);
    install.writeConfig(`host_deny:\n  path: ${denyFile}\nipv6_prefix: 64\n`);
    const run = await execd.add(command, alertFrom('2001:db8:5:6::99'));
    expect(run.keys).toEqual(['2001:db8:5:6::/64']);
    expect(ourLines()).toEqual(['ALL: [2001:db8::1] # palisade', 'ALL: [2001:db8:5:6::]/64 # palisade']);
    await execd.expire(run.rkey);
    expect(ourLines()).toEqual(['ALL: [2001:db8::1] # palisade']);
  });

  it('on abort leaves one line, and puts it back if it was removed by hand meanwhile', async () => {
    await execd.add(command, alertFrom('198.51.100.20'));
    const again = await execd.add(command, alertFrom('198.51.100.20'));
    expect(again.decision).toBe('abort');
    expect(again.exitCode).toBe(0);
    expect(ourLines()).toEqual(['ALL: 198.51.100.20 # palisade']);
    expect(install.logLines().at(-1)).toMatch(/: Aborted$/);

    writeFileSync(denyFile, theirs);
    await execd.add(command, alertFrom('198.51.100.20'));
    expect(ourLines()).toEqual(['ALL: 198.51.100.20 # palisade']);
  });

  it('adding a present address and removing an absent one succeed without rewriting the file', async () => {
    writeFileSync(denyFile, `${theirs}ALL: 198.51.100.21 # palisade\n`);
    const inode = statSync(denyFile).ino;
    const run = await execd.add(command, alertFrom('198.51.100.21'), { timeout: 0 });
    expect(run.exitCode).toBe(0);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'host-denied', result: 'present' });
    const gone = await execd.delete(command, alertFrom('198.51.100.99'));
    expect(gone.exitCode).toBe(0);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'host-allowed', address: '198.51.100.99', result: 'absent' });
    expect(statSync(denyFile).ino).toBe(inode);
    expect(denyText()).toBe(`${theirs}ALL: 198.51.100.21 # palisade\n`);
  });

  it('creates a missing hosts.deny, and changes a symlinked one where it points', async () => {
    const real = join(install.root, 'etc', 'hosts.deny.real');
    writeFileSync(real, 'sshd: 10.9.8.7\n', { mode: 0o600 });
    const link = join(install.root, 'etc', 'hosts.deny.link');
    symlinkSync(real, link);
    install.writeConfig(`host_deny:\n  path: ${link}\n`);
    await execd.add(command, alertFrom('198.51.100.22'));
    expect(readFileSync(real, 'utf8')).toBe('sshd: 10.9.8.7\nALL: 198.51.100.22 # palisade\n');
    expect(statSync(real).mode & 0o777).toBe(0o600);

    const fresh = join(install.root, 'etc', 'hosts.deny.new');
    install.writeConfig(`host_deny:\n  path: ${fresh}\n`);
    await execd.add(command, alertFrom('198.51.100.23'));
    expect(readFileSync(fresh, 'utf8')).toBe('ALL: 198.51.100.23 # palisade\n');
    expect(statSync(fresh).mode & 0o777).toBe(0o644);
  });

  it('loses no line when many alerts arrive at once (the state lock)', async () => {
    const addresses = Array.from({ length: 12 }, (_, i) => `198.51.100.${100 + i}`);
    const runs = await Promise.all(addresses.map((address) => execd.add(command, alertFrom(address), { timeout: 0 })));
    expect(runs.map((run) => run.exitCode)).toEqual(addresses.map(() => 0));
    expect(ourLines().sort()).toEqual(addresses.map((address) => `ALL: ${address} # palisade`).sort());
    expect(denyText().startsWith(theirs)).toBe(true);
  });

  it('never denies an allow-listed address, and says so without a check_keys', async () => {
    const run = await execd.add(command, alertFrom('127.0.0.1'));
    expect(run.keysLine).toBeUndefined();
    expect(run.exitCode).toBe(0);
    expect(denyText()).toBe(theirs);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'skipped-allowlisted' });
    install.writeConfig(`host_deny:\n  path: ${denyFile}\nallowlist: [198.51.100.0/24]\n`);
    expect((await execd.add(command, alertFrom('198.51.100.5'))).keysLine).toBeUndefined();
    expect(denyText()).toBe(theirs);
  });

  it('by hand: the echo test denies, tells the operator, and the delete allows again', async () => {
    const add = await execd.pipeIn(command, `${JSON.stringify({ version: 1, command: 'add', parameters: { alert: alertFrom('192.0.2.99') } })}\n`);
    expect(add.exitCode).toBe(0);
    expect(add.stderr).toContain(`palisade-host-deny: denied 192.0.2.99 in ${denyFile}`);
    expect(ourLines()).toEqual(['ALL: 192.0.2.99 # palisade']);
    const del = await execd.pipeIn(command, `${JSON.stringify({ version: 1, command: 'delete', parameters: { alert: alertFrom('192.0.2.99') } })}\n`);
    expect(del.exitCode).toBe(0);
    expect(del.stderr).toContain('allowed 192.0.2.99 again');
    expect(denyText()).toBe(theirs);
  });
});

describe('bad input changes nothing', () => {
  const cases: Array<[string, unknown]> = [
    ['shell characters', '203.0.113.7; rm -rf /'],
    ['path traversal', '../../etc/passwd'],
    ['a line break that would add a rule of its own', '203.0.113.7\nALL: ALL'],
    ['a number', 3405803783],
    ['a name over 256 bytes', 'a'.repeat(300)],
    ['a hostname (TCP wrappers would resolve it)', 'attacker.example'],
  ];
  it.each(cases)('%s', async (_name, srcip) => {
    const run = await execd.sendAndWait(command, `${JSON.stringify(execd.buildMessage(command, alertFrom(srcip)))}\n`);
    expect(run.exitCode).toBe(255);
    expect(run.stdout).toBe('');
    expect(denyText()).toBe(theirs);
    expect(install.logLines().map((line) => line.replace(wazuhLogLine, ''))).toContain("Cannot read 'srcip' from data or invalid IP format");
    expect(install.logRecords().at(-1)).toMatchObject({ level: 'error', event: 'error' });
  });

  it('an option it has no use for (--ttl) is refused by name', async () => {
    const run = await execd.add(command, alertFrom('203.0.113.7'), { extraArgs: ['--ttl', '1h'] });
    expect(run.keysLine).toBeUndefined();
    expect(run.exitCode).toBe(255);
    expect(install.logRecords().at(-1)!.reason).toMatch(/does not take --ttl/);
    expect(denyText()).toBe(theirs);
  });

  it('a hosts.deny that is a directory is an error naming the config key', async () => {
    install.writeConfig(`host_deny:\n  path: ${join(install.root, 'etc')}\n`);
    const run = await execd.add(command, alertFrom('203.0.113.7'));
    expect(run.exitCode).toBe(1);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'error', reason: expect.stringContaining('host_deny.path') });
  });
});
