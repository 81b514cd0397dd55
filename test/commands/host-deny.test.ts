/**
 * palisade-host-deny through the execd stand-in, on a hosts.deny inside the throwaway install dir (never
 * the real /etc/hosts.deny), asserting the file's bytes, mode, owner and inode after each step, and its
 * state entries as the operator CLI (list, reconcile, unblock, flush) sees and changes them.
 */
import { chownSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Execd } from '../harness/execd.js';
import { createInstall, wazuhLogLine, type Install } from '../harness/install.js';
import { expectSuccess, palisade, palisadeJson } from '../harness/verbs.js';

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
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'blocked', backend: 'hosts-deny', address: '203.0.113.7', result: 'added', rule: { ruleId: '5712' } });
    expect(install.logRecords().some((record) => 'command' in record)).toBe(false);
    expect(install.stateEntries()).toEqual([expect.objectContaining({ address: '203.0.113.7', backend: 'hosts-deny', holders: [expect.objectContaining({ by: 'palisade-host-deny', key: '203.0.113.7' })] })]);

    const deleted = await execd.expire(run.rkey);
    expect(deleted.exitCode).toBe(0);
    // Their "ALL: 203.0.113.7" and "ALL: 203.0.113.70" stay: Wazuh's substring match would take both.
    expect(denyText()).toBe(theirs);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'unblocked', backend: 'hosts-deny', address: '203.0.113.7', result: 'deleted' });
    expect(install.stateEntries()).toEqual([]);
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
    // No state entry holds that line: Palisade did not make it here, so it neither takes it over nor records it.
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'skipped', backend: 'hosts-deny', address: '198.51.100.21' });
    expect(install.stateEntries()).toEqual([]);
    const gone = await execd.delete(command, alertFrom('198.51.100.99'));
    expect(gone.exitCode).toBe(0);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'unblocked', backend: 'hosts-deny', address: '198.51.100.99', result: 'absent' });
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
    expect(add.stderr).toContain('palisade-host-deny: blocked 192.0.2.99 on hosts-deny for 7d at most');
    expect(ourLines()).toEqual(['ALL: 192.0.2.99 # palisade']);
    const del = await execd.pipeIn(command, `${JSON.stringify({ version: 1, command: 'delete', parameters: { alert: alertFrom('192.0.2.99') } })}\n`);
    expect(del.exitCode).toBe(0);
    expect(del.stderr).toContain('palisade-host-deny: unblocked 192.0.2.99 on hosts-deny');
    expect(denyText()).toBe(theirs);
  });
});

describe('state, expiry and the operator CLI', () => {
  // The CLI also looks at the configured firewall: dry-run, so that nothing here touches this host's kernel.
  beforeEach(() => install.writeConfig(`host_deny:\n  path: ${denyFile}\nbackend: dry-run\n`));
  const cli = (...args: string[]) => palisade(install, [...args, '--root', install.root]);
  const cliJson = <T>(...args: string[]) => palisadeJson<T>(install, [...args, '--root', install.root]);
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('a --ttl 5 line is listed, and palisade reconcile removes it with its state entry once it expired', async () => {
    // timeout 0: execd never sends the delete (an agent killed, a host that crashed).
    const run = await execd.add(command, alertFrom('203.0.113.7'), { extraArgs: ['--ttl', '5'], timeout: 0 });
    expect(run.exitCode).toBe(0);
    expect(ourLines()).toEqual(['ALL: 203.0.113.7 # palisade']);
    const [entry] = install.stateEntries();
    expect(Number(entry!.expiresAt) - Number(entry!.since)).toBe(5);

    const listed = await cliJson<{ blocks: Array<Record<string, unknown>> }>('list');
    expect(listed.blocks).toEqual([
      expect.objectContaining({ address: '203.0.113.7', backend: 'hosts-deny', holders: [expect.objectContaining({ by: 'palisade-host-deny' })], ruleId: '5712', inFirewall: true, inState: true }),
    ]);

    // Long enough that a loaded machine still lists it before it expires.
    await sleep(6000);
    const report = await cliJson<{ ok: boolean; backends: Array<Record<string, unknown>> }>('reconcile');
    expect(report.ok).toBe(true);
    expect(report.backends).toContainEqual(expect.objectContaining({ backend: 'hosts-deny', expired: 1, expiredInFirewall: 1, active: 0 }));
    expect(denyText()).toBe(theirs);
    expect(install.stateEntries()).toEqual([]);
    expect(install.logRecords()).toContainEqual(expect.objectContaining({ event: 'reconciled', backend: 'hosts-deny', expired: 1 }));
  });

  it('a line removed by hand (a config-management run) comes back on reconcile; a marked line the state does not know goes', async () => {
    await execd.add(command, alertFrom('198.51.100.30'));
    await execd.add(command, alertFrom('2001:db8:7::5'));
    expect(ourLines()).toEqual(['ALL: 198.51.100.30 # palisade', 'ALL: [2001:db8:7::5] # palisade']);
    writeFileSync(denyFile, `${theirs}ALL: 198.51.100.31 # palisade\n`);

    const listed = await cliJson<{ blocks: Array<Record<string, unknown>> }>('list');
    expect(listed.blocks).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ address: '198.51.100.30', backend: 'hosts-deny', inFirewall: false, inState: true }),
        expect.objectContaining({ address: '198.51.100.31', backend: 'hosts-deny', inFirewall: true, inState: false }),
      ]),
    );

    const reconcile = expectSuccess(await cli('reconcile'));
    expect(reconcile.stdout).toMatch(/^hosts-deny: restored 2 block\(s\) lost .*; removed 1 block\(s\) the state does not know \(198\.51\.100\.31\); 2 active block\(s\)$/m);
    expect(denyText()).toBe(`${theirs}ALL: 198.51.100.30 # palisade\nALL: [2001:db8:7::5] # palisade\n`);
    expect(install.logRecords().find((record) => record.event === 'firewall-restored')).toMatchObject({ backend: 'hosts-deny', restored: 2 });
    expect(expectSuccess(await cli('reconcile')).stdout).toMatch(/^hosts-deny: in order, 2 active block\(s\); nothing changed$/m);
  });

  it('palisade unblock lifts one line, and palisade flush --yes removes every line of ours and nothing else', async () => {
    for (const address of ['198.51.100.40', '198.51.100.41', '2001:db8:8::1']) await execd.add(command, alertFrom(address));
    expectSuccess(await cli('block', '198.51.100.128/25', '--backend', 'hosts-deny'));
    expect(ourLines()).toContain('ALL: 198.51.100.128/255.255.255.128 # palisade');

    expect(expectSuccess(await cli('unblock', '198.51.100.40')).stdout).toContain('unblocked 198.51.100.40 on hosts-deny');
    expect(ourLines()).not.toContain('ALL: 198.51.100.40 # palisade');

    const flush = expectSuccess(await cli('flush', '--yes'));
    expect(flush.stdout).toMatch(/^hosts-deny: removed 3 block\(s\) and Palisade's rules$/m);
    expect(denyText()).toBe(theirs);
    expect(install.stateEntries()).toEqual([]);
    expect(install.logRecords()).toContainEqual(expect.objectContaining({ event: 'flushed', backend: 'hosts-deny', removed: 3 }));
  });

  it("never lifts palisade-drop's block of the same address, nor palisade-drop its line", async () => {
    await execd.add(command, alertFrom('198.51.100.50'));
    await execd.add('palisade-drop', alertFrom('198.51.100.50'));
    const backends = () => install.stateEntries().map((entry) => entry.backend).sort();
    expect(backends()).toEqual(['dry-run', 'hosts-deny']);

    // The second delete finds no dry-run entry: it must not go looking in hosts.deny.
    await execd.delete('palisade-drop', alertFrom('198.51.100.50'));
    await execd.delete('palisade-drop', alertFrom('198.51.100.50'));
    expect(ourLines()).toEqual(['ALL: 198.51.100.50 # palisade']);
    expect(backends()).toEqual(['hosts-deny']);

    await execd.add('palisade-drop', alertFrom('198.51.100.50'));
    // Likewise the other way round.
    await execd.delete(command, alertFrom('198.51.100.50'));
    await execd.delete(command, alertFrom('198.51.100.50'));
    expect(denyText()).toBe(theirs);
    expect(backends()).toEqual(['dry-run']);
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

  it.each([[['--reject']], [['--backend', 'nftables']]])('an option it has no use for (%j) is refused by name', async (extraArgs) => {
    const run = await execd.add(command, alertFrom('203.0.113.7'), { extraArgs });
    expect(run.keysLine).toBeUndefined();
    expect(run.exitCode).toBe(255);
    expect(install.logRecords().at(-1)!.reason).toMatch(new RegExp(`does not take ${extraArgs[0]}`));
    expect(denyText()).toBe(theirs);
    expect(install.stateEntries()).toEqual([]);
  });

  it('backend: hosts-deny in palisade.yml is refused, naming the command to register instead', async () => {
    install.writeConfig(`host_deny:\n  path: ${denyFile}\nbackend: hosts-deny\n`);
    const run = await execd.add('palisade-drop', alertFrom('203.0.113.7'));
    expect(run.exitCode).toBe(1);
    expect(install.logRecords().at(-1)!.reason).toMatch(/backend: hosts-deny is only ever the backend of palisade-host-deny: register that command in ossec\.conf/);
    expect(denyText()).toBe(theirs);
  });

  it('a hosts.deny that is a directory is an error naming the config key', async () => {
    install.writeConfig(`host_deny:\n  path: ${join(install.root, 'etc')}\n`);
    const run = await execd.add(command, alertFrom('203.0.113.7'));
    expect(run.exitCode).toBe(1);
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'error', reason: expect.stringContaining('host_deny.path') });
  });
});
