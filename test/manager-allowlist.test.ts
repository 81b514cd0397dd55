/**
 * The Wazuh manager named by host name in ossec.conf (issue 14, item 2): a lookup that fails must not make it
 * blockable, and reconcile must never put back a block the allow-list now forbids.
 *
 * Names resolve inside the lab's protected namespace, where `ip netns exec` mounts /etc/netns/<ns>/hosts,
 * resolv.conf and nsswitch.conf over /etc's: the test decides what the name resolves to, and a lookup it
 * has not provided fails at once (the only name server is 127.0.0.1 of a namespace where nothing listens),
 * with nothing leaving the namespace.
 */
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { expectSuccess, palisade } from './harness/verbs.js';
import { nodeBin } from './harness/bundle.js';
import { Execd } from './harness/execd.js';
import { createInstall, type Install } from './harness/install.js';
import { createLab, type Lab } from './harness/netns.js';

const managerName = 'wazuh-mgr.example.internal';
/** The only name server is one nobody runs: a lookup the hosts file does not answer fails at once. */
const resolvConf = 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n';
let lab: Lab;
let etcDir: string;
let install: Install;
let execd: Execd;

beforeAll(async () => {
  lab = await createLab();
  etcDir = join('/etc/netns', lab.protectedNs);
  mkdirSync(etcDir, { recursive: true });
  writeFileSync(join(etcDir, 'resolv.conf'), resolvConf);
  writeFileSync(join(etcDir, 'nsswitch.conf'), 'hosts: files dns\n');
});
afterAll(async () => {
  if (etcDir) rmSync(etcDir, { recursive: true, force: true });
  await lab?.destroy();
});

beforeEach(() => {
  install = createInstall({ config: 'backend: nftables\n' });
  install.writeOssecConf(`<ossec_config>\n  <client>\n    <server>\n      <address>${managerName}</address>\n      <port>1514</port>\n    </server>\n  </client>\n</ossec_config>\n`);
  execd = new Execd(install, { netns: lab.protectedNs });
});
afterEach(async () => {
  await cli('flush', '--yes');
  install.remove();
});

const cli = (...args: string[]) => palisade(install, args, { netns: lab.protectedNs });
/** What the manager's name resolves to in the lab from now on: an address, or nothing (the lookup fails). */
const managerResolvesTo = (address: string | undefined) =>
  writeFileSync(join(etcDir, 'hosts'), `127.0.0.1 localhost\n${address ? `${address} ${managerName}\n` : ''}`);

describe('a manager named by host name', () => {
  it('stays protected by its last good resolution when the name stops resolving, and the failed lookup is a warning', async () => {
    const [manager] = lab.attacker4;
    managerResolvesTo(manager);
    expectSuccess(await cli('reconcile'));
    const cacheFile = join(install.root, 'var/palisade/managers.json');
    expect(statSync(cacheFile).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(cacheFile, 'utf8'))).toEqual({ [managerName]: { addresses: [manager], resolvedAt: expect.any(Number) } });

    managerResolvesTo(undefined);
    const run = await execd.add('palisade-drop', { rule: { id: '5712' }, data: { srcip: manager } });
    expect(run.exitCode).toBe(0);
    expect(run.keysLine).toBeUndefined();
    expect(install.logRecords()).toContainEqual(
      expect.objectContaining({ level: 'warn', event: 'manager-lookup-failed', manager: managerName, cached: [manager], message: expect.stringContaining('stay protected') }),
    );
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'skipped-allowlisted', reason: expect.stringContaining(`Wazuh manager (${managerName}, as last resolved)`) });
    expect(install.stateEntries()).toEqual([]);
    expect(await lab.canConnect(manager)).toBe(true);
  });

  it('a resolver that never answers costs an alert 1.5 s at most, and the last good resolution still protects', async () => {
    const [manager] = lab.attacker4;
    managerResolvesTo(manager);
    expectSuccess(await cli('reconcile'));
    managerResolvesTo(undefined);
    // A name server that hears every query and answers none, and a resolver willing to wait 10 s for it.
    writeFileSync(join(etcDir, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:5 attempts:2\n');
    const [command, ...args] = lab.inNs(lab.protectedNs, [nodeBin, '-e', "require('node:dgram').createSocket('udp4').bind(53, '127.0.0.1', () => console.log('listening'))"]);
    const silent = execa(command!, args, { reject: false, buffer: false });
    try {
      await new Promise<void>((resolve) => silent.stdout!.once('data', () => resolve()));
      const started = Date.now();
      const run = await execd.add('palisade-drop', { data: { srcip: manager } });
      expect(Date.now() - started).toBeLessThan(5000);
      expect(run.keysLine).toBeUndefined();
      expect(install.logRecords()).toContainEqual(expect.objectContaining({ event: 'manager-lookup-failed', reason: 'no answer within 1.5 s', cached: [manager] }));
      expect(install.logRecords().at(-1)).toMatchObject({ event: 'skipped-allowlisted' });
    } finally {
      silent.kill();
      writeFileSync(join(etcDir, 'resolv.conf'), resolvConf);
    }
  });

  it('a block made while the name did not resolve is lifted by reconcile once it does, and never restored after a reload', async () => {
    const [manager, neighbour] = lab.attacker4;
    managerResolvesTo(undefined);
    expect((await execd.add('palisade-drop', { data: { srcip: manager } })).decision).toBe('continue');
    expect(install.logRecords()).toContainEqual(expect.objectContaining({ level: 'warn', event: 'manager-lookup-failed', manager: managerName, cached: [] }));
    expect((await execd.add('palisade-drop', { data: { srcip: neighbour } })).decision).toBe('continue');
    expect(await lab.canConnect(manager, 500)).toBe(false);

    managerResolvesTo(manager);
    await lab.run(lab.protectedNs, ['nft', 'flush', 'ruleset']);
    const reconcile = expectSuccess(await cli('reconcile'));
    expect(reconcile.stdout).toContain(`lifted 1 block(s) of addresses the allow-list now protects (${manager})`);
    expect(install.stateEntries().map((entry) => entry.address)).toEqual([neighbour]);
    expect(await lab.canConnect(manager)).toBe(true);
    expect(await lab.canConnect(neighbour, 500)).toBe(false);
  });

  it('reconcile lifts such a block the firewall still holds', async () => {
    const [manager] = lab.attacker4;
    managerResolvesTo(undefined);
    expect((await execd.add('palisade-drop', { data: { srcip: manager } })).decision).toBe('continue');
    expect(await lab.canConnect(manager, 500)).toBe(false);
    managerResolvesTo(manager);
    expectSuccess(await cli('reconcile'));
    expect(install.stateEntries()).toEqual([]);
    expect(await lab.canConnect(manager)).toBe(true);
    expect(install.logRecords().at(-1)).toMatchObject({ level: 'warn', event: 'reconciled', lifted: [manager] });
  });
});
