/**
 * Blocks outlive firewall reloads: `palisade reconcile` after `nft flush ruleset` puts every unexpired
 * block back (real connections prove it), forgets expired ones and removes what the state does not know;
 * `palisade status` sees the damage first; `palisade flush --yes` takes everything out.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Execd } from '../harness/execd.js';
import { createInstall, type Install } from '../harness/install.js';
import { createLab, type Lab } from '../harness/netns.js';
import { expectSuccess, palisade, palisadeJson } from '../harness/verbs.js';

let lab: Lab;
let install: Install;
beforeAll(async () => {
  lab = await createLab();
  install = createInstall({ config: 'backend: nftables\n' });
});
afterAll(async () => {
  await lab?.destroy();
  install?.remove();
});

const cli = (...args: string[]) => palisade(install, args, { netns: lab.protectedNs });
const nft = (...args: string[]) => lab.run(lab.protectedNs, ['nft', ...args]);
const now = () => Math.floor(Date.now() / 1000);

/** A state entry as palisade-drop writes it, for a block the kernel never saw (made before a reboot). */
function writeStateEntry(address: string, expiresAt: number) {
  const family = address.includes(':') ? 6 : 4;
  const entry = { address, family, prefix: family === 4 ? 32 : 128, backend: 'nftables', command: 'palisade-drop', since: now() - 3600, expiresAt, reason: { ruleId: '5712' } };
  writeFileSync(join(install.blocksDir, `nftables-${address}.json`), `${JSON.stringify(entry)}\n`);
}

describe('after nft flush ruleset', () => {
  it('status reports the loss, reconcile restores every block, expires the old ones and drops strangers', async () => {
    const [attacker, neighbour, spare] = lab.attacker4;
    const [attacker6] = lab.attacker6;
    // One block from an alert through execd, two by hand: they are restored alike.
    const run = await new Execd(install, { netns: lab.protectedNs }).add('palisade-drop', { rule: { id: '5712', description: 'sshd: brute force' }, data: { srcip: attacker } });
    expect(run.exitCode).toBe(0);
    expectSuccess(await cli('block', attacker6, '--for', '1h'));
    expectSuccess(await cli('block', '198.51.100.0/24'));
    // An entry that expired while the host was down: it must not come back.
    writeStateEntry(neighbour, now() - 60);
    expect(await lab.canConnect(attacker, 500)).toBe(false);

    await nft('flush', 'ruleset');
    expect(await lab.canConnect(attacker)).toBe(true);
    expect(await lab.canConnect(attacker6)).toBe(true);

    const status = await palisadeJson<{ problems: string[]; blocks: unknown[]; nftables: { present: boolean } }>(install, ['status'], { netns: lab.protectedNs });
    expect(status.exitCode).toBe(1);
    expect(status.nftables.present).toBe(false);
    expect(status.problems).toContain('3 active block(s) are missing from nftables: run palisade reconcile');
    expect(status.blocks).toContainEqual({ backend: 'nftables', family: 4, active: 2, inFirewall: 0 });

    const reconcile = expectSuccess(await cli('reconcile'));
    expect(reconcile.stdout).toMatch(/^nftables: restored 3 block\(s\) lost from the firewall \(a reload, a flush or a reboot\); removed 1 expired entry from the state; 3 active block\(s\)$/m);
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await lab.canConnect(attacker6, 500)).toBe(false);
    expect(await lab.canConnect(spare)).toBe(true);
    expect(await lab.canConnect(neighbour)).toBe(true);
    expect(install.stateEntries().map((entry) => entry.address).sort()).toEqual(['198.51.100.0/24', attacker, attacker6].sort());
    expect(install.logRecords().at(-1)).toMatchObject({ level: 'warn', event: 'reconciled', backend: 'nftables', restored: 3, expired: 1 });

    // A block of ours the state does not know (a crash between firewall and state) goes; so does a lost element.
    await nft('add', 'element', 'inet', 'palisade', 'addr4', `{ ${neighbour} }`);
    await nft('delete', 'element', 'inet', 'palisade', 'addr6', `{ ${attacker6} }`);
    const again = await palisadeJson<{ ok: boolean; backends: Array<Record<string, unknown>> }>(install, ['reconcile'], { netns: lab.protectedNs });
    expect(again.ok).toBe(true);
    expect(again.backends).toEqual([expect.objectContaining({ backend: 'nftables', restored: 0, readded: 1, removedUnknown: [neighbour], active: 3 })]);
    expect(await lab.canConnect(neighbour)).toBe(true);
    expect(await lab.canConnect(attacker6, 500)).toBe(false);

    // One set gone, the table still there with a stranger in another set: what survived is listed, not trusted.
    await nft('add', 'element', 'inet', 'palisade', 'addr4', `{ ${neighbour} }`);
    await nft('flush', 'chain', 'inet', 'palisade', 'input');
    await nft('flush', 'chain', 'inet', 'palisade', 'forward');
    await nft('delete', 'set', 'inet', 'palisade', 'addr6');
    const partial = await palisadeJson<{ ok: boolean; backends: Array<Record<string, unknown>> }>(install, ['reconcile'], { netns: lab.protectedNs });
    expect(partial.backends).toEqual([expect.objectContaining({ backend: 'nftables', recreated: true, removedUnknown: [neighbour], active: 3 })]);
    expect(await lab.canConnect(neighbour)).toBe(true);
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await lab.canConnect(attacker6, 500)).toBe(false);

    const quiet = expectSuccess(await cli('reconcile'));
    expect(quiet.stdout).toMatch(/^nftables: in order, 3 active block\(s\); nothing changed$/m);
    expect(expectSuccess(await cli('status')).stdout).toMatch(/^nftables +table inet palisade: ok$/m);
  });

  it('flush --yes takes every block and our table out, and nothing comes back on reconcile', async () => {
    const [attacker] = lab.attacker4;
    expectSuccess(await cli('block', attacker));
    const refused = await cli('flush');
    expect(refused.exitCode).toBe(2);
    expect(await lab.canConnect(attacker, 500)).toBe(false);

    const flush = expectSuccess(await cli('flush', '--yes'));
    expect(flush.stdout).toMatch(/^nftables: removed \d+ block\(s\) and Palisade's rules$/m);
    expect(await lab.canConnect(attacker)).toBe(true);
    expect(install.stateEntries()).toEqual([]);
    expect(await nft('list', 'tables')).not.toContain('palisade');
    expect(install.logRecords().at(-1)).toMatchObject({ event: 'flushed', backend: 'nftables' });

    expectSuccess(await cli('reconcile'));
    expect(await lab.canConnect(attacker)).toBe(true);
    expect(install.stateEntries()).toEqual([]);
  });
});

describe.each([
  ['ipset', [['iptables', '-w', '-F'], ['ipset', 'flush']]],
  ['iptables', [['iptables', '-w', '-F']]],
] as const)('reconcile on %s', (backend, wipe) => {
  let own: Install;
  beforeAll(() => {
    own = createInstall({ config: `backend: ${backend}\n` });
  });
  afterAll(async () => {
    await palisade(own, ['flush', '--yes'], { netns: lab.protectedNs });
    own?.remove();
  });

  it('puts back the rules and blocks a reload wiped', async () => {
    const [attacker, neighbour] = lab.attacker4;
    expectSuccess(await palisade(own, ['block', attacker], { netns: lab.protectedNs }));
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    for (const argv of wipe) await lab.run(lab.protectedNs, argv);
    expect(await lab.canConnect(attacker)).toBe(true);

    const report = await palisadeJson<{ ok: boolean; backends: Array<Record<string, unknown>> }>(own, ['reconcile'], { netns: lab.protectedNs });
    expect(report.ok).toBe(true);
    expect(report.backends).toEqual([expect.objectContaining({ backend, recreated: true, active: 1 })]);
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await lab.canConnect(neighbour)).toBe(true);
  });
});
