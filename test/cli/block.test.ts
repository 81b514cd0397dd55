/**
 * `palisade block`, `unblock` and `list` on a real nftables kernel in a namespace lab, judged by real TCP
 * connections from the attacker's namespace and by nft's own listing of our sets.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { wazuhLogLine, type Install } from '../harness/install.js';
import type { Lab } from '../harness/netns.js';
import { expectSuccess, nftablesLab, palisade, palisadeJson } from '../harness/verbs.js';

const fixture = nftablesLab();
let lab: Lab;
let install: Install;
beforeAll(() => ({ lab, install } = fixture));
afterEach(async () => {
  await palisade(install, ['flush', '--yes'], { netns: lab.protectedNs });
});

const inLab = { get netns() { return lab.protectedNs; } };
const cli = (...args: string[]) => palisade(install, args, { netns: lab.protectedNs });

/** Every element of our four sets, as `nft -j list set` prints them (the kernel's own listing). */
async function kernelElements(): Promise<string[]> {
  const elements: string[] = [];
  for (const set of ['addr4', 'addr6', 'net4', 'net6']) {
    const listing = JSON.parse(await lab.run(lab.protectedNs, ['nft', '-j', 'list', 'set', 'inet', 'palisade', set])) as {
      nftables: Array<{ set?: { elem?: unknown[] } }>;
    };
    for (const element of listing.nftables.find((item) => item.set)?.set?.elem ?? []) {
      const value = (element as { elem?: { val: unknown } }).elem?.val ?? element;
      elements.push(typeof value === 'string' ? value : `${(value as { prefix: { addr: string; len: number } }).prefix.addr}/${(value as { prefix: { len: number } }).prefix.len}`);
    }
  }
  return elements.sort();
}

describe('palisade block and unblock', () => {
  it('blocks an address on the kernel and lets it back through on unblock, logging both as the CLI', async () => {
    const [attacker, neighbour] = lab.attacker4;
    expect(await lab.canConnect(attacker)).toBe(true);
    const block = await cli('block', attacker, '--for', '1h', '--reason', 'port scan from the lab');
    expect(block.exitCode).toBe(0);
    expect(block.stdout).toMatch(new RegExp(`^blocked ${attacker} on nftables for 1h at most \\(until .*\\)$`, 'm'));
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await lab.canConnect(neighbour)).toBe(true);
    expect(await kernelElements()).toEqual([attacker]);
    expect(install.stateEntries()).toEqual([
      expect.objectContaining({ address: attacker, backend: 'nftables', holders: [expect.objectContaining({ by: 'operator' })], reason: { description: 'port scan from the lab' } }),
    ]);

    const unblock = await cli('unblock', attacker);
    expect(unblock.exitCode).toBe(0);
    expect(unblock.stdout).toBe(`unblocked ${attacker} on nftables`);
    expect(await lab.canConnect(attacker)).toBe(true);
    expect(await kernelElements()).toEqual([]);
    expect(install.stateEntries()).toEqual([]);

    const lines = install.logLines().filter((line) => line.includes(attacker));
    for (const line of lines) expect(line).toMatch(wazuhLogLine);
    expect(lines.map((line) => line.replace(wazuhLogLine, '').length > 0 && line.match(/active-response\/bin\/(\S+):/)?.[1])).toEqual(['palisade', 'palisade']);
    const records = install.logRecords().filter((record) => record.address === attacker);
    expect(records).toEqual([
      expect.objectContaining({ event: 'blocked', backend: 'nftables', result: 'added', ttl: 3600, rule: { description: 'port scan from the lab' } }),
      expect.objectContaining({ event: 'unblocked', backend: 'nftables', result: 'deleted' }),
    ]);
    expect(records.some((record) => 'command' in record)).toBe(false);
  });

  it('blocks and unblocks an IPv6 address', async () => {
    const [attacker, neighbour] = lab.attacker6;
    expectSuccess(await cli('block', attacker));
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await lab.canConnect(neighbour)).toBe(true);
    expectSuccess(await cli('unblock', attacker));
    expect(await lab.canConnect(attacker)).toBe(true);
  });

  it('refuses an allow-listed address and says why', async () => {
    const spare = lab.attacker4[2];
    const run = await cli('block', spare);
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toContain(`refused: ${spare} is allow-listed: config allowlist (${spare}); remove it from allowlist: in palisade.yml`);
    expect(await lab.canConnect(spare)).toBe(true);
    const self = await cli('block', '192.0.2.0/24');
    expect(self.exitCode).toBe(1);
    expect(self.stderr).toMatch(/192\.0\.2\.0\/24 is allow-listed: this host \(pp\w+\) \(192\.0\.2\.1\); Palisade never blocks it/);
    expect(install.stateEntries()).toEqual([]);
  });

  it('blocks a network; a network inside it is already blocked; a wider one replaces it', async () => {
    const [attacker, neighbour, spare] = lab.attacker4;
    expectSuccess(await cli('block', '192.0.2.64/29'));
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await lab.canConnect(neighbour)).toBe(true);

    const inside = expectSuccess(await cli('block', '192.0.2.64/30'));
    expect(inside.stdout).toMatch(/^192\.0\.2\.64\/30 is already blocked as part of 192\.0\.2\.64\/29 on nftables until .*; nothing changed$/m);

    const wider = expectSuccess(await cli('block', '192.0.2.64/28', '--for', '2h'));
    expect(wider.stdout).toContain('unblocked 192.0.2.64/29 on nftables: 192.0.2.64/28 replaces it');
    expect(await kernelElements()).toEqual(['192.0.2.64/28']);
    expect(install.stateEntries().map((entry) => entry.address)).toEqual(['192.0.2.64/28']);
    expect(await lab.canConnect(attacker, 500)).toBe(false);
    expect(await lab.canConnect(neighbour, 500)).toBe(false);
    expect(await lab.canConnect(spare)).toBe(true);

    // The allow-list holds for networks too: this one holds the allow-listed spare address.
    const overAllowed = await cli('block', '192.0.2.64/27');
    expect(overAllowed.exitCode).toBe(1);
    expect(overAllowed.stderr).toContain(`192.0.2.64/27 is allow-listed: config allowlist (${spare})`);

    // A shorter-lived wider block cannot swallow a longer narrower one: the set cannot hold both.
    const longer = await cli('block', '192.0.2.64/29', '--for', '1d');
    expect(longer.exitCode).toBe(1);
    expect(longer.stderr).toMatch(/192\.0\.2\.64\/29 is inside 192\.0\.2\.64\/28, .*extend that one \(palisade block 192\.0\.2\.64\/28 --for 1d\) or unblock it first/);

    const single = await cli('unblock', attacker);
    expect(single.exitCode).toBe(1);
    expect(single.stdout).toMatch(new RegExp(`${attacker} is still blocked as part of 192\\.0\\.2\\.64/28 on nftables .*: run palisade unblock 192\\.0\\.2\\.64/28 to let it through`));
    expect(await lab.canConnect(attacker, 500)).toBe(false);
  });
});

describe('palisade list', () => {
  it('lists exactly what the kernel holds, with the rule of the alert that caused each block', async () => {
    const [attacker] = lab.attacker4;
    const [attacker6] = lab.attacker6;
    await cli('block', attacker, '--reason', 'manual test');
    await cli('block', attacker6, '--for', '30m');
    await cli('block', '198.51.100.0/24');
    const listed = await palisadeJson<{ blocks: Array<Record<string, unknown>> }>(install, ['list'], inLab);
    expect(listed.exitCode).toBe(0);
    expect(listed.blocks.map((block) => block.address).sort()).toEqual(await kernelElements());
    expect(listed.blocks.every((block) => block.inFirewall === true && block.inState === true)).toBe(true);
    const first = listed.blocks.find((block) => block.address === attacker)!;
    expect(first).toMatchObject({ backend: 'nftables', holders: [expect.objectContaining({ by: 'operator' })], description: 'manual test', family: 4, prefix: 32 });
    expect(first.expiresIn as number).toBeGreaterThan(604_700);
    expect(listed.blocks.find((block) => block.address === attacker6)!.expiresIn as number).toBeLessThanOrEqual(1800);

    const table = await cli('list');
    expect(table.stdout).toMatch(/^ADDRESS +BACKEND +HELD BY +SINCE +EXPIRES IN +RULE +DESCRIPTION +FIREWALL$/m);
    expect(table.stdout).toMatch(new RegExp(`^${attacker.replaceAll('.', '\\.')} +nftables +operator +\\S+ \\S+ +(7d|6d23h) +- +manual test +held$`, 'm'));
    expect(table.stdout).not.toMatch(/\u001b\[/);
  });

  it('marks a block the kernel lost, and one the kernel holds that the state does not know', async () => {
    const [attacker, neighbour] = lab.attacker4;
    await cli('block', attacker);
    await lab.run(lab.protectedNs, ['nft', 'delete', 'element', 'inet', 'palisade', 'addr4', `{ ${attacker} }`]);
    await lab.run(lab.protectedNs, ['nft', 'add', 'element', 'inet', 'palisade', 'addr4', `{ ${neighbour} }`]);
    const listed = await palisadeJson<{ blocks: Array<Record<string, unknown>> }>(install, ['list'], inLab);
    expect(listed.blocks).toEqual([
      expect.objectContaining({ address: attacker, inFirewall: false, inState: true }),
      expect.objectContaining({ address: neighbour, inFirewall: true, inState: false }),
    ]);
    const table = await cli('list');
    expect(table.stdout).toContain('1 block(s) are missing from the firewall (a reload or a reboot?): run palisade reconcile to put them back.');
    expect(table.stdout).toContain('1 block(s) in the firewall are not in the state');
  });
});
